"""Validation at the edge: decode each message or dead-letter it, and go on."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from models import Event
from models.codec import InvalidMessage, dead_letter, decode
from streams.app import settings
from streams.partitions import committed_before
from streams.topics import dead_letters_topic

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Event)


async def send_dead_letter(event: Any, kind: str, reason: str) -> None:
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
        "dead-lettered %s[%d]@%d: %s", message.topic, message.partition, message.offset, reason
    )
    await dead_letters_topic.send(key=event.key, value=letter.to_bytes())


async def valid_events(stream: Any, models: dict[str, type[E]]) -> AsyncIterator[tuple[Any, E]]:
    """Yield (faust event, decoded model) per message; dead-letter what does not decode.

    ``models`` maps a topic name to the event type expected on it.
    """
    async for event in stream.events():
        if committed_before(event):
            continue
        model = models[event.message.topic]
        try:
            yield event, decode(event.value, model, settings.max_message_bytes)
        except InvalidMessage as exc:
            await send_dead_letter(event, exc.kind, exc.reason)
