"""Tools voicecli ships, switched on with `tools.builtin = ["time", "calculator"]`.

Models guess the date and do arithmetic badly; these two answers are cheap and exact. The calculator
walks the parsed expression itself and allows only numbers, arithmetic and a few math functions, so
no expression can run code, read names or build huge numbers.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voicecli.config import BuiltinTool
from voicecli.realtime.functions import ToolFunction

MAX_EXPRESSION_CHARS = 500
MAX_RESULT_BITS = 4096
"""Bigger integers (about 1233 digits) are refused before they are computed."""


def get_current_time(
    timezone: Annotated[str, "IANA time zone such as Europe/Paris or UTC; empty for the user's own"] = "",
) -> str:
    """Get the current date and time, with weekday and time zone."""
    try:
        zone = ZoneInfo(timezone) if timezone else None
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {timezone!r}") from exc
    now = datetime.now(zone) if zone else datetime.now().astimezone()
    offset = now.strftime("%z")
    return f"{now:%A %Y-%m-%d %H:%M:%S} {now.tzname()} (UTC{offset[:3]}:{offset[3:]})"


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def calculate(expression: Annotated[str, "Arithmetic such as (2 + 3) * 4 / 7, 2 ** 10, sqrt(2) or 17 % 5"]) -> str:
    """Calculate an arithmetic expression; use it for any arithmetic instead of guessing."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except (SyntaxError, RecursionError, MemoryError) as exc:
        raise ValueError(f"not an arithmetic expression: {expression!r}") from exc
    try:
        value = _evaluate(tree.body)
    except ZeroDivisionError as exc:
        raise ValueError("division by zero") from exc
    except OverflowError as exc:
        raise ValueError("the result is too large") from exc
    except (TypeError, RecursionError) as exc:
        raise ValueError(f"cannot calculate {expression!r}: {exc}") from exc
    return _format(value)


def _evaluate(node: ast.expr) -> int | float:
    match node:
        case ast.Constant(value=bool()):
            raise ValueError("booleans are not numbers here")
        case ast.Constant(value=int() | float() as number):
            return number
        case ast.Name(id=name) if name in _CONSTANTS:
            return _CONSTANTS[name]
        case ast.UnaryOp(op=op, operand=operand) if type(op) in _UNARY:
            return _UNARY[type(op)](_evaluate(operand))
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
            a, b = _evaluate(left), _evaluate(right)
            if isinstance(op, ast.Pow):
                _check_power(a, b)
            return _check_size(_BINARY[type(op)](a, b))
        case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in _FUNCTIONS:
            return _check_size(_FUNCTIONS[name](*(_evaluate(arg) for arg in args)))
    raise ValueError(f"not allowed in a calculation: {ast.unparse(node)!r}")


def _check_power(base: float, exponent: float) -> None:
    if abs(base) > 1 and exponent > 0 and exponent * math.log2(abs(base)) > MAX_RESULT_BITS:
        raise ValueError("the result is too large")


def _check_size(value: Any) -> int | float:
    if isinstance(value, complex):
        raise ValueError("the result is not a real number")
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise ValueError("the result is too large")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("the result is too large" if math.isinf(value) else "the result is not a number")
    return value


def _format(value: int | float) -> str:
    """Integers in full; floats to 12 significant digits, so 0.1 + 0.2 reads as 0.3."""
    return format(value, ".12g") if isinstance(value, float) else str(value)


BUILTIN_TOOLS: dict[BuiltinTool, ToolFunction] = {"time": get_current_time, "calculator": calculate}


def builtin_tools(names: Iterable[BuiltinTool]) -> list[ToolFunction]:
    """The functions of the built-in tools named in the configuration."""
    return [BUILTIN_TOOLS[name] for name in names]
