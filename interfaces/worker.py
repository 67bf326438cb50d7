"""Start a worker: create topics, register agents, hand over to Faust."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from streams.settings import Settings

if TYPE_CHECKING:
    from interfaces.web import WebServer


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


def _log_failed_start(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logging.getLogger(__name__).warning(
            "the runtime did not start (%s); it is tried again when the worker is ready",
            task.exception(),
        )


def register_agents(settings: Settings) -> None:
    """Import the agent modules: each registers its agent, and its tables, on the app."""
    from agents import AGENT_MODULES

    for module in AGENT_MODULES:
        if module == "agents.learn_from_executions" and not settings.learning_enabled:
            continue
        if module == "agents.prewarm_sessions" and not settings.prewarm_enabled:
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

    web = _web_server(settings) if settings.web_enabled else None
    from agents.runtime import close_runtime, get_runtime, prepare_runtime
    from streams import faust_patches
    from streams.app import app, ledger, loop_monitor

    # Records in flight when the previous worker on this data dir died are counted now.
    ledger.open(settings.datadir / f"{settings.app_id}-inflight")

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def _monitor_the_loop() -> None:
        await loop_monitor.run()

    # Most of the runtime (tool servers, replicas and feeds, the sentence model) starts as
    # soon as the worker's loop runs, beside Faust's own start and group join: Faust starts
    # app tasks only once table recovery is done, and the whole start after that took 6.5-7.5
    # s before the first intent could be planned. mode's get_event_loop is the loop Faust's
    # worker command runs (faust.cli.base).
    from mode.utils.loops import get_event_loop

    early_start = get_event_loop().create_task(prepare_runtime(settings), name="start-runtime")
    early_start.add_done_callback(_log_failed_start)

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def _start_tools() -> None:
        # The rest (the tool mesh publishes this worker's registrations through the app's
        # producer) once Faust is ready, not on the first intent; a part that failed to start
        # early is tried again here, where a failure stops the worker as before.
        await get_runtime(settings)

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def _dump_tasks_on_sigusr1() -> None:
        # `kill -USR1 <pid>` prints the partitions' offsets and what every task awaits.
        from streams.diagnose import dump

        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump, app, sys.stderr)

    if web is not None:

        @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
        async def _serve_web() -> None:
            # /api, /mcp, A2A, /metrics and /dashboard on the worker's own loop.
            await web.serve()

    def _stopping() -> None:
        # A clean stop: the agents stop, and what is in flight is left to the next owner.
        # Whatever hangs (a tool call that takes minutes; one SIGTERM in ten waited 6 minutes
        # on an unacknowledged record), the process exits shutdown_timeout_s after the signal;
        # uncommitted records are read again by the next owner, as after any crash. What is in
        # flight now is not counted as a death.
        ledger.close()
        _exit_after(settings.shutdown_timeout_s)

    faust_patches.on_stop_signal(_stopping)

    @app.on_before_shutdown.connect
    async def _stop_tools(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # Faust stops the agents only after this signal: stop them first, so that a tool call
        # in flight is cancelled and left uncommitted for the next owner. Closing the tool
        # servers under it made it fail with "connection", and that failure was recorded and
        # answered as the intent's outcome (bench.chaos, shutdown scenario).
        await app.agents.stop()
        if web is not None:
            await web.stop()
        if settings.learning_enabled:
            from agents.learn_from_executions import flush_pending

            await flush_pending()
        await close_runtime()

    # Faust's own web server is off (streams/app.py): the worker serves interfaces.web.
    sys.argv = ["toolwise", "worker", "--loglevel", loglevel, "--without-web"]
    app.main()


def _web_server(settings: Settings) -> WebServer:
    """The web port, bound now: a port in use stops the worker before anything starts."""
    from interfaces.web import PortInUse, WebServer, bind, build_app, worker_context
    from streams.topics import cancellations_topic, intents_topic

    try:
        sock = bind(settings)
    except PortInUse as exc:
        print(f"toolwise worker: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    topics = {"intents": intents_topic, "cancellations": cancellations_topic}

    async def publish(suffix: str, key: bytes, value: bytes) -> None:
        # Awaited until the broker has it: an intent answered 202 is on the topic.
        delivered = await topics[suffix].send(key=key, value=value)
        await delivered

    return WebServer(build_app(worker_context(settings, publish)), sock)
