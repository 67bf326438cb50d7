"""Pure rules at the MCP boundary: argument checks, and MCP outcomes mapped to CallResult."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jsonschema
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CONNECTION_CLOSED,
    INVALID_PARAMS,
    REQUEST_TIMEOUT,
    CallToolResult,
    TextContent,
)

from models.content import ContentError
from models.tools import CallResult, ErrorKind, ToolSpec
from tools.content import parts_from_mcp
from tools.conventions import META_COST, META_QUALITY, META_RETRYABLE
from tools.patterns import linear_or_none

# What MCPServer (the Python SDK) writes when the arguments fail its pydantic
# model, e.g. "Error executing tool add: 2 validation errors for addArguments".
_SERVER_VALIDATION = re.compile(r"\bvalidation errors? for \w+Arguments\b")
_SERVER_UNKNOWN_TOOL = re.compile(r"^Unknown tool: ")

_COERCE_TRUE = {"true", "yes", "on", "1"}
_COERCE_FALSE = {"false", "no", "off", "0"}


def _coerce_scalar(value: str, declared: Any) -> Any:
    types = declared if isinstance(declared, list) else [declared]
    text = value.strip()
    if "string" in types:
        return value
    if "integer" in types and re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if "number" in types:
        try:
            number = float(text)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    if "boolean" in types and text.lower() in _COERCE_TRUE | _COERCE_FALSE:
        return text.lower() in _COERCE_TRUE
    return value


def coerce_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Turn string values into the scalar type the schema declares for that property.

    The planner pulls arguments out of intent text with regexes, so "12.5" arrives
    as a string where the tool declares a number. Only top-level properties with a
    plain scalar type are touched; anything else goes through unchanged.
    """
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return dict(arguments)
    coerced = dict(arguments)
    for key, value in arguments.items():
        prop = properties.get(key)
        if isinstance(value, str) and isinstance(prop, Mapping) and "type" in prop:
            coerced[key] = _coerce_scalar(value, prop["type"])
    return coerced


def _linear_pattern(validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Any:
    """JSON Schema's ``pattern`` keyword on RE2: a tool's pattern never backtracks on input."""
    if not validator.is_type(instance, "string"):
        return
    compiled = linear_or_none(pattern)
    if compiled is None:
        return  # a pattern RE2 refuses is not run here; the server judges its own arguments
    if compiled.search(instance) is None:
        shown = instance if len(instance) <= 80 else instance[:77] + "..."
        yield jsonschema.ValidationError(f"{shown!r} does not match {pattern!r}")


@lru_cache(maxsize=512)
def _validator_for(schema_json: str) -> jsonschema.protocols.Validator:
    # Keyed by the schema's JSON text: building a validator checks the schema,
    # which costs more than validating one call's arguments.
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    linear = jsonschema.validators.extend(cls, {"pattern": _linear_pattern})
    return linear(schema)


def argument_problem(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> str | None:
    """Why ``arguments`` do not satisfy ``schema``, or None when they do (or there is no schema)."""
    if not schema:
        return None
    try:
        validator = _validator_for(json.dumps(schema, sort_keys=True))
    except (jsonschema.SchemaError, TypeError, ValueError):
        # The server published a broken schema: let the server judge the arguments.
        return None
    error = jsonschema.exceptions.best_match(validator.iter_errors(dict(arguments)))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path) or "arguments"
    return f"{where}: {error.message}"


def argument_errors(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, str]:
    """Why each top-level argument fails ``schema`` ('' for problems tied to none of them).

    Required properties that are absent are not reported: a caller that is still
    filling arguments asks about the values it has.
    """
    if not schema:
        return {}
    try:
        validator = _validator_for(json.dumps(schema, sort_keys=True))
    except (jsonschema.SchemaError, TypeError, ValueError):
        return {}
    errors: dict[str, str] = {}
    for error in validator.iter_errors(dict(arguments)):
        if error.validator == "required" and not error.absolute_path:
            continue
        field = str(error.absolute_path[0]) if error.absolute_path else ""
        errors.setdefault(field, error.message)
    return errors


def _text_of(result: CallToolResult) -> list[str]:
    return [block.text for block in result.content if isinstance(block, TextContent)]


def result_output(result: CallToolResult) -> Any:
    """The structured content if any, else the text: one string, or a list when several."""
    if result.structured_content is not None:
        return result.structured_content
    texts = _text_of(result)
    if not texts:
        return None
    return texts[0] if len(texts) == 1 else texts


def _reported(meta: Mapping[str, Any], key: str) -> float | None:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def error_kind_of(result: CallToolResult) -> ErrorKind:
    """How an ``isError`` result is classified (see tools/README.md)."""
    meta = result.meta or {}
    if meta.get(META_RETRYABLE) is True:
        return ErrorKind.TRANSIENT
    text = "\n".join(_text_of(result))
    if _SERVER_VALIDATION.search(text):
        return ErrorKind.INVALID_ARGUMENTS
    if _SERVER_UNKNOWN_TOOL.match(text):
        return ErrorKind.UNKNOWN_TOOL
    return ErrorKind.TOOL_ERROR


def from_tool_result(spec: ToolSpec, result: CallToolResult, latency_ms: float) -> CallResult:
    """Map an answered ``tools/call`` onto a CallResult."""
    meta = result.meta or {}
    reported_cost = _reported(meta, META_COST)
    cost = max(0.0, reported_cost) if reported_cost is not None else spec.cost_per_call
    quality = _reported(meta, META_QUALITY)
    if quality is not None:
        # A tool that reports 1.2 means "very good", not "reject the whole result".
        quality = min(1.0, max(0.0, quality))
    if result.is_error:
        texts = _text_of(result)
        return CallResult(
            ok=False,
            error_kind=error_kind_of(result),
            error="\n".join(texts) or "the tool reported an error without a message",
            cost=cost,
            quality=quality,
            latency_ms=latency_ms,
        )
    try:
        content = parts_from_mcp(result.content)
    except ContentError as exc:
        # Refused rather than dropped: a caller must never get a result with a part missing.
        message = f"{spec.name} returned content Toolwise cannot pass on: {exc}"
        return failure(ErrorKind.TOOL_ERROR, message, latency_ms, cost)
    return CallResult(
        ok=True,
        output=result_output(result),
        content=content,
        cost=cost,
        quality=quality,
        latency_ms=latency_ms,
    )


def kind_of_mcp_error(error: MCPError) -> ErrorKind:
    """Protocol-level errors: timeout, lost connection, bad params, or the tool's failure."""
    if error.code == REQUEST_TIMEOUT:
        return ErrorKind.TIMEOUT
    if error.code == CONNECTION_CLOSED:
        return ErrorKind.CONNECTION
    if error.code == INVALID_PARAMS:
        return ErrorKind.INVALID_ARGUMENTS
    return ErrorKind.TOOL_ERROR


def failure(
    kind: ErrorKind, message: str, latency_ms: float, cost: float = 0.0, *, sent: bool = True
) -> CallResult:
    """A failed call; ``sent=False`` when the request provably never left Toolwise."""
    return CallResult(
        ok=False, error_kind=kind, error=message, latency_ms=latency_ms, cost=cost, sent=sent
    )
