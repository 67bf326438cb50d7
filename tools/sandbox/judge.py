"""judge(submission) -> verdict: the pure decision on a generated tool, event in, event out.

The Kafka agent of the event-sourced registry (issue 13) calls it per
GeneratedToolSubmitted and publishes what it returns; the sandbox transport calls it
for every tool file it serves. Same submission, same verdict, same event id.
"""

from __future__ import annotations

import re

import jsonschema

from models.events import GeneratedToolJudged, GeneratedToolSubmitted
from tools.sandbox.static import DEFAULT_SOURCE_BYTES, check_source

__all__ = ["NAME_RULE", "SCHEMA_RULE", "judge"]

# An MCP tool name that also splits '<server>.<tool>' unambiguously: no dots.
TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
NAME_RULE = "name"
SCHEMA_RULE = "schema"


def _schema_problem(schema: dict[str, object]) -> str | None:
    if schema.get("type") != "object":
        return 'input_schema must describe an object ({"type": "object", "properties": ...})'
    try:
        validator = jsonschema.validators.validator_for(
            schema, default=jsonschema.Draft202012Validator
        )
        validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        return f"input_schema is not a valid JSON Schema: {exc.message}"
    return None


def judge(
    submission: GeneratedToolSubmitted, max_source_bytes: int = DEFAULT_SOURCE_BYTES
) -> GeneratedToolJudged:
    """Accept the submission, or say which rule it breaks (and where, for its source)."""

    def verdict(
        accepted: bool, rule: str | None, line: int | None, message: str
    ) -> GeneratedToolJudged:
        return GeneratedToolJudged(
            event_id=f"judged:{submission.event_id}",
            submission_id=submission.event_id,
            name=submission.name,
            version=submission.version,
            accepted=accepted,
            rule=rule,
            line=line,
            message=message,
        )

    if not TOOL_NAME.match(submission.name):
        message = f"tool name {submission.name!r} must match {TOOL_NAME.pattern}"
        return verdict(False, NAME_RULE, None, message)
    problem = _schema_problem(submission.input_schema)
    if problem is not None:
        return verdict(False, SCHEMA_RULE, None, problem)
    static = check_source(submission.source, max_source_bytes)
    rule = static.rule.value if static.rule is not None else None
    return verdict(static.accepted, rule, static.line, static.message)
