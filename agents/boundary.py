"""The per-message boundary every agent uses: decode at the edge, isolate each failure, never drop.

Each record an agent reads ends in exactly one of: its normal effect, a dead letter with the
reason, or (where the record belongs to an intent) a dead letter and an answer to the submitter.
Only then is it acknowledged, so Faust commits past it. Concretely, for every record:

1. a record the group has already committed is passed over (``committed_before``);
2. a record that does not decode is dead-lettered with the codec's kind and reason, and answered;
3. a record that was in flight at ``settings.max_message_deaths`` worker deaths is dead-lettered
   (``crash_loop``) and answered instead of being handled again (``streams.inflight_ledger``);
4. an exception from the handler is logged, dead-lettered (``processing_error``) and answered;
   the agent goes on with the next record, so no exception reaches Faust's supervisor (two
   crashes within milliseconds made it stop the whole worker);
5. a record whose handling is cancelled (the worker stops) is left unacknowledged, for the next
   owner of its partition to handle again.

A dead letter carries at most ``models.codec.DEAD_LETTER_RAW_MAX`` bytes of the record (with its
size and hash), so it always fits on the dead-letter topic; if sending it fails anyway (the broker
is away), the boundary retries with backoff rather than acknowledge the record without it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from models import Event
from models.codec import InvalidMessage, dead_letter, decode
from streams.app import ledger, settings
from streams.partitions import committed_before, hold, release
from streams.topics import dead_letters_topic

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)

Handler = Callable[[Any, E], Awaitable[None]]
# answer(event, decoded value or None, error kind, reason): tell the submitter, if there is one.
Answer = Callable[[Any, E | None, str, str], Awaitable[None]]

# Retrying a dead letter that could not be sent: from 0.5 s up to 30 s between tries, until the
# broker takes it. The record is not acknowledged meanwhile, so a restart reads it again.
_RESEND_FIRST_S = 0.5
_RESEND_MAX_S = 30.0


async def send_dead_letter(event: Any, kind: str, reason: str) -> None:
    """Put the record on the dead-letter topic with why; retried until the producer takes it."""
    message = event.message
    letter = dead_letter(
        event.value,
        kind=kind,
        reason=reason,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=event.key,
    )
    log.warning(
        "dead-lettered %s[%d]@%d (%s): %s",
        message.topic,
        message.partition,
        message.offset,
        kind,
        reason[:300],
    )
    delay = _RESEND_FIRST_S
    while True:
        try:
            await dead_letters_topic.send(key=(event.key or b"")[:1000], value=letter.to_bytes())
            return
        except Exception:
            log.exception("could not send the dead letter of %s; retrying", letter.event_id)
            await asyncio.sleep(delay)
            delay = min(_RESEND_MAX_S, delay * 2)


async def each_message(
    stream: Any,
    models: Mapping[str, type[E]],
    handle: Handler[E],
    answer: Answer[E] | None = None,
) -> None:
    """Run ``handle(event, decoded)`` for every record of ``stream`` inside the boundary.

    ``models`` maps each topic the stream reads to the event type expected on it.
    """
    async for event, value in checked_events(stream, models, answer):
        try:
            await handle(event, value)
        except asyncio.CancelledError:
            _leave_to_next_owner(event)
            raise
        except Exception as exc:
            await _failed(event, value, exc, answer)
        finally:
            _end(event)


async def checked_events(
    stream: Any, models: Mapping[str, type[E]], answer: Answer[E] | None = None
) -> AsyncIterator[tuple[Any, E]]:
    """Steps 1-3 of the boundary: yield (event, decoded) for the records worth handling.

    The caller must call ``_end(event)`` once it has handled each yielded record (``each_message``
    does); agents that batch use ``decoded_events`` instead.
    """
    async for event in stream.events():
        if committed_before(event):
            continue
        message = event.message
        position = (message.topic, message.partition, message.offset)
        release(message.tp, message.offset)  # held by a cancelled handling, if any: handled now
        ledger.begin(position)
        try:
            try:
                value = decode(event.value, models[message.topic], settings.max_message_bytes)
            except InvalidMessage as exc:
                await _reject(event, None, exc.kind, exc.reason, answer)
                _end(event)
                continue
            deaths = ledger.deaths(position)
            if deaths >= settings.max_message_deaths:
                reason = (
                    f"this record was being processed when the worker died {deaths} times; "
                    "it is set aside so that it cannot stop the worker again"
                )
                # Answered with the decoded value, so the agent can record the failure where
                # copies of the same request (a re-sent plan) will find it.
                await _reject(event, value, "crash_loop", reason, answer)
                _end(event)
                continue
        except BaseException:
            _end(event)
            raise
        yield event, value


async def decoded_events(
    stream: Any, models: Mapping[str, type[E]]
) -> AsyncIterator[tuple[Any, E]]:
    """Records that decode, each acknowledged as it is yielded; the rest are dead-lettered."""
    async for event, value in checked_events(stream, models):
        _end(event)
        yield event, value


def _leave_to_next_owner(event: Any) -> None:
    """The agent is being cancelled (the worker stops) with this record half handled: this
    process commits nothing at or past it, so the next owner of the partition handles it again.

    Faust's stream acks the event it yielded even when the agent is cancelled (in a ``finally``),
    and the stopping consumer then committed records whose tool call had been cut short.
    """
    message = event.message
    hold(message.tp, message.offset)


def _end(event: Any) -> None:
    message = event.message
    ledger.end((message.topic, message.partition, message.offset))


async def _failed(event: Any, value: Any, exc: Exception, answer: Answer[Any] | None) -> None:
    message = event.message
    log.exception("handling %s[%d]@%d failed", message.topic, message.partition, message.offset)
    reason = f"{type(exc).__name__}: {exc}"[:2000]
    await _reject(event, value, "processing_error", reason, answer)


async def _reject(
    event: Any, value: Any, kind: str, reason: str, answer: Answer[Any] | None
) -> None:
    await send_dead_letter(event, kind, reason)
    if answer is None:
        return
    try:
        await answer(event, value, kind, reason)
    except Exception:
        # The dead letter holds the record and the reason; the answer is what failed.
        log.exception("answering for the dead-lettered record %s failed", event.message)
