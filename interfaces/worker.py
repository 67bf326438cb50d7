"""Start a worker: create topics, register agents, hand over to Faust."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from streams.settings import Settings


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    from streams.topics import ensure_topics

    asyncio.run(ensure_topics(settings))
    settings.datadir.mkdir(parents=True, exist_ok=True)  # Faust will not create parents

    import importlib

    from agents import AGENT_MODULES

    for module in AGENT_MODULES:  # importing registers each agent on the app
        if module == "agents.learn_from_executions" and not settings.learning_enabled:
            continue
        importlib.import_module(module)
    if settings.web_enabled:
        import interfaces.dashboard  # noqa: F401  (registers the web pages and their feed)
    from agents.runtime import close_runtime, get_runtime
    from streams.app import app

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
        if settings.learning_enabled:
            from agents.learn_from_executions import flush_pending

            await flush_pending()
        await close_runtime()

    sys.argv = ["toolwise", "worker", "--loglevel", loglevel]
    if not settings.web_enabled:
        sys.argv.append("--without-web")
    app.main()
