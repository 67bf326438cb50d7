"""Toolwise's bundled MCP servers: ``python -m tools.servers.<name> [--http --port N]``."""
