"""What a worker is doing, printed on `kill -USR1 <pid>`: for a worker that seems stuck.

Two parts: every stream partition's offsets as Faust and aiokafka see them
(committed, read, acked, in flight, paused, buffered), and every asyncio
task's full await chain (``Task.print_stack`` shows only the outermost frame
of a suspended task, which is always the same line of Faust).
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Iterator
from typing import Any, TextIO

from streams.partitions import in_flight


def await_chain(task: asyncio.Task[Any]) -> Iterator[str]:
    """'file:line in function' for each coroutine the task is suspended in, outermost first."""
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is not None:
            yield f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        if isinstance(awaited, types.CoroutineType):
            awaited = awaited.cr_await
        elif isinstance(awaited, types.AsyncGeneratorType):
            awaited = awaited.ag_await
        else:
            if awaited is not None and frame is None:
                yield repr(awaited)[:200]
            break


def partition_report(app: Any) -> Iterator[str]:
    consumer = app.consumer
    thread = getattr(consumer, "_thread", None)
    kafka = getattr(thread, "_consumer", None)
    subscription = getattr(getattr(kafka, "_subscription", None), "subscription", None)
    assignment = getattr(subscription, "assignment", None)
    fetcher = getattr(kafka, "_fetcher", None)
    buffered = set(getattr(fetcher, "_records", {}) or {})
    busy = in_flight(consumer)
    active = consumer._active_partitions or set()
    yield (
        f"rebalancing={app.rebalancing} flow_active={app.flow_control.is_active()} "
        f"consumer_flow={consumer.flow_active} generation={app.consumer_generation_id} "
        f"queued={[q.qsize() for q in list(app.flow_control._queues)]}"
    )
    for tp in sorted(consumer.assignment()):
        # None when aiokafka does not have the partition (yet): printed as '?'.
        state = assignment.state_value(tp) if assignment is not None else None
        acked = sorted(consumer._acked.get(tp, ()))
        yield (
            f"{tp.topic}[{tp.partition}] committed={consumer._committed_offset.get(tp)} "
            f"read={consumer._read_offset.get(tp)} acked={acked[:3]}..{len(acked)} "
            f"in_flight={sorted(busy.get(tp, []))[:5]} active={tp in active} "
            f"faust_paused={tp in consumer._paused_partitions} "
            f"kafka_position={getattr(state, '_position', '?')} "
            f"kafka_paused={getattr(state, '_paused', '?')} buffered={tp in buffered}"
        )


def dump(app: Any, out: TextIO) -> None:
    print("=== partitions", file=out)
    try:
        for line in partition_report(app):
            print(line, file=out)
    except Exception as exc:  # a diagnostic must not take the worker down
        print(f"partition report failed: {exc!r}", file=out)
    print("=== tasks", file=out)
    for task in asyncio.all_tasks():
        print(f"--- {task.get_name()}", file=out)
        for line in await_chain(task):
            print(f"    {line}", file=out)
    out.flush()
