"""The ``_meta`` keys Toolwise reads from MCP tools and results, and helpers for tool authors.

Any MCP server can take part; these keys are optional hints:

* result ``_meta["toolwise/retryable"] = true`` on an ``isError`` result marks a
  transient failure (retry may succeed); any other error result is permanent.
* result ``_meta["toolwise/cost"]`` and ``_meta["toolwise/quality"]`` (0..1) report
  what this one call cost and how good its answer was.
* tool ``_meta["toolwise/patterns"]``, ``["toolwise/keywords"]``,
  ``["toolwise/version"]``, ``["toolwise/cost_per_call"]``, ``["toolwise/cacheable"]``,
  ``["toolwise/cache_ttl_s"]``, ``["toolwise/cache_context"]`` (the context fields its
  result depends on, e.g. ``["user"]``) and ``["toolwise/timeout_s"]`` (its default
  per-attempt timeout) describe the tool to the planner and the cache; the config file may
  override each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp.types import CallToolResult, TextContent, ToolAnnotations

__all__ = [
    "LOCAL_READ_ONLY",
    "META_CACHEABLE",
    "META_CACHE_CONTEXT",
    "META_CACHE_TTL",
    "META_COST",
    "META_COST_PER_CALL",
    "META_KEYWORDS",
    "META_PATTERNS",
    "META_QUALITY",
    "META_RETRYABLE",
    "META_TIMEOUT",
    "META_VERSION",
    "tool_error",
    "tool_meta",
    "tool_result",
]

META_RETRYABLE = "toolwise/retryable"
META_COST = "toolwise/cost"
META_QUALITY = "toolwise/quality"
META_PATTERNS = "toolwise/patterns"
META_KEYWORDS = "toolwise/keywords"
META_VERSION = "toolwise/version"
META_COST_PER_CALL = "toolwise/cost_per_call"
META_CACHEABLE = "toolwise/cacheable"
META_CACHE_TTL = "toolwise/cache_ttl_s"
META_CACHE_CONTEXT = "toolwise/cache_context"
META_TIMEOUT = "toolwise/timeout_s"

# The MCP annotations of a tool that only computes an answer from its arguments and
# local data: what Toolwise's planner may choose without the intent naming it (a tool
# that declares nothing gets MCP's defaults: it may write, destroy, and reach the web).
LOCAL_READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


def tool_result(
    structured: dict[str, Any],
    text: str,
    *,
    cost: float | None = None,
    quality: float | None = None,
) -> CallToolResult:
    """A successful result with structured content, its text form and optional cost/quality."""
    meta: dict[str, Any] = {}
    if cost is not None:
        meta[META_COST] = cost
    if quality is not None:
        meta[META_QUALITY] = quality
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=structured,
        _meta=meta or None,
    )


def tool_error(
    message: str, *, retryable: bool = False, cost: float | None = None
) -> CallToolResult:
    """An ``isError`` result; ``retryable=True`` tells Toolwise the failure is transient."""
    meta: dict[str, Any] = {META_RETRYABLE: retryable}
    if cost is not None:
        meta[META_COST] = cost
    return CallToolResult(
        content=[TextContent(type="text", text=message)], is_error=True, _meta=meta
    )


def tool_meta(
    *,
    patterns: Sequence[str] = (),
    keywords: Sequence[str] = (),
    version: str | None = None,
    cost_per_call: float | None = None,
    cacheable: bool | None = None,
    cache_ttl_s: float | None = None,
    cache_context: Sequence[str] = (),
) -> dict[str, Any]:
    """The tool-level ``_meta`` a server passes to ``MCPServer.add_tool(meta=...)``."""
    meta: dict[str, Any] = {}
    if patterns:
        meta[META_PATTERNS] = list(patterns)
    if keywords:
        meta[META_KEYWORDS] = list(keywords)
    if version is not None:
        meta[META_VERSION] = version
    if cost_per_call is not None:
        meta[META_COST_PER_CALL] = cost_per_call
    if cacheable is not None:
        meta[META_CACHEABLE] = cacheable
    if cache_ttl_s is not None:
        meta[META_CACHE_TTL] = cache_ttl_s
    if cache_context:
        meta[META_CACHE_CONTEXT] = list(cache_context)
    return meta
