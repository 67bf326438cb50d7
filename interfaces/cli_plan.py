"""`toolwise plan TEXT`: the plan a running worker would make, and why, without running it.

The worker plans with its own tool registry and learned state and answers on its web
port (GET /api/plan); this command only asks it, so no tool server starts here.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from interfaces.cli import name_value_pairs
from streams.settings import Settings

# A worker answers in well under a second; more means it is busy or stuck, not planning.
DEFAULT_TIMEOUT_S = 5.0


class NoWorker(RuntimeError):
    """No worker answered on the web port; the message says how to get one."""


def register(sub: Any) -> None:
    plan = sub.add_parser(
        "plan",
        help="show the plan a running worker would make for an intent (runs nothing)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan.add_argument("text")
    plan.add_argument("--tool", help="name the tool ('server.tool'), as an intent may")
    plan.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE")
    plan.add_argument("--context", action="append", default=[], metavar="NAME=VALUE")
    plan.add_argument("--port", type=int, help="the worker's web port (default TOOLWISE_WEB_PORT)")
    plan.add_argument("--host", default="127.0.0.1")
    plan.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    plan.add_argument("--json", action="store_true", help="print the worker's JSON answer")
    plan.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    port = args.port if args.port is not None else settings.web_port
    query: dict[str, str] = {"text": args.text}
    if args.tool:
        query["tool"] = args.tool
    if args.arg:
        query["arguments"] = json.dumps(name_value_pairs(args.arg))
    query.update({f"context.{k}": str(v) for k, v in name_value_pairs(args.context).items()})
    try:
        token = settings.web_token.get_secret_value() if settings.web_token else None
        view = fetch_plan(args.host, port, query, args.timeout, token)
    except NoWorker as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps(view, indent=2) if args.json else format_plan(view))
    return 0 if view.get("error") is None else 1


def fetch_plan(
    host: str, port: int, query: dict[str, str], timeout_s: float, token: str | None = None
) -> dict[str, Any]:
    url = f"http://{host}:{port}/api/plan?{urllib.parse.urlencode(query)}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout_s
        ) as response:
            answer: dict[str, Any] = json.load(response)
            return answer
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")[:500]
        if exc.code == 400:
            raise NoWorker(f"the worker refused the query: {body}") from exc
        if exc.code == 401:
            raise NoWorker(
                f"the worker on {host}:{port} needs its token: set TOOLWISE_WEB_TOKEN as the "
                "worker has it"
            ) from exc
        raise NoWorker(
            f"the server on {host}:{port} answered {exc.code} to /api/plan: is it a Toolwise "
            f"worker of this version? {body}"
        ) from exc
    except TimeoutError as exc:
        raise NoWorker(
            f"the worker on http://{host}:{port} did not answer within {timeout_s:g} s: it "
            "may still be starting its tool servers (try again, or raise --timeout)"
        ) from exc
    except (OSError, ValueError) as exc:
        if isinstance(getattr(exc, "reason", None), TimeoutError):
            raise NoWorker(
                f"the worker on http://{host}:{port} did not answer within {timeout_s:g} s: "
                "it may still be starting its tool servers (try again, or raise --timeout)"
            ) from exc
        raise NoWorker(
            f"no Toolwise worker answers on http://{host}:{port} ({exc}). Start one with "
            "`toolwise worker` (web enabled), or point --port or TOOLWISE_WEB_PORT at a "
            "running worker's web port."
        ) from exc


def format_plan(view: dict[str, Any]) -> str:
    """The worker's answer for a person: steps, then every candidate's verdict."""
    lines = [f"plan for {view['text']!r} ({view['strategy']}, context {view['context_key']})"]
    error = view.get("error")
    if error is not None:
        lines.append(f"no plan: {error['kind']}: {error['reason']}")
    for step in view.get("steps", []):
        probability = step.get("choice_probability")
        chosen = f", chosen in {probability:.0%} of draws" if probability is not None else ""
        lines.append(f"step {step['index'] + 1}: {step['tool']} {json.dumps(step['arguments'])}")
        lines.append(f"    allowed: {step['allowed_by']}{chosen}")
        for fallback in step.get("fallbacks", []):
            lines.append(
                f"    then, if it fails: {fallback['tool']} {json.dumps(fallback['arguments'])}"
            )
    for clause in view.get("clauses", []):
        lines.append(f"candidates for {clause['clause']!r}:")
        for c in clause["candidates"]:
            probability = f" p={c['probability']:.2f}" if c.get("probability") is not None else ""
            lines.append(
                f"    {c['verdict']:<14} {c['tool']:<36} relevance {c['relevance']:.2f}"
                f"{probability}  {c['reason']}"
            )
            for name, source in c.get("sources", {}).items():
                lines.append(f"{'':23}{name} <- {source}")
    return "\n".join(lines)
