"""`toolwise sandbox check FILE` and `toolwise sandbox run FILE --args JSON [--no-static]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from streams.settings import Settings
from tools.sandbox import SandboxLimits, SandboxOutcome, SandboxPool, check_source

# Exit statuses: 0 accepted / ran, 1 rejected / failed or contained, 2 bad input.
USAGE_ERROR = 2


def register(sub: Any) -> None:
    """Add the ``sandbox`` command group to the CLI's subparsers."""
    sandbox = sub.add_parser("sandbox", help="check or run a generated tool in the sandbox")
    actions = sandbox.add_subparsers(metavar="ACTION")

    check = actions.add_parser("check", help="print the static layer's JSON verdict on FILE")
    check.add_argument("file", type=Path, help="Python source defining run(**args)")
    check.set_defaults(run=_check)

    run = actions.add_parser(
        "run", help="run FILE's run(**args) in the sandbox and print a JSON result"
    )
    run.add_argument("file", type=Path, help="Python source defining run(**args)")
    run.add_argument("--args", default="{}", metavar="JSON", help="keyword arguments, an object")
    run.add_argument(
        "--no-static",
        action="store_true",
        help="skip the static layer and the restricted runtime: plain Python inside the OS "
        "isolation alone (to test those layers)",
    )
    run.add_argument(
        "--timeout", type=float, default=None, help="wall-clock seconds (default: the limits')"
    )
    run.set_defaults(run=_run)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"toolwise sandbox: cannot read {path}: {exc}", file=sys.stderr)
        return None


def _print(document: dict[str, Any]) -> None:
    print(json.dumps(document, ensure_ascii=False))


def _check(args: argparse.Namespace, settings: Settings) -> int:
    source = _read(args.file)
    if source is None:
        return USAGE_ERROR
    verdict = check_source(source, SandboxLimits().source_bytes)
    _print(
        {
            "accepted": verdict.accepted,
            "rule": verdict.rule,
            "line": verdict.line,
            "message": verdict.message,
        }
    )
    return 0 if verdict.accepted else 1


def _arguments(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError as exc:
        print(f"toolwise sandbox: --args is not JSON: {exc}", file=sys.stderr)
        return None
    if not isinstance(value, dict):
        print('toolwise sandbox: --args must be a JSON object, e.g. {"n": 3}', file=sys.stderr)
        return None
    return value


def _run(args: argparse.Namespace, settings: Settings) -> int:
    source = _read(args.file)
    arguments = _arguments(args.args)
    if source is None or arguments is None:
        return USAGE_ERROR
    if args.timeout is not None and args.timeout <= 0:
        print("toolwise sandbox: --timeout must be > 0 seconds", file=sys.stderr)
        return USAGE_ERROR
    limits = SandboxLimits()
    if not args.no_static:
        verdict = check_source(source, limits.source_bytes)
        if not verdict.accepted:
            _print(
                {
                    "ok": False,
                    "reason": "rejected",
                    "rule": verdict.rule,
                    "line": verdict.line,
                    "message": verdict.message,
                }
            )
            return 1

    async def go() -> SandboxOutcome:
        pool = SandboxPool(limits, size=1)
        try:
            return await pool.run(source, arguments, args.timeout, restricted=not args.no_static)
        finally:
            await pool.aclose()

    outcome = asyncio.run(go())
    _print(outcome.model_dump(mode="json", exclude_none=True))
    return 0 if outcome.ok else 1
