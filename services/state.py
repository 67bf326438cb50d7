"""Where each local service keeps its files, and the status a service reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services._process import read_pid, stop_pid
from streams.settings import Settings

LOCALHOST = "127.0.0.1"
# A substring of each service's command line, to tell it from a process that reuses its pid.
COMMAND_HINTS = {"kafka": "kafka.Kafka", "redis": "redis-server", "tansu": "tansu"}


@dataclass(frozen=True)
class ServicePaths:
    """Files of one service under ``settings.state_dir`` (absolute, so daemons may chdir)."""

    name: str
    home: Path  # the service's own directory: jars, data, config
    pid_file: Path
    log: Path

    @classmethod
    def of(cls, settings: Settings, name: str) -> ServicePaths:
        state = settings.state_dir.resolve()
        return cls(
            name=name,
            home=state / name,
            pid_file=state / "run" / f"{name}.pid",
            log=state / "logs" / f"{name}.log",
        )

    def pid(self) -> int | None:
        """Pid of the running service from its pid file, None when it is not running."""
        return read_pid(self.pid_file, COMMAND_HINTS[self.name])

    def stop(self, label: str, timeout_s: float) -> bool:
        """Stop the process of the pid file (TERM, then KILL); True when one was running."""
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, label, timeout_s)
        self.pid_file.unlink(missing_ok=True)
        return pid is not None

    def make_dirs(self) -> None:
        for directory in (self.home, self.pid_file.parent, self.log.parent):
            directory.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class ServiceStatus:
    """What ``status`` and ``start`` report for one service."""

    name: str  # "kafka", "tansu" or "redis"
    address: str  # host:port it serves on
    running: bool  # answers its protocol on ``address`` right now
    pid: int | None = None  # from our pid file; None when not started by these scripts
    log: Path | None = None
    started_now: bool = False  # this call launched it (False: it was already running)

    def describe(self) -> str:
        state = "running" if self.running else "stopped"
        owner = (
            f"pid {self.pid}" if self.pid else ("not started by toolwise" if self.running else "")
        )
        parts = [f"{self.name:<6} {state:<8} {self.address}", owner]
        if self.log is not None and self.pid:
            parts.append(f"log {self.log}")
        return "  ".join(part for part in parts if part)
