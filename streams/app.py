"""The one Faust app. Agents and tables register themselves on it at import."""

from __future__ import annotations

import aiokafka.consumer.fetcher as _aiokafka_fetcher
import faust

from streams.settings import get_settings

# Faust pauses table changelog partitions only in its own bookkeeping, not in
# aiokafka, so a changelog's first record sits unread in aiokafka's buffer and
# every fetch from that broker then waits aiokafka's hard-coded 100 ms
# prefetch backoff: a fresh worker lost 100-300 ms on its first intents
# (measured: 116-315 ms per intent, then 19-31 ms with a 5 ms backoff).
# AIOKafkaConsumer does not expose the knob, so the Fetcher default is set here.
_fetcher_init = _aiokafka_fetcher.Fetcher.__init__


def _fetcher_init_short_backoff(self: object, *args: object, **kwargs: object) -> None:
    kwargs.setdefault("prefetch_backoff", 0.005)
    _fetcher_init(self, *args, **kwargs)


_aiokafka_fetcher.Fetcher.__init__ = _fetcher_init_short_backoff

settings = get_settings()

# Inbound values may be up to max_message_bytes; the dead-letter topic must
# take one of those base64-encoded (4/3 larger) plus its envelope.
_MAX_REQUEST_BYTES = 2 * settings.max_message_bytes + 64 * 1024

app = faust.App(
    settings.app_id,
    broker=settings.broker,
    store=settings.store,
    datadir=str(settings.datadir),
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication_factor,
    # Toolwise creates its own topics with the right partitions and configs
    # (streams.topics.ensure_topics); Faust still declares its changelogs.
    topic_allow_declare=True,
    web_enabled=settings.web_enabled,
    web_port=settings.web_port,
    web_bind="127.0.0.1",
    producer_max_request_size=_MAX_REQUEST_BYTES,
    consumer_max_fetch_size=_MAX_REQUEST_BYTES,
    # Commit often: a restarted worker then re-reads little, and every
    # handler is idempotent by event id anyway.
    broker_commit_interval=1.0,
    # Faust's defaults (60 s) make a restarted worker wait a minute for its
    # old membership to expire; Toolwise workers restart in seconds.
    broker_session_timeout=10.0,
    broker_heartbeat_interval=1.0,
    broker_rebalance_timeout=30.0,
    table_cleanup_interval=30.0,
    autodiscover=False,
)
