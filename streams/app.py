"""The one Faust app. Agents and tables register themselves on it at import."""

from __future__ import annotations

import logging

import faust

from streams import faust_patches
from streams.inflight_ledger import InflightLedger
from streams.loop_monitor import LoopMonitor
from streams.partitions import HoleWatchdog
from streams.settings import get_settings

faust_patches.apply()  # before the app exists: some patches act on objects it creates

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
    # Toolwise creates every topic, Faust's changelogs and leader topic included, with the
    # right partitions and configs before the agents start (streams.topics.ensure_topics,
    # changelog_specs). Faust's own declaring sent a CreateTopics request per changelog, twice,
    # one after the other: ~12 of a worker's ~25 s start on a loaded 2-core machine.
    topic_allow_declare=False,
    # Faust's own aiohttp server stays off: the worker serves one ASGI app of its own on
    # settings.web_port (interfaces/web.py), since the MCP and A2A SDKs' servers are ASGI.
    # (Faust's /table/<name>/<key>/ also served any stored plan to anyone on the port.)
    web_enabled=False,
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

# What each agent has in flight; a worker opens it on its data dir (interfaces.worker).
ledger = InflightLedger()
# How late the event loop runs what is due; a worker runs it (interfaces.worker).
loop_monitor = LoopMonitor()

_hole_watchdog = HoleWatchdog(app)


@app.timer(interval=2.0)  # type: ignore[untyped-decorator]  # faust's decorator is untyped
async def _watch_for_stuck_partitions() -> None:
    try:
        await _hole_watchdog.check()
    except Exception:  # a failed check must not stop the worker; the next one retries
        logging.getLogger(__name__).exception("stuck-partition check failed")
