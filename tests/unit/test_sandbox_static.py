"""The static layer rejects hostile generated tools, naming the rule and the line, and
accepts ordinary ones; judge() turns a submission into a verdict event."""

from __future__ import annotations

import textwrap

import pytest

from models import GeneratedToolSubmitted
from tools.sandbox.judge import judge
from tools.sandbox.static import Rule, check_source

# (family, source, rule, line). Each source would be an escape or a leak if it ran
# with the runtime's objects; the static layer must stop it before anything runs.
HOSTILE: list[tuple[str, str, Rule, int]] = [
    ("renamed builtin", "e = eval\ndef run():\n    return e('1')\n", Rule.UNKNOWN_NAME, 1),
    (
        "renamed getattr",
        "def run(x):\n    g = getattr\n    return g(x, 'y')\n",
        Rule.UNKNOWN_NAME,
        2,
    ),
    ("builtins dict", "b = __builtins__\ndef run():\n    return b\n", Rule.UNDERSCORE, 1),
    ("dunder import", "def run():\n    return __import__('os')\n", Rule.UNDERSCORE, 2),
    ("type() back door", "def run():\n    return type(1).mro()\n", Rule.UNKNOWN_NAME, 2),
    ("vars", "def run():\n    return vars()\n", Rule.UNKNOWN_NAME, 2),
    ("lambda decorator", "@(lambda f: f)\ndef run():\n    return 1\n", Rule.DECORATOR, 1),
    ("subscript decorator", "d = [len]\n@d[0]\ndef run():\n    return 1\n", Rule.DECORATOR, 2),
    ("lambda default", "def run(f=lambda: 0):\n    return f.__code__\n", Rule.UNDERSCORE, 2),
    (
        "lambda default generator",
        "def run(g=(i for i in [1])):\n    return g.gi_frame\n",
        Rule.INTROSPECTION,
        2,
    ),
    (
        "re-exported submodule",
        "from json import decoder\ndef run():\n    return 1\n",
        Rule.IMPORT,
        1,
    ),
    ("module attribute", "import json\ndef run():\n    return json.decoder\n", Rule.IMPORT, 3),
    ("aliased module", "import math as m\ndef run():\n    return m.sys\n", Rule.IMPORT, 3),
    (
        "module from a module",
        "from datetime import sys\ndef run():\n    return 1\n",
        Rule.IMPORT,
        1,
    ),
    ("dotted import", "import os.path\ndef run():\n    return 1\n", Rule.IMPORT, 1),
    ("star import", "from math import *\ndef run():\n    return pi\n", Rule.IMPORT, 1),
    ("relative import", "from . import secrets\ndef run():\n    return 1\n", Rule.IMPORT, 1),
    ("not allowed module", "import subprocess\ndef run():\n    return 1\n", Rule.IMPORT, 1),
    (
        "generator frame",
        "def gen():\n    yield 1\ndef run():\n    return gen().gi_frame.f_back\n",
        Rule.INTROSPECTION,
        4,
    ),
    ("frame globals", "def run(frame):\n    return frame.f_globals\n", Rule.INTROSPECTION, 2),
    ("code object", "def run(f):\n    return f.co_consts\n", Rule.INTROSPECTION, 2),
    (
        "traceback chain",
        "def run():\n    try:\n        1 / 0\n    except ZeroDivisionError as err:\n"
        "        return err.with_traceback(None).tb_next\n",
        Rule.INTROSPECTION,
        5,
    ),
    (
        "traceback dunder",
        "def run():\n    try:\n        1 / 0\n    except Exception as err:\n"
        "        return err.__traceback__\n",
        Rule.UNDERSCORE,
        5,
    ),
    ("str.format field access", "def run(x):\n    return '{0.real}'.format(x)\n", Rule.FORMAT, 2),
    ("format_map", "def run(d):\n    return '{a}'.format_map(d)\n", Rule.FORMAT, 2),
    ("format builtin", "def run(x):\n    return format(x, 'd')\n", Rule.UNKNOWN_NAME, 2),
    (
        "match class pattern",
        "def run(x):\n    match x:\n        case int(real=r):\n            return r\n",
        Rule.MATCH_CLASS,
        3,
    ),
    ("dunder string", "def run():\n    return '__class__'\n", Rule.DUNDER_STRING, 2),
    ("dunder bytes", "def run():\n    return b'__'\n", Rule.DUNDER_STRING, 2),
    ("dunder in f-string", 'def run(x):\n    return f"{x}__"\n', Rule.DUNDER_STRING, 2),
    ("dunder keyword", "def run(f):\n    return f(**{'__x': 1})\n", Rule.DUNDER_STRING, 2),
    (
        "fullwidth look-alike",
        "def run():\n    return \uff45\uff56\uff41\uff4c('1')\n",
        Rule.NFKC,
        2,
    ),
    ("ligature look-alike", "def run():\n    return \ufb01nd\n", Rule.NFKC, 2),
    ("cyrillic look-alike", "def run():\n    \u0430 = 1\n    return \u0430\n", Rule.ASCII, 2),
    ("global", "x = 1\ndef run():\n    global x\n    x = 2\n", Rule.SCOPE, 3),
    (
        "nonlocal",
        "def run():\n    x = 1\n    def inner():\n        nonlocal x\n    return x\n",
        Rule.SCOPE,
        4,
    ),
    ("async def", "async def run():\n    return 1\n", Rule.ASYNC, 1),
    (
        "async comprehension",
        "def run(xs):\n    return [x async for x in xs]\n",
        Rule.ASYNC,
        2,
    ),
    (
        "except star",
        "def run():\n    try:\n        return 1\n    except* ValueError:\n        return 2\n",
        Rule.EXCEPT_STAR,
        2,
    ),
    (
        "metaclass",
        "class Meta(dict):\n    pass\nclass A(metaclass=Meta):\n    pass\n"
        "def run():\n    return 1\n",
        Rule.CLASS_KEYWORD,
        3,
    ),
    ("private name", "_secret = 1\ndef run():\n    return _secret\n", Rule.UNDERSCORE, 1),
    (
        "dunder method",
        "class A:\n    def __init__(self):\n        pass\ndef run():\n    return 1\n",
        Rule.UNDERSCORE,
        2,
    ),
    ("open", "def run():\n    return open('/etc/shadow').read()\n", Rule.UNKNOWN_NAME, 2),
    ("no entry point", "def main():\n    return 1\n", Rule.ENTRY, 1),
    ("syntax error", "def run(:\n    return 1\n", Rule.SYNTAX, 1),
]


@pytest.mark.parametrize(
    ("source", "rule", "line"),
    [pytest.param(source, rule, line, id=family) for family, source, rule, line in HOSTILE],
)
def test_hostile_source_is_rejected_with_rule_and_line(source: str, rule: Rule, line: int) -> None:
    verdict = check_source(source)
    assert not verdict.accepted
    assert (verdict.rule, verdict.line) == (rule, line), verdict.message
    assert verdict.message


def test_size_cap_names_the_line_where_the_cap_falls() -> None:
    source = "def run():\n    return 1\n" + "x = 1\n" * 100
    verdict = check_source(source, max_bytes=50)
    assert (verdict.accepted, verdict.rule) == (False, Rule.SIZE)
    # Lines 1-2 take 24 bytes, then 6 bytes a line: the first byte past the cap
    # (offset 50) is on line 7.
    assert verdict.line == 7
    assert "50" in verdict.message


def test_the_first_problem_in_the_source_is_reported_and_the_rest_counted() -> None:
    verdict = check_source("import os\ndef run():\n    return ().__class__\n")
    assert (verdict.rule, verdict.line) == (Rule.IMPORT, 1)
    assert "1 more problem" in verdict.message


LEGITIMATE = [
    """
    import dataclasses
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class Point:
        x: float
        y: float
        tags: list[str] = field(default_factory=list)

    def run(x, y):
        return dataclasses.asdict(Point(x, y))
    """,
    """
    import enum

    class Colour(enum.Enum):
        RED = 1
        GREEN = enum.auto()

    def run(name):
        return Colour[name].value
    """,
    """
    import re
    from collections import Counter
    from functools import lru_cache

    @lru_cache(maxsize=None)
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    def words(text):
        for word in re.findall(r"[a-z]+", text.lower()):
            yield word

    def run(text, n=10):
        match n:
            case 0:
                return {}
            case {"k": k}:
                return k
            case [first, *rest]:
                return first
        return {"top": Counter(words(text)).most_common(3), "fib": fib(n)}
    """,
]


@pytest.mark.parametrize("source", LEGITIMATE)
def test_ordinary_tools_are_accepted(source: str) -> None:
    verdict = check_source(textwrap.dedent(source))
    assert verdict.accepted, (verdict.rule, verdict.line, verdict.message)
    assert verdict.rule is None and verdict.line is None


def submission(**fields: object) -> GeneratedToolSubmitted:
    values: dict[str, object] = {
        "name": "double",
        "source": "def run(n):\n    return 2 * n\n",
        "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        "description": "Doubles a number.",
        "submitter": "agent-7",
    }
    values.update(fields)
    return GeneratedToolSubmitted(**values)  # type: ignore[arg-type]


def test_judge_accepts_a_good_submission_with_an_id_derived_from_it() -> None:
    offered = submission()
    verdict = judge(offered)
    assert verdict.accepted and verdict.rule is None
    assert verdict.submission_id == offered.event_id
    assert verdict.event_id == f"judged:{offered.event_id}" == judge(offered).event_id
    assert (verdict.name, verdict.version) == ("double", "1")


def test_judge_names_the_rule_and_line_of_a_bad_source() -> None:
    verdict = judge(submission(source="def run():\n    return ().__class__\n"))
    assert (verdict.accepted, verdict.rule, verdict.line) == (False, "underscore", 2)


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"name": "has.dot"}, "name"),
        ({"name": "_hidden"}, "name"),
        ({"input_schema": {"type": "string"}}, "schema"),
        ({"input_schema": {"type": "object", "properties": {"n": {"type": "integr"}}}}, "schema"),
    ],
)
def test_judge_rejects_bad_names_and_schemas(fields: dict[str, object], rule: str) -> None:
    verdict = judge(submission(**fields))
    assert (verdict.accepted, verdict.rule, verdict.line) == (False, rule, None)
    assert verdict.message
