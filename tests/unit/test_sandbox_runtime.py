"""The restricted runtime in this process: curated namespaces, curated builtins, and how
one call's outcome is reported (the OS layers are tested in tests/integration)."""

from __future__ import annotations

import json

import pytest

from tools.sandbox.inside.allowlist import ALLOWED_IMPORTS
from tools.sandbox.inside.runtime import Namespace, build_builtins, build_namespaces, call_tool

NAMESPACES = build_namespaces()
BUILTINS = build_builtins(NAMESPACES)
CAP = 10_000


def call(source: str, **args: object) -> dict[str, object]:
    outcome: dict[str, object] = json.loads(call_tool(source, args, BUILTINS, CAP))
    return outcome


def test_namespaces_hold_only_the_chosen_members_never_the_module() -> None:
    json_ns = NAMESPACES["json"]
    assert isinstance(json_ns, Namespace)
    assert json_ns.dumps is json.dumps
    with pytest.raises(AttributeError, match=r"json\.decoder is not available"):
        json_ns.decoder  # noqa: B018 - the access is the test
    with pytest.raises(AttributeError, match="read-only"):
        json_ns.dumps = print
    assert set(ALLOWED_IMPORTS) == set(NAMESPACES)


def test_re_is_backed_by_re2() -> None:
    assert type(NAMESPACES["re"].compile("a+")).__module__.startswith("re2")
    assert call("import re\ndef run(t):\n    return re.findall(r'\\d+', t)\n", t="a1b22") == {
        "ok": True,
        "result": ["1", "22"],
    }


def test_imports_outside_the_allowlist_fail_at_run_time_too() -> None:
    outcome = call("def run():\n    import os\n    return os.getcwd()\n")
    assert outcome["ok"] is False and outcome["reason"] == "tool_error"
    assert "cannot import 'os'" in str(outcome["message"])


def test_builtins_are_curated() -> None:
    assert "open" not in BUILTINS and "getattr" not in BUILTINS and "type" not in BUILTINS
    outcome = call("def run():\n    return open('/etc/passwd').read()\n")
    assert outcome["reason"] == "tool_error" and "NameError" in str(outcome["message"])


def test_a_result_that_is_not_json_data_is_reported() -> None:
    outcome = call("def run():\n    return {1, 2}\n")
    assert outcome["reason"] == "not_json"


def test_a_result_over_the_output_cap_is_refused() -> None:
    assert call("def run(n):\n    return 'x' * n\n", n=CAP // 2)["ok"] is True
    assert call("def run(n):\n    return 'x' * n\n", n=CAP)["reason"] == "output_too_large"


def test_arguments_run_does_not_take_are_bad_arguments() -> None:
    outcome = call("def run(n):\n    return n\n", m=1)
    assert outcome["reason"] == "bad_arguments" and "m" in str(outcome["message"])


def test_an_exception_of_the_tool_is_a_tool_error_with_its_message() -> None:
    outcome = call("def run():\n    raise ValueError('no such unit')\n")
    assert outcome == {"ok": False, "reason": "tool_error", "message": "ValueError: no such unit"}


def test_a_source_without_run_is_a_tool_error() -> None:
    assert "defines no function run" in str(call("x = 1\n")["message"])
