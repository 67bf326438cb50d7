"""Apache Kafka as a local single-node KRaft broker: jars via Maven, format once, start, stop."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from services._process import (
    is_alive,
    port_is_open,
    require_program,
    say,
    spawn_detached,
    wait_for_service,
)
from services.exceptions import PortInUseError, ServiceError
from services.probes import kafka_answers
from services.state import LOCALHOST, ServicePaths, ServiceStatus
from streams.settings import Settings

NAME = "kafka"
_HERE = Path(__file__).resolve().parent
POM = _HERE / "kafka-pom.xml"
LOG4J2_CONFIG = _HERE / "kafka-log4j2.xml"

# A first start on a 2-core machine spends ~10 s loading classes and electing itself;
# two minutes covers a slow CI box without hanging forever on a broken config.
READY_TIMEOUT_S = 120.0
# Controlled shutdown of one node takes a few seconds; past this the JVM is stuck.
STOP_TIMEOUT_S = 30.0
# Broker cap on a record batch: above Settings.max_message_bytes (1 MB) so oversize
# values reach Toolwise's dead-letter path instead of being refused by the broker.
MESSAGE_MAX_BYTES = 10 * 1024 * 1024
# Default JVM heap of kafka-server-start.sh; plenty for local topics.
HEAP = "-Xmx1g"

# Maven 3.8 prints colour resets even in batch mode with style.color=never.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_JAVA_REMEDY = (
    "Kafka needs Java 17+: `apt-get install -y openjdk-17-jre-headless` (or use --broker tansu)."
)
_MVN_REMEDY = (
    "Kafka's jars are fetched with Maven: `apt-get install -y maven` (or use --broker tansu)."
)


def bootstrap(settings: Settings) -> str:
    return f"{LOCALHOST}:{settings.kafka_port}"


def jar_dir(settings: Settings) -> Path:
    return ServicePaths.of(settings, NAME).home / f"libs-{settings.kafka_version}"


def data_dir(settings: Settings) -> Path:
    # One directory per version: storage formatted by a newer Kafka is unreadable by an older one.
    return ServicePaths.of(settings, NAME).home / f"data-{settings.kafka_version}"


def jars_present(directory: Path, version: str) -> bool:
    """True when *directory* holds a complete copy (it is renamed into place only when done)."""
    return (directory / f"kafka_2.13-{version}.jar").is_file()


def render_server_properties(settings: Settings, log_dirs: Path) -> str:
    """server.properties of a combined broker+controller node listening on loopback only."""
    broker = f"{LOCALHOST}:{settings.kafka_port}"
    controller = f"{LOCALHOST}:{settings.kafka_controller_port}"
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": controller,
        "listeners": f"PLAINTEXT://{broker},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{broker}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dirs),
        # Internal topics default to replication 3, impossible on one node (their min ISR
        # follows the broker's min.insync.replicas, 1 by default).
        "offsets.topic.replication.factor": "1",
        # One partition instead of 50: the first consumer group then joins in ~0 s.
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # No 3 s wait for more members before the first rebalance: tests start fast.
        "group.initial.rebalance.delay.ms": "0",
        # Off: a client that published before the first worker started got a 1-partition
        # intents topic, and the worker could never use it (its changelogs have more).
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "message.max.bytes": str(MESSAGE_MAX_BYTES),
    }
    lines = ["# Written by services/kafka.py on every start; edit Settings, not this file."]
    lines += [f"{key}={value}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )


def ensure_jars(settings: Settings) -> Path:
    """Copy kafka_2.13 and its runtime dependencies into the jar dir unless already there."""
    target = jar_dir(settings)
    if jars_present(target, settings.kafka_version):
        return target
    mvn = require_program("mvn", _MVN_REMEDY)
    require_program("java", _JAVA_REMEDY)
    home = ServicePaths.of(settings, NAME).home
    home.mkdir(parents=True, exist_ok=True)
    # Maven resolves next to the pom; a copy keeps the installed package read-only.
    pom = home / "pom.xml"
    shutil.copyfile(POM, pom)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    say(
        f"downloading Kafka {settings.kafka_version} jars with Maven into {target} (first run only)"
    )
    started = time.monotonic()
    result = _run(
        [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
            "-DincludeScope=runtime",
            f"-Dkafka.version={settings.kafka_version}",
        ]
    )
    if result.returncode != 0 or not jars_present(partial, settings.kafka_version):
        # Maven's first [ERROR] line names the cause; the rest is generic help.
        text = _ANSI.sub("", result.stdout + result.stderr)
        errors = [line for line in text.splitlines() if line.startswith("[ERROR] ")]
        output = "\n".join(errors[:1] or text.splitlines()[-20:])
        raise ServiceError(
            f"Maven could not fetch Kafka {settings.kafka_version} (exit {result.returncode}). "
            "Check the network to Maven Central and TOOLWISE_KAFKA_VERSION.\n" + output
        )
    partial.rename(target)
    count = len(list(target.glob("*.jar")))
    say(f"fetched {count} jars in {time.monotonic() - started:.1f} s")
    return target


def _java(settings: Settings, java: str, main_class: str, *args: str) -> list[str]:
    return [
        java,
        HEAP,
        "-cp",
        f"{jar_dir(settings)}/*",
        f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
        main_class,
        *args,
    ]


def format_storage(settings: Settings, java: str, config: Path) -> None:
    """Format the KRaft log dir once; refuse a dir formatted for another controller port."""
    data = data_dir(settings)
    marker = data / "toolwise-controller"
    controller = f"{LOCALHOST}:{settings.kafka_controller_port}"
    if (data / "meta.properties").is_file():
        formatted_for = marker.read_text().strip() if marker.is_file() else controller
        if formatted_for != controller:
            raise ServiceError(
                f"Kafka storage in {data} was formatted with the controller on {formatted_for}, "
                f"not {controller}. Set TOOLWISE_KAFKA_CONTROLLER_PORT back, or delete {data} "
                "(that drops the local topics) to format anew."
            )
        return
    say(f"formatting Kafka storage in {data} (first run only)")
    uuid = _run(_java(settings, java, "kafka.tools.StorageTool", "random-uuid"))
    cluster_id = uuid.stdout.strip().splitlines()[-1] if uuid.stdout.strip() else ""
    if uuid.returncode != 0 or not cluster_id:
        raise ServiceError(f"kafka-storage random-uuid failed:\n{uuid.stdout}{uuid.stderr}")
    fmt = _run(
        _java(
            settings,
            java,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(config),
        )
    )
    if fmt.returncode != 0:
        raise ServiceError(f"kafka-storage format failed for {data}:\n{fmt.stdout}{fmt.stderr}")
    marker.write_text(controller + "\n")


def status(settings: Settings) -> ServiceStatus:
    paths = ServicePaths.of(settings, NAME)
    return ServiceStatus(
        name=NAME,
        address=bootstrap(settings),
        running=kafka_answers(bootstrap(settings)),
        pid=paths.pid(),
        log=paths.log,
    )


def start(settings: Settings) -> ServiceStatus:
    """Start the broker unless a Kafka-protocol broker already answers on the port."""
    paths = ServicePaths.of(settings, NAME)
    address = bootstrap(settings)
    if kafka_answers(address):
        say(f"a Kafka broker already answers on {address}; not starting another")
        return status(settings)
    pid = paths.pid()
    if pid is None:
        for port in (settings.kafka_port, settings.kafka_controller_port):
            if port_is_open(LOCALHOST, port):
                setting = "TOOLWISE_KAFKA_PORT / TOOLWISE_KAFKA_CONTROLLER_PORT"
                raise PortInUseError("Kafka", port, setting)
        pid = _launch(settings, paths)
    else:
        say(f"Kafka (pid {pid}) is starting already; waiting for it")
    wait_for_service(
        f"Kafka on {address}",
        lambda: kafka_answers(address),
        lambda: is_alive(pid),
        paths.log,
        READY_TIMEOUT_S,
    )
    return ServiceStatus(
        name=NAME, address=address, running=True, pid=pid, log=paths.log, started_now=True
    )


def _launch(settings: Settings, paths: ServicePaths) -> int:
    java = require_program("java", _JAVA_REMEDY)
    ensure_jars(settings)
    paths.make_dirs()
    config = paths.home / "server.properties"
    config.write_text(render_server_properties(settings, data_dir(settings)))
    format_storage(settings, java, config)
    argv = _java(settings, java, "kafka.Kafka", str(config))
    pid = spawn_detached(argv, paths.log)
    paths.pid_file.write_text(f"{pid}\n")
    say(f"started Kafka {settings.kafka_version} (pid {pid}), log {paths.log}")
    return pid


def stop(settings: Settings) -> bool:
    """Stop the broker these scripts started; True when one was running."""
    return ServicePaths.of(settings, NAME).stop("Kafka", STOP_TIMEOUT_S)
