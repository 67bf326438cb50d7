"""The pre-forked sandbox worker: started once inside bubblewrap, it forks one confined
process per call, so a call costs a fork instead of an interpreter start.

The host sends a hello frame (the two seccomp filters and the limits), then one
frame per call; the worker answers each with the tool's JSON text or with why the
call's process was stopped. Only the tool's process runs generated code.
"""

from __future__ import annotations

import base64
import gc
import os
import select
import signal
import sys
import time
from collections.abc import Mapping
from typing import Any

from .confine import SeccompProgram, isolate_descriptors, set_rlimits
from .protocol import read_frame, write_frame
from .runtime import build_builtins, build_namespaces, call_tool, set_recursion_depth

STDIN, STDOUT = 0, 1
# Exit status of a tool process whose confinement failed before the tool ran.
EXIT_NOT_CONFINED = 71
# Bytes read from a tool's pipe beyond its output cap before it is stopped: room for the
# JSON wrapper around a result exactly at the cap.
OUTPUT_SLACK_BYTES = 4096
READ_CHUNK = 65536


class Worker:
    """The state prepared once: curated namespaces, builtins, the per-call filter."""

    def __init__(self, hello: Mapping[str, Any]) -> None:
        self.rlimits: dict[str, int] = dict(hello["rlimits"])
        self.output_bytes = int(hello["output_bytes"])
        self.recursion_depth = int(hello["recursion_depth"])
        self.tool_builtins = build_builtins(build_namespaces())
        self.call_filter = SeccompProgram(base64.b64decode(hello["call_filter"]))
        self.null = os.open(os.devnull, os.O_RDWR)
        SeccompProgram(base64.b64decode(hello["worker_filter"])).install()
        # Objects that exist now are never collected again: forked children then share
        # their pages instead of copying them when the collector touches them.
        gc.collect()
        gc.freeze()

    def serve(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Run one call in a new confined process and say how it ended."""
        read_end, write_end = os.pipe()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the tool's process: never returns
            os.close(read_end)
            self._run_confined(request, write_end)
        os.close(write_end)
        try:
            return self._collect(pid, read_end, started, float(request["timeout_s"]))
        finally:
            os.close(read_end)

    def _run_confined(self, request: Mapping[str, Any], out: int) -> None:
        try:
            out = isolate_descriptors(out, self.null)
            set_rlimits(self.rlimits)
            set_recursion_depth(self.recursion_depth)
            self.call_filter.install()
        except BaseException:
            os._exit(EXIT_NOT_CONFINED)
        try:
            tools_builtins = self.tool_builtins if request["restricted"] else None
            text = call_tool(request["source"], request["args"], tools_builtins, self.output_bytes)
            data = memoryview(text.encode())
            while data:
                data = data[os.write(out, data) :]
        finally:
            os._exit(0)

    def _collect(self, pid: int, pipe: int, started: float, timeout_s: float) -> dict[str, Any]:
        """Read the tool's output until its process exits, within ``timeout_s`` of wall time."""
        deadline = started + timeout_s
        chunks: list[bytes] = []
        size, stopped, exited = 0, "", False
        process = os.pidfd_open(pid)
        poller = select.poll()
        poller.register(pipe, select.POLLIN)
        poller.register(process, select.POLLIN)
        try:
            while not exited and not stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    stopped = "timeout"
                    break
                for fd, _ in poller.poll(left * 1000):
                    if fd == process:
                        exited = True
                        continue
                    chunk = os.read(pipe, READ_CHUNK)
                    if not chunk:
                        poller.unregister(pipe)
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > self.output_bytes + OUTPUT_SLACK_BYTES:
                        stopped = "output_too_large"
            if exited and not stopped:  # what it wrote last is still in the pipe
                while (chunk := os.read(pipe, READ_CHUNK)) and size <= self.output_bytes:
                    chunks.append(chunk)
                    size += len(chunk)
        finally:
            os.close(process)
        if stopped:
            os.kill(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        timing = {
            "wall_ms": (time.monotonic() - started) * 1000,
            "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000,
        }
        if stopped == "timeout":
            return {"reason": "timeout", "message": f"no result within {timeout_s:.3g} s", **timing}
        if stopped or size > self.output_bytes + OUTPUT_SLACK_BYTES:
            message = f"the tool wrote more than its output cap of {self.output_bytes} bytes"
            return {"reason": "output_too_large", "message": message, **timing}
        ended = self._how_it_ended(status, timing["cpu_ms"])
        if ended is not None:
            return {**ended, **timing}
        return {"text": b"".join(chunks).decode(errors="replace"), **timing}

    def _how_it_ended(self, status: int, cpu_ms: float) -> dict[str, str] | None:
        """Why the process ended abnormally, or None when it exited normally."""
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            name = signal.Signals(number).name if number in signal.valid_signals() else number
            cpu_s = self.rlimits.get("cpu_s")
            if number == signal.SIGSYS:
                message = "the tool made a system call the sandbox forbids (seccomp)"
                return {"reason": "syscall_denied", "message": message}
            if number == signal.SIGXCPU or (
                number == signal.SIGKILL and cpu_s is not None and cpu_ms >= cpu_s * 1000
            ):
                return {"reason": "timeout", "message": f"the tool used its {cpu_s} s of CPU"}
            if number == signal.SIGXFSZ:
                return {"reason": "file_size", "message": "the tool wrote past its file size limit"}
            return {"reason": "crashed", "message": f"the tool's process died of {name}"}
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        if code == EXIT_NOT_CONFINED:
            return {"reason": "sandbox_error", "message": "the call could not be confined"}
        if code != 0:
            return {"reason": "crashed", "message": f"the tool's process exited with {code}"}
        return None


def main() -> None:
    """Serve calls until the host closes stdin."""
    try:
        worker = Worker(read_frame(STDIN))
    except BaseException as exc:
        write_frame(STDOUT, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        raise
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    write_frame(STDOUT, {"ready": True, "python": version})
    while True:
        try:
            request = read_frame(STDIN)
        except EOFError:
            return
        reply = worker.serve(request)
        write_frame(STDOUT, {"id": request.get("id"), **reply})


if __name__ == "__main__":
    main()
