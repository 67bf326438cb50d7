"""How a plan was made: which planner, what an LLM planner spent, and why it fell back."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# The tool name of an LLM planner's requests in execution records (its version is the
# model), so learning counts their tokens, latency and failures like any tool's. No MCP
# tool can have it: server names have no ':'.
PLANNER_TOOL = "planner:llm"


class PlanningRecord(BaseModel):
    """Carried on ``PlanCreated.planning``; absent when the built-in planner alone planned."""

    model_config = ConfigDict(frozen=True)

    planner: str = Field(description="'llm' when the LLM's plan was used, else 'builtin'.")
    model: str | None = Field(default=None, description="The LLM asked, if any.")
    fallback_reason: str | None = Field(
        default=None, description="Why the LLM's plan was not used (the built-in one was)."
    )
    tools_offered: list[str] = Field(
        default_factory=list, description="The recommended tools whose schemas the LLM saw."
    )
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    usage_reported: bool = Field(
        default=False, description="False when the server reported no token usage."
    )
    cost: float = Field(default=0.0, ge=0, description="The tokens' price; part of the intent's.")
    attempts: int = Field(default=0, ge=0, description="Chat-completion requests sent.")
    latency_ms: float = Field(default=0.0, ge=0, description="Planning time, retries included.")
