"""Errors of the local services, each carrying what an operator needs to act."""

from __future__ import annotations

from pathlib import Path


class ServiceError(Exception):
    """Base class: a local service could not be installed, started or stopped."""


class MissingProgramError(ServiceError):
    """A program the service needs (java, mvn, redis-server, tansu) is not installed."""

    def __init__(self, program: str, remedy: str) -> None:
        self.program = program
        super().__init__(f"'{program}' was not found on PATH. {remedy}")


class ServiceStartError(ServiceError):
    """The service was launched but did not become ready; its log says why."""

    def __init__(self, service: str, reason: str, log: Path | None) -> None:
        self.service = service
        self.log = log
        where = f" See the last lines of {log}." if log is not None else ""
        super().__init__(f"{service} did not start: {reason}.{where}")


class PortInUseError(ServiceError):
    """The port is taken by a process that does not speak the service's protocol."""

    def __init__(self, service: str, port: int, setting: str) -> None:
        self.service = service
        self.port = port
        super().__init__(
            f"port {port} is in use but does not answer as {service}. Stop that process "
            f"(e.g. `ss -ltnp 'sport = :{port}'` shows it) or pick another port with {setting}."
        )
