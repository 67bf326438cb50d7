"""Building ToolSpecs from MCP tool listings and config overrides."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from mcp.types import Tool

from models.tools import ToolSpec
from tools.config import ToolOverride
from tools.conventions import (
    META_CACHE_CONTEXT,
    META_CACHE_TTL,
    META_CACHEABLE,
    META_COST_PER_CALL,
    META_KEYWORDS,
    META_PATTERNS,
    META_VERSION,
)

logger = logging.getLogger(__name__)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


def _valid_patterns(server: str, tool: str, patterns: tuple[str, ...]) -> tuple[str, ...]:
    # A third-party server's bad regex must not take the registry down: drop it, say so.
    kept = []
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            logger.warning(
                "tool %s.%s: ignoring invalid pattern %r: %s", server, tool, pattern, exc
            )
            continue
        kept.append(pattern)
    return tuple(kept)


def spec_from_mcp(server: str, tool: Tool) -> ToolSpec:
    """A ToolSpec from one entry of ``tools/list``, reading the ``toolwise/*`` tool metadata."""
    meta: Mapping[str, Any] = tool.meta or {}
    cost = meta.get(META_COST_PER_CALL)
    ttl = meta.get(META_CACHE_TTL)
    return ToolSpec(
        name=f"{server}.{tool.name}",
        server=server,
        tool=tool.name,
        description=tool.description or tool.title or "",
        input_schema=dict(tool.input_schema),
        version=str(meta.get(META_VERSION, "1")),
        cost_per_call=float(cost) if isinstance(cost, int | float) and cost >= 0 else 0.0,
        patterns=_valid_patterns(server, tool.name, _strings(meta.get(META_PATTERNS))),
        keywords=_strings(meta.get(META_KEYWORDS)),
        cacheable=meta.get(META_CACHEABLE) is True,
        cache_ttl_s=float(ttl) if isinstance(ttl, int | float) and ttl >= 0 else None,
        cache_context=_strings(meta.get(META_CACHE_CONTEXT)),
    )


def apply_override(spec: ToolSpec, override: ToolOverride | None) -> ToolSpec:
    """The spec with every field the config sets replaced."""
    if override is None:
        return spec
    update = {
        key: value
        for key, value in override.model_dump(exclude={"enabled"}).items()
        if value is not None
    }
    return spec.model_copy(update=update) if update else spec
