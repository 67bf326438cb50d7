"""The restricted runtime: curated builtins, curated namespaces, and one call of ``run(**args)``.

``call_tool`` is what a sandboxed process runs; it returns the JSON text of the
outcome, never raises, and keeps that text under the output cap.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import json
import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from .allowlist import ALLOWED_IMPORTS, BACKING_MODULE, BUILTINS, SUPPORT_MODULES

ENTRY_POINT = "run"
# The file name tracebacks and syntax errors show for a generated tool's source.
SOURCE_NAME = "<generated tool>"
# An error message is for an operator to read, not a channel for bulk data.
MAX_MESSAGE_CHARS = 2_000


class Namespace:
    """A read-only stand-in for a module: only the chosen members, as attributes."""

    __slots__ = ("_members", "_module")

    def __init__(self, module: str, members: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_members", MappingProxyType(dict(members)))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._members[name]
        except KeyError:
            allowed = ", ".join(sorted(self._members))
            raise AttributeError(
                f"{self._module}.{name} is not available to generated tools; it has: {allowed}"
            ) from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self._module} is read-only in generated tools")

    def __repr__(self) -> str:
        return f"<curated module {self._module}>"


def build_namespaces() -> dict[str, Namespace]:
    """One Namespace per allowed import, filled from the real (backing) module."""
    for name in SUPPORT_MODULES:
        importlib.import_module(name)
    namespaces = {}
    for name, members in ALLOWED_IMPORTS.items():
        module = importlib.import_module(BACKING_MODULE.get(name, name))
        namespaces[name] = Namespace(name, {member: getattr(module, member) for member in members})
    return namespaces


def build_builtins(namespaces: Mapping[str, Namespace]) -> dict[str, Any]:
    """The ``__builtins__`` of a generated tool: the curated names and a curated import."""

    def curated_import(
        name: str,
        globals: Mapping[str, Any] | None = None,
        locals: Mapping[str, Any] | None = None,
        fromlist: tuple[str, ...] | list[str] | None = None,
        level: int = 0,
    ) -> Any:
        # C code (PyImport_Import) passes fromlist as a list, which an import statement
        # never does (None or a tuple) and a tool cannot (it cannot name __import__):
        # such an internal import of a support module gets the module itself.
        if isinstance(fromlist, list) and name in SUPPORT_MODULES:
            return sys.modules[name]
        if level != 0 or name not in namespaces:
            allowed = ", ".join(sorted(namespaces))
            raise ImportError(f"generated tools cannot import {name!r}; allowed: {allowed}")
        return namespaces[name]

    curated = {name: getattr(builtins, name) for name in BUILTINS}
    # A class statement calls __build_class__; True, False and None are keywords.
    curated["__build_class__"] = builtins.__build_class__
    curated["__import__"] = curated_import
    return curated


def load_entry(source: str, tool_builtins: Mapping[str, Any] | None) -> Callable[..., Any]:
    """Run the tool's module body and return its ``run``; full builtins when ``None``."""
    code = compile(source, SOURCE_NAME, "exec", dont_inherit=True)
    module_globals: dict[str, Any] = {
        "__builtins__": dict(tool_builtins) if tool_builtins is not None else builtins.__dict__,
        "__name__": "generated_tool",
    }
    exec(code, module_globals)
    entry = module_globals.get(ENTRY_POINT)
    if not callable(entry):
        raise LookupError(f"the tool defines no function {ENTRY_POINT}(**args)")
    return entry  # type: ignore[no-any-return]


def _short(exc: BaseException) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:  # an exception whose str() fails still gets reported
        text = type(exc).__name__
    return text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "..."


def failure(reason: str, message: str) -> str:
    """The JSON text of a failed call."""
    return json.dumps({"ok": False, "reason": reason, "message": message[:MAX_MESSAGE_CHARS]})


def call_tool(
    source: str,
    args: Mapping[str, Any],
    tool_builtins: Mapping[str, Any] | None,
    output_bytes: int,
) -> str:
    """Load the tool, call ``run(**args)`` and return the outcome as JSON text.

    ``{"ok": true, "result": ...}`` or ``{"ok": false, "reason": ..., "message": ...}``
    with reason ``tool_error``, ``bad_arguments``, ``memory``, ``recursion``,
    ``not_json`` or ``output_too_large``.
    """
    try:
        entry = load_entry(source, tool_builtins)
        try:
            inspect.signature(entry).bind(**args)
        except TypeError as exc:
            return failure("bad_arguments", f"{ENTRY_POINT}(**args): {exc}")
        except ValueError:
            pass  # no signature to check (a builtin): the call itself will say
        result = entry(**args)
    except MemoryError:
        return failure("memory", "the tool ran out of its memory limit")
    except RecursionError as exc:
        return failure("recursion", _short(exc))
    except BaseException as exc:  # the tool's own failure, whatever it raised
        return failure("tool_error", _short(exc))
    try:
        text = json.dumps({"ok": True, "result": result}, allow_nan=False, ensure_ascii=False)
    except MemoryError:
        return failure("memory", "the tool's result did not fit in its memory limit")
    except (TypeError, ValueError, RecursionError) as exc:
        return failure("not_json", f"the result is not JSON data: {_short(exc)}")
    if len(text.encode()) > output_bytes:
        return failure(
            "output_too_large", f"the result is larger than the output cap of {output_bytes} bytes"
        )
    return text


def set_recursion_depth(depth: int) -> None:
    """Allow ``depth`` more nested calls than are on the stack now."""
    frame, current = sys._getframe(), 0
    while frame is not None:
        frame, current = frame.f_back, current + 1  # type: ignore[assignment]
    sys.setrecursionlimit(current + depth)
