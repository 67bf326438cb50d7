"""Start a worker: create topics, register agents, hand over to Faust."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import sys
import threading
from typing import Any

from streams.settings import Settings


def _exit_after(timeout_s: float) -> None:
    def force() -> None:
        logging.getLogger(__name__).error(
            "the worker did not stop within %g s; exiting now (uncommitted records are "
            "read again by the next worker)",
            timeout_s,
        )
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(timeout_s, force)
    timer.daemon = True
    timer.start()


def register_agents(settings: Settings) -> None:
    """Import the agent modules: each registers its agent, and its tables, on the app."""
    from agents import AGENT_MODULES

    for module in AGENT_MODULES:
        if module == "agents.learn_from_executions" and not settings.learning_enabled:
            continue
        importlib.import_module(module)


async def ensure_all_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Toolwise's topics and every registered table's changelog (``register_agents`` first)."""
    from streams.topics import changelog_specs, ensure_topics

    return await ensure_topics(settings, timeout_s, extra=changelog_specs(settings))


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    from streams.topics import TopicMismatch

    register_agents(settings)
    try:
        # Every topic, changelogs included, exists and is served before any agent starts.
        asyncio.run(ensure_all_topics(settings))
    except TopicMismatch as exc:
        print(f"toolwise worker: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    settings.datadir.mkdir(parents=True, exist_ok=True)  # Faust will not create parents

    if settings.web_enabled:
        import interfaces.dashboard  # noqa: F401  (registers the web pages and their feed)
    from agents.runtime import close_runtime, get_runtime
    from streams.app import app, ledger, loop_monitor

    # Records in flight when the previous worker on this data dir died are counted now.
    ledger.open(settings.datadir / f"{settings.app_id}-inflight")

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def _monitor_the_loop() -> None:
        await loop_monitor.run()

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def _start_tools() -> None:
        # Connect tool servers at start, not on the first intent.
        await get_runtime(settings)

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def _dump_tasks_on_sigusr1() -> None:
        # `kill -USR1 <pid>` prints the partitions' offsets and what every task awaits.
        from streams.diagnose import dump

        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump, app, sys.stderr)

    @app.on_before_shutdown.connect
    async def _stop_tools(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # A clean stop: what is in flight now is cancelled, not a death. Whatever hangs from
        # here on (one SIGTERM in ten waited 6 minutes on an unacknowledged record), the
        # process exits after shutdown_timeout_s; uncommitted records are read again by the
        # next owner, as after any crash.
        ledger.close()
        _exit_after(settings.shutdown_timeout_s)
        # Faust stops the agents only after this signal: stop them first, so that a tool call
        # in flight is cancelled and left uncommitted for the next owner. Closing the tool
        # servers under it made it fail with "connection", and that failure was recorded and
        # answered as the intent's outcome (bench.chaos, shutdown scenario).
        await app.agents.stop()
        if settings.learning_enabled:
            from agents.learn_from_executions import flush_pending

            await flush_pending()
        await close_runtime()

    sys.argv = ["toolwise", "worker", "--loglevel", loglevel]
    if not settings.web_enabled:
        sys.argv.append("--without-web")
    app.main()
