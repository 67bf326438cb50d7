"""The command line every bundled server shares: stdio by default, streamable HTTP with --http."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

from mcp.server.mcpserver import MCPServer

# Bundled servers log at WARNING: at INFO the SDK logs every failed call, and
# a stdio server's stderr is the Toolwise worker's stderr.
SERVER_LOG_LEVEL: Final[Literal["WARNING"]] = "WARNING"


def transport_parser(name: str, description: str) -> argparse.ArgumentParser:
    """A parser with the shared transport flags; servers add their own options to it."""
    parser = argparse.ArgumentParser(
        prog=f"python -m tools.servers.{name}", description=description
    )
    parser.add_argument(
        "--http", action="store_true", help="serve streamable HTTP instead of stdio"
    )
    parser.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    parser.add_argument("--path", default="/mcp", help="HTTP endpoint path (default /mcp)")
    return parser


def serve(server: MCPServer[Any], args: argparse.Namespace) -> None:
    """Run until stdin closes (stdio) or the process is stopped (HTTP)."""
    if args.http:
        server.run(
            "streamable-http", host=args.host, port=args.port, streamable_http_path=args.path
        )
    else:
        server.run("stdio")


def main_for(
    name: str,
    description: str,
    build: Callable[[argparse.Namespace], MCPServer[Any]],
    add_options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> Callable[[Sequence[str] | None], None]:
    """A ``main(argv)`` that parses the shared flags plus the server's own, builds and serves."""

    def main(argv: Sequence[str] | None = None) -> None:
        parser = transport_parser(name, description)
        if add_options is not None:
            add_options(parser)
        args = parser.parse_args(argv)
        serve(build(args), args)

    return main
