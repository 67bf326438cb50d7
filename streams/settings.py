"""Toolwise's one settings class: every knob has an env name (TOOLWISE_*) and a local default.

No other module reads ``os.environ``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.budget_scopes import SCOPE_KINDS as _SCOPE_KINDS
from models.policies import RetryPolicy
from tools.mesh.policy import MeshPolicy

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TOOLWISE_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    # --- Kafka -----------------------------------------------------------
    broker: str = Field(default="kafka://127.0.0.1:9092", description="Faust broker URL(s).")
    app_id: str = Field(
        default="toolwise", description="Faust app id = consumer group and table prefix."
    )
    topic_prefix: str = Field(
        default="toolwise", description="Prefix of every Toolwise topic name."
    )
    partitions: int = Field(default=4, ge=1, description="Partitions of every Toolwise topic.")
    replication_factor: int = Field(default=1, ge=1)
    max_message_bytes: int = Field(
        default=1_000_000, ge=1024, description="Larger inbound values go to the dead-letter topic."
    )
    executions_retention_ms: int = Field(
        default=-1,
        description="Retention of the execution-records topic; -1 keeps history for replay.",
    )

    # --- Worker ----------------------------------------------------------
    store: str = Field(
        default="rocksdb://",
        description="Faust store of the per-intent tables (plans, call results, progress): "
        "RocksDB, so a restarted worker reads only the changelog written since it stopped; "
        "'memory://' rebuilds them from their changelogs at every start.",
    )
    datadir: Path = Field(
        default=_PACKAGE_ROOT / ".toolwise" / "data", description="Faust's data dir."
    )
    web_port: int = Field(
        default=6066, description="The worker's web port: /mcp, A2A, /api, /metrics, /dashboard."
    )
    web_enabled: bool = True
    web_host: str = Field(
        default="127.0.0.1",
        description="Address the web port binds; anything but loopback needs web_token.",
    )
    web_token: SecretStr | None = Field(
        default=None,
        description="Bearer token every request to the web port must carry "
        "(Authorization: Bearer <token>); required when web_host is not loopback.",
    )
    public_url: str | None = Field(
        default=None,
        description="Where clients reach this worker's web port, e.g. https://toolwise.example "
        "(the A2A card names it); default http://<web_host>:<web_port>.",
    )
    interface_wait_s: float = Field(
        default=300.0,
        gt=0,
        description="Longest an MCP tool call, an A2A task or POST /api/intents?wait= waits for "
        "the intent's outcome; the intent itself goes on (GET /api/intents/<id>).",
    )
    feed_lookback_s: float = Field(
        # Ten minutes: the dashboard's charts cover that much, so a restarted worker shows them
        # full at once; reading back ten minutes of a busy deployment takes seconds.
        default=600.0,
        ge=0,
        description="At start, the web port's view of the topics reads back this far.",
    )
    intent_index_size: int = Field(
        default=2000,
        ge=10,
        description="Recent intents whose plan, attempts and outcome GET /api/intents/<id> "
        "answers from memory.",
    )
    progress_interval_s: float = Field(
        default=0.25,
        ge=0,
        description="A tool call's progress notifications are published at most this often "
        "(the first and the last always).",
    )
    executor_concurrency: int = Field(
        default=16, ge=1, description="Tool calls in flight per worker."
    )
    tools_config: Path = Field(default=_PACKAGE_ROOT / "tools" / "tools.toml")
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy, description="Default policy of plan steps."
    )
    mesh: MeshPolicy = Field(
        default_factory=MeshPolicy,
        description="Node probes, health, circuit breaking and node choice "
        "(TOOLWISE_MESH__PROBE_INTERVAL_S=..., see tools/mesh/policy.py).",
    )
    generated_server: str = Field(
        default="generated",
        pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
        description="Server name of generated tools accepted at run time ('<it>.<tool>').",
    )

    # --- Limits (what one message may cost a worker) ------------------------
    max_message_deaths: int = Field(
        default=2,
        ge=1,
        description="A record in flight at this many worker deaths is dead-lettered, not retried.",
    )
    planning_budget_s: float = Field(
        default=1.0,
        gt=0,
        description="Longest an intent may take to plan; then IntentFailed(planning_timeout).",
    )
    max_steps: int = Field(
        default=16, ge=1, le=256, description="Most tool calls one intent may become."
    )
    max_argument_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Largest JSON of an intent's arguments."
    )
    carried_text_chars: int = Field(
        default=2000,
        ge=100,
        description="Intent text copied onto plans, tool calls and execution records "
        "(the text model reads at most 256 tokens of it anyway).",
    )
    state_retention_s: float = Field(
        default=3600.0,
        ge=0,
        description="How long an intent's plan, call results and outcome are kept after its "
        "outcome: the window in which a redelivered intent or call is recognised.",
    )
    shutdown_timeout_s: float = Field(
        default=15.0, gt=0, description="A stopping worker exits after this long, whatever hangs."
    )

    # --- Learning ---------------------------------------------------------
    learning_enabled: bool = Field(
        default=True, description="Run the learner agent (off: no learning, e.g. to measure it)."
    )
    planner_strategy: str = Field(
        default="learned",
        description="'learned' (recommendations), 'keyword' (no learning) or 'llm' (an "
        "OpenAI-compatible model plans over the recommended top-k tools; see llm_*).",
    )
    recommend_top_k: int = Field(
        default=5, ge=1, description="Tools the planner considers per step."
    )
    recommend_strategy: str = Field(
        default="balanced",
        description="Strategy of plans no experiment assigns (`toolwise learn strategies`).",
    )
    prewarm_enabled: bool = Field(
        default=True, description="Learn sessions' next intents and pre-warm their tools."
    )
    prewarm_threshold: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="Confidence the next intent must reach before its tools are pre-warmed.",
    )
    prewarm_session_idle_s: float = Field(
        default=300.0,
        gt=0,
        description="A session without an intent for this long has ended: the model learns "
        "that its last kind of intent ends sequences. Keep it below state_retention_s.",
    )
    text_model: Literal["minilm", "words"] = Field(
        default="minilm",
        description="'minilm': sentence embeddings of intents and descriptions when the model "
        "is installed (see learning/embedding.py); 'words': BM25 and word counts only.",
    )
    text_model_dir: str | None = Field(
        default=None, description="Folder of a sentence-transformers MiniLM-L6 model to use."
    )
    learning_batch_size: int = Field(default=500, ge=1, description="Records per learner batch.")
    learning_batch_s: float = Field(default=1.0, gt=0, description="Longest a record waits.")

    # --- Redis -----------------------------------------------------------
    redis_url: str = Field(default="redis://127.0.0.1:6379/0")
    cache_ttl_s: float = Field(
        default=300.0,
        ge=0,
        description="Result cache TTL of cacheable tools that declare none (cache_ttl_s).",
    )
    redis_timeout_s: float = Field(
        default=0.05,
        gt=0,
        description="Longest one Redis command may take before the cache is bypassed.",
    )
    redis_cooldown_s: float = Field(
        default=5.0,
        gt=0,
        description="After a Redis failure, the cache is bypassed this long before one probe.",
    )
    result_cache_enabled: bool = Field(
        default=True, description="Serve cacheable tools' results from Redis (off: never)."
    )
    cache_wait_poll_s: float = Field(
        # 20 ms: a fraction of any tool call worth sharing, and at most 50 GETs a second for
        # each call waiting on another worker's identical one.
        default=0.02,
        gt=0,
        description="How often a call waiting on an identical call elsewhere looks for its "
        "result (single-flight).",
    )
    plan_cache_enabled: bool = Field(
        default=True,
        description="Answer an intent identical to one that succeeded lately from its outcome.",
    )
    plan_cache_ttl_s: float = Field(
        default=300.0, gt=0, description="How long a successful outcome answers identical intents."
    )
    plan_cache_ignored_context: tuple[str, ...] = Field(
        default=("session",),
        description="Context fields that do not make intents differ for the plan cache.",
    )

    # --- Budgets (daily spend per scope) -----------------------------------
    budgets_enabled: bool = Field(
        default=True,
        description="Count spend per scope and enforce daily limits (off: no budget checks; "
        "max_cost is still honoured).",
    )
    budget_timezone: str = Field(
        default="UTC", description="The time zone whose midnight starts a budget day."
    )
    budget_window_s: int = Field(
        default=86400,
        ge=1,
        description="Length of a budget window: a day. Shorter only to test window boundaries.",
    )
    budget_default_limits: dict[str, float] = Field(
        default_factory=dict,
        description="Daily limit of every scope of a kind without one of its own, e.g. "
        '{"global": 100, "user": 5}; kinds: global, team, user, tool.',
    )
    budget_alert_share: float = Field(
        default=0.8, gt=0, le=1, description="BudgetThresholdReached once spend passes this share."
    )
    budget_global_shards: int = Field(
        # 4: as many as the default partitions, so the global scope's commands spread over
        # every worker instead of one hot partition.
        default=4,
        ge=1,
        le=256,
        description="Shards of the global scope's spend (each owned by one worker).",
    )
    budget_reserve_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest a plan waits for its reservations; then budget_unavailable.",
    )

    # --- Content: images, audio, resources (claim check) -------------------
    content_inline_max_bytes: int = Field(
        default=256 * 1024,
        ge=0,
        description="Bytes of parts an intent or result keeps inline (base64), together; "
        "the parts past it go to the content store and the event carries a reference.",
    )
    content_max_bytes: int = Field(
        # 20 MiB: the largest image the hosted multimodal APIs take (OpenAI's limit),
        # and about two minutes of CD-quality WAV.
        default=20 * 1024 * 1024,
        ge=1,
        description="Largest part the content store takes; larger ones are refused.",
    )
    content_ttl_s: float = Field(
        # A day: long enough to fetch an outcome's content the next morning, short enough
        # that a busy deployment's Redis does not fill with yesterday's images.
        default=24 * 3600.0,
        gt=0,
        description="How long stored content stays fetchable.",
    )

    # --- Local services (toolwise services ...) --------------------------
    state_dir: Path = Field(
        default=Path(".toolwise"), description="Jars, data and logs of local services."
    )
    kafka_version: str = "4.1.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    redis_port: int = 6379

    # --- LLM planner (TOOLWISE_PLANNER_STRATEGY=llm) ---------------------
    llm_base_url: str | None = Field(
        default=None,
        description="Root of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1 (vLLM), "
        "http://127.0.0.1:11434/v1 (Ollama); requests go to <root>/chat/completions.",
    )
    llm_api_key: SecretStr | None = Field(default=None, description="Sent as a Bearer token.")
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = Field(default=15.0, gt=0, description="Per chat-completion request.")
    llm_deadline_s: float = Field(
        default=30.0, gt=0, description="All requests for one intent, retries included."
    )
    llm_max_tokens: int = Field(default=512, ge=16, description="Completion budget per request.")
    # The defaults are gpt-4o-mini's list prices in USD (0.15 / 0.60 per million tokens):
    # set both to 0 for a local model, or to your model's prices.
    llm_prompt_price_per_1k: float = Field(default=0.00015, ge=0)
    llm_completion_price_per_1k: float = Field(default=0.0006, ge=0)

    @model_validator(mode="after")
    def _llm_planner_has_a_server(self) -> Settings:
        if self.planner_strategy == "llm" and not self.llm_base_url:
            raise ValueError(
                "TOOLWISE_PLANNER_STRATEGY=llm needs TOOLWISE_LLM_BASE_URL, the root of an "
                "OpenAI-compatible API (e.g. http://127.0.0.1:8000/v1 for vLLM)"
            )
        return self

    @model_validator(mode="after")
    def _open_web_port_has_a_token(self) -> Settings:
        if self.web_enabled and not is_loopback(self.web_host) and self.web_token is None:
            raise ValueError(
                f"TOOLWISE_WEB_HOST={self.web_host} exposes the web port (intents, tools, "
                "metrics) beyond this machine: set TOOLWISE_WEB_TOKEN to a secret that clients "
                "send as 'Authorization: Bearer <token>', or bind 127.0.0.1"
            )
        return self

    @model_validator(mode="after")
    def _inline_content_fits_a_message(self) -> Settings:
        # Inline parts travel as base64 (4/3 larger) inside events of at most
        # max_message_bytes; half of it leaves room for the event around them.
        encoded = (self.content_inline_max_bytes + 2) // 3 * 4
        if encoded > self.max_message_bytes // 2:
            raise ValueError(
                f"TOOLWISE_CONTENT_INLINE_MAX_BYTES={self.content_inline_max_bytes} is "
                f"{encoded} bytes as base64, more than half of TOOLWISE_MAX_MESSAGE_BYTES="
                f"{self.max_message_bytes}; lower the first or raise the second"
            )
        return self

    @model_validator(mode="after")
    def _budget_settings_are_usable(self) -> Settings:
        try:
            ZoneInfo(self.budget_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"TOOLWISE_BUDGET_TIMEZONE={self.budget_timezone!r} is not a time zone: use an "
                "IANA name such as 'UTC' or 'Europe/Paris'"
            ) from None
        wrong = sorted(k for k in self.budget_default_limits if k not in _SCOPE_KINDS)
        negative = sorted(k for k, v in self.budget_default_limits.items() if v < 0)
        if wrong or negative:
            raise ValueError(
                f"TOOLWISE_BUDGET_DEFAULT_LIMITS: {', '.join(wrong + negative)}: keys are scope "
                f"kinds ({', '.join(_SCOPE_KINDS)}) and limits numbers >= 0, e.g. "
                '\'{"global": 100, "user": 5}\''
            )
        return self

    @property
    def bootstrap_servers(self) -> str:
        """The broker URL as aiokafka wants it: 'host:port[,host:port]'."""
        return ",".join(part.split("://", 1)[-1] for part in self.broker.split(";"))

    def topic_name(self, suffix: str) -> str:
        return f"{self.topic_prefix}-{suffix}"


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
