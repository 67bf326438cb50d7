"""Process plumbing shared by the services: detached spawn, pid files, stop, polling."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from services.exceptions import MissingProgramError, ServiceStartError

# Polling period while waiting for a service: short enough that a ready broker is
# noticed within a blink, long enough not to spin a core while the JVM starts.
POLL_INTERVAL_S = 0.25


def say(message: str) -> None:
    """Print one progress line; long steps (jar download, JVM start) announce themselves."""
    print(f"[services] {message}", file=sys.stderr, flush=True)


def require_program(program: str, remedy: str) -> str:
    """Return the absolute path of *program*, or raise with *remedy* as the fix."""
    path = shutil.which(program)
    if path is None:
        raise MissingProgramError(program, remedy)
    return path


def port_is_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def spawn_detached(argv: Sequence[str], log: Path) -> int:
    """Start *argv* in its own session with stdout+stderr appended to *log*; return its pid.

    posix_spawn rather than subprocess.Popen: the service must outlive this process, and
    a Popen object would warn "still running" when it is garbage-collected.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(
        argv[0],
        list(argv),
        dict(os.environ),
        file_actions=actions,
        setsid=True,
    )


def read_pid(pid_file: Path, command_hint: str) -> int | None:
    """The pid in *pid_file* if that process is alive and is the service, else None.

    A stale pid file (after a reboot, say) may name a reused pid: where /proc shows the
    command line, it must contain *command_hint*, so `stop` never signals a stranger.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if not is_alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid  # no /proc (macOS) or it exited just now: trust the file
    # Empty while a just-spawned process is still exec'ing: trust the file then too.
    return pid if not cmdline or command_hint.encode() in cmdline else None


def is_alive(pid: int) -> bool:
    """True while *pid* runs; reaps it first when it is our own exited child (a zombie)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass  # not our child: the kill(0) probe below decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def stop_pid(pid: int, name: str, timeout_s: float) -> None:
    """SIGTERM *pid*, wait up to *timeout_s* for a clean exit, then SIGKILL."""
    say(f"stopping {name} (pid {pid})")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if wait_until(lambda: not is_alive(pid), timeout_s):
        return
    say(f"{name} ignored SIGTERM for {timeout_s:.0f} s; sending SIGKILL")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_until(lambda: not is_alive(pid), 5.0)


def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Poll *predicate* until it is true (→ True) or *timeout_s* passes (→ False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL_S)


def tail(path: Path, lines: int = 20) -> str:
    """The last *lines* lines of *path* (for error messages), or '' when it is missing."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_for_service(
    name: str, probe: Callable[[], bool], alive: Callable[[], bool], log: Path, timeout_s: float
) -> None:
    """Wait until *probe* passes; fail at once when *alive* says the process exited."""
    say(f"waiting for {name} (up to {timeout_s:.0f} s)")
    started = time.monotonic()
    exited = False

    def ready_or_dead() -> bool:
        nonlocal exited
        exited = not alive()
        return exited or probe()

    if not wait_until(ready_or_dead, timeout_s) or exited:
        reason = "the process exited" if exited else f"no answer in {timeout_s:.0f} s"
        raise ServiceStartError(name, f"{reason}; log tail:\n{tail(log)}\n", log)
    say(f"{name} is ready after {time.monotonic() - started:.1f} s")
