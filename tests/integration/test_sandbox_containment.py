"""The sandbox for real (bubblewrap, seccomp, rlimits): OS-level probes run as plain
Python with the static layer and the restricted runtime off, and every one is contained;
ordinary tools run under all layers and give correct results."""

from __future__ import annotations

import json
import os
import platform
import secrets
import socket
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from interfaces.cli import main as cli
from tests.integration.sandbox_support import started_pool
from tools.sandbox import Reason, SandboxLimits, SandboxOutcome, SandboxPool

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Set in this process's environment before the workers start: no probe may see it.
SECRET_NAME = "TOOLWISE_SANDBOX_PROBE_SECRET"
SECRET = secrets.token_hex(16)


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[SandboxPool]:
    os.environ[SECRET_NAME] = SECRET
    try:
        started = await started_pool(SandboxPool(SandboxLimits(), size=1))
    finally:
        del os.environ[SECRET_NAME]
    yield started
    await started.aclose()


async def plain(
    pool: SandboxPool, body: str, timeout_s: float = 10.0, **args: object
) -> SandboxOutcome:
    """Run ``body`` as plain Python: only the OS layers stand in its way."""
    return await pool.run(textwrap.dedent(body), args, timeout_s, restricted=False)


async def test_a_tool_runs_as_nobody_without_capabilities_under_seccomp(
    pool: SandboxPool,
) -> None:
    outcome = await plain(
        pool,
        """
        import os
        def run():
            with open("/proc/self/status") as f:
                status = dict(line.split(":", 1) for line in f.read().splitlines())
            fields = ["CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp"]
            return [os.getuid(), os.getgid(), [status[k].strip() for k in fields]]
        """,
    )
    assert outcome.result == [65534, 65534, ["0" * 16, "0" * 16, "0" * 16, "1", "2"]], outcome
    if os.geteuid() == 0:
        for pid in pool.pids():
            with open(f"/proc/{pid}/status") as file:  # noqa: ASYNC230 - procfs, instant
                status = file.read()
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            assert uid_line.split()[1:] == ["65534"] * 4


async def test_connecting_to_a_listener_on_loopback_is_denied(pool: SandboxPool) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        outcome = await plain(
            pool,
            """
            import socket
            def run(port):
                socket.create_connection(("127.0.0.1", port), timeout=2).sendall(b"leak")
                return "connected"
            """,
            port=port,
        )
        assert outcome.reason is Reason.SYSCALL_DENIED, outcome
        with pytest.raises(BlockingIOError):
            listener.accept()


READ_FILE = """
def run(path):
    try:
        with open(path, "rb") as f:
            return "read: " + f.read(200).decode(errors="replace")
    except OSError as exc:
        return "refused: " + type(exc).__name__
"""


@pytest.mark.parametrize(
    "path",
    ["/etc/shadow", "/etc/passwd", "/root/.bashrc", str(PROJECT_ROOT / "README.md"), __file__],
)
async def test_files_outside_the_sandbox_cannot_be_read(pool: SandboxPool, path: str) -> None:
    outcome = await plain(pool, READ_FILE, path=path)
    assert outcome.ok and outcome.result == "refused: FileNotFoundError", outcome


async def test_the_sandbox_root_holds_only_system_dirs(pool: SandboxPool) -> None:
    outcome = await plain(pool, "import os\ndef run():\n    return sorted(os.listdir('/'))\n")
    assert outcome.ok
    assert not {"etc", "home", "root", "work", "var"} & set(outcome.result)


def on_host(path: str) -> bool:
    return os.path.exists(path)


@pytest.mark.parametrize(
    "body",
    [
        "def run():\n    open('/usr/lib/toolwise-probe', 'w').write('x')\n",
        "import os\ndef run():\n    os.mkdir('/usr/toolwise-probe')\n",
        "def run():\n    open('/toolwise-probe', 'w').write('x')\n",
    ],
    ids=["file in /usr/lib", "dir in /usr", "file in /"],
)
async def test_writing_to_system_dirs_is_denied(pool: SandboxPool, body: str) -> None:
    outcome = await plain(pool, body)
    assert outcome.reason is Reason.SYSCALL_DENIED, outcome
    assert not on_host("/usr/lib/toolwise-probe") and not on_host("/usr/toolwise-probe")


async def test_filling_tmp_is_stopped_at_the_first_write(pool: SandboxPool) -> None:
    outcome = await plain(
        pool,
        """
        def run():
            with open("/tmp/fill", "wb") as f:
                while True:
                    f.write(b"x" * (1 << 20))
        """,
    )
    assert outcome.reason is Reason.SYSCALL_DENIED, outcome


@pytest.mark.parametrize(
    "body",
    [
        "import os\ndef run():\n    return os.fork()\n",
        "import os\ndef run():\n    os.execv('/usr/bin/id', ['id'])\n",
        "import subprocess\ndef run():\n    return subprocess.run(['/usr/bin/id']).returncode\n",
        "import threading\ndef run():\n    threading.Thread(target=print).start()\n",
    ],
    ids=["fork", "exec", "subprocess", "thread"],
)
async def test_new_processes_and_programs_are_denied(pool: SandboxPool, body: str) -> None:
    outcome = await plain(pool, body)
    assert outcome.reason is Reason.SYSCALL_DENIED, outcome


@pytest.mark.parametrize(
    "body",
    [
        "import os, signal\ndef run():\n    os.kill(1, signal.SIGKILL)\n",
        "import os, signal\ndef run():\n    os.kill(os.getppid(), signal.SIGTERM)\n",
        "import os, signal\ndef run():\n    os.kill(-1, signal.SIGKILL)\n",
    ],
    ids=["pid 1", "the worker", "everyone"],
)
async def test_signalling_other_processes_is_denied_and_the_worker_lives_on(
    pool: SandboxPool, body: str
) -> None:
    outcome = await plain(pool, body)
    assert outcome.reason is Reason.SYSCALL_DENIED, outcome
    after = await pool.run("def run():\n    return 'still here'\n", {})
    assert after.result == "still here"


LIBC_CALL = """
import ctypes
def run(name, args):
    libc = ctypes.CDLL(None, use_errno=True)
    return getattr(libc, name)(*[a.encode() if isinstance(a, str) else a for a in args])
"""


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("unshare", [0x10000000]),  # CLONE_NEWUSER
        ("mount", ["none", "/tmp", "tmpfs", 0, None]),
        ("ptrace", [0, 0, 0, 0]),  # PTRACE_TRACEME
        ("syscall", [250, 0, 0, 0, 0]),  # keyctl on x86_64
        ("syscall", [0x40000000 + 41, 2, 1, 0]),  # socket through the x32 ABI
    ],
    ids=["unshare", "mount", "ptrace", "keyctl", "x32 socket"],
)
async def test_namespace_mount_ptrace_and_keyring_calls_are_denied(
    pool: SandboxPool, name: str, args: list[object]
) -> None:
    if name == "syscall" and platform.machine() != "x86_64":
        pytest.skip("keyctl's number is x86_64's")
    outcome = await plain(pool, LIBC_CALL, name=name, args=args)
    assert outcome.reason is Reason.SYSCALL_DENIED, outcome


async def test_the_parents_environment_is_not_visible(pool: SandboxPool) -> None:
    outcome = await plain(
        pool,
        """
        import os
        def run():
            seen = [repr(dict(os.environ))]
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        with open(f"/proc/{pid}/environ", "rb") as f:
                            seen.append(f.read().decode(errors="replace"))
                    except OSError as exc:
                        seen.append(type(exc).__name__)
            return seen
        """,
    )
    assert outcome.ok, outcome
    assert len(outcome.result) >= 2  # its own environment and at least one process's
    assert not any(SECRET in text or SECRET_NAME in text for text in outcome.result)


async def test_allocating_4_gib_runs_out_of_memory(pool: SandboxPool) -> None:
    outcome = await plain(pool, "def run():\n    return len(bytearray(4 << 30))\n")
    assert outcome.reason is Reason.MEMORY, outcome


async def test_spinning_the_cpu_is_stopped_by_the_cpu_limit(pool: SandboxPool) -> None:
    outcome = await plain(pool, "def run():\n    while True:\n        pass\n", timeout_s=30)
    assert outcome.reason is Reason.TIMEOUT, outcome
    assert "CPU" in (outcome.message or "")
    assert outcome.cpu_ms >= pool.limits.cpu_s * 1000 * 0.9


async def test_sleeping_past_the_timeout_is_stopped_by_the_wall_clock(pool: SandboxPool) -> None:
    outcome = await plain(pool, "import time\ndef run():\n    time.sleep(60)\n", timeout_s=1)
    assert outcome.reason is Reason.TIMEOUT and "1 s" in (outcome.message or ""), outcome
    assert outcome.wall_ms < 5_000


async def test_crashing_the_interpreter_is_reported_as_a_crash(pool: SandboxPool) -> None:
    outcome = await plain(pool, "import ctypes\ndef run():\n    return ctypes.string_at(0)\n")
    assert outcome.reason is Reason.CRASHED and "SIGSEGV" in (outcome.message or ""), outcome


async def test_writing_past_the_output_cap_is_stopped(pool: SandboxPool) -> None:
    outcome = await plain(
        pool,
        """
        import os
        def run():
            while True:
                os.write(3, b"x" * 65536)
        """,
    )
    assert outcome.reason is Reason.OUTPUT_TOO_LARGE, outcome


LEGITIMATE: list[tuple[str, str, dict[str, object], object]] = [
    (
        "dataclasses",
        """
        from dataclasses import asdict, dataclass, field

        @dataclass(frozen=True)
        class Line:
            sku: str
            quantity: int
            tags: list[str] = field(default_factory=list)

            @property
            def doubled(self):
                return self.quantity * 2

        def run(sku, quantity):
            line = Line(sku, quantity)
            return {**asdict(line), "doubled": line.doubled}
        """,
        {"sku": "A-1", "quantity": 3},
        {"sku": "A-1", "quantity": 3, "tags": [], "doubled": 6},
    ),
    (
        "enums",
        """
        import enum

        class Level(enum.IntEnum):
            LOW = 1
            HIGH = enum.auto()

        def run(name):
            return [Level[name].value, [level.name for level in Level]]
        """,
        {"name": "HIGH"},
        [2, ["LOW", "HIGH"]],
    ),
    (
        "datetime",
        """
        from datetime import date, datetime, timedelta, timezone

        def run(day, days):
            later = date.fromisoformat(day) + timedelta(days=days)
            stamp = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
            return [later.isoformat(), later.strftime("%A"), stamp.isoformat()]
        """,
        {"day": "2024-02-27", "days": 3},
        ["2024-03-01", "Friday", "2024-03-01T12:00:00+00:00"],
    ),
    (
        "collections",
        """
        from collections import Counter, OrderedDict, defaultdict, deque, namedtuple

        Pair = namedtuple("Pair", "word count")

        def run(text):
            counts = Counter(text.split())
            groups = defaultdict(list)
            for word in counts:
                groups[len(word)].append(word)
            window = deque(text.split(), maxlen=2)
            top = [Pair(w, c) for w, c in counts.most_common(1)]
            by_length = OrderedDict(sorted(groups.items()))
            return {"top": top, "by_length": by_length, "last": list(window)}
        """,
        {"text": "a bb a ccc bb a"},
        {
            "top": [["a", 3]],
            "by_length": {"1": ["a"], "2": ["bb"], "3": ["ccc"]},
            "last": ["bb", "a"],
        },
    ),
    (
        "json",
        """
        import json

        def run(document):
            data = json.loads(document)
            data["total"] = sum(data["values"])
            return json.dumps(data, sort_keys=True)
        """,
        {"document": '{"values": [1, 2, 3.5]}'},
        '{"total": 6.5, "values": [1, 2, 3.5]}',
    ),
    (
        "math",
        """
        import math
        from statistics import mean, median

        def run(values):
            return [math.sqrt(16), math.factorial(10), math.gcd(84, 36), round(math.pi, 5),
                    mean(values), median(values)]
        """,
        {"values": [1, 5, 2, 8]},
        [4.0, 3628800, 12, 3.14159, 4, 3.5],
    ),
    (
        "generators",
        """
        import itertools

        def primes():
            found = []
            for n in itertools.count(2):
                if all(n % p for p in found):
                    found.append(n)
                    yield n

        def run(n):
            return list(itertools.islice(primes(), n)) + [sum(x * x for x in range(4))]
        """,
        {"n": 6},
        [2, 3, 5, 7, 11, 13, 14],
    ),
    (
        "recursion within limits",
        """
        from functools import lru_cache

        @lru_cache(maxsize=None)
        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        def depth(n):
            return 0 if n == 0 else 1 + depth(n - 1)

        def run(n):
            return [fib(n), depth(300)]
        """,
        {"n": 60},
        [1548008755920, 300],
    ),
    (
        "re through RE2",
        """
        import re

        def run(text):
            return [re.findall(r"[a-z]+@[a-z]+[.]com", text), re.sub(r"\\d", "#", "a1b22")]
        """,
        {"text": "write to ann@example.com or bob@test.com"},
        [["ann@example.com", "bob@test.com"], "a#b##"],
    ),
]


@pytest.mark.parametrize(
    ("source", "args", "expected"),
    [pytest.param(s, a, e, id=name) for name, s, a, e in LEGITIMATE],
)
async def test_ordinary_tools_give_correct_results_under_every_layer(
    pool: SandboxPool, source: str, args: dict[str, object], expected: object
) -> None:
    from tools.sandbox import check_source

    source = textwrap.dedent(source)
    verdict = check_source(source)
    assert verdict.accepted, verdict
    outcome = await pool.run(source, args)
    assert outcome.ok, outcome
    assert outcome.result == expected


async def test_recursion_past_the_limit_is_contained(pool: SandboxPool) -> None:
    source = (
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
        "def run():\n    return depth(100000)\n"
    )
    outcome = await pool.run(source, {})
    assert outcome.reason is Reason.RECURSION, outcome


async def test_concurrent_calls_share_a_pool_of_workers() -> None:
    many = await started_pool(SandboxPool(SandboxLimits(), size=2))
    try:
        import asyncio

        sleepy = "import time\ndef run(n):\n    time.sleep(0.5)\n    return n\n"
        outcomes = await asyncio.gather(
            *(many.run(sleepy, {"n": i}, restricted=False) for i in range(4))
        )
        assert [o.result for o in outcomes] == [0, 1, 2, 3]
    finally:
        await many.aclose()


def test_cli_runs_a_file_and_prints_its_json_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tool = tmp_path / "area.py"
    tool.write_text("import math\ndef run(r):\n    return round(math.pi * r * r, 2)\n")
    assert cli(["sandbox", "run", str(tool), "--args", '{"r": 2}']) == 0
    assert json.loads(capsys.readouterr().out)["result"] == 12.57


def test_cli_no_static_tests_the_os_layers_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import socket\ndef run():\n    socket.socket()\n")
    assert cli(["sandbox", "run", str(probe)]) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == "rejected"
    if not Path("/usr/bin/bwrap").exists():
        pytest.skip("bubblewrap is not installed")
    assert cli(["sandbox", "run", str(probe), "--no-static"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert (printed["ok"], printed["reason"]) == (False, "syscall_denied")
