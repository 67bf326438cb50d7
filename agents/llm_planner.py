"""The LLM planner: function calling over the recommended tools, the built-in planner as fallback.

For each intent the learned ranker recommends its top k tools; only their schemas go
to the model, so the prompt does not grow with the catalogue. The model's calls are
checked (``llm_prompt.parse_calls``) before they become plan steps; a failed request,
an expired deadline or an answer that does not check out hands the intent to the
built-in planner, and the plan records why. Every request is an execution record of
the tool ``planner:llm`` (version = the model) with its tokens priced as cost, so
learning counts what planning spends; the price is also part of the intent's cost.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from agents.argument_filling import fill_arguments
from agents.llm_client import ChatClient, HttpChatClient, LlmError
from agents.llm_prompt import (
    MAX_STEPS,
    Call,
    InvalidPlan,
    Usage,
    build_request,
    parse_calls,
    usage_of,
)
from agents.model_thread import in_planner_thread
from agents.plan_builder import Ranker
from agents.planners import Planned, StepsFn
from agents.tool_policy import SelectionPolicy, selection_permission
from learning import context_key
from learning.embedding import TextEncoder
from models import (
    ErrorKind,
    ExecutionRecorded,
    Fallback,
    IntentSubmitted,
    PlanningRecord,
    PlanStep,
    RetryPolicy,
    ToolSpec,
)
from models.ids import derived_id
from models.planning import PLANNER_TOOL
from streams.settings import Settings
from tools.content import content_arguments

__all__ = ["LLM_STRATEGY", "LlmPlanner", "LlmPolicy", "llm_planner"]

LLM_STRATEGY = "llm"

RecordFn = Callable[[ExecutionRecorded], None]
SleepFn = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class LlmPolicy:
    """How the planner asks the model, and what it may spend."""

    model: str
    top_k: int = 5
    """Recommended tools offered to the model (TOOLWISE_RECOMMEND_TOP_K)."""
    timeout_s: float = 15.0
    """Per request. A hosted small model answers one function call in 1-5 s; 15 s
    leaves room for a local model on a CPU without holding an intent for long."""
    deadline_s: float = 30.0
    """For all requests of one intent, retries included. The plan-intents agent takes
    one intent at a time per partition: a stalled model delays the intents behind it."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Attempts and backoff: the tool calls' policy (its timeout_s is not used)."""
    step_policy: RetryPolicy = field(default_factory=RetryPolicy)
    """The policy of the steps it plans, unless the intent brings its own."""
    max_steps: int = MAX_STEPS
    """Calls one answer may plan (TOOLWISE_MAX_STEPS)."""
    max_tokens: int = 512
    """Completion budget: a plan of a few calls is 20-60 tokens per call."""
    temperature: float = 0.0
    """Greedy decoding: the same intent should get the same plan."""
    prompt_price_per_1k: float = 0.0
    completion_price_per_1k: float = 0.0
    max_fallbacks: int = 2
    """Recommended tools the built-in filler can serve, tried when the model's fails."""

    def price(self, usage: Usage) -> float:
        return (
            usage.prompt_tokens * self.prompt_price_per_1k
            + usage.completion_tokens * self.completion_price_per_1k
        ) / 1000.0


@dataclass
class _Attempts:
    usage: Usage = field(default_factory=Usage)
    count: int = 0


@dataclass
class LlmPlanner:
    """``fallback_strategy`` names the built-in planning's plans (the learned ranker's);
    ``embed``, when the ranker uses the sentence model, embeds the intent's text in a
    worker thread first, so ranking on the event loop finds it cached."""

    client: ChatClient
    tools: Mapping[str, ToolSpec]
    rank: Ranker
    policy: LlmPolicy
    fallback_strategy: str
    record: RecordFn = lambda _record: None
    embed: Callable[[list[str]], object] | None = None
    admit: Callable[[ToolSpec], bool] | None = None
    """Which tools may be offered to the model (chosen without being named); all if None."""
    sleep: SleepFn = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    monotonic: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time

    async def plan(self, intent: IntentSubmitted, builtin: StepsFn) -> Planned:
        if intent.tool is not None:  # named its tool: nothing to choose
            return Planned(await builtin(intent), self.fallback_strategy)
        began = self.monotonic()
        offered: list[ToolSpec] = []
        attempts = _Attempts()
        try:
            async with asyncio.timeout(self.policy.deadline_s):
                if self.embed is not None:
                    await in_planner_thread(self.embed, [intent.text])
                candidates = self.rank(intent.text, intent.context, list(self.tools.values()))
                admitted = [c.spec for c in candidates if self.admit is None or self.admit(c.spec)]
                offered = admitted[: self.policy.top_k]
                if not offered:
                    raise InvalidPlan("no recommended tool to offer the model")
                calls = await self._ask(intent, offered, attempts, began)
            steps = self._steps(intent, calls, offered)
            return Planned(steps, LLM_STRATEGY, self._record(None, offered, attempts, began))
        except TimeoutError:
            reason = f"no usable answer within the {self.policy.deadline_s:g} s deadline"
        except (LlmError, InvalidPlan) as exc:
            reason = str(exc)
        steps = await builtin(intent)
        record = self._record(reason, offered, attempts, began)
        return Planned(steps, self.fallback_strategy, record)

    async def _ask(
        self, intent: IntentSubmitted, offered: list[ToolSpec], attempts: _Attempts, began: float
    ) -> list[Call]:
        request, names = build_request(
            intent,
            offered,
            model=self.policy.model,
            max_tokens=self.policy.max_tokens,
            temperature=self.policy.temperature,
        )
        retry = self.policy.retry
        for attempt in range(1, retry.max_attempts + 1):
            attempts.count = attempt
            left = self.policy.deadline_s - (self.monotonic() - began)
            started_at, t0 = self.wall_clock(), self.monotonic()
            try:
                timeout_s = max(0.001, min(self.policy.timeout_s, left))
                response = await self.client.complete(request, timeout_s)
            except asyncio.CancelledError:
                # The planning deadline (or a shutdown) cut this request short.
                message = f"cut short by the {self.policy.deadline_s:g} s planning deadline"
                self._note(intent, attempt, started_at, t0, Usage(), ErrorKind.TIMEOUT, message)
                raise
            except LlmError as exc:
                wait = self._backoff(exc, attempt, began)
                self._note(intent, attempt, started_at, t0, Usage(), exc.kind, str(exc), wait)
                if wait is None:
                    raise
                await self.sleep(wait)
                continue
            usage = usage_of(response)
            attempts.usage += usage
            try:
                calls = parse_calls(response, names, self.tools, intent, self.policy.max_steps)
            except InvalidPlan as exc:
                self._note(intent, attempt, started_at, t0, usage, ErrorKind.TOOL_ERROR, str(exc))
                raise
            self._note(intent, attempt, started_at, t0, usage)
            return calls
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def aclose(self) -> None:
        await self.client.aclose()

    def _backoff(self, exc: LlmError, attempt: int, began: float) -> float | None:
        """The delay before the next attempt, or None when there is none to make."""
        retry = self.policy.retry
        if not exc.kind.retryable or attempt >= retry.max_attempts:
            return None
        wait = self.rng.uniform(0.0, retry.backoff_cap(attempt))
        if exc.retry_after_s is not None:
            wait = max(wait, exc.retry_after_s)  # the server said when; sooner is refused
        left = self.policy.deadline_s - (self.monotonic() - began)
        if wait >= left:
            exc.args = (f"{exc} (retry in {wait:.1f} s is past the planning deadline)",)
            return None
        return wait

    def _steps(
        self, intent: IntentSubmitted, calls: list[Call], offered: list[ToolSpec]
    ) -> list[PlanStep]:
        policy = intent.policy or self.policy.step_policy
        steps = []
        for index, call in enumerate(calls):
            fallbacks: list[Fallback] = []
            for spec in offered:
                if len(fallbacks) >= self.policy.max_fallbacks:
                    break
                if spec.name == call.tool:
                    continue
                parts = content_arguments(spec.input_schema, intent.content)
                given = {**call.arguments, **parts, **intent.arguments}
                filled = fill_arguments(spec, intent.text, given)
                if filled.complete:
                    fallbacks.append(Fallback(tool=spec.name, arguments=filled.arguments))
            steps.append(
                PlanStep(
                    step_id=derived_id(intent.intent_id, str(index)),
                    index=index,
                    tool=call.tool,
                    arguments=call.arguments,
                    policy=policy,
                    fallbacks=fallbacks,
                )
            )
        return steps

    def _record(
        self, reason: str | None, offered: list[ToolSpec], attempts: _Attempts, began: float
    ) -> PlanningRecord:
        return PlanningRecord(
            planner=LLM_STRATEGY if reason is None else "builtin",
            model=self.policy.model,
            fallback_reason=reason,
            tools_offered=[spec.name for spec in offered],
            prompt_tokens=attempts.usage.prompt_tokens,
            completion_tokens=attempts.usage.completion_tokens,
            usage_reported=attempts.usage.reported,
            cost=self.policy.price(attempts.usage),
            attempts=attempts.count,
            latency_ms=(self.monotonic() - began) * 1000.0,
        )

    def _note(
        self,
        intent: IntentSubmitted,
        attempt: int,
        started_at: float,
        t0: float,
        usage: Usage,
        kind: ErrorKind | None = None,
        error: str | None = None,
        backoff_s: float | None = None,
    ) -> None:
        self.record(
            ExecutionRecorded(
                event_id=derived_id("plan", intent.intent_id, "llm", str(attempt)),
                intent_id=intent.intent_id,
                call_id=derived_id("plan", intent.intent_id),
                tool=PLANNER_TOOL,
                tool_version=self.policy.model,
                attempt=attempt,
                ok=kind is None,
                error_kind=kind,
                error=error,
                started_at=started_at,
                latency_ms=(self.monotonic() - t0) * 1000.0,
                backoff_s=backoff_s,
                cost=self.policy.price(usage),
                context_key=context_key(intent.text, intent.context),
                strategy=LLM_STRATEGY,
            )
        )


def llm_planner(
    settings: Settings, tools: Mapping[str, ToolSpec], rank: Ranker, fallback_strategy: str,
    record: RecordFn, encoder: TextEncoder | None = None, client: ChatClient | None = None,
) -> LlmPlanner:  # fmt: skip
    """The planner TOOLWISE_PLANNER_STRATEGY=llm asks for, talking to TOOLWISE_LLM_BASE_URL."""
    if client is None:
        if not settings.llm_base_url:
            raise ValueError("TOOLWISE_PLANNER_STRATEGY=llm needs TOOLWISE_LLM_BASE_URL")
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        client = HttpChatClient(settings.llm_base_url, key)
    policy = LlmPolicy(
        model=settings.llm_model,
        top_k=settings.recommend_top_k,
        timeout_s=settings.llm_timeout_s,
        deadline_s=settings.llm_deadline_s,
        retry=settings.retry,
        step_policy=settings.retry,
        max_steps=min(settings.max_steps, MAX_STEPS),
        max_tokens=settings.llm_max_tokens,
        prompt_price_per_1k=settings.llm_prompt_price_per_1k,
        completion_price_per_1k=settings.llm_completion_price_per_1k,
    )
    embed = encoder.embed if encoder is not None else None
    selection = SelectionPolicy()  # the built-in planner's: the model is offered only these

    def allowed(spec: ToolSpec) -> bool:
        return selection_permission(spec, selection).allowed

    return LlmPlanner(client, tools, rank, policy, fallback_strategy, record, embed, allowed)
