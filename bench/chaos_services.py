"""A private Kafka and Redis for the chaos scenarios that kill or freeze one.

The shared broker and Redis serve other work and are never touched: these run on free ports
under the harness's own state dir (``services`` with other Settings), with the bundled broker
config (``auto.create.topics.enable=false``), and are stopped at the end. The Kafka jars are
linked from the usual state dir when they are there, so no Maven download is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path

from services import kafka, redis
from services.state import ServicePaths
from streams.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateServices:
    """Kafka and Redis of the harness alone, each started on first use."""

    def __init__(self, state_dir: Path, jars_from: Settings | None = None) -> None:
        self.settings = Settings(
            state_dir=state_dir,
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            redis_port=free_port(),
        )
        self._jars_from = jars_from or Settings()
        self.kafka_started = False
        self.redis_started = False

    @property
    def broker(self) -> str:
        return f"kafka://{kafka.bootstrap(self.settings)}"

    @property
    def redis_url(self) -> str:
        return redis.url(self.settings)

    async def start_kafka(self) -> str:
        """Start (or restart) the private broker; its URL."""
        self._link_jars()
        await asyncio.to_thread(kafka.start, self.settings)
        self.kafka_started = True
        return self.broker

    async def start_redis(self) -> str:
        await asyncio.to_thread(redis.start, self.settings)
        self.redis_started = True
        return self.redis_url

    def kafka_pid(self) -> int | None:
        return ServicePaths.of(self.settings, "kafka").pid()

    def redis_pid(self) -> int | None:
        return ServicePaths.of(self.settings, "redis").pid()

    def signal_kafka(self, sig: int) -> None:
        _signal(self.kafka_pid(), sig, "the private Kafka")

    def signal_redis(self, sig: int) -> None:
        _signal(self.redis_pid(), sig, "the private Redis")

    async def kill_kafka(self) -> None:
        """kill -9 the private broker and wait until it is gone."""
        pid = self.kafka_pid()
        self.signal_kafka(signal.SIGKILL)
        await _gone(pid)

    async def kill_redis(self) -> None:
        pid = self.redis_pid()
        self.signal_redis(signal.SIGKILL)
        await _gone(pid)

    def stop(self) -> None:
        """Stop what was started here (a frozen Redis is woken first so it can stop)."""
        with contextlib.suppress(ProcessLookupError, RuntimeError):
            self.signal_redis(signal.SIGCONT)
        if self.redis_started:
            redis.stop(self.settings)
        if self.kafka_started:
            kafka.stop(self.settings)

    def _link_jars(self) -> None:
        target = kafka.jar_dir(self.settings)
        source = kafka.jar_dir(self._jars_from)
        if target.exists() or not kafka.jars_present(source, self.settings.kafka_version):
            return  # already there, or kafka.start fetches them with Maven
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source.resolve(), target_is_directory=True)


def _signal(pid: int | None, sig: int, what: str) -> None:
    if pid is None:
        raise RuntimeError(f"{what} is not running")
    os.kill(pid, sig)


async def _gone(pid: int | None, timeout_s: float = 30.0) -> None:
    if pid is None:
        return
    for _ in range(int(timeout_s / 0.1)):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # Our own child (Kafka is spawned detached, but by us): reap it if it is one.
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # noqa: ASYNC222  (WNOHANG: it never blocks)
        await asyncio.sleep(0.1)
