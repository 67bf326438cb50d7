"""Per-intent and per-call state of the pipeline, changelog-backed.

Every table is keyed by intent id or call id, and each is written only while
processing an event keyed by that intent, so its changelog partition is the
event's partition and a restarted worker recovers exactly its share.
"""

from __future__ import annotations

from streams.app import app

planned_intents = app.Table(
    "planned-intents",
    key_type=str,
    help="intent id -> {'plan': PlanCreated} or {'failed': IntentFailed}; replans are re-sends.",
)

completed_calls = app.Table(
    "completed-calls",
    key_type=str,
    help="call id -> ToolCallCompleted; a redelivered request re-sends it instead of re-running.",
)

intent_progress = app.Table(
    "intent-progress",
    key_type=str,
    help="intent id -> plan and step results until the outcome, then only the outcome id.",
)
