"""Errors of the sandbox; each says what an operator can do about it."""

from __future__ import annotations

from tools.exceptions import ToolsError

__all__ = ["SandboxError", "SandboxUnavailable"]


class SandboxError(ToolsError):
    """Base class of every error the sandbox raises."""


class SandboxUnavailable(SandboxError):
    """The OS isolation cannot run here, so generated tools are refused (never run bare)."""
