"""The chaos harness's plumbing: deployments, worker processes, publishing, and reading back.

A *deployment* is one Toolwise installation on its own topic prefix, app id and data dirs,
with worker processes the harness starts, kills and restarts (``interfaces.process``). The
``Publisher`` publishes records and keeps each one's partition and offset; the ``Watch``
reads the deployment's outcomes and dead letters from the beginning as they come, so the
counting (``bench.chaos_count``) sees every copy of every answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bench.chaos_count import ExecutionSeen, LetterSeen, OutcomeSeen, Published
from interfaces.process import settings_env, spawn_worker
from models import IntentSubmitted
from streams.settings import Settings

log = logging.getLogger(__name__)

CHAOS_TOOLS = Path(__file__).resolve().parent / "tools-chaos.toml"
# How often exits are looked for: an unexpected exit is noticed (and the worker restarted)
# within this, well below any scenario's own pace.
_EXIT_POLL_S = 0.5


def rss_mb(pid: int) -> float | None:
    """Resident set size of one process (not its children), from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


@dataclass
class WorkerProc:
    """One worker process; ``expected_exit`` is set before the harness stops or kills it."""

    proc: subprocess.Popen[bytes]
    slot: int
    log: Path
    started_at: float  # time.time() at spawn
    expected_exit: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    async def kill9(self) -> None:
        self.expected_exit = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        await asyncio.to_thread(self.proc.wait)

    async def terminate(self, timeout_s: float = 120.0) -> float:
        """SIGTERM, wait for the exit (SIGKILL after ``timeout_s``); seconds it took to exit."""
        self.expected_exit = True
        started = time.monotonic()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
        return time.monotonic() - started

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Deployment:
    """One Toolwise installation: its own topics, consumer group, data dirs and workers."""

    settings: Settings
    env: dict[str, str]
    root: Path
    loglevel: str = "info"
    keep_topics: bool = False  # set when something was lost, to look at the records
    workers: list[WorkerProc] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # one line per unexpected exit
    _spawned: int = 0

    @classmethod
    def create(cls, root: Path, stem: str, loglevel: str = "info", **values: Any) -> Deployment:
        name = f"chaos-{stem}-{uuid.uuid4().hex[:8]}"
        values = {
            "topic_prefix": name,
            "app_id": name,
            "partitions": 4,
            "web_enabled": False,
            "tools_config": CHAOS_TOOLS,
            **values,
        }
        home = root / name
        home.mkdir(parents=True, exist_ok=True)
        return cls(Settings(**values), settings_env(values), home, loglevel)

    def spawn(self, slot: int = 0, **env: str) -> WorkerProc:
        """Start a worker on data dir ``slot`` (a restarted worker reuses its slot's dir)."""
        self._spawned += 1
        log_path = self.root / f"worker-{slot}.log"
        variables = {**self.env, "TOOLWISE_DATADIR": str(self.root / f"data-{slot}"), **env}
        proc = spawn_worker(variables, log_path, loglevel=self.loglevel)
        worker = WorkerProc(proc, slot, log_path, time.time())
        self.workers = [w for w in self.workers if w.slot != slot] + [worker]
        return worker

    def worker(self, slot: int = 0) -> WorkerProc:
        return next(w for w in self.workers if w.slot == slot)

    async def watch_exits(self, restart: bool = True) -> None:
        """Count exits the harness did not cause (and restart those workers), until cancelled."""
        while True:
            for worker in list(self.workers):
                if worker.alive() or worker.expected_exit:
                    continue
                line = f"worker {worker.slot} (pid {worker.pid}) exited {worker.proc.returncode}"
                self.unexpected.append(line + "\n" + worker.log_tail(15))
                log.warning("%s unexpectedly:\n%s", line, worker.log_tail(15))
                worker.expected_exit = True  # counted once
                if restart:
                    self.spawn(worker.slot)
            await asyncio.sleep(_EXIT_POLL_S)

    async def stop(self) -> list[float]:
        """SIGTERM every live worker; the seconds each took to exit."""
        return list(await asyncio.gather(*(w.terminate() for w in self.workers if w.alive())))

    async def create_topics(self) -> None:
        # Imported late: streams.topics builds the Faust app of this process's environment,
        # but ensure_topics works on the deployment's settings given here.
        from streams.topics import ensure_topics

        await ensure_topics(self.settings)

    async def delete_topics(self) -> None:
        """Remove every topic of the prefix, changelogs included."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.bootstrap_servers)
        await admin.start()
        try:
            prefix = self.settings.topic_prefix + "-"
            names = [t for t in await admin.list_topics() if t.startswith(prefix)]
            if names:
                await admin.delete_topics(names)
        finally:
            await admin.close()


class Publisher:
    """A Kafka producer configured as ``interfaces.client.ToolwiseClient``'s, which also keeps
    where each record landed (and may publish before the topics exist, as a client can)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.published: list[Published] = []
        self.gave_up = 0
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            max_request_size=8 * settings.max_message_bytes,
            acks="all",
        )

    async def __aenter__(self) -> Publisher:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def publish(
        self,
        value: bytes | None,
        key: bytes | None,
        intent_id: str | None,
        hostile: bool = False,
        retry_for_s: float = 300.0,
    ) -> Published | None:
        """Publish to the intents topic, retrying while the broker (or the topic) is away, as a
        submitter would; None if it still failed after ``retry_for_s``."""
        topic = self.settings.topic_name("intents")
        sent_at = time.time()
        deadline = time.monotonic() + retry_for_s
        delay = 0.2
        while True:
            try:
                meta = await self._producer.send_and_wait(topic, value, key=key)
                break
            except KafkaError as exc:
                if time.monotonic() > deadline:
                    log.warning("gave up publishing %r: %r", (key or b"")[:80], exc)
                    self.gave_up += 1
                    return None
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
        record = Published(intent_id, topic, meta.partition, meta.offset, sent_at, hostile)
        self.published.append(record)
        return record

    async def submit(self, intent: IntentSubmitted, retry_for_s: float = 300.0) -> None:
        key = intent.intent_id.encode()
        await self.publish(intent.to_bytes(), key, intent.intent_id, retry_for_s=retry_for_s)


class Watch:
    """Reads a deployment's outcomes and dead letters from offset 0, as they arrive."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.outcomes: list[OutcomeSeen] = []
        self.letters: list[LetterSeen] = []
        self.outcome_stamps: list[float] = []  # Kafka record timestamps (s) of outcomes
        self.answered: set[str] = set()
        self.lettered: set[tuple[str, int, int]] = set()
        self.unreadable = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self, timeout_s: float = 120.0) -> None:
        """Start reading; waits (up to ``timeout_s``) for the topics to exist."""
        names = [self.settings.topic_name(s) for s in ("outcomes", "dead-letters")]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            enable_auto_commit=False,
            max_partition_fetch_bytes=64 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        await consumer.start()
        self._consumer = consumer
        deadline = time.monotonic() + timeout_s
        # A full metadata request each time: the topics may be new (or not there yet).
        while not set(names) <= await consumer.topics():
            if time.monotonic() > deadline:
                await self.stop()
                raise TimeoutError(f"topics {names} did not appear within {timeout_s:g} s")
            await asyncio.sleep(0.5)
        # Toolwise creates every topic with settings.partitions (ensure_topics checks it).
        tps = [TopicPartition(n, p) for n in names for p in range(self.settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._read(consumer))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        outcomes_topic = self.settings.topic_name("outcomes")
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            now = time.time()
            for tp, messages in batch.items():
                for message in messages:
                    try:
                        value = json.loads(message.value)
                        if tp.topic == outcomes_topic:
                            self._outcome(value, now, message.timestamp / 1000)
                        else:
                            self._letter(value)
                    except (TypeError, ValueError, KeyError) as exc:
                        # Not what Toolwise writes there: worth a line, never a stop.
                        self.unreadable += 1
                        log.warning("unreadable record %s@%d: %r", tp, message.offset, exc)
            if batch:
                self._changed.set()

    def _outcome(self, value: dict[str, Any], now: float, stamp: float) -> None:
        outcome = OutcomeSeen(
            intent_id=value["intent_id"],
            event_id=value["event_id"],
            type=value["type"],
            error_kind=value.get("error_kind"),
            arrived_at=now,
        )
        self.outcomes.append(outcome)
        self.outcome_stamps.append(stamp)
        self.answered.add(outcome.intent_id)

    def _letter(self, value: dict[str, Any]) -> None:
        letter = LetterSeen(
            value["source_topic"], value["partition"], value["offset"], value["error_kind"]
        )
        self.letters.append(letter)
        self.lettered.add((letter.source_topic, letter.partition, letter.offset))

    def settled(self, record: Published) -> bool:
        """The record has its answer or its dead letter."""
        return record.intent_id in self.answered or (
            (record.topic, record.partition, record.offset) in self.lettered
        )

    async def until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``done()`` (checked as records arrive); False if the time ran out."""
        deadline = time.monotonic() + timeout_s
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await self._next_batch(min(left, 1.0))
        return True

    async def _next_batch(self, timeout_s: float) -> None:
        """Wait until the reader has read more, or ``timeout_s``."""
        if self._task is not None and self._task.done():
            self._task.result()  # the reader failed: raise why, never count from half
            raise RuntimeError("the outcome reader stopped")
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout_s)

    async def drain(
        self, published: Sequence[Published], idle_s: float, cap_s: float = 3600.0
    ) -> bool:
        """Wait until every published record is settled, while answers keep coming: give up
        after ``idle_s`` without a new one (the rest is stuck, not slow) or ``cap_s`` in all.
        Then a little longer for late copies."""
        deadline = time.monotonic() + cap_s
        seen = -1
        while True:
            if all(self.settled(p) for p in published):
                settled = True
                break
            now = time.monotonic()
            if len(self.outcomes) + len(self.letters) != seen:
                seen, progressed = len(self.outcomes) + len(self.letters), now
            if now - progressed > idle_s or now > deadline:
                settled = False
                break
            await self._next_batch(1.0)
        await asyncio.sleep(3.0)  # duplicates sent by a worker still finishing arrive too
        return settled

    async def first_outcome_after(self, since: float, timeout_s: float) -> float | None:
        """Seconds from ``since`` (time.time()) to the first outcome written after it."""

        def first() -> float | None:
            later = [s for s in self.outcome_stamps[-5000:] if s > since]
            return min(later) - since if later else None

        await self.until(lambda: first() is not None, timeout_s)
        return first()


async def read_executions(settings: Settings, intent_ids: set[str]) -> list[ExecutionSeen]:
    """Every execution record of these intents, from offset 0 to the end of the topic now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    found: list[ExecutionSeen] = []
    try:
        topic = settings.topic_name("executions")
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            batch = await consumer.getmany(timeout_ms=1000)
            for messages in batch.values():
                for message in messages:
                    value = json.loads(message.value)
                    if value.get("intent_id") in intent_ids:
                        found.append(ExecutionSeen(value["event_id"], value["intent_id"]))
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return found


async def broker_auto_creates_topics(bootstrap: str) -> bool:
    """Whether the broker creates a topic when a client first publishes to it."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        brokers = admin._client.cluster.brokers()
        node = str(next(iter(brokers)).nodeId)
        response = await admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, node)])
        for _code, _msg, _type, _name, entries in response[0].resources:
            for entry in entries:
                if entry[0] == "auto.create.topics.enable":
                    return str(entry[1]).lower() == "true"
    finally:
        await admin.close()
    return True  # Kafka's default


def mixed_intent(n: int) -> IntentSubmitted:
    """The steady load: a named in-process tool, a planned cacheable stdio tool, a named stdio
    tool, in turn. Planned arguments repeat every 221 intents, so the cache has hits."""
    kind = n % 3
    if kind == 0:
        return IntentSubmitted(text="chaos", tool="simulated.instant", arguments={"query": f"q{n}"})
    if kind == 1:
        return IntentSubmitted(text=f"calculate {n % 17} + {n % 13}")
    return IntentSubmitted(text="chaos", tool="testing.echo", arguments={"text": f"e{n}"})


class SteadyLoad:
    """Publishes ``make(n)`` at ``rate`` per second until stopped; each publish its own task, so
    a broker outage delays those publishes (they retry) without pausing the pace."""

    def __init__(
        self,
        publisher: Publisher,
        rate: float,
        make: Callable[[int], IntentSubmitted] = mixed_intent,
    ) -> None:
        self.publisher = publisher
        self.rate = rate
        self.make = make
        self.started = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run())

    async def _run(self) -> None:
        began = time.monotonic()
        while not self._stop.is_set():
            task = asyncio.create_task(self.publisher.submit(self.make(self.started)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self.started += 1
            delay = began + self.started / self.rate - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, delay))

    async def stop(self) -> None:
        """Stop publishing; waits for the publishes in progress."""
        self._stop.set()
        if self._runner is not None:
            await self._runner
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
