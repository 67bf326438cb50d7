"""An in-process MCP server whose tool kills the worker it runs in (a fatal record)."""

from __future__ import annotations

import os
import signal
from typing import Any

from mcp.server.mcpserver import MCPServer


def build_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("crash", version="1")

    def kill_worker(text: str) -> str:
        """Kill the process this server runs in (the worker), as a fatal bug would."""
        os.kill(os.getpid(), signal.SIGKILL)
        return text  # never reached

    def echo(text: str) -> str:
        """Answer the text back."""
        return text

    server.add_tool(kill_worker)
    server.add_tool(echo)
    return server
