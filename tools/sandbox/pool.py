"""Pre-forked sandbox workers on the host: start them once, hand each call to an idle one.

A worker serves one call at a time; a pool of them serves concurrent calls. A worker
that dies or breaks the protocol is replaced on the next call.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

from tools.sandbox.bwrap import DEFAULT_PYTHON, worker_command
from tools.sandbox.exceptions import SandboxUnavailable
from tools.sandbox.inside.protocol import HEADER, ProtocolError, decode, encode, frame_length
from tools.sandbox.limits import SandboxLimits
from tools.sandbox.outcome import Reason, SandboxOutcome
from tools.sandbox.seccomp import call_filter, worker_filter

__all__ = ["SandboxPool", "SandboxProcess"]

logger = logging.getLogger(__name__)

# bwrap plus an interpreter importing the curated modules: ~0.1 s; 20 s leaves room
# for a loaded CI machine without hiding a sandbox that never comes up.
START_TIMEOUT_S = 20.0
# The worker stops a call itself at its timeout; this is how much later the host
# gives up on the worker as a whole (it is then killed and replaced).
HOST_GRACE_S = 2.0
# Lines of the worker's stderr kept to explain a failed start or a lost worker.
STDERR_LINES = 20


class SandboxProcess:
    """One sandbox worker in bubblewrap, spoken to with frames over its stdin/stdout."""

    def __init__(self, limits: SandboxLimits, filters: tuple[bytes, bytes], python: str) -> None:
        self._limits = limits
        self._filters = filters
        self._python = python
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._stderr_task: asyncio.Task[None] | None = None
        self.pid: int | None = None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def stderr_tail(self) -> str:
        return " | ".join(self._stderr) or "(nothing on stderr)"

    async def start(self) -> None:
        """Start bwrap and the worker and wait for its hello; raises SandboxUnavailable."""
        command = worker_command(self._limits, self._python)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *command.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={},
                pass_fds=command.pass_fds,
                user=command.user,
                group=command.group,
                extra_groups=[] if command.group is not None else None,
                start_new_session=True,
            )
        except OSError as exc:
            raise SandboxUnavailable(f"cannot start bubblewrap: {exc}") from exc
        finally:
            command.close_fds()
        self.pid = self._proc.pid
        self._stderr_task = asyncio.get_running_loop().create_task(self._drain_stderr())
        worker, call = self._filters
        hello = {
            **self._limits.hello(),
            "worker_filter": base64.b64encode(worker).decode(),
            "call_filter": base64.b64encode(call).decode(),
        }
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                reply = await self._exchange(hello)
        except (TimeoutError, EOFError, ProtocolError, OSError) as exc:
            await self.aclose()
            raise SandboxUnavailable(
                f"the sandbox did not start ({type(exc).__name__} {exc}); bubblewrap said: "
                f"{self.stderr_tail()}. Generated tools need bubblewrap able to create user "
                "namespaces (kernel.unprivileged_userns_clone=1, no container forbidding it)"
            ) from exc
        if not reply.get("ready"):
            await self.aclose()
            raise SandboxUnavailable(f"the sandbox worker failed to start: {reply.get('error')}")
        host = f"{sys.version_info.major}.{sys.version_info.minor}"
        if reply.get("python") != host:
            await self.aclose()
            raise SandboxUnavailable(
                f"the sandbox interpreter {self._python} is Python {reply.get('python')}, "
                f"the static layer parses Python {host}: configure a {host} interpreter"
            )

    async def _drain_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        async for line in self._proc.stderr:
            self._stderr.append(line.decode(errors="replace").rstrip())

    async def _exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(encode(message))
        await self._proc.stdin.drain()
        try:
            header = await self._proc.stdout.readexactly(HEADER.size)
            body = await self._proc.stdout.readexactly(frame_length(header))
        except asyncio.IncompleteReadError as exc:
            raise EOFError("the sandbox worker closed its output") from exc
        return decode(body)

    async def call(
        self, source: str, args: Mapping[str, Any], timeout_s: float, restricted: bool
    ) -> SandboxOutcome:
        """One call; the worker is killed (and must be replaced) if it breaks down."""
        request = {"source": source, "args": dict(args), "timeout_s": timeout_s}
        request["restricted"] = restricted
        try:
            async with asyncio.timeout(timeout_s + HOST_GRACE_S):
                reply = await self._exchange(request)
        except TimeoutError:
            await self.aclose()
            return SandboxOutcome.failed(
                Reason.TIMEOUT, f"no result within {timeout_s:g} s; the sandbox was restarted"
            )
        except (EOFError, ProtocolError, OSError) as exc:
            await self.aclose()
            return SandboxOutcome.failed(
                Reason.SANDBOX_LOST, f"the sandbox worker was lost: {exc}; {self.stderr_tail()}"
            )
        return SandboxOutcome.from_reply(reply)

    async def aclose(self) -> None:
        """Close stdin (the worker then exits) and make sure the process is gone."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            if proc.returncode is None:
                try:
                    async with asyncio.timeout(1.0):
                        await proc.wait()
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._stderr_task


class SandboxPool:
    """``size`` sandbox workers; ``run`` waits for an idle one, so calls run concurrently.

    Start it with ``start()`` (or let the first ``run`` do it); a worker that died is
    started again when its turn comes. Raises SandboxUnavailable where the OS
    isolation cannot run: nothing is ever run outside it.
    """

    def __init__(
        self, limits: SandboxLimits | None = None, size: int = 2, python: str = DEFAULT_PYTHON
    ) -> None:
        if size < 1:
            raise ValueError(f"a sandbox pool needs at least one worker, got {size}")
        self.limits = limits or SandboxLimits()
        self.size = size
        self.python = python
        self._idle: asyncio.Queue[SandboxProcess] = asyncio.Queue()
        self._all: list[SandboxProcess] = []
        self._starting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start every worker (once; concurrent callers share the start)."""
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        filters = await asyncio.to_thread(lambda: (worker_filter(), call_filter()))
        processes = [SandboxProcess(self.limits, filters, self.python) for _ in range(self.size)]
        results = await asyncio.gather(*(p.start() for p in processes), return_exceptions=True)
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            await asyncio.gather(*(p.aclose() for p in processes))
            raise failure
        self._all = processes
        for process in processes:
            self._idle.put_nowait(process)

    async def run(
        self,
        source: str,
        args: Mapping[str, Any],
        timeout_s: float | None = None,
        restricted: bool = True,
    ) -> SandboxOutcome:
        """Run ``run(**args)`` of ``source`` in a sandbox worker within ``timeout_s``.

        ``restricted=False`` runs plain Python (full builtins and imports) inside the
        OS layers alone: for testing those layers, never for serving tools.
        """
        timeout_s = self.limits.wall_s if timeout_s is None else timeout_s
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        try:
            await self.start()
        except SandboxUnavailable as exc:
            return SandboxOutcome.failed(Reason.UNAVAILABLE, str(exc))
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout_s):
                process = await self._idle.get()
        except TimeoutError:
            message = f"all {self.size} sandbox workers stayed busy for {timeout_s:g} s"
            return SandboxOutcome.failed(Reason.TIMEOUT, message)
        try:
            if not process.alive:
                await process.aclose()
                await process.start()
            left = timeout_s - (time.monotonic() - started)
            return await process.call(source, args, max(left, 0.001), restricted)
        except SandboxUnavailable as exc:
            return SandboxOutcome.failed(Reason.UNAVAILABLE, str(exc))
        finally:
            self._idle.put_nowait(process)

    def pids(self) -> list[int]:
        """Host pids of the workers' bubblewrap processes, for diagnostics."""
        return [p.pid for p in self._all if p.pid is not None and p.alive]

    async def aclose(self) -> None:
        if self._starting is not None and not self._starting.done():
            self._starting.cancel()
            with contextlib.suppress(BaseException):
                await self._starting
        await asyncio.gather(*(p.aclose() for p in self._all), return_exceptions=True)
        self._all = []
