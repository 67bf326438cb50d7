"""Derived ids stay within the models' limits and stay distinct."""

from __future__ import annotations

from models import IntentFailed, PlanCreated, PlanStep
from models.ids import MAX_ID_LENGTH, derived_id


def test_short_parts_read_as_they_are() -> None:
    assert derived_id("plan", "i-42") == "plan:i-42"
    assert derived_id("c", "writer", "3") == "c:writer:3"


def test_ids_from_the_longest_intent_id_fit_and_stay_distinct() -> None:
    longest = "x" * MAX_ID_LENGTH
    ids = {
        derived_id("plan", longest),
        derived_id("outcome", longest),
        derived_id("outcome", longest[:-1] + "y"),
        derived_id(derived_id(longest, "0"), "calculator.evaluate", "3"),
        derived_id(derived_id(longest, "1"), "calculator.evaluate", "3"),
    }
    assert len(ids) == 5
    assert all(len(i) <= MAX_ID_LENGTH for i in ids)
    assert derived_id("plan", longest) == derived_id("plan", longest)  # redeliveries match


def test_events_accept_ids_derived_from_the_longest_intent_id() -> None:
    longest = "i" * MAX_ID_LENGTH
    step = PlanStep(step_id=derived_id(longest, "0"), index=0, tool="t.t")
    PlanCreated(event_id=derived_id("plan", longest), intent_id=longest, steps=[step])
    IntentFailed(event_id=derived_id("outcome", longest), intent_id=longest, reason="r")
