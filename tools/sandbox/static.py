"""The static layer: an allowlist check of a generated tool's source, before anything runs it.

Every rejection names its rule and line. The rules (``Rule``) are the issue's: ASCII
source unchanged by NFKC; imports only of the allowed members
(``inside/allowlist.py``); no name or attribute beginning with ``_``; no frame,
generator, coroutine, code or traceback attributes; no ``format``/``format_map``;
no ``match`` class patterns, ``global``/``nonlocal``, async code or ``except*``; no
string containing ``__``; a size cap. On top of those: every name read must be a
curated builtin or bound in the module, decorators are plain (dotted) names or calls
of them, classes take no keywords (no metaclass), and ``run`` is defined at the top.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from tools.sandbox.inside.allowlist import ALLOWED_IMPORTS, BUILTINS
from tools.sandbox.inside.runtime import ENTRY_POINT

__all__ = ["Rule", "StaticVerdict", "check_source"]

DEFAULT_SOURCE_BYTES = 20_000
# Attributes of frames (f_), generators (gi_), coroutines (cr_), async generators (ag_),
# tracebacks (tb_) and code objects (co_): each leads back to globals and builtins.
INTROSPECTION = re.compile(r"^(f|gi|cr|ag|tb|co)_")
FORMAT_ATTRIBUTES = frozenset({"format", "format_map"})
ALLOWED_BUILTINS = frozenset(BUILTINS)


class Rule(StrEnum):
    SIZE = "size"
    NFKC = "nfkc"
    ASCII = "ascii"
    SYNTAX = "syntax"
    IMPORT = "import"
    UNDERSCORE = "underscore"
    INTROSPECTION = "introspection"
    FORMAT = "format"
    MATCH_CLASS = "match_class"
    SCOPE = "scope"
    ASYNC = "async"
    EXCEPT_STAR = "except_star"
    DUNDER_STRING = "dunder_string"
    UNKNOWN_NAME = "unknown_name"
    DECORATOR = "decorator"
    CLASS_KEYWORD = "class_keyword"
    ENTRY = "entry"


@dataclass(frozen=True)
class StaticVerdict:
    """Accepted, or the first rule broken and the line that broke it."""

    accepted: bool
    rule: Rule | None = None
    line: int | None = None
    message: str = ""


def _line_of(source: str, index: int) -> int:
    return source.count("\n", 0, index) + 1


def _text_rules(source: str, max_bytes: int) -> StaticVerdict | None:
    encoded = source.encode("utf-8", "surrogatepass")
    if len(encoded) > max_bytes:
        line = encoded[:max_bytes].count(b"\n") + 1
        message = f"source is {len(encoded)} bytes; generated tools are at most {max_bytes}"
        return StaticVerdict(False, Rule.SIZE, line, message)
    normalized = unicodedata.normalize("NFKC", source)
    if normalized != source:
        index = next(
            (i for i, (a, b) in enumerate(zip(source, normalized, strict=False)) if a != b),
            min(len(source), len(normalized)),
        )
        char = source[index] if index < len(source) else ""
        message = f"character {char!r} (U+{ord(char):04X}) changes under NFKC: a look-alike"
        return StaticVerdict(False, Rule.NFKC, _line_of(source, index), message)
    for index, char in enumerate(source):
        if not char.isascii():
            message = f"non-ASCII character {char!r} (U+{ord(char):04X}); write \\u escapes"
            return StaticVerdict(False, Rule.ASCII, _line_of(source, index), message)
    return None


def _bound_names(tree: ast.AST) -> tuple[set[str], dict[str, str]]:
    """Every name the module binds anywhere, and which of them name an imported module."""
    bound: set[str] = set()
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            name = node.asname or node.name.split(".")[0]
            bound.add(name)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.asname or alias.name] = alias.name
    return bound, modules


def _plain_decorator(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):
        node = node.func
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


class _Checker(ast.NodeVisitor):
    def __init__(self, tree: ast.Module) -> None:
        self.bound, self.modules = _bound_names(tree)
        self.found: list[tuple[int, int, Rule, str]] = []

    def reject(self, node: ast.AST, rule: Rule, message: str) -> None:
        line = getattr(node, "lineno", 1)
        self.found.append((line, getattr(node, "col_offset", 0), rule, message))

    def identifier(self, node: ast.AST, name: str | None, what: str) -> None:
        if name is not None and name.startswith("_"):
            self.reject(node, Rule.UNDERSCORE, f"{what} {name!r} begins with '_'")

    def generic_visit(self, node: ast.AST) -> None:
        for name in ("name", "asname", "arg", "rest"):
            value = getattr(node, name, None)
            if isinstance(value, str):
                self.identifier(node, value, type(node).__name__.lower())
        super().generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name not in ALLOWED_IMPORTS:
                self.reject(node, Rule.IMPORT, _not_importable(alias.name))
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or module not in ALLOWED_IMPORTS:
            self.reject(node, Rule.IMPORT, _not_importable("." * node.level + module))
        else:
            for alias in node.names:
                if alias.name not in ALLOWED_IMPORTS[module]:
                    self.reject(node, Rule.IMPORT, _not_a_member(module, alias.name))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("_"):
            self.reject(node, Rule.UNDERSCORE, f"attribute {attr!r} begins with '_'")
        elif INTROSPECTION.match(attr):
            message = f"attribute {attr!r} reaches frames, generators, code or tracebacks"
            self.reject(node, Rule.INTROSPECTION, message)
        elif attr in FORMAT_ATTRIBUTES:
            message = f"{attr}() can read attributes through its fields; use f-strings or %"
            self.reject(node, Rule.FORMAT, message)
        elif isinstance(node.value, ast.Name) and node.value.id in self.modules:
            module = self.modules[node.value.id]
            if module in ALLOWED_IMPORTS and attr not in ALLOWED_IMPORTS[module]:
                self.reject(node, Rule.IMPORT, _not_a_member(module, attr))
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        self.identifier(node, node.id, "name")
        if (
            isinstance(node.ctx, ast.Load)
            and node.id not in self.bound
            and node.id not in ALLOWED_BUILTINS
            and not node.id.startswith("_")
        ):
            message = f"name {node.id!r} is neither defined here nor a builtin generated tools have"
            self.reject(node, Rule.UNKNOWN_NAME, message)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if (isinstance(value, str) and "__" in value) or (
            isinstance(value, bytes) and b"__" in value
        ):
            self.reject(node, Rule.DUNDER_STRING, "string literal contains '__'")

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        self.reject(node, Rule.MATCH_CLASS, "match class patterns read attributes by name")
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global | ast.Nonlocal) -> None:
        keyword = "global" if isinstance(node, ast.Global) else "nonlocal"
        self.reject(node, Rule.SCOPE, f"{keyword} is not allowed: return values instead")

    visit_Nonlocal = visit_Global

    def visit_async(self, node: ast.AST) -> None:
        self.reject(node, Rule.ASYNC, "async code is not allowed in generated tools")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_AsyncFor = visit_AsyncWith = visit_Await = visit_async

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if node.is_async:
            self.reject(node.target, Rule.ASYNC, "async comprehensions are not allowed")
        self.generic_visit(node)

    def visit_TryStar(self, node: ast.AST) -> None:
        self.reject(node, Rule.EXCEPT_STAR, "except* is not allowed")
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.ClassDef) -> None:
        for decorator in node.decorator_list:
            if not _plain_decorator(decorator):
                message = "decorators must be a (dotted) name or a call of one"
                self.reject(decorator, Rule.DECORATOR, message)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if node.keywords:
            self.reject(node, Rule.CLASS_KEYWORD, "class keywords (metaclass=...) are not allowed")
        self.visit_FunctionDef(node)


def _not_importable(module: str) -> str:
    allowed = ", ".join(sorted(ALLOWED_IMPORTS))
    return f"cannot import {module!r}; generated tools may import: {allowed}"


def _not_a_member(module: str, name: str) -> str:
    allowed = ", ".join(ALLOWED_IMPORTS[module])
    return f"{module}.{name} is not available to generated tools; {module} has: {allowed}"


def _has_entry(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.FunctionDef) and node.name == ENTRY_POINT for node in tree.body)


def check_source(source: str, max_bytes: int = DEFAULT_SOURCE_BYTES) -> StaticVerdict:
    """Accept the source, or name the first rule it breaks and where."""
    verdict = _text_rules(source, max_bytes)
    if verdict is not None:
        return verdict
    try:
        tree = ast.parse(source, filename="<generated tool>")
    except SyntaxError as exc:
        return StaticVerdict(False, Rule.SYNTAX, exc.lineno or 1, f"syntax error: {exc.msg}")
    except (ValueError, RecursionError, MemoryError) as exc:
        return StaticVerdict(False, Rule.SYNTAX, 1, f"cannot parse: {type(exc).__name__}: {exc}")
    checker = _Checker(tree)
    try:
        checker.visit(tree)
    except RecursionError:
        return StaticVerdict(False, Rule.SIZE, 1, "the source nests too deeply to check")
    if checker.found:
        line, _, rule, message = min(checker.found, key=lambda f: (f[0], f[1]))
        more = len(checker.found) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        return StaticVerdict(False, rule, line, message + suffix)
    if not _has_entry(tree):
        message = f"define {ENTRY_POINT}(**args) at the top level: it is the tool's entry point"
        return StaticVerdict(False, Rule.ENTRY, 1, message)
    return StaticVerdict(True, message="accepted by the static layer")
