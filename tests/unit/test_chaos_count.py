"""The chaos harness's counting, from hand-made records: what the table says is what happened."""

from __future__ import annotations

from bench.chaos_count import (
    ExecutionSeen,
    LetterSeen,
    OutcomeSeen,
    Published,
    Row,
    count,
    latencies_ms,
    table,
)

TOPIC = "p-intents"


def published(n: int, partition: int = 0, sent_at: float = 0.0) -> Published:
    return Published(f"i{n}", TOPIC, partition, n, sent_at)


def completed(intent_id: str, event_id: str | None = None, at: float = 0.0) -> OutcomeSeen:
    return OutcomeSeen(intent_id, event_id or f"outcome:{intent_id}", "IntentCompleted", None, at)


def failed(intent_id: str, kind: str, event_id: str | None = None) -> OutcomeSeen:
    return OutcomeSeen(intent_id, event_id or f"outcome:{intent_id}", "IntentFailed", kind)


def test_every_record_is_answered_dead_lettered_or_lost() -> None:
    records = [published(n) for n in range(5)]
    outcomes = [completed("i0"), failed("i1", "planning_timeout")]
    # i2 is dead-lettered only; i3 is dead-lettered and answered; i4 has nothing: lost.
    letters = [LetterSeen(TOPIC, 0, 2, "schema_violation"), LetterSeen(TOPIC, 0, 3, "too_deep")]
    outcomes.append(failed("i3", "too_deep"))

    row = count("s", records, outcomes, letters, [])

    assert (row.intents, row.answered, row.failed, row.dead_lettered, row.lost) == (5, 3, 2, 2, 1)
    assert row.notes["failed_by_kind"] == {"planning_timeout": 1, "too_deep": 1}
    assert row.notes["lost_examples"] == ["i4 p-intents[0]@4"]
    assert not row.meets_targets()


def test_a_dead_letter_counts_only_for_its_own_partition_and_offset() -> None:
    records = [published(7, partition=1)]
    elsewhere = [LetterSeen(TOPIC, 0, 7, "x"), LetterSeen("p-plans", 1, 7, "x")]

    assert count("s", records, [], elsewhere, []).lost == 1
    assert count("s", records, [], [LetterSeen(TOPIC, 1, 7, "x")], []).lost == 0


def test_a_record_without_an_intent_id_is_settled_only_by_its_dead_letter() -> None:
    record = Published(None, TOPIC, 0, 0, hostile=True)
    # An outcome for some id cannot be this record's answer.
    row = count("s", [record], [completed("None")], [], [])
    assert row.lost == 1 and row.answered == 0


def test_copies_of_one_outcome_are_duplicates_and_a_second_verdict_is_a_contradiction() -> None:
    records = [published(0), published(1), published(2)]
    outcomes = [
        completed("i0"),
        completed("i0"),
        completed("i0"),  # two extra copies of the same outcome
        completed("i1"),
        completed("i1", event_id="another-id"),  # a second outcome with another id
        completed("i2"),
        failed("i2", "processing_error"),  # same id, another verdict
    ]
    row = count("s", records, outcomes, [], [])

    assert row.dup_same_id == 2
    assert row.dup_other_id == 2
    assert row.answered == 3 and row.failed == 0  # the first outcome is the answer
    assert not row.meets_targets()


def test_outcomes_and_calls_of_other_intents_are_not_counted() -> None:
    records = [published(0)]
    outcomes = [completed("i0"), completed("stranger"), completed("stranger")]
    executions = [ExecutionSeen("c:t:1", "stranger"), ExecutionSeen("c:t:1", "stranger")]

    row = count("s", records, outcomes, [], executions)

    assert (row.dup_same_id, row.dup_other_id, row.calls_twice) == (0, 0, 0)
    assert row.meets_targets()


def test_a_call_recorded_twice_with_one_event_id_ran_twice() -> None:
    records = [published(0), published(1)]
    executions = [
        ExecutionSeen("call:i0:0:calculator.evaluate:1", "i0"),
        ExecutionSeen("call:i0:0:calculator.evaluate:1", "i0"),  # run again after a crash
        ExecutionSeen("call:i0:0:calculator.evaluate:2", "i0"),  # a retry: another attempt
        ExecutionSeen("call:i1:0:testing.echo:1", "i1"),
    ]
    row = count("s", records, [completed("i0"), completed("i1")], [], executions)
    assert row.calls_twice == 1


def test_unexpected_exits_miss_the_target() -> None:
    row = count("s", [published(0)], [completed("i0")], [], [], unexpected_exits=1)
    assert row.exits == 1 and not row.meets_targets()


def test_latency_is_submit_to_first_outcome_within_the_window() -> None:
    records = [
        published(0, sent_at=100.0),
        published(1, sent_at=110.0),
        published(2, sent_at=120.0),  # outside the window
    ]
    outcomes = [
        completed("i0", at=100.5),
        completed("i1", at=112.0),
        completed("i1", at=111.0),  # the earlier copy counts
        completed("i2", at=120.1),
    ]
    found = latencies_ms(records, outcomes, since=100.0, until=120.0)
    assert found == {"n": 2, "p50_ms": 500.0, "p99_ms": 1000.0, "max_ms": 1000.0}
    assert latencies_ms(records, outcomes, since=200.0) == {"n": 0}


def test_the_table_has_a_line_per_scenario_and_its_notes() -> None:
    rows = [
        Row("kill9", intents=10, answered=10, notes={"restart_to_ready_s": {"median": 9.5}}),
        Row("hostile", intents=3, answered=1, dead_lettered=2),
    ]
    text = table(rows).splitlines()
    assert text[0].startswith("| scenario | intents | answered |")
    assert text[2] == "| kill9 | 10 | 10 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |"
    assert text[3] == "| hostile | 3 | 1 | 0 | 2 | 0 | 0 | 0 | 0 | 0 |"
    assert "kill9: restart_to_ready_s (median 9.5)" in text
