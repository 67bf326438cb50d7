"""Which strategy plans an intent: its experiment's variant, else the configured default.

Every worker reads the whole compacted experiments topic (a group-less replica, like the
learned state's), so all workers assign alike: the assignment itself is a hash of the
unit and the experiment id (learning.assignment). The ranker of each strategy is built once
per worker and records the choice probability under that strategy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from agents.plan_builder import Ranker
from agents.ranking import learned_ranker
from agents.runtime import Runtime
from agents.tool_mesh import prefer_available
from learning.assignment import assigned_variant
from learning.strategies import Strategy, UnknownStrategy, get_strategy
from models import IntentSubmitted
from models.experiments import Experiment, ExperimentCreated, ExperimentStopped
from streams.app import app
from streams.settings import Settings
from tables.replica import ChangelogReplica

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arm:
    """How one intent is planned, and what its plan records about it."""

    rank: Ranker
    strategy: str
    experiment_id: str = ""
    variant: str = ""


def experiment_of(value: Any) -> Experiment | None:
    """The definition a record of the experiments topic carries (None: not one)."""
    if not isinstance(value, dict):
        return None
    model = ExperimentStopped if value.get("type") == "ExperimentStopped" else ExperimentCreated
    try:
        return model.model_validate(value).experiment
    except ValidationError:
        return None


class ExperimentCatalog:
    """Every experiment defined, read from the compacted topic and kept current."""

    def __init__(self, settings: Settings) -> None:
        self._topic = settings.topic_name("experiments")
        self._replica = ChangelogReplica(settings.bootstrap_servers, [self._topic])
        self._parsed: tuple[int, list[Experiment]] = (-1, [])

    async def start(self) -> None:
        await self._replica.start()

    async def stop(self) -> None:
        await self._replica.stop()

    def experiments(self) -> list[Experiment]:
        applied, parsed = self._parsed
        if applied != self._replica.applied:  # parse again only after a change
            parsed = [
                e
                for _, value in self._replica.items(self._topic)
                if (e := experiment_of(value)) is not None
            ]
            self._parsed = (self._replica.applied, parsed)
        return parsed


_catalog: ExperimentCatalog | None = None
_rankers: dict[str, Ranker] = {}
_lock = asyncio.Lock()


async def _started_catalog(settings: Settings) -> ExperimentCatalog:
    global _catalog
    async with _lock:
        if _catalog is None:
            catalog = ExperimentCatalog(settings)
            await catalog.start()
            _catalog = catalog
        return _catalog


def _ranker(runtime: Runtime, strategy: Strategy) -> Ranker:
    ranker = _rankers.get(strategy.name)
    if ranker is None:
        ranker = learned_ranker(
            strategy.recommender(runtime.recommender),
            runtime.learned,
            runtime.settings.recommend_top_k,
            np.random.default_rng(),
            explore=strategy.explore,
        )
        if runtime.mesh is not None:  # tools no node can serve now go last
            ranker = prefer_available(ranker, runtime.mesh.router.available)
        _rankers[strategy.name] = ranker
    return ranker


async def plan_arm(intent: IntentSubmitted, runtime: Runtime) -> Arm:
    """The arm that plans ``intent``; an intent naming its tool is planned by no strategy."""
    settings = runtime.settings
    if intent.tool is None:
        catalog = await _started_catalog(settings)
        found = assigned_variant(catalog.experiments(), intent.intent_id, intent.context,
                                 time.time())  # fmt: skip
        if found is not None:
            experiment, variant = found
            try:
                strategy = get_strategy(variant.strategy)
            except UnknownStrategy as exc:
                log.warning("experiment %s: %s; planning with the default", experiment, exc)
            else:
                rank = _ranker(runtime, strategy)
                return Arm(rank, strategy.label, experiment.experiment_id, variant.name)
    if settings.planner_strategy != "learned":
        return Arm(runtime.rank, runtime.strategy)
    return default_arm(runtime)


def default_arm(runtime: Runtime) -> Arm:
    strategy = get_strategy(runtime.settings.recommend_strategy)
    return Arm(_ranker(runtime, strategy), strategy.label)


def plan_fields(
    arm: Arm, intent: IntentSubmitted, planned_by: str, builtin: str
) -> Mapping[str, Any]:
    """What the plan records about how it was made (PlanCreated keyword arguments).

    ``planned_by`` is the strategy the runtime's planner reports, ``builtin`` the one it
    reports when the built-in planner (which ranks with the arm) made the plan. When another
    planner made it (an LLM), the arm did not choose the tools: the plan is in no experiment.
    """
    fields: dict[str, Any] = {"strategy": planned_by, "context": dict(intent.context)}
    if planned_by == builtin:
        fields.update(strategy=arm.strategy, experiment_id=arm.experiment_id, variant=arm.variant)
    return fields


@app.on_before_shutdown.connect
async def _stop_catalog(sender: Any, /, *args: Any, **kwargs: Any) -> None:
    global _catalog
    async with _lock:
        if _catalog is not None:
            await _catalog.stop()
            _catalog = None
        _rankers.clear()
