"""Tool servers and the MCP boundary: discover tools, call them, classify what went wrong."""

from tools._outcomes import argument_errors, argument_problem, coerce_arguments
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
    "argument_errors",
    "argument_problem",
    "build_client",
    "coerce_arguments",
    "load_tools_config",
    "parse_tools_config",
]
