"""What one sandboxed call gave: a JSON result, or the reason it was stopped."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Reason", "SandboxOutcome"]


class Reason(StrEnum):
    """Why a call gave no result: the tool's own failure, or the layer that contained it."""

    REJECTED = "rejected"  # the static layer refused the source
    TOOL_ERROR = "tool_error"  # the tool raised an exception
    BAD_ARGUMENTS = "bad_arguments"  # run() does not take these arguments
    NOT_JSON = "not_json"  # the result is not JSON data
    RECURSION = "recursion"  # past the recursion limit
    MEMORY = "memory"  # past the address-space limit
    OUTPUT_TOO_LARGE = "output_too_large"
    TIMEOUT = "timeout"  # wall clock or CPU time
    SYSCALL_DENIED = "syscall_denied"  # seccomp killed the process
    FILE_SIZE = "file_size"  # past the file size limit
    CRASHED = "crashed"  # the process died some other way (a signal, an exit)
    SANDBOX_ERROR = "sandbox_error"  # the call could not be confined, so it did not run
    SANDBOX_LOST = "sandbox_lost"  # the sandbox worker died or broke the protocol
    UNAVAILABLE = "unavailable"  # no OS isolation here: nothing runs


class SandboxOutcome(BaseModel):
    """The answer to one call, as ``toolwise sandbox run`` prints it."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    result: Any = None
    reason: Reason | None = None
    message: str | None = None
    wall_ms: float = Field(default=0.0, description="From fork to the process's end.")
    cpu_ms: float = Field(default=0.0, description="CPU time of the tool's process.")

    @classmethod
    def failed(cls, reason: Reason, message: str, **timing: float) -> SandboxOutcome:
        return cls(ok=False, reason=reason, message=message, **timing)

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> SandboxOutcome:
        """Read the worker's reply; a reply that makes no sense is SANDBOX_LOST."""
        timing = {
            key: float(reply[key])
            for key in ("wall_ms", "cpu_ms")
            if isinstance(reply.get(key), int | float)
        }
        if "text" not in reply:
            try:
                reason = Reason(str(reply.get("reason")))
            except ValueError:
                return cls.failed(Reason.SANDBOX_LOST, f"unreadable reply: {reply!r:.200}")
            return cls.failed(reason, str(reply.get("message", "")), **timing)
        text = reply["text"]
        if not text:
            return cls.failed(Reason.CRASHED, "the tool's process ended without a result", **timing)
        try:
            body = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return cls.failed(Reason.CRASHED, f"the tool's process wrote no JSON: {exc}", **timing)
        if not isinstance(body, dict) or not isinstance(body.get("ok"), bool):
            return cls.failed(Reason.CRASHED, "the tool's process wrote something else", **timing)
        if body["ok"]:
            return cls(ok=True, result=body.get("result"), **timing)
        try:
            reason = Reason(str(body.get("reason")))
        except ValueError:
            reason = Reason.CRASHED
        return cls.failed(reason, str(body.get("message", "")), **timing)
