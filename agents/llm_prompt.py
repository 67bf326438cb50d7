"""The LLM planner's request and the checks on its answer: pure, no I/O.

The request offers only the recommended tools, as OpenAI function definitions whose
parameters are the tools' input schemas less the arguments that take content parts
(the model sees no bytes; Toolwise hands the intent's parts to those arguments). The
answer is used only if every call names an offered tool and its arguments, merged with
the intent's own and its parts, satisfy the tool's schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models import IntentSubmitted, MediaContent, ResourceContent, ToolSpec
from tools import argument_problem, coerce_arguments
from tools.content import content_arguments, without_content_slots

__all__ = [
    "MAX_STEPS",
    "SYSTEM_PROMPT",
    "Call",
    "InvalidPlan",
    "Usage",
    "build_request",
    "function_names",
    "parse_calls",
    "usage_of",
]

SYSTEM_PROMPT = (
    "You plan tool calls for an intent. Call the functions that fulfil it, in the order "
    "they must run, with arguments taken from the intent. Use only the functions given. "
    "Attached files reach the tools without you: never put them in arguments. "
    "Do not answer in prose."
)

# Calls one answer may plan: more than any intent here needs; an answer past it is a
# model repeating itself, not a plan.
MAX_STEPS = 8
# OpenAI function names: letters, digits, '_' and '-', at most 64 characters.
_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]")
_NAME_MAX = 64


class InvalidPlan(Exception):
    """The model's answer cannot be used as a plan; the message says why."""


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reported: bool = False

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.reported or other.reported,
        )


@dataclass(frozen=True)
class Call:
    tool: str
    arguments: dict[str, Any]


def function_names(specs: Sequence[ToolSpec]) -> dict[str, str]:
    """Function name -> tool name: dots and other characters OpenAI refuses become '_'."""
    names: dict[str, str] = {}
    for spec in specs:
        base = _NOT_NAME.sub("_", spec.name)[:_NAME_MAX]
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base[: _NAME_MAX - len(str(n)) - 1]}_{n}"
        names[name] = spec.name
    return names


def _describe(part: Any) -> str:
    if isinstance(part, MediaContent):
        return f"{part.type} ({part.mime_type}, {part.size:,} bytes)"
    if isinstance(part, ResourceContent):
        return f"resource {part.resource.uri} ({part.resource.mime_type or 'unknown type'})"
    return f"resource link {part.uri}"


def _user_message(intent: IntentSubmitted) -> str:
    lines = [f"Intent: {intent.text}"]
    if intent.arguments:
        lines.append(f"Known arguments: {json.dumps(intent.arguments, sort_keys=True)}")
    if intent.context:
        lines.append(f"Context: {json.dumps(intent.context, sort_keys=True)}")
    if intent.content:
        lines.append("Attached: " + "; ".join(_describe(p) for p in intent.content))
    return "\n".join(lines)


def build_request(
    intent: IntentSubmitted,
    specs: Sequence[ToolSpec],
    *,
    model: str,
    max_tokens: int,
    temperature: float = 0.0,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The chat-completions request body, and function name -> tool name."""
    names = function_names(specs)
    by_name = {spec.name: spec for spec in specs}
    tools = []
    for function, tool in names.items():
        spec = by_name[tool]
        parameters = without_content_slots(spec.input_schema) or {"type": "object"}
        definition: dict[str, Any] = {"name": function, "parameters": parameters}
        if spec.description:
            definition["description"] = spec.description
        tools.append({"type": "function", "function": definition})
    request = {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": _user_message(intent)},
        ],
        "tools": tools,
        "tool_choice": "required",
        "temperature": temperature,
        "max_tokens": max_tokens,
    }
    return request, names


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def usage_of(response: Mapping[str, Any]) -> Usage:
    """Token counts as the server reports them (``usage``); zeros when it reports none."""
    usage = response.get("usage")
    if not isinstance(usage, Mapping):
        return Usage()
    return Usage(_count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")), True)


def _message(response: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise InvalidPlan("malformed response: no choices")
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        raise InvalidPlan("malformed response: the first choice has no message")
    return message


def _arguments(raw: Any, tool: str) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidPlan(f"malformed JSON in the arguments for {tool}: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidPlan(f"the arguments for {tool} are a {type(raw).__name__}, not an object")
    return raw


def parse_calls(
    response: Mapping[str, Any],
    names: Mapping[str, str],
    tools: Mapping[str, ToolSpec],
    intent: IntentSubmitted,
    max_steps: int = MAX_STEPS,
) -> list[Call]:
    """The answer's tool calls, checked and completed; InvalidPlan says what is wrong.

    Each call's arguments are the model's, then the intent's parts for the arguments
    that take them, then the intent's own arguments (which win), coerced as the tool
    client will coerce them, and must satisfy the tool's input schema.
    """
    message = _message(response)
    calls = message.get("tool_calls")
    if not calls:
        said = str(message.get("content") or "")[:200]
        raise InvalidPlan(f"the model answered without calling a tool: {said!r}")
    if not isinstance(calls, list):
        raise InvalidPlan("malformed response: tool_calls is not a list")
    if len(calls) > max_steps:
        raise InvalidPlan(f"the model planned {len(calls)} calls; at most {max_steps} are taken")
    planned = []
    for call in calls:
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise InvalidPlan("malformed response: a tool call without a function name")
        tool = names.get(function["name"])
        if tool is None or tool not in tools:
            offered = ", ".join(names) or "none"
            raise InvalidPlan(f"unknown tool {function['name']!r} (offered: {offered})")
        spec = tools[tool]
        given = _arguments(function.get("arguments", {}), tool)
        properties = spec.input_schema.get("properties") or {}
        known = {k: v for k, v in intent.arguments.items() if k in properties}
        merged = {**given, **content_arguments(spec.input_schema, intent.content), **known}
        arguments = coerce_arguments(spec.input_schema, merged)
        problem = argument_problem(spec.input_schema, arguments)
        if problem is not None:
            raise InvalidPlan(f"arguments for {tool} do not match its schema: {problem}")
        planned.append(Call(tool, arguments))
    return planned
