"""The bubblewrap command line of a sandbox worker: namespaces, mounts, user, environment.

Inside, the sandbox sees the system's /usr read-only (with the /lib, /bin links of a
merged-/usr system), a fresh /proc of its own pid namespace, a minimal /dev, a small
private /tmp, and read-only copies of the worker's modules and of RE2 under
/opt/toolwise. Nothing else of the host exists there: no /etc, no home, no project.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tools.sandbox.exceptions import SandboxUnavailable
from tools.sandbox.limits import MIB, SandboxLimits

__all__ = ["DEFAULT_PYTHON", "SANDBOX_UID", "WorkerCommand", "worker_command"]

# The interpreter the sandbox runs: the system's, because it lives in /usr, which is
# mounted anyway and readable by the unprivileged user (a pyenv or venv interpreter
# under /root is neither). Debian 12's python3 is 3.11, like the project's.
DEFAULT_PYTHON = "/usr/bin/python3"
# 'nobody': the sandbox runs as this user, and so do bwrap and its processes on the
# host when Toolwise runs as root, so a process that escapes owns nothing.
SANDBOX_UID = 65534
SANDBOX_GID = 65534
INSIDE_ROOT = "/opt/toolwise"
INSIDE_PACKAGE = "sandbox_inside"
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
BOOTSTRAP = (
    f"import sys; sys.path.insert(0, {INSIDE_ROOT!r}); "
    f"from {INSIDE_PACKAGE}.worker import main; main()"
)


@dataclass
class WorkerCommand:
    """argv for bwrap, the descriptors it must inherit, and the host user to run it as."""

    argv: list[str]
    pass_fds: list[int] = field(default_factory=list)
    user: int | None = None
    group: int | None = None

    def close_fds(self) -> None:
        """Close the copies of the inherited descriptors once bwrap has started."""
        for fd in self.pass_fds:
            os.close(fd)
        self.pass_fds = []


def find_bwrap() -> str:
    # Debian's bwrap, not whatever an environment's PATH would find first.
    found = shutil.which("bwrap", path="/usr/bin:/bin")
    if found is None:
        raise SandboxUnavailable(
            "generated tools need bubblewrap, which is not installed: "
            "apt-get install bubblewrap (`make install-system` does); "
            "they are never run without it"
        )
    return found


def _inside_files() -> list[tuple[Path, str]]:
    """(host file, path in the sandbox) of the worker's modules and of the RE2 package."""
    here = Path(__file__).resolve().parent / "inside"
    files = [(path, f"{INSIDE_ROOT}/{INSIDE_PACKAGE}/{path.name}") for path in here.glob("*.py")]
    spec = importlib.util.find_spec("re2")
    if spec is None or spec.origin is None:
        raise SandboxUnavailable(
            "generated tools need google-re2 (their 're'): pip install google-re2 "
            "(`make install` does)"
        )
    re2_dir = Path(spec.origin).resolve().parent
    files += [
        (path, f"{INSIDE_ROOT}/re2/{path.name}")
        for path in sorted(re2_dir.iterdir())
        if path.is_file() and path.suffix in (".py", ".so")
    ]
    return files


def _system_mounts() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in SYSTEM_LINKS:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def worker_command(limits: SandboxLimits, python: str = DEFAULT_PYTHON) -> WorkerCommand:
    """The command that starts one sandbox worker; raises SandboxUnavailable."""
    bwrap = find_bwrap()
    if not python.startswith("/usr/") or not os.access(python, os.X_OK):
        raise SandboxUnavailable(
            f"the sandbox interpreter {python!r} must be an executable under /usr "
            "(the only host directory the sandbox sees): apt-get install python3"
        )
    command = WorkerCommand(argv=[])
    copies: list[str] = []
    try:
        for host_path, inside in _inside_files():
            fd = os.open(host_path, os.O_RDONLY)
            command.pass_fds.append(fd)
            copies += ["--ro-bind-data", str(fd), inside]
    except OSError as exc:
        command.close_fds()
        raise SandboxUnavailable(f"cannot read the sandbox worker's files: {exc}") from exc
    if os.geteuid() == 0:
        command.user, command.group = SANDBOX_UID, SANDBOX_GID
    command.argv = [
        bwrap,
        "--unshare-user",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_GID),
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--hostname",
        "sandbox",
        "--unshare-cgroup-try",
        "--disable-userns",
        *_system_mounts(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(limits.tmp_mib * MIB),
        "--tmpfs",
        "/tmp",
        *copies,
        "--remount-ro",
        "/",
        "--clearenv",
        "--setenv",
        "LC_ALL",
        "C.UTF-8",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--chdir",
        "/tmp",
        "--",
        python,
        "-I",  # isolated: no environment variables, no user site, no script dir on the path
        "-S",  # no site module: nothing outside the standard library
        "-B",  # write no bytecode
        "-c",
        BOOTSTRAP,
    ]
    return command
