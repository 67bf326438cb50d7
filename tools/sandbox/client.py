"""SandboxToolClient: accepted generated tools behind the ToolClient protocol, run in the sandbox.

Through it a generated tool joins the registry like any MCP tool and runs through the
same executor (timeouts, retries, execution records, learning).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from models.events import GeneratedToolJudged, GeneratedToolSubmitted
from models.tools import CallResult, ErrorKind, ToolSpec
from tools._outcomes import argument_problem, coerce_arguments, failure
from tools.exceptions import ServerStartError
from tools.sandbox.exceptions import SandboxUnavailable
from tools.sandbox.judge import judge
from tools.sandbox.outcome import Reason, SandboxOutcome
from tools.sandbox.pool import SandboxPool

__all__ = ["SandboxToolClient"]

logger = logging.getLogger(__name__)

# How a stopped call is classified for the executor: the sandbox itself failing is a
# connection problem (retried, a new worker starts); a tool's own failure or its
# containment is permanent, except a timeout, which the executor treats like any tool's.
ERROR_KINDS: Mapping[Reason, ErrorKind] = {
    Reason.TIMEOUT: ErrorKind.TIMEOUT,
    Reason.BAD_ARGUMENTS: ErrorKind.INVALID_ARGUMENTS,
    Reason.SANDBOX_LOST: ErrorKind.CONNECTION,
    Reason.SANDBOX_ERROR: ErrorKind.CONNECTION,
    Reason.UNAVAILABLE: ErrorKind.CONNECTION,
}


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


class SandboxToolClient:
    """Serves the accepted ones among ``submissions`` from a pool of sandbox workers.

    ``list_tools`` judges every submission (rejected ones are logged with their rule
    and line, and not listed) and starts the sandbox; where the OS isolation cannot
    run it raises ServerStartError, so no generated tool ever runs without it.
    """

    def __init__(
        self,
        server: str,
        submissions: Iterable[GeneratedToolSubmitted],
        pool: SandboxPool,
        *,
        launch: str = "sandbox",
    ) -> None:
        self.server = server
        self.launch = launch
        self._pool = pool
        self._submissions = list(submissions)
        self._accepted: dict[str, GeneratedToolSubmitted] = {}
        self.verdicts: list[GeneratedToolJudged] = []

    def _judge_all(self) -> list[ToolSpec]:
        self.verdicts, self._accepted = [], {}
        for submission in self._submissions:
            self.admit(submission)
        return self.specs()

    def admit(self, submission: GeneratedToolSubmitted) -> GeneratedToolJudged:
        """Judge one submission and serve it from now on if accepted (run-time registration);
        a later version of a tool replaces the earlier one on this client."""
        verdict = judge(submission, self._pool.limits.source_bytes)
        self.verdicts.append(verdict)
        if not verdict.accepted:
            logger.warning(
                "generated tool %s.%s rejected: rule %s, line %s: %s",
                self.server,
                submission.name,
                verdict.rule,
                verdict.line,
                verdict.message,
            )
            return verdict
        self._accepted[submission.name] = submission
        return verdict

    def specs(self) -> list[ToolSpec]:
        """The accepted tools, as the registry lists them."""
        return [
            ToolSpec(
                name=f"{self.server}.{submission.name}",
                server=self.server,
                tool=submission.name,
                description=submission.description,
                input_schema=submission.input_schema,
                version=submission.version,
                # The sandbox denies network, file writes and state across calls: a
                # generated tool can change nothing and reach nothing outside.
                read_only=True,
                destructive=False,
                idempotent=True,
                open_world=False,
            )
            for submission in self._accepted.values()
        ]

    async def list_tools(self) -> list[ToolSpec]:
        """The accepted tools; starts the sandbox workers (raises ServerStartError)."""
        specs = self._judge_all()
        try:
            await self._pool.start()
        except SandboxUnavailable as exc:
            raise ServerStartError(self.server, self.launch, str(exc)) from exc
        return specs

    async def call(
        self, spec: ToolSpec, arguments: Mapping[str, Any], timeout_s: float
    ) -> CallResult:
        """Run the tool once in a sandbox worker; failures come back as CallResult."""
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        started = time.perf_counter()
        submission = self._accepted.get(spec.tool)
        if submission is None:
            known = ", ".join(sorted(self._accepted)) or "none (was list_tools() called?)"
            message = f"{spec.name}: no accepted generated tool {spec.tool!r}; known: {known}"
            return failure(ErrorKind.UNKNOWN_TOOL, message, _ms_since(started))
        args = coerce_arguments(spec.input_schema, arguments)
        problem = argument_problem(spec.input_schema, args)
        if problem is not None:
            message = f"{spec.name}: {problem}"
            return failure(ErrorKind.INVALID_ARGUMENTS, message, _ms_since(started))
        outcome = await self._pool.run(submission.source, args, timeout_s)
        return self._result(spec, outcome, _ms_since(started))

    @staticmethod
    def _result(spec: ToolSpec, outcome: SandboxOutcome, latency_ms: float) -> CallResult:
        if outcome.ok:
            return CallResult(
                ok=True, output=outcome.result, cost=spec.cost_per_call, latency_ms=latency_ms
            )
        reason = outcome.reason or Reason.CRASHED
        kind = ERROR_KINDS.get(reason, ErrorKind.TOOL_ERROR)
        cost = spec.cost_per_call if kind is not ErrorKind.CONNECTION else 0.0
        return CallResult(
            ok=False,
            error_kind=kind,
            error=f"{spec.name}: {reason.value}: {outcome.message}",
            cost=cost,
            latency_ms=latency_ms,
        )

    async def aclose(self) -> None:
        """Stop the sandbox workers."""
        await self._pool.aclose()
