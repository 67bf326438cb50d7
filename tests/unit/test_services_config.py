"""Pure parts of the local services: rendered configs, the jar check, stopping a process."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

import services
from services import _process, kafka, redis
from services.exceptions import MissingProgramError, ServiceError
from services.state import ServicePaths
from streams.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path, kafka_port=19192, kafka_controller_port=19193, redis_port=16379
    )


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def test_server_properties_describe_a_single_loopback_kraft_node(settings: Settings) -> None:
    props = _properties(kafka.render_server_properties(settings, kafka.data_dir(settings)))

    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19192,CONTROLLER://127.0.0.1:19193"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19192"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19193"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert Path(props["log.dirs"]).is_relative_to(settings.state_dir)
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert int(props["message.max.bytes"]) > settings.max_message_bytes


def test_redis_config_binds_loopback_and_saves_nothing(settings: Settings) -> None:
    config = redis.render_config(settings, ServicePaths.of(settings, redis.NAME))

    assert "port 16379" in config.splitlines()
    assert "bind 127.0.0.1" in config.splitlines()
    assert 'save ""' in config.splitlines()


def test_jars_count_as_present_only_with_the_broker_jar(settings: Settings) -> None:
    directory = kafka.jar_dir(settings)
    assert not kafka.jars_present(directory, "4.1.1")
    directory.mkdir(parents=True)
    (directory / "kafka-clients-4.1.1.jar").touch()
    assert not kafka.jars_present(directory, "4.1.1")
    (directory / "kafka_2.13-4.1.1.jar").touch()
    assert kafka.jars_present(directory, "4.1.1")
    assert not kafka.jars_present(directory, "4.2.0")


def test_ensure_jars_skips_maven_when_jars_are_there(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = kafka.jar_dir(settings)
    directory.mkdir(parents=True)
    (directory / f"kafka_2.13-{settings.kafka_version}.jar").touch()
    monkeypatch.setattr(shutil, "which", lambda _name: None)  # Maven would be "missing"

    assert kafka.ensure_jars(settings) == directory


def test_ensure_jars_without_maven_says_how_to_get_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)

    with pytest.raises(MissingProgramError, match="apt-get install -y maven"):
        kafka.ensure_jars(settings)


def test_auto_falls_back_to_tansu_without_java(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)

    assert services.choose_broker(settings, "auto") == "tansu"
    assert services.choose_broker(settings, "kafka") == "kafka"


def test_storage_formatted_for_another_controller_port_is_refused(settings: Settings) -> None:
    data = kafka.data_dir(settings)
    data.mkdir(parents=True)
    (data / "meta.properties").write_text("node.id=1\n")
    (data / "toolwise-controller").write_text("127.0.0.1:9093\n")

    with pytest.raises(ServiceError, match="TOOLWISE_KAFKA_CONTROLLER_PORT"):
        kafka.format_storage(settings, java="/bin/false", config=Path("unused"))


def test_stop_pid_ends_a_detached_process(tmp_path: Path) -> None:
    pid = _process.spawn_detached(
        [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "sleep.log"
    )
    assert _process.is_alive(pid)

    _process.stop_pid(pid, "sleeper", timeout_s=10)

    assert not _process.is_alive(pid)


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs Linux /proc")
def test_pid_file_naming_another_program_is_ignored(tmp_path: Path) -> None:
    pid = _process.spawn_detached(
        [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "sleep.log"
    )
    pid_file = tmp_path / "kafka.pid"
    pid_file.write_text(f"{pid}\n")
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        assert _process.wait_until(lambda: cmdline.read_bytes() != b"", timeout_s=10)
        assert _process.read_pid(pid_file, "kafka.Kafka") is None  # a reused pid
        assert _process.read_pid(pid_file, "time.sleep") == pid
    finally:
        _process.stop_pid(pid, "sleeper", timeout_s=10)
