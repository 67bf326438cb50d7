"""Learned state in one changelog-backed table, laid out so each key has one writer.

The learner consumes ``executions`` keyed by tool, so one worker owns each
tool's records. Every key therefore names its tool, and the learner writes a
key only while applying records of the partition that tool hashes to:

    g<gen>|m|<tool>@<version>      tool metrics            (learning.state.TOOL_METRICS)
    g<gen>|c|<context>#<tool>      context-tool score      (learning.state.CONTEXT_SCORES)
    g<gen>|t|<word>#<tool>         [successes, misfits]    (one tool's share of TERM_TOOLS)
    g<gen>|T|<tool>                words in successes      (one tool's share of TOTALS_KEY)
    g<gen>|e|<tool>                embedded intents        (learning.state.EXEMPLARS)
    g<gen>|wm|<partition>          last executions offset applied
    g<gen>|handoff|<partition>     offset a replay rebuilt up to (written by `toolwise replay`)

``<gen>`` is the generation: ``toolwise replay`` rebuilds history into a new
one while the live one keeps serving. Views below turn this flat layout back
into the mappings ``learning.update`` and ``Recommender`` expect.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from learning.state import TOTALS_KEY, ContextTools, LearningState, Record

Reader = Callable[[str], Any]
Writer = Callable[[str, Any], None]


def key(generation: int, kind: str, rest: str) -> str:
    return f"g{generation}|{kind}|{rest}"


def parse_key(raw: str) -> tuple[int, str, str] | None:
    head, _, tail = raw.partition("|")
    kind, _, rest = tail.partition("|")
    if not head.startswith("g") or not head[1:].isdigit() or not kind:
        return None
    return int(head[1:]), kind, rest


class TermIndex:
    """Which tools have counts for a word, or a score for a context, per generation: what a
    flat key can't answer."""

    def __init__(self) -> None:
        self._tools: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._totals: dict[int, set[str]] = defaultdict(set)
        self._contexts: dict[int, ContextTools] = defaultdict(ContextTools)

    def observe(self, raw_key: str, present: bool) -> None:
        parsed = parse_key(raw_key)
        if parsed is None:
            return
        generation, kind, rest = parsed
        if kind == "t":
            word, _, tool = rest.rpartition("#")
            tools = self._tools[generation][word]
            tools.add(tool) if present else tools.discard(tool)
        elif kind == "T":
            totals = self._totals[generation]
            totals.add(rest) if present else totals.discard(rest)
        elif kind == "c":
            context, _, tool = rest.partition("#")  # a context key never holds "#"
            contexts = self._contexts[generation]
            contexts.add(context, tool) if present else contexts.discard(context, tool)

    def tools_for(self, generation: int, word: str) -> set[str]:
        return self._tools[generation].get(word, set())

    def vocabulary(self, generation: int) -> int:
        return sum(1 for tools in self._tools[generation].values() if tools)

    def total_tools(self, generation: int) -> set[str]:
        return self._totals[generation]

    def contexts(self, generation: int) -> ContextTools:
        """Which tools have a context-tool score per context key, in ``generation``."""
        return self._contexts[generation]


def _read_only(raw_key: str, value: Any) -> None:
    raise TypeError(f"this view of the learned state is read-only (write to {raw_key!r})")


class _FlatView(MutableMapping[str, Record]):
    """tool_metrics, context_scores or exemplars of one generation."""

    def __init__(self, generation: int, kind: str, read: Reader, write: Writer) -> None:
        self._prefix = key(generation, kind, "")
        self._read = read
        self._write = write

    def __getitem__(self, name: str) -> Record:
        value = self._read(self._prefix + name)
        if value is None:
            raise KeyError(name)
        return dict(value)

    def __setitem__(self, name: str, value: Record) -> None:
        self._write(self._prefix + name, value)

    def __delitem__(self, name: str) -> None:
        raise TypeError("learned state is never deleted key by key")

    def __iter__(self) -> Iterator[str]:
        raise TypeError("learned state views look keys up; they do not list them")

    def __len__(self) -> int:
        raise TypeError("learned state views look keys up; they do not count them")


class _TermView(MutableMapping[str, Record]):
    """term_tools of one generation, assembled from per-tool keys."""

    def __init__(self, generation: int, read: Reader, write: Writer, index: TermIndex) -> None:
        self._gen = generation
        self._read = read
        self._write = write
        self._index = index

    def __getitem__(self, word: str) -> Record:
        if word == TOTALS_KEY:
            tools = {
                t: self._read(key(self._gen, "T", t)) for t in self._index.total_tools(self._gen)
            }
            return {
                "tools": {t: v for t, v in tools.items() if v is not None},
                "vocabulary": self._index.vocabulary(self._gen),
            }
        pairs = {
            t: self._read(key(self._gen, "t", f"{word}#{t}"))
            for t in self._index.tools_for(self._gen, word)
        }
        found = {t: list(v) for t, v in pairs.items() if v is not None}
        if not found:
            raise KeyError(word)
        return {"tools": found}

    def __setitem__(self, word: str, value: Record) -> None:
        # Write only the tools whose share changed: other tools' shares belong
        # to other partitions' writers.
        for tool, share in value.get("tools", {}).items():
            raw = (
                key(self._gen, "T", tool)
                if word == TOTALS_KEY
                else key(self._gen, "t", f"{word}#{tool}")
            )
            if self._read(raw) != share:
                self._write(raw, share)

    def __delitem__(self, word: str) -> None:
        raise TypeError("learned state is never deleted key by key")

    def __iter__(self) -> Iterator[str]:
        raise TypeError("learned state views look keys up; they do not list them")

    def __len__(self) -> int:
        raise TypeError("learned state views look keys up; they do not count them")


def learning_state(
    generation: int, read: Reader, index: TermIndex, write: Writer | None = None
) -> LearningState:
    """The LearningState of one generation over a flat reader (and writer, for the learner)."""
    writer: Writer = write or _read_only
    return LearningState(
        tool_metrics=_FlatView(generation, "m", read, writer),
        context_scores=_FlatView(generation, "c", read, writer),
        term_tools=_TermView(generation, read, writer, index),
        exemplars=_FlatView(generation, "e", read, writer),
        context_tools=index.contexts(generation),
    )
