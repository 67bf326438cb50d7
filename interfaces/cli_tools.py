"""`toolwise tools list`: every registered tool with what was learned of it (GET /api/tools)."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from interfaces.api.tools import tools_view
from streams.settings import Settings

__all__ = ["register"]


def register(sub: Any) -> None:
    tools = sub.add_parser(
        "tools",
        help="list the registered tools and their learned metrics",
        description="Connect to the configured tool servers, read the learned state from "
        "Kafka, and print every tool (those that never ran too). A running worker's "
        "GET /api/tools answers the same, with its live figures.",
    )
    tools.add_argument("action", choices=["list"])
    tools.add_argument("--json", action="store_true", help="print the rows as JSON")
    tools.add_argument("--generation", type=int, help="learned-state generation (default: active)")
    tools.set_defaults(run=_tools)


def _tools(args: argparse.Namespace, settings: Settings) -> int:
    rows = asyncio.run(_rows(settings, args.generation))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'tool':32} {'calls':>6} {'success':>8} {'p50 ms':>7} {'cost':>8}  description")
    for row in rows:
        learned = row["learned"] or {}
        success = learned.get("success")
        p50 = learned.get("latency_p50_ms")
        cost = learned.get("cost_mean")
        print(
            f"{row['name']:32} {learned.get('calls', 0):>6} "
            f"{f'{success:.0%}' if success is not None else '-':>8} "
            f"{f'{p50:.0f}' if p50 is not None else '-':>7} "
            f"{f'{cost:.4f}' if cost is not None else '-':>8}  {row['description'][:60]}"
        )
    return 0


async def _rows(settings: Settings, generation: int | None) -> list[dict[str, Any]]:
    from interfaces.replay import learned_replica
    from tools.registry import ToolRegistry

    replica = learned_replica(settings)
    await replica.start()
    try:
        async with ToolRegistry.from_file(settings.tools_config) as registry:
            return tools_view(registry.specs(), replica.state(generation))
    finally:
        await replica.stop()
