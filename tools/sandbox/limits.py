"""SandboxLimits: what one generated tool call may use, with the reason for each default."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MIB = 1024 * 1024


class SandboxLimits(BaseModel):
    """Caps of the static layer, the runtime and the OS layer; set per server in tools.toml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source_bytes: int = Field(
        default=20_000,
        ge=1,
        description="Largest source accepted: a generated tool is one small module; a cap keeps "
        "parsing and checking it cheap.",
    )
    wall_s: float = Field(
        default=5.0,
        gt=0,
        description="Wall-clock limit of a call when the caller gives none (the CLI); the "
        "executor passes each attempt's own timeout_s.",
    )
    cpu_s: int = Field(
        default=2,
        ge=1,
        description="CPU seconds per call (RLIMIT_CPU, whole seconds): far above what a "
        "small pure function needs, low enough that a spinning tool ends quickly.",
    )
    memory_mib: int = Field(
        default=256,
        ge=64,
        description="Address space per call (RLIMIT_AS): the interpreter maps about 40 MiB "
        "before the tool runs; 256 MiB leaves ample room for a tool's data.",
    )
    file_size_bytes: int = Field(
        default=0,
        ge=0,
        description="Largest file a call may write (RLIMIT_FSIZE): tools write no files.",
    )
    open_files: int = Field(
        default=16,
        ge=4,
        description="Open descriptors per call (RLIMIT_NOFILE): stdio and the result pipe, "
        "and what an import reads.",
    )
    processes: int = Field(
        default=0,
        ge=0,
        description="New processes per call (RLIMIT_NPROC): none; seccomp denies them too.",
    )
    output_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="Largest JSON result: it travels on a ToolCallCompleted event, which "
        "must stay well under Kafka's 1 MB message size.",
    )
    recursion_depth: int = Field(
        default=400,
        ge=50,
        description="Nested Python calls a tool may make beyond the runtime's own: deep "
        "enough for recursive algorithms, shallow enough to stay far from the C stack.",
    )
    tmp_mib: int = Field(
        default=8,
        ge=1,
        description="Size of the sandbox's private /tmp (a tmpfs); tool processes cannot "
        "write files at all, so it only bounds what the worker could.",
    )

    def rlimits(self) -> dict[str, int]:
        """The resource limits as the sandbox worker applies them."""
        return {
            "cpu_s": self.cpu_s,
            "memory_bytes": self.memory_mib * MIB,
            "file_size_bytes": self.file_size_bytes,
            "open_files": self.open_files,
            "processes": self.processes,
            "core_bytes": 0,
        }

    def hello(self) -> dict[str, Any]:
        """The limits part of the worker's hello frame."""
        return {
            "rlimits": self.rlimits(),
            "output_bytes": self.output_bytes,
            "recursion_depth": self.recursion_depth,
        }
