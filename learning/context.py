"""The context key: a deterministic name for the kind of intent, under which outcomes are learned.

``context_key(text, context)`` is built from two parts, joined by ``|``:

1. Declared fields: the context fields in ``DECLARED_FIELDS`` that the intent carries, as
   ``field=value`` in that fixed order (values lower-cased and stripped; ``|``, ``=`` and
   ``#`` become spaces). If the agent says ``task=summarize``, every intent with that task
   shares what is learned.
2. A task class from the text, used only when no ``task`` is declared: ``auto:`` followed by
   the ``TEXT_CLASS_TERMS`` stemmed content words of the text whose BLAKE2b hashes are the
   smallest, sorted. This is a MinHash sketch: two texts get the same class with a
   probability that grows with the overlap of their word sets, so rephrasings of the same
   request ('summarize this PDF' / 'please summarize the pdf') share a key while the key
   never depends on learned state, time or process (Python's ``hash`` is salted; BLAKE2b is not).

Examples: ``{"task": "Summarize"}`` -> ``task=summarize``; text 'Find flights to Paris' with
no context -> ``auto:flight+pari``; both tenant and task -> ``tenant=acme|task=summarize``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from learning.text import unique_terms

# Fields an agent may declare that name a kind of work; others (ids, user names) would split
# the statistics into one-off keys that never accumulate evidence.
DECLARED_FIELDS: tuple[str, ...] = ("tenant", "domain", "task")

# Two words name most requests ('translate document'); three would make near-duplicates
# differ too often, one would lump unrelated requests that share a common word.
TEXT_CLASS_TERMS = 2

EMPTY_CLASS = "auto:-"


def _clean(value: str) -> str:
    return value.strip().lower().replace("|", " ").replace("=", " ").replace("#", " ")


def _term_hash(term: str) -> bytes:
    return hashlib.blake2b(term.encode(), digest_size=8).digest()


def text_class(text: str) -> str:
    """The MinHash task class of ``text``: 'auto:' + its smallest-hash stemmed words."""
    found = unique_terms(text)
    if not found:
        return EMPTY_CLASS
    chosen = sorted(sorted(found, key=_term_hash)[:TEXT_CLASS_TERMS])
    return "auto:" + "+".join(chosen)


def context_key(text: str, context: Mapping[str, str] | None = None) -> str:
    """The deterministic key of the kind of intent (see the module docstring)."""
    declared = context or {}
    parts = [
        f"{name}={_clean(declared[name])}"
        for name in DECLARED_FIELDS
        if declared.get(name) and _clean(declared[name])
    ]
    if not declared.get("task"):
        parts.append(text_class(text))
    return "|".join(parts)
