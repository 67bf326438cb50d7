"""MCP server ``calculator``: safe arithmetic by walking the expression's AST (never ``eval``)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import BaseModel

from tools.conventions import LOCAL_READ_ONLY, tool_error, tool_meta, tool_result
from tools.servers._serve import SERVER_LOG_LEVEL, main_for

__all__ = ["CalculatorError", "build_server", "evaluate_expression", "main"]

Number = int | float

# Intents are sentences: 500 characters is far past any real arithmetic and
# keeps parsing cheap. 200 AST nodes bounds both work and recursion depth.
MAX_EXPRESSION_CHARS = 500
MAX_NODES = 200
# 4096 bits is about 1233 decimal digits: big enough for 2**4000 or 450!,
# small enough that no single multiplication or power takes noticeable time.
MAX_INT_BITS = 4096
MAX_FACTORIAL = 450

# Written forms people type for operators: caret power, times/divide signs, unicode minus.
_REPLACEMENTS = {"^": "**", "\u00d7": "*", "\u00b7": "*", "\u00f7": "/", "\u2212": "-"}


class CalculatorError(ValueError):
    """The expression is not arithmetic we evaluate, or its result is out of bounds."""


def _check_int(value: Number) -> Number:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculatorError(f"result too large (over {MAX_INT_BITS} bits)")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("result is not a finite number")
    return value


def _power(base: Number, exponent: Number) -> Number:
    if isinstance(base, int) and isinstance(exponent, int) and exponent >= 0:
        # Estimate before computing: 10**10**9 would otherwise run for minutes.
        if abs(base) > 1 and exponent * (abs(base).bit_length() - 1) > MAX_INT_BITS:
            raise CalculatorError(f"result too large (over {MAX_INT_BITS} bits)")
        return int(base**exponent)  # int**non-negative int is an int; int() tells mypy
    try:
        return math.pow(base, exponent)
    except OverflowError as exc:
        raise CalculatorError("result too large") from exc
    except (ValueError, ZeroDivisionError) as exc:
        raise CalculatorError(f"{base} ** {exponent} is not a real number") from exc


def _multiply(a: Number, b: Number) -> Number:
    if (
        isinstance(a, int)
        and isinstance(b, int)
        and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1
    ):
        raise CalculatorError(f"result too large (over {MAX_INT_BITS} bits)")
    return a * b


def _divide(op: Callable[[Number, Number], Number]) -> Callable[[Number, Number], Number]:
    def checked(a: Number, b: Number) -> Number:
        if b == 0:
            raise CalculatorError("division by zero")
        return op(a, b)

    return checked


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _multiply,
    ast.Div: _divide(operator.truediv),
    ast.FloorDiv: _divide(operator.floordiv),
    ast.Mod: _divide(operator.mod),
    ast.Pow: _power,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _factorial(n: Number) -> Number:
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if not isinstance(n, int) or n < 0:
        raise CalculatorError("factorial needs a non-negative integer")
    if n > MAX_FACTORIAL:
        raise CalculatorError(f"factorial is limited to n <= {MAX_FACTORIAL}")
    return math.factorial(n)


def _log(x: Number, base: Number = math.e) -> Number:
    return math.log(x, base)


_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "sqrt": math.sqrt,
    "cbrt": lambda x: math.copysign(abs(x) ** (1 / 3), x),
    "log": _log,
    "ln": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "degrees": math.degrees,
    "radians": math.radians,
    "abs": abs,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "hypot": math.hypot,
    "min": min,
    "max": max,
    "pow": _power,
    "factorial": _factorial,
}


def normalize(expression: str) -> str:
    """The expression as Python-syntax arithmetic: '^' is power, trailing '=' or '?' dropped."""
    text = expression.strip().rstrip("=?").strip()
    for old, new in _REPLACEMENTS.items():
        text = text.replace(old, new)
    return text


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant):
        # bool is an int subclass and complex is a number: neither is arithmetic here.
        value = node.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _check_int(value)
        raise CalculatorError(f"unsupported literal {node.value!r}")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _check_int(_BINARY[type(node.op)](_eval(node.left), _eval(node.right)))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
    ):
        if node.keywords:
            raise CalculatorError(f"{node.func.id}() takes no keyword arguments")
        args = [_eval(arg) for arg in node.args]
        try:
            return _check_int(_FUNCTIONS[node.func.id](*args))
        except CalculatorError:
            raise
        except OverflowError as exc:
            raise CalculatorError(f"{node.func.id}(): result too large") from exc
        except (ValueError, TypeError, ZeroDivisionError) as exc:
            raise CalculatorError(f"{node.func.id}(): {exc}") from exc
    if isinstance(node, ast.Name):
        raise CalculatorError(f"unknown name {node.id!r}")
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        raise CalculatorError(f"unknown function {name!r}; known: {', '.join(sorted(_FUNCTIONS))}")
    raise CalculatorError(f"unsupported syntax: {type(node).__name__}")


def evaluate_expression(expression: str) -> Number:
    """Evaluate arithmetic: numbers, + - * / // % ** (or ^), parentheses, pi/e/tau, math functions.

    Raises CalculatorError for anything else, for division by zero, and for
    results over MAX_INT_BITS bits or not finite.
    """
    text = normalize(expression)
    if not text:
        raise CalculatorError("empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise CalculatorError(f"not an arithmetic expression: {expression!r}") from exc
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculatorError(f"expression has more than {MAX_NODES} parts")
    try:
        return _eval(tree)
    except OverflowError as exc:
        raise CalculatorError("result too large") from exc
    except RecursionError as exc:
        raise CalculatorError("expression nested too deeply") from exc


def format_number(value: Number) -> str:
    return str(value) if isinstance(value, int) else format(value, ".15g")


class Evaluation(BaseModel):
    result: int | float
    expression: str


_FUNCTION_NAMES = r"(?:sqrt|cbrt|log10|log2|log|ln|exp|sin|cos|tan|abs|factorial|pi)"
_ATOM = rf"(?:\b{_FUNCTION_NAMES}\b|\d+(?:\.\d+)?|[-+*/%^().\s])"
_OPERATION = rf"(?:[-+*/%^]|\b{_FUNCTION_NAMES}\s*\()"
_PATTERNS = (
    # A run of numbers, operators, parentheses and function names that holds at
    # least one operator or function call and one digit: a bare number ('3 parsecs')
    # is not arithmetic, nor is the '/' of 'Europe/Paris'.
    rf"(?P<expression>{_ATOM}*(?:\d{_ATOM}*{_OPERATION}|{_OPERATION}{_ATOM}*\d){_ATOM}*)",
)
_KEYWORDS = (
    "calculate", "compute", "evaluate", "arithmetic", "math", "sum", "plus", "minus",
    "times", "multiply", "divide", "divided", "product", "power", "sqrt", "square root",
)  # fmt: skip


def build_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("calculator", version="1", log_level=SERVER_LOG_LEVEL)

    def evaluate(expression: str) -> Annotated[CallToolResult, Evaluation]:
        """Evaluate an arithmetic expression, e.g. '2 * (3 + 4) ^ 2' or 'sqrt(2) / 3'."""
        try:
            value = evaluate_expression(expression)
        except CalculatorError as exc:
            return tool_error(str(exc))
        shown = normalize(expression)
        return tool_result(
            Evaluation(result=value, expression=shown).model_dump(),
            f"{shown} = {format_number(value)}",
        )

    server.add_tool(
        evaluate,
        annotations=LOCAL_READ_ONLY,
        meta=tool_meta(patterns=_PATTERNS, keywords=_KEYWORDS, version="1", cacheable=True),
    )
    return server


main = main_for("calculator", "Safe arithmetic over MCP.", lambda _args: build_server())

if __name__ == "__main__":
    main(None)
