"""Tool servers and the MCP boundary: discover tools, call them, classify what went wrong."""

from tools.client import McpTarget, McpToolClient, ToolClient
from tools.config import ToolOverride, ToolsConfig, load_tools_config, parse_tools_config
from tools.exceptions import ConfigError, ServerStartError, ToolsError
from tools.registry import ToolRegistry, build_client

__all__ = [
    "ConfigError",
    "McpTarget",
    "McpToolClient",
    "ServerStartError",
    "ToolClient",
    "ToolOverride",
    "ToolRegistry",
    "ToolsConfig",
    "ToolsError",
    "build_client",
    "load_tools_config",
    "parse_tools_config",
]
