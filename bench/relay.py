"""A hand-written aiokafka relay doing Toolwise's hops with no tables, changelogs or dedup.

The baseline of ``bench.pipeline``: it speaks the same topics and events as a
Toolwise worker (IntentSubmitted in, IntentCompleted out) and runs the same
pure code (``plan_steps``, ``execute_step``, ``assemble``) and the same
``ToolRegistry``, so what remains of the difference is the framework and the
durability it buys. Each stage has its own consumer (auto-commit) and all share
one producer; messages are JSON validated with pydantic (``models.codec.decode``)
like the worker does; an invalid one is logged and skipped. Topics must exist
(``bench.pipeline`` creates them with ``streams.topics.ensure_topics``).

Run: ``TOOLWISE_TOPIC_PREFIX=... python -m bench.relay`` (settings from TOOLWISE_*).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from agents.outcome_assembly import assemble
from agents.plan_builder import PlanningError, keyword_ranker, plan_steps, tool_call_requests
from agents.step_runner import StepRunner, execute_step
from models import ExecutionRecorded, IntentFailed, IntentSubmitted, PlanCreated
from models.codec import InvalidMessage, decode
from streams.settings import Settings, get_settings
from tools.config import load_tools_config
from tools.registry import ToolRegistry

log = logging.getLogger("bench.relay")

Handler = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]


class Relay:
    """Two consume-process-produce loops (plan, execute) over one producer and one registry."""

    def __init__(self, settings: Settings, registry: ToolRegistry) -> None:
        self.settings = settings
        self.registry = registry
        # acks=all and no linger: the same producer durability as Faust's defaults.
        self.producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            acks="all",
            max_request_size=2 * settings.max_message_bytes + 64 * 1024,
        )
        self.runner = StepRunner(call=registry.call, record=self._record)
        self.slots = asyncio.Semaphore(settings.executor_concurrency)
        self.calls: set[asyncio.Task[None]] = set()
        self.pending: set[asyncio.Future[Any]] = set()

    def _topic(self, suffix: str) -> str:
        return self.settings.topic_name(suffix)

    async def _send(self, suffix: str, key: str, value: bytes) -> None:
        # Awaits the enqueueing, not the broker's ack (as Faust's topic.send does).
        await self.producer.send(self._topic(suffix), value, key=key.encode())

    def _record(self, record: ExecutionRecorded) -> None:
        # Fire and forget like the worker's send_soon: recording never waits.
        task = asyncio.ensure_future(self._send("executions", record.tool, record.to_bytes()))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def plan(self, message: ConsumerRecord[bytes, bytes]) -> None:
        intent = decode(message.value, IntentSubmitted, self.settings.max_message_bytes)
        tools = {spec.name: spec for spec in self.registry.specs()}
        try:
            steps = plan_steps(intent, tools, keyword_ranker, self.settings.retry)
        except PlanningError as exc:
            failed = IntentFailed(
                event_id=f"outcome:{intent.intent_id}",
                intent_id=intent.intent_id,
                reason=exc.reason,
                error_kind=exc.kind,
            )
            await self._send("outcomes", intent.intent_id, failed.to_bytes())
            return
        plan = PlanCreated(
            event_id=f"plan:{intent.intent_id}",
            intent_id=intent.intent_id,
            steps=steps,
            strategy="relay",
            intent_text=intent.text,
            submitted_at=intent.occurred_at,
        )
        await self._send("plans", plan.intent_id, plan.to_bytes())

    async def execute(self, message: ConsumerRecord[bytes, bytes]) -> None:
        plan = decode(message.value, PlanCreated, self.settings.max_message_bytes)
        # Bounded concurrency like the executor's actors: a full house stops consumption.
        await self.slots.acquire()
        task = asyncio.create_task(self._run(plan))
        self.calls.add(task)
        task.add_done_callback(self.calls.discard)

    async def _run(self, plan: PlanCreated) -> None:
        try:
            requests = tool_call_requests(plan)
            results = await asyncio.gather(*(execute_step(r, self.runner) for r in requests))
            for done in results:
                await self._send("tool-results", plan.intent_id, done.to_bytes())
            outcome = assemble(plan, results, time.time())
            await self._send("outcomes", plan.intent_id, outcome.to_bytes())
        except Exception:
            log.exception("plan %s failed", plan.intent_id)
        finally:
            self.slots.release()

    async def consume(self, stage: str, suffixes: Iterable[str], handle: Handler) -> None:
        consumer = AIOKafkaConsumer(
            *(self._topic(s) for s in suffixes),
            bootstrap_servers=self.settings.bootstrap_servers,
            group_id=f"{self.settings.app_id}-relay-{stage}",
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=2 * self.settings.max_message_bytes + 64 * 1024,
        )
        await consumer.start()
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for messages in batch.values():
                    for message in messages:
                        try:
                            await handle(message)
                        except InvalidMessage as exc:
                            log.warning(
                                "skipped %s[%d]@%d: %s",
                                message.topic,
                                message.partition,
                                message.offset,
                                exc,
                            )
        finally:
            await consumer.stop()

    async def run(self) -> None:
        await self.producer.start()
        try:
            stages = [
                self.consume("plan", ["intents"], self.plan),
                self.consume("execute", ["plans"], self.execute),
            ]
            await asyncio.gather(*stages)
        finally:
            for task in list(self.calls):
                task.cancel()
            await self.producer.stop()


async def main() -> None:
    settings = get_settings()
    registry = ToolRegistry.from_config(load_tools_config(settings.tools_config))
    await registry.start()
    log.warning("relay %s: tools %s", settings.topic_prefix, [s.name for s in registry.specs()])
    runner = asyncio.create_task(Relay(settings, registry).run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runner.cancel)
    try:
        await runner
    except asyncio.CancelledError:
        pass
    finally:
        await registry.aclose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(main())
