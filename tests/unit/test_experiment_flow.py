"""The event-sourced parts' pure logic: arms, the plan-outcome join, statistics, sessions."""

from __future__ import annotations

from typing import Any

import pytest

from agents.experiment_arms import experiment_of
from agents.outcome_observation import apply_observation, session_step
from learning.assignment import assigned_variant
from learning.experiments import metric_values, report, with_assignment, with_outcome
from learning.sessions import PrewarmCall, advance, with_counts
from models import (
    IntentCompleted,
    IntentFailed,
    PlanCreated,
    PlanStep,
    StepResult,
    ToolCallCompleted,
    ToolSpec,
)
from models.experiments import (
    Experiment,
    ExperimentCreated,
    ExperimentStopped,
    SessionStepCompleted,
    Variant,
)


def experiment(eid: str = "exp", started: float = 0.0, **kw: Any) -> Experiment:
    variants = kw.pop(
        "variants",
        [
            Variant(name="control", share=0.5, strategy="balanced"),
            Variant(name="bold", share=0.5, strategy="explorative"),
        ],
    )
    return Experiment(experiment_id=eid, variants=variants, started_at=started, **kw)  # fmt: skip


def test_definitions_are_checked_with_reasons() -> None:
    with pytest.raises(ValueError, match=r"sum to 1\.2"):
        experiment(variants=[Variant(name="a", share=0.6, strategy="balanced"),
                             Variant(name="b", share=0.6, strategy="balanced")])  # fmt: skip
    with pytest.raises(ValueError, match="unique"):
        experiment(variants=[Variant(name="a", share=0.5, strategy="balanced"),
                             Variant(name="a", share=0.5, strategy="balanced")])  # fmt: skip


def test_the_topic_record_is_read_whichever_event_it_is() -> None:
    created = ExperimentCreated(experiment=experiment()).model_dump(mode="json")
    stopped = experiment().model_copy(update={"stopped_at": 5.0})
    assert experiment_of(created) == experiment()
    assert experiment_of(ExperimentStopped(experiment=stopped).model_dump(mode="json")) == stopped
    assert experiment_of({"type": "ExperimentCreated"}) is None and experiment_of(None) is None


def test_only_active_experiments_assign_and_the_oldest_goes_first() -> None:
    older = experiment("older", started=10.0, variants=[
        Variant(name="a", share=0.25, strategy="balanced"),
        Variant(name="b", share=0.25, strategy="conservative")])  # fmt: skip
    newer = experiment("newer", started=20.0)
    taken: dict[str, int] = {"older": 0, "newer": 0, "none": 0}
    for i in range(2_000):
        found = assigned_variant([newer, older], f"i{i}", {"user": f"u{i}"}, at=30.0)
        taken[found[0].experiment_id if found else "none"] += 1
    # Half the users are in the older experiment; every other one is in the newer.
    assert abs(taken["older"] / 2_000 - 0.5) < 0.05 and taken["none"] == 0
    assert assigned_variant([newer, older], "i", {}, at=5.0) is None  # none started
    stopped = newer.model_copy(update={"stopped_at": 25.0})
    assert all(assigned_variant([stopped], f"i{i}", {}, at=30.0) is None for i in range(50))


def plan(intent: str = "i1", **kw: Any) -> PlanCreated:
    steps = kw.pop(
        "steps",
        [
            PlanStep(
                step_id=f"{intent}:0",
                index=0,
                tool="web.fetch",
                arguments={"url": "https://x"},
                choice_probability=0.8,
            )
        ],
    )
    return PlanCreated(intent_id=intent, steps=steps, context_key="task=fetch",
                       submitted_at=100.0, **kw)  # fmt: skip


def result(intent: str = "i1", index: int = 0, ok: bool = True, **kw: Any) -> ToolCallCompleted:
    return ToolCallCompleted(intent_id=intent, call_id=f"{intent}:{index}", tool="web.fetch",
                             ok=ok, attempts=kw.pop("attempts", 1), occurred_at=101.5,
                             **kw)  # fmt: skip


def test_a_plan_and_its_results_join_exactly_once() -> None:
    p = plan(experiment_id="exp", variant="bold", context={"user": "ada"})
    state, joined, assigned = apply_observation(None, p)
    assert assigned and joined is None
    again, joined, assigned = apply_observation(state, p)  # redelivered plan
    assert not assigned and joined is None and again == state
    done, joined, _ = apply_observation(state, result(output="page", quality=0.7, cost=0.01))
    assert joined is not None and isinstance(joined.outcome, IntentCompleted)
    assert joined.outcome.latency_ms == pytest.approx(1500.0)  # to the result's own time
    assert joined.outcome.results[0].quality == 0.7
    assert apply_observation(done, result())[1] is None  # redelivered


def test_results_before_their_plan_wait_for_it_and_other_plans_leave_a_marker() -> None:
    early, joined, _ = apply_observation(None, result())
    assert joined is None
    _, joined, assigned = apply_observation(early, plan(experiment_id="exp", variant="bold"))
    assert joined is not None and assigned
    plain = plan("i2")
    marker, _, _ = apply_observation(None, plain)
    assert marker == {"skip": True}
    assert apply_observation(marker, result("i2")) == (marker, None, False)
    dropped, _, _ = apply_observation(apply_observation(None, result("i3"))[0], plan("i3"))
    assert dropped is None  # results of a plan nobody observes are not kept


def test_metrics_of_an_outcome() -> None:
    done = IntentCompleted(intent_id="i", cost=0.02, latency_ms=2000.0, results=[
        StepResult(step_id="a", tool="t", ok=True, quality=0.6),
        StepResult(step_id="b", tool="t", ok=True)])  # fmt: skip
    values = metric_values(done)
    assert values["success"] == 1.0 and values["quality"] == pytest.approx(0.8)
    assert values["latency"] == 2.0
    assert values["utility"] == pytest.approx(0.8 - 0.02 - 0.05 * 2.0)
    failed = IntentFailed(intent_id="i", reason="x", results=[
        StepResult(step_id="a", tool="t", ok=False)])  # fmt: skip
    assert metric_values(failed)["success"] == 0.0 and metric_values(failed)["quality"] == 0.0


def test_the_report_merges_shards_orients_verdicts_and_flags_srm() -> None:
    exp = experiment()
    shards: dict[str, list[dict[str, Any]]] = {"control": [], "bold": []}
    for variant, cost in (("control", 0.02), ("bold", 0.01)):
        for _ in range(3):  # three partitions' shards
            record = None
            for i in range(200):
                record = with_assignment(record)
                record = with_outcome(record, {"cost": cost + 0.001 * (i % 5), "success": 1.0})
            shards[variant].append(record)  # type: ignore[arg-type]
    shown = report(exp, shards)
    assert shown["variants"]["bold"]["assigned"] == 600
    assert shown["variants"]["bold"]["metrics"]["cost"]["n"] == 600
    assert shown["comparisons"]["bold"]["cost"]["verdict"] == "better"  # cheaper is better
    assert shown["sample_ratio_mismatch"]["flagged"] is False
    shards["bold"] = shards["bold"][:2]  # a third of one variant's records lost
    assert report(exp, shards)["sample_ratio_mismatch"]["flagged"] is True


TOOLS = {"web.fetch": ToolSpec(name="web.fetch", server="web", tool="fetch", cacheable=True,
                               input_schema={"required": ["url"]})}  # fmt: skip


def step(intent: str, cls: str, tool: str, args: dict[str, Any], output: Any = None,
         cached: bool = False) -> SessionStepCompleted:  # fmt: skip
    return SessionStepCompleted(
        session="s", intent_id=intent, intent_class=cls, first_tool=tool, first_arguments=args,
        first_cached=cached, last_tool=tool, last_arguments=args, last_output=output,
    )  # fmt: skip


def test_a_session_learns_predicts_prewarms_and_counts_the_hit() -> None:
    models: dict[str, Any] = {}
    session: dict[str, Any] | None = None
    stats: dict[str, Any] = {}

    def run(s: SessionStepCompleted) -> list[Any]:
        nonlocal session, stats
        done = advance(session, s, models.get, TOOLS)
        assert done is not None
        session = done.session
        if done.model_class is not None:
            models[done.model_class] = done.model
        stats = with_counts(stats, done.counts)
        return done.calls

    for i in range(8):
        url = f"https://x/{i}"
        output = {"results": [{"url": url}]}
        calls = run(step(f"a{i}", "task=search", "web.search", {"query": f"q{i}"}, output))
        # The executor serves the fetch from the cache exactly when it was pre-warmed.
        warmed = calls == [PrewarmCall("web.fetch", {"url": url})]
        run(step(f"b{i}", "task=fetch", "web.fetch", {"url": url}, "page", cached=warmed))
        assert warmed is (i >= 5)  # five search -> fetch transitions make it confident
    assert stats["prewarm_calls"] == stats["prewarm_hits"] == stats["correct"] == 3
    assert stats["transitions"] == 15 and stats["steps"] == 16
    assert advance(session, step("b7", "task=fetch", "web.fetch", {}), models.get, TOOLS) is None


def test_a_session_step_keeps_what_the_answering_tool_got() -> None:
    p = plan(context={"session": "s1"})
    state, _, _ = apply_observation(None, p)
    _, joined, _ = apply_observation(state, result(output={"text": "hi"}, cached=True, attempts=0))
    assert joined is not None
    made = session_step(joined)
    assert made is not None and made.session == "s1" and made.first_cached
    assert made.first_arguments == {"url": "https://x"} and made.last_output == {"text": "hi"}
    assert session_step(type(joined)(plan("i9"), joined.outcome)) is None  # no session
