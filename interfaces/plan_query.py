"""The intent a /api/plan query describes, checked as an intent on the intents topic is."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from models import IntentSubmitted


class PlanQueryError(ValueError):
    """The query does not describe an intent; the message says which parameter and why."""


def intent_from_query(query: Mapping[str, str]) -> IntentSubmitted:
    """``text`` (required), ``tool``, ``arguments`` (a JSON object), ``context.<name>``."""
    text = query.get("text", "")
    if not text:
        raise PlanQueryError("missing ?text= (the intent's words)")
    arguments: Any = {}
    if query.get("arguments"):
        try:
            arguments = json.loads(query["arguments"])
        except ValueError as exc:
            raise PlanQueryError(f"arguments is not JSON: {exc}") from exc
        if not isinstance(arguments, dict):
            raise PlanQueryError('arguments must be a JSON object, e.g. {"timezone": "UTC"}')
    context = {k.removeprefix("context."): v for k, v in query.items() if k.startswith("context.")}
    try:
        return IntentSubmitted(
            intent_id="plan-preview",
            text=text,
            tool=query.get("tool") or None,
            arguments=arguments,
            context=context,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise PlanQueryError(f"not a valid intent: {problems}") from exc
