"""The tools config file (``tools/tools.toml``): which MCP servers to run and per-tool overrides."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tools.exceptions import ConfigError
from tools.patterns import PatternError, compile_linear
from tools.sandbox.bwrap import DEFAULT_PYTHON
from tools.sandbox.limits import SandboxLimits

__all__ = [
    "PROJECT_ROOT",
    "HttpServerConfig",
    "InProcessServerConfig",
    "SandboxServerConfig",
    "ServerConfig",
    "StdioServerConfig",
    "ToolOverride",
    "ToolsConfig",
    "load_tools_config",
    "parse_tools_config",
]

# The folder that holds the ``tools`` package: stdio servers start here so that
# ``python -m tools.servers.x`` resolves without the project being installed.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# No dots: a qualified tool name is '<server>.<tool>' and must split unambiguously.
_SERVER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

# Starting a Python MCP server imports pydantic, starlette and the SDK: about
# a second on a small machine, several under load. 20 s leaves room for a
# loaded CI box without hiding a server that hangs for good.
DEFAULT_CONNECT_TIMEOUT_S = 20.0


def _check_patterns(patterns: tuple[str, ...] | None) -> tuple[str, ...] | None:
    for pattern in patterns or ():
        try:
            compiled = compile_linear(pattern, ignore_case=True)
        except PatternError as exc:
            raise ValueError(str(exc)) from exc
        if not compiled.groupindex:
            raise ValueError(f"pattern {pattern!r} has no named group to fill an argument")
    return patterns


class ToolOverride(BaseModel):
    """What the config says of one tool; a field left unset keeps what the server declared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(default=True, description="False hides the tool from the registry.")
    description: str | None = None
    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,49}$")
    cost_per_call: float | None = Field(default=None, ge=0)
    cacheable: bool | None = None
    cache_ttl_s: float | None = Field(
        default=None, ge=0, description="How long its results are cached (default: settings)."
    )
    cache_context: tuple[str, ...] | None = Field(
        default=None,
        description="Context fields its result depends on, e.g. ['user']: part of the cache key.",
    )
    timeout_s: float | None = Field(
        default=None, gt=0, le=3600, description="Per-attempt timeout when the intent sets none."
    )
    patterns: tuple[str, ...] | None = Field(
        default=None, description="Replace the server's patterns."
    )
    keywords: tuple[str, ...] | None = Field(
        default=None, description="Replace the server's keywords."
    )
    # MCP annotations the server declared (or failed to): the operator's word wins.
    read_only: bool | None = Field(default=None, description="Override readOnlyHint.")
    destructive: bool | None = Field(default=None, description="Override destructiveHint.")
    idempotent: bool | None = Field(default=None, description="Override idempotentHint.")
    open_world: bool | None = Field(default=None, description="Override openWorldHint.")
    auto_select: bool | None = Field(
        default=None,
        description="true: the planner may choose this tool without the intent naming it, "
        "whatever its annotations; false: only when named.",
    )
    retry_safe: bool | None = Field(
        default=None,
        description="true: retry after a timeout or lost connection even if not idempotent.",
    )

    _validate_patterns = field_validator("patterns")(_check_patterns)


class _ServerBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    optional: bool = Field(
        default=False, description="True: a server that fails to start is logged and skipped."
    )
    connect_timeout_s: float = Field(default=DEFAULT_CONNECT_TIMEOUT_S, gt=0)
    tools: dict[str, ToolOverride] = Field(default_factory=dict)
    registers_as: str | None = Field(
        default=None,
        pattern=_SERVER_NAME.pattern,
        description="The server name in its tools' names (default: this entry's name). "
        "Entries registering as one name serve versions of the same tools on their own nodes.",
    )


class StdioServerConfig(_ServerBase):
    """A server launched as a subprocess, spoken to over its stdin/stdout."""

    transport: Literal["stdio"]
    command: list[str] = Field(min_length=1, description="argv; 'python' means this interpreter.")
    env: dict[str, str] = Field(default_factory=dict, description="Added to a minimal environment.")
    cwd: Path | None = Field(
        default=None, description="Relative to the config file; default: project root."
    )

    def argv(self) -> list[str]:
        """The command with 'python' replaced by the running interpreter (the venv's)."""
        head = sys.executable if self.command[0] in ("python", "python3") else self.command[0]
        return [head, *self.command[1:]]


class HttpServerConfig(_ServerBase):
    """A server already listening for MCP streamable HTTP, on one node (``url``) or several
    (``urls``: the same server run more than once; calls go to the healthiest)."""

    transport: Literal["http"]
    url: str | None = Field(
        default=None, pattern=r"^https?://", description="e.g. http://127.0.0.1:8000/mcp"
    )
    urls: list[str] = Field(default_factory=list, description="Several nodes of the server.")

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not re.match(r"^https?://", url):
                raise ValueError(f"{url!r} is not an http(s):// URL")
        if len(set(urls)) != len(urls):
            raise ValueError("urls must not repeat")
        return urls

    @model_validator(mode="after")
    def _one_way_to_say_where(self) -> HttpServerConfig:
        if (self.url is None) == (not self.urls):
            raise ValueError("give either url (one node) or urls (several nodes), not both")
        return self

    def endpoints(self) -> list[str]:
        return [self.url] if self.url is not None else list(self.urls)


class InProcessServerConfig(_ServerBase):
    """A server object built in this process by ``factory(**kwargs)``."""

    transport: Literal["inprocess"]
    factory: str = Field(
        pattern=r"^[\w.]+:\w+$", description="'module:function' returning an MCPServer."
    )
    kwargs: dict[str, Any] = Field(default_factory=dict)


class SandboxServerConfig(_ServerBase):
    """Generated tools run in the sandbox: a directory of ``<tool>.py`` + ``<tool>.json``."""

    transport: Literal["sandbox"]
    directory: Path = Field(description="Relative to the config file; see tools/sandbox/.")
    workers: int = Field(
        default=2, ge=1, le=64, description="Pre-forked sandbox workers: calls run at once."
    )
    python: str = Field(
        default=DEFAULT_PYTHON, description="The interpreter inside the sandbox (under /usr)."
    )
    limits: SandboxLimits = Field(default_factory=SandboxLimits)


ServerConfig = Annotated[
    StdioServerConfig | HttpServerConfig | InProcessServerConfig | SandboxServerConfig,
    Field(discriminator="transport"),
]


class ToolsConfig(BaseModel):
    """All tool servers Toolwise connects to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    servers: dict[str, ServerConfig] = Field(default_factory=dict)
    source: Path | None = Field(default=None, exclude=True, description="The file it came from.")

    @field_validator("servers")
    @classmethod
    def _check_server_names(cls, servers: dict[str, ServerConfig]) -> dict[str, ServerConfig]:
        for name in servers:
            if not _SERVER_NAME.match(name):
                raise ValueError(f"server name {name!r} must match {_SERVER_NAME.pattern}")
        return servers

    def sandbox_directory(self, server: SandboxServerConfig) -> Path:
        """A sandbox server's tool directory, relative to the config file."""
        base = self.source.parent if self.source is not None else Path.cwd()
        return (base / server.directory).resolve()

    def stdio_cwd(self, server: StdioServerConfig) -> Path:
        """A stdio server's working dir: ``cwd`` relative to the config file, else project root."""
        if server.cwd is None:
            return PROJECT_ROOT
        base = self.source.parent if self.source is not None else Path.cwd()
        return (base / server.cwd).resolve()


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        # Drop the union tag pydantic inserts ('servers.x.stdio.command'): the
        # user wrote 'servers.x.command'.
        loc = [str(p) for p in item["loc"] if p not in ("stdio", "http", "inprocess", "sandbox")]
        lines.append(f"  {'.'.join(loc) or '<root>'}: {item['msg']}")
    return "\n".join(lines)


def parse_tools_config(data: dict[str, Any], source: Path | None = None) -> ToolsConfig:
    """Validate already-parsed TOML; errors name the file and each bad key."""
    where = str(source) if source is not None else "<tools config>"
    try:
        config = ToolsConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: invalid tools config:\n{_describe(exc)}") from exc
    return config.model_copy(update={"source": source})


def load_tools_config(path: Path | str) -> ToolsConfig:
    """Read and validate a tools TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read tools config: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return parse_tools_config(data, source=path.resolve())
