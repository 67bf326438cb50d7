"""Learning state: plain JSON records in string-keyed tables, so dicts and Faust tables both work.

Tables (the lead declares each as a changelog-backed Faust ``Table`` with these names):

``tool_metrics``    key ``"<tool>@<version>"`` -> :func:`learning.metrics.new_metrics` record.
``context_scores``  key ``"<context key>#<tool>"`` -> :func:`learning.metrics.new_context_score`.
``exemplars``       key ``"<tool>"`` -> embeddings of intents it served / misfit
                    (:mod:`learning.exemplars`).
``term_tools``      key ``"<stemmed word>"`` -> ``{"tools": {tool: [successes, misfits]}}``;
                    plus key ``TOTALS_KEY`` -> ``{"tools": {tool: words in successes},
                    "vocabulary": distinct words seen}``.

Every value is a dict of str, float, int, list and dict only. Records are replaced, never
mutated in place, so a Faust table (which only sees ``__setitem__``) writes a changelog entry.
"""

from __future__ import annotations

from collections.abc import Collection, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
Store = MutableMapping[str, Record]

TOOL_METRICS = "tool_metrics"
CONTEXT_SCORES = "context_scores"
TERM_TOOLS = "term_tools"
EXEMPLARS = "exemplars"

# '#' cannot appear in a stemmed word (the tokenizer keeps [a-z0-9]), so no word collides.
TOTALS_KEY = "#totals"


def metrics_key(tool: str, version: str) -> str:
    return f"{tool}@{version}"


def context_score_key(context: str, tool: str) -> str:
    # '#' is never produced by context_key (it keeps [a-z0-9:+=|-] and declared values).
    return f"{context}#{tool}"


class ContextTools:
    """Which tools have a ``context_scores`` record for each context key.

    Stores look keys up but do not list them; a recommendation needs the tools that served
    an intent's context without asking every tool of the catalogue. ``learning.update`` adds
    what it writes; the table views derive it from the keys they see (``tables.learned``).
    """

    def __init__(self) -> None:
        self._tools: dict[str, set[str]] = {}

    def add(self, context: str, tool: str) -> None:
        self._tools.setdefault(context, set()).add(tool)

    def discard(self, context: str, tool: str) -> None:
        self._tools.get(context, set()).discard(tool)

    def tools(self, context: str) -> Collection[str]:
        return self._tools.get(context, ())


@dataclass
class LearningState:
    """The tables the learning reads and writes; plain dicts by default."""

    tool_metrics: Store = field(default_factory=dict)
    context_scores: Store = field(default_factory=dict)
    term_tools: Store = field(default_factory=dict)
    exemplars: Store = field(default_factory=dict)
    context_tools: ContextTools = field(default_factory=ContextTools)
