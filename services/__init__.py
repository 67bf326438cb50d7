"""Local Kafka (or Tansu) and Redis for development, tests and the demo: start, stop, status."""

from __future__ import annotations

import shutil
from typing import Literal

from services import kafka, redis, tansu
from services._process import say
from services.exceptions import (
    MissingProgramError,
    PortInUseError,
    ServiceError,
    ServiceStartError,
)
from services.state import ServiceStatus
from streams.settings import Settings

__all__ = [
    "BrokerChoice",
    "MissingProgramError",
    "PortInUseError",
    "ServiceError",
    "ServiceStartError",
    "ServiceStatus",
    "choose_broker",
    "start_all",
    "status",
    "stop_all",
]

BrokerChoice = Literal["kafka", "tansu", "auto"]


def choose_broker(settings: Settings, broker: BrokerChoice) -> Literal["kafka", "tansu"]:
    """'auto' means real Kafka when Java can run it (and Maven can fetch it), else Tansu."""
    if broker != "auto":
        return broker
    jars_ready = kafka.jars_present(kafka.jar_dir(settings), settings.kafka_version)
    if shutil.which("java") and (jars_ready or shutil.which("mvn")):
        return "kafka"
    say("java or mvn is missing: falling back to Tansu (memory only, demo grade)")
    return "tansu"


def start_all(settings: Settings, broker: BrokerChoice = "auto") -> list[ServiceStatus]:
    """Start the broker and Redis; services already answering are left as they are."""
    chosen = choose_broker(settings, broker)
    fallback = tansu.status(settings)
    if chosen == "kafka" and fallback.pid is not None:
        # Tansu answers the Kafka protocol, so kafka.start would take it for a real broker.
        raise ServiceError(
            f"Tansu (pid {fallback.pid}) holds {fallback.address}; it is demo grade, not Kafka. "
            "Stop it with `python -m services stop`, then start again."
        )
    started = kafka.start(settings) if chosen == "kafka" else tansu.start(settings)
    return [started, redis.start(settings)]


def stop_all(settings: Settings) -> list[str]:
    """Stop what these scripts started (found by pid file); return the names stopped."""
    stoppers = {"kafka": kafka.stop, "tansu": tansu.stop, "redis": redis.stop}
    return [name for name, stop in stoppers.items() if stop(settings)]


def status(settings: Settings) -> dict[str, ServiceStatus]:
    """{'broker': Kafka's or Tansu's status, 'redis': Redis's status}."""
    fallback = tansu.status(settings)
    broker = fallback if fallback.pid is not None else kafka.status(settings)
    return {"broker": broker, "redis": redis.status(settings)}
