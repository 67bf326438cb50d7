"""Which tools the planner may choose on its own, and which calls may be repeated.

MCP tools describe themselves with annotations (``readOnlyHint``,
``destructiveHint``, ``idempotentHint``, ``openWorldHint``); the tools config
may override each, and add ``auto_select`` and ``retry_safe``. These rules
turn them into two decisions: may the planner pick the tool for an intent
that does not name it, and may the executor run a call again when it cannot
tell whether the first one had its effect.
"""

from __future__ import annotations

from dataclasses import dataclass

from models import ToolSpec

NAMED = "named in the intent"


@dataclass(frozen=True)
class SelectionPolicy:
    """What a tool must declare to be chosen without being named.

    The defaults admit what cannot hurt when chosen by mistake: a tool that
    changes nothing (``readOnlyHint: true``) and reaches nothing outside
    (``openWorldHint: false``). Anything else needs ``auto_select = true`` in
    its config entry, or an intent that names it (``tool``).
    """

    require_read_only: bool = True
    """A tool that may write (MCP's default) can do harm when picked for the wrong intent."""
    require_closed_world: bool = True
    """An open-world tool fetches from or sends to the internet (MCP's default)."""


@dataclass(frozen=True)
class Permission:
    allowed: bool
    reason: str


def selection_permission(spec: ToolSpec, policy: SelectionPolicy) -> Permission:
    """May the planner choose ``spec`` for an intent that does not name it, and why."""
    if spec.auto_select is True:
        return Permission(True, "auto_select = true in the tools config")
    if spec.auto_select is False:
        return Permission(False, "auto_select = false in the tools config: only when named")
    blockers = []
    if policy.require_read_only and not spec.read_only:
        blockers.append("not read-only (readOnlyHint is not true)")
    if policy.require_closed_world and spec.open_world:
        blockers.append("open-world (openWorldHint is not false)")
    if blockers:
        return Permission(
            False,
            " and ".join(blockers)
            + ": name it in the intent's `tool`, or set auto_select = true in its config",
        )
    return Permission(True, _declared(spec, policy))


def _declared(spec: ToolSpec, policy: SelectionPolicy) -> str:
    said = []
    if spec.read_only:
        said.append("read-only")
    if not spec.open_world:
        said.append("closed-world")
    if not said or not (policy.require_read_only or policy.require_closed_world):
        return "the selection policy requires nothing of it"
    return " and ".join(said) + " by its annotations"


def retry_safe(spec: ToolSpec | None) -> bool:
    """May a call that timed out or lost its connection after being sent run again?

    Yes for read-only and idempotent tools (MCP: calling again has no further
    effect) and for tools the config marks ``retry_safe = true``; never for an
    unknown tool or one the config marks ``retry_safe = false``.
    """
    if spec is None:
        return False
    if spec.retry_safe is not None:
        return spec.retry_safe
    return spec.read_only or spec.idempotent
