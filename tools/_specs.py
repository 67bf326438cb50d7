"""Building ToolSpecs from MCP tool listings and config overrides."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mcp.types import Tool

from models.tools import ToolSpec
from tools.config import ToolOverride
from tools.conventions import (
    META_CACHEABLE,
    META_COST_PER_CALL,
    META_KEYWORDS,
    META_PATTERNS,
    META_VERSION,
)
from tools.patterns import PatternError, compile_pattern

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
            compile_pattern(pattern)
        except PatternError as exc:
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
