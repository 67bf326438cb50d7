"""Errors raised by the tools package; each names the server, tool or file to look at."""

from __future__ import annotations

__all__ = ["ConfigError", "ServerStartError", "ToolsError"]


class ToolsError(Exception):
    """Base class of every error the tools package raises."""


class ConfigError(ToolsError):
    """The tools config file is missing, unreadable or invalid; the message names file and key."""


class ServerStartError(ToolsError):
    """A tool server could not be started or did not answer ``tools/list``.

    Carries the server name and how it was launched, so an operator can run
    the same command by hand.
    """

    def __init__(self, server: str, launch: str, cause: str) -> None:
        self.server = server
        self.launch = launch
        self.cause = cause
        super().__init__(f"tool server {server!r} failed to start ({launch}): {cause}")
