"""Experiments and sessions: A/B tests of strategies, and the steps sessions are made of.

An experiment is kept on a compacted topic keyed by its id; every event about it carries the
whole definition, so the record compaction keeps is complete on its own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.events import Event

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class Metric(StrEnum):
    """What an experiment compares, per intent."""

    SUCCESS = "success"  # 1 when the intent completed, 0 when it failed
    COST = "cost"  # the intent's total cost (lower is better)
    QUALITY = "quality"  # mean reported quality of its steps, 0 for a failed step
    LATENCY = "latency"  # seconds from submission to outcome (lower is better)
    UTILITY = "utility"  # quality - cost - latency, weighted as the recommender weighs them

    @property
    def higher_is_better(self) -> bool:
        return self not in (Metric.COST, Metric.LATENCY)


class Variant(BaseModel):
    """A slice of an experiment's traffic and the strategy that plans it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME)
    share: float = Field(gt=0, le=1, description="Share of all units assigned this variant.")
    strategy: str = Field(description="A strategy name, as `toolwise learn strategies` lists.")


class Experiment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    experiment_id: str = Field(pattern=_NAME)
    variants: list[Variant] = Field(min_length=2)
    metric: Metric = Metric.UTILITY
    description: str = ""
    started_at: float = Field(description="Unix time; plans from then on are assigned.")
    stopped_at: float | None = Field(default=None, description="Unix time; none after it.")

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        total = sum(v.share for v in self.variants)
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"variant shares sum to {total:g}; they must sum to at most 1 "
                "(less leaves the rest of the traffic outside the experiment)"
            )
        return self

    @property
    def control(self) -> Variant:
        """The first variant: the others are compared with it."""
        return self.variants[0]

    def active(self, at: float) -> bool:
        return self.started_at <= at and (self.stopped_at is None or at < self.stopped_at)

    def shares(self) -> list[tuple[str, float]]:
        return [(v.name, v.share) for v in self.variants]

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)


class ExperimentCreated(Event):
    type: Literal["ExperimentCreated"] = "ExperimentCreated"
    experiment: Experiment


class ExperimentStopped(Event):
    type: Literal["ExperimentStopped"] = "ExperimentStopped"
    experiment: Experiment = Field(description="The definition, with stopped_at set.")


class SessionStepCompleted(Event):
    """An intent of a session has its outcome: what the session model learns from.

    Keyed by session, so one worker sees a session's intents in order."""

    type: Literal["SessionStepCompleted"] = "SessionStepCompleted"
    session: str = Field(min_length=1, max_length=200)
    intent_id: str
    intent_class: str = Field(description="The intent's context key.")
    first_tool: str
    first_arguments: dict[str, Any] = Field(default_factory=dict)
    first_cached: bool = Field(default=False, description="Step 0 was served from the cache.")
    last_tool: str
    last_arguments: dict[str, Any] = Field(default_factory=dict)
    last_output: Any = None
    ok: bool = True
    completed_at: float = 0.0


EXPERIMENT_EVENT_TYPES: tuple[type[Event], ...] = (
    ExperimentCreated,
    ExperimentStopped,
    SessionStepCompleted,
)
