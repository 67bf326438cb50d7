"""Building ToolSpecs from MCP tool listings and config overrides."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from mcp.types import Tool

from models.tools import VERSION_PATTERN, ToolSpec
from tools.config import ToolOverride
from tools.conventions import (
    META_CACHEABLE,
    META_COST_PER_CALL,
    META_KEYWORDS,
    META_PATTERNS,
    META_TIMEOUT,
    META_VERSION,
)

logger = logging.getLogger(__name__)

# ToolSpec.timeout_s's upper bound: a server asking for more is ignored, not obeyed.
_MAX_TIMEOUT_S = 3600.0


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
    timeout = meta.get(META_TIMEOUT)
    version = str(meta.get(META_VERSION, "1"))
    if not re.match(rf"^{VERSION_PATTERN}$", version):
        logger.warning("tool %s.%s: ignoring invalid version %r", server, tool.name, version)
        version = "1"
    return ToolSpec(
        name=f"{server}.{tool.name}",
        server=server,
        tool=tool.name,
        description=tool.description or tool.title or "",
        input_schema=dict(tool.input_schema),
        version=version,
        cost_per_call=float(cost) if isinstance(cost, int | float) and cost >= 0 else 0.0,
        timeout_s=float(timeout)
        if isinstance(timeout, int | float) and 0 < timeout <= _MAX_TIMEOUT_S
        else None,
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
