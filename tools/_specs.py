"""Building ToolSpecs from MCP tool listings and config overrides."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from mcp.types import Tool, ToolAnnotations

from models.tools import VERSION_PATTERN, ToolSpec
from tools.config import ToolOverride
from tools.conventions import (
    META_CACHE_CONTEXT,
    META_CACHE_TTL,
    META_CACHEABLE,
    META_COST_PER_CALL,
    META_KEYWORDS,
    META_PATTERNS,
    META_TIMEOUT,
    META_VERSION,
)
from tools.patterns import PatternError, compile_linear

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
    # A third-party server's bad regex must not take the registry down: refuse the
    # pattern (never run it), keep the tool, and say so.
    kept = []
    for pattern in patterns:
        try:
            compiled = compile_linear(pattern, ignore_case=True)
        except PatternError as exc:
            logger.error("tool %s.%s: pattern refused: %s", server, tool, exc)
            continue
        if not compiled.groupindex:
            logger.error(
                "tool %s.%s: pattern %r refused: no named group to fill an argument",
                server,
                tool,
                pattern,
            )
            continue
        kept.append(pattern)
    return tuple(kept)


def _hints(annotations: ToolAnnotations | None) -> dict[str, bool]:
    """The annotations a tool declared, as ToolSpec fields; absent ones keep MCP's defaults."""
    if annotations is None:
        return {}
    declared = {
        "read_only": annotations.read_only_hint,
        "destructive": annotations.destructive_hint,
        "idempotent": annotations.idempotent_hint,
        "open_world": annotations.open_world_hint,
    }
    return {name: value for name, value in declared.items() if value is not None}


def spec_from_mcp(server: str, tool: Tool) -> ToolSpec:
    """A ToolSpec from one entry of ``tools/list``, reading the ``toolwise/*`` tool metadata."""
    meta: Mapping[str, Any] = tool.meta or {}
    cost = meta.get(META_COST_PER_CALL)
    ttl = meta.get(META_CACHE_TTL)
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
        cache_ttl_s=float(ttl) if isinstance(ttl, int | float) and ttl >= 0 else None,
        cache_context=_strings(meta.get(META_CACHE_CONTEXT)),
        **_hints(tool.annotations),
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
