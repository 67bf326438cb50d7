"""Spend control, wired once per worker: daily budgets, the result cache, the plan cache.

The agents call it at four points and otherwise do not know it exists:

* ``plan_intents``: ``before_planning`` (an identical intent's outcome from the plan cache, or a
  refusal when a scope is already spent) and ``after_planning`` (a refusal when the plan's
  estimate does not fit a scope or the intent's ``max_cost``);
* ``execute_plans``: ``admit`` (reserve every step's estimate before any runs), ``run_call``
  (the result cache with single-flight, then the tool; then settle the actual cost) and
  ``remember_outcome`` (a successful outcome of cacheable steps answers identical intents).

The rules are pure (``agents.spend_rules``, ``agents.budget_ledger``); this module does the
I/O: Redis through ``GuardedCache``, budget commands and decisions through Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agents.budget_client import Admission, BudgetClient, CallCharge
from agents.budget_windows import BudgetWindows
from agents.cache_stats import PLAN_CACHE, CacheCounters, stats_view
from agents.result_cache import GuardedCache, cache_key, declared_context, plan_cache_key
from agents.single_flight import Run, SingleFlight, lock_ttl
from agents.spend_rules import (
    answer_from_outcome,
    budget_failure,
    cached_call,
    call_scopes,
    estimate,
    max_cost_denial,
    plan_cacheable,
    refused_call,
    storable_output,
    wanted_before_planning,
    wanted_by_plan,
)
from agents.step_runner import StepRunner, execute_step
from models import (
    IntentCompleted,
    IntentFailed,
    IntentSubmitted,
    PlanCreated,
    PlanStep,
    ToolCallCompleted,
    ToolCallRequested,
    ToolSpec,
)
from models.budgets import BudgetDecided, ChargeBudget
from models.planning import PLANNER_TOOL
from streams.follower import Record, TopicFollower
from streams.settings import Settings
from streams.topics import budget_ledger_topic
from tables.budgets import spend_changelog_topic
from tables.replica import ChangelogReplica

log = logging.getLogger(__name__)

# Cache statistics go to Redis this often: a second is as fresh as a dashboard needs, and one
# pipelined command a second per worker costs Redis nothing.
_STATS_FLUSH_S = 1.0

Outcome = IntentCompleted | IntentFailed


class SpendControl:
    def __init__(
        self,
        settings: Settings,
        cache: GuardedCache | None,
        budgets: BudgetClient | None,
        counters: CacheCounters | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.budgets = budgets
        self.counters = counters or CacheCounters()
        self.flight = (
            SingleFlight(cache, self.counters, settings.cache_wait_poll_s)
            if cache is not None and settings.result_cache_enabled
            else None
        )
        self._closers: list[Any] = []
        self._flusher: asyncio.Task[None] | None = None
        # (tool, intent id) -> the version its call runs: a canary's or a pin's, from the tool
        # mesh (Runtime.version_for); None: the version the tool was listed with.
        self.version_for: Callable[[str, str], str] | None = None

    # --- planning ---------------------------------------------------------------------------

    def plan_key(self, intent: IntentSubmitted) -> str:
        """Where the intent's successful outcome is kept for identical ones ('': nowhere)."""
        if self.cache is None or not self.settings.plan_cache_enabled or intent.content:
            return ""
        return plan_cache_key(
            self.settings.app_id,
            intent.text,
            intent.arguments,
            intent.context,
            intent.tool,
            self.settings.plan_cache_ignored_context,
        )

    async def before_planning(
        self, intent: IntentSubmitted, tools: Mapping[str, ToolSpec]
    ) -> Outcome | None:
        """An answer without planning: an identical intent's outcome, or a refusal."""
        key = self.plan_key(intent)
        if key and intent.cache != "bypass" and self.cache is not None:
            stored = await self.cache.get(key)
            if isinstance(stored, dict) and "outcome" in stored:
                self.counters.count(PLAN_CACHE, "hits")
                return answer_from_outcome(intent, stored, time.time())
            answered = self.cache.breaker.open_since is None  # else the get was not answered
            self.counters.count(PLAN_CACHE, "misses" if answered else "unavailable")
        elif key:
            self.counters.count(PLAN_CACHE, "bypasses")
        if intent.tool is not None:
            denial = max_cost_denial(intent, estimate(intent.tool, tools))
            if denial is not None:
                return budget_failure(intent.intent_id, denial)
        if self.budgets is not None:
            denial = self.budgets.precheck(wanted_before_planning(intent, tools))
            if denial is not None:
                return budget_failure(intent.intent_id, denial)
        return None

    def after_planning(
        self, intent: IntentSubmitted, steps: Sequence[PlanStep], tools: Mapping[str, ToolSpec]
    ) -> IntentFailed | None:
        """A refusal when the plan's estimate exceeds ``max_cost`` or what a scope has left."""
        wanted = wanted_by_plan(intent.context, steps, tools)
        total = sum(estimate(step.tool, tools) for step in steps)
        denial = max_cost_denial(intent, total)
        if denial is None and self.budgets is not None:
            denial = self.budgets.precheck(wanted)
        return None if denial is None else budget_failure(intent.intent_id, denial)

    def charge_planning(self, plan: PlanCreated) -> None:
        """What planning spent (an LLM planner's tokens) counts against the intent's scopes."""
        if self.budgets is None or plan.planning is None or plan.planning.cost <= 0:
            return
        charge = CallCharge(
            f"planning:{plan.intent_id}",
            plan.intent_id,
            call_scopes(plan.context, PLANNER_TOOL),
            plan.planning.cost,
        )
        self.budgets.settle(None, charge, plan.planning.cost)

    # --- execution ------------------------------------------------------------------------

    def charges(
        self,
        plan: PlanCreated,
        requests: Sequence[ToolCallRequested],
        tools: Mapping[str, ToolSpec],
    ) -> list[CallCharge]:
        return [
            CallCharge(
                r.call_id,
                r.intent_id,
                call_scopes(plan.context, r.step.tool),
                estimate(r.step.tool, tools),
            )
            for r in requests
        ]

    async def admit(
        self,
        plan: PlanCreated,
        requests: Sequence[ToolCallRequested],
        tools: Mapping[str, ToolSpec],
    ) -> Admission | None:
        """Reserve the estimates of ``requests`` (the steps not answered yet) in every limited
        scope, all or nothing; None when budgets are off."""
        if self.budgets is None or not requests:
            return None
        return await self.budgets.reserve(self.charges(plan, requests, tools))

    async def run_call(
        self,
        request: ToolCallRequested,
        plan: PlanCreated,
        admission: Admission | None,
        tools: Mapping[str, ToolSpec],
        runner: StepRunner,
    ) -> ToolCallCompleted:
        """The step's result: refused, from the cache, shared, or run; its cost settled."""
        if admission is not None and not admission.granted:
            return refused_call(request, admission.denial, admission.unavailable)
        done = await self._through_cache(request, plan, tools, runner)
        if self.budgets is not None:
            (charge,) = self.charges(plan, [request], tools)
            self.budgets.settle(admission, charge, done.cost)
        return done

    def settle_answered(
        self,
        plan: PlanCreated,
        answered: Sequence[tuple[ToolCallRequested, ToolCallCompleted]],
        tools: Mapping[str, ToolSpec],
    ) -> None:
        """Steps of a redelivered plan answered before: settle them again (idempotent), in
        case the worker that ran them died before its settlements were sent."""
        if self.budgets is None:
            return
        for request, done in answered:
            (charge,) = self.charges(plan, [request], tools)
            self.budgets.settle_again(charge, done.cost, plan.occurred_at)

    async def _through_cache(
        self,
        request: ToolCallRequested,
        plan: PlanCreated,
        tools: Mapping[str, ToolSpec],
        runner: StepRunner,
    ) -> ToolCallCompleted:
        step = request.step
        spec = tools.get(step.tool)
        if self.flight is None or spec is None or not spec.cacheable:
            return await execute_step(request, runner)
        key = self._key(spec, step.arguments, plan.context, request.intent_id)

        async def run() -> Run:
            done = await execute_step(request, runner)
            await self._remember_fallback(request, done, plan.context, tools)
            return Run(storable_output(done, spec.name), done)

        source, value = await self.flight.call(
            key, spec.name, self._ttl(spec), lock_ttl(step.policy), run, plan.cache == "bypass"
        )
        if source == "tool":
            assert isinstance(value, ToolCallCompleted)
            return value
        return cached_call(request, spec.name, value)

    async def _remember_fallback(
        self,
        request: ToolCallRequested,
        done: ToolCallCompleted,
        context: Mapping[str, str],
        tools: Mapping[str, ToolSpec],
    ) -> None:
        """A fallback tool's success is kept under its own key (with its own arguments)."""
        spec = tools.get(done.tool)
        if done.tool == request.step.tool or spec is None or not spec.cacheable:
            return
        output = storable_output(done, spec.name)
        fallback = next((f for f in request.step.fallbacks if f.tool == done.tool), None)
        if output is None or fallback is None or self.cache is None:
            return
        size = await self.cache.put(
            self._key(spec, fallback.arguments, context, request.intent_id),
            output,
            self._ttl(spec),
        )
        if size is not None:
            self.counters.count(spec.name, "stores")
            self.counters.count(spec.name, "bytes_stored", size)

    async def remember_outcome(
        self, plan: PlanCreated, outcome: Outcome, tools: Mapping[str, ToolSpec]
    ) -> None:
        """Keep a successful outcome of cacheable steps for identical intents (plan cache)."""
        if not plan.plan_cache_key or self.cache is None:
            return
        if not isinstance(outcome, IntentCompleted) or not plan_cacheable(outcome, tools):
            return
        stored = {"intent_id": plan.intent_id, "outcome": outcome.model_dump(mode="json")}
        size = await self.cache.put(plan.plan_cache_key, stored, self.settings.plan_cache_ttl_s)
        if size is not None:
            self.counters.count(PLAN_CACHE, "stores")
            self.counters.count(PLAN_CACHE, "bytes_stored", size)

    def _key(
        self,
        spec: ToolSpec,
        arguments: Mapping[str, Any],
        context: Mapping[str, str],
        intent_id: str,
    ) -> str:
        version = (
            spec.version if self.version_for is None else self.version_for(spec.name, intent_id)
        )
        return cache_key(
            self.settings.app_id,
            spec.name,
            version,
            arguments,
            declared_context(spec.cache_context, context),
        )

    def _ttl(self, spec: ToolSpec) -> float:
        return spec.cache_ttl_s if spec.cache_ttl_s is not None else self.settings.cache_ttl_s

    # --- statistics and lifecycle ---------------------------------------------------------

    async def cache_stats(self) -> dict[str, Any]:
        """The deployment's cache figures (Redis), this worker's, and Redis' availability."""
        shared = await self.cache.stats(self.settings.app_id) if self.cache is not None else None
        return {
            "deployment": stats_view(shared) if shared is not None else None,
            "this_worker": self.counters.local_view(),
            "redis": self.cache.breaker.view() if self.cache is not None else None,
        }

    async def _flush_stats(self) -> None:
        assert self.cache is not None
        while True:
            await asyncio.sleep(_STATS_FLUSH_S)
            pending = self.counters.take_pending()
            if pending and not await self.cache.add_stats(self.settings.app_id, pending):
                self.counters.restore(pending)

    async def start(self) -> None:
        if self.cache is not None:
            self._flusher = asyncio.create_task(self._flush_stats(), name="cache-stats")

    async def aclose(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                await closer.stop()


async def start_spend_control(settings: Settings, cache: GuardedCache | None) -> SpendControl:
    """Spend control for a worker: replicas of the limits and the spend, the decisions feed."""
    budgets: BudgetClient | None = None
    closers: list[Any] = []
    if settings.budgets_enabled:
        limits_topic = settings.topic_name("budget-limits")
        spend_topic = spend_changelog_topic(settings.app_id)
        limits = ChangelogReplica(settings.bootstrap_servers, [limits_topic])
        spend = ChangelogReplica(settings.bootstrap_servers, [spend_topic])

        async def send(command: ChargeBudget) -> None:
            await budget_ledger_topic.send(key=command.scope_key.encode(), value=command.to_bytes())

        def send_soon(command: ChargeBudget) -> None:
            budget_ledger_topic.send_soon(key=command.scope_key.encode(), value=command.to_bytes())

        budgets = BudgetClient(
            BudgetWindows(settings.budget_timezone, settings.budget_window_s),
            settings.budget_default_limits,
            settings.budget_global_shards,
            send,
            send_soon,
            lambda: limits.items(limits_topic),
            lambda: spend.items(spend_topic),
            timeout_s=settings.budget_reserve_timeout_s,
        )
        decisions = TopicFollower(
            settings.bootstrap_servers,
            [settings.topic_name("budget-decisions")],
            _on_decision(budgets),
            name="budget-decisions",
        )
        for part in (limits, spend, decisions):
            await part.start()
            closers.append(part)
    control = SpendControl(settings, cache, budgets)
    control._closers = closers
    await control.start()
    return control


def _on_decision(budgets: BudgetClient) -> Any:
    def on_record(record: Record) -> None:
        try:
            decision = BudgetDecided.model_validate_json(record.value or b"")
        except ValueError as exc:
            log.warning("ignoring an unreadable budget decision at %d: %s", record.offset, exc)
            return
        budgets.on_decision(decision)

    return on_record
