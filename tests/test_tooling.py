"""Loading user tools from files and modules, their one-line errors, and the built-in tools."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest

from voicecli.config import AppConfig, BuiltinTool, ConfigError
from voicecli.conversation.builtin_tools import BUILTIN_TOOLS, builtin_tools, calculate, get_current_time
from voicecli.conversation.tools import ToolLoadError, configured_tools, load_tools
from voicecli.realtime import ToolRegistry

PLAIN_TOOLS = '''
import os
from os.path import join


def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"{city}: sunny"


async def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _helper() -> None:
    pass


class NotATool:
    pass
'''

MARKED_TOOLS = '''
from voicecli.realtime import tool


@tool
def chosen() -> str:
    """The only tool."""
    return "yes"


def ignored() -> str:
    return "no"
'''


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throw-away importable package `usertools` on sys.path."""
    root = tmp_path / "site"
    (root / "usertools").mkdir(parents=True)
    (root / "usertools" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(root))
    yield root / "usertools"
    for name in [n for n in sys.modules if n.startswith("usertools")]:
        del sys.modules[name]


def test_public_functions_of_a_file_become_tools(tmp_path: Path) -> None:
    path = tmp_path / "my_tools.py"
    path.write_text(PLAIN_TOOLS)
    functions = load_tools([str(path)])
    assert [fn.__name__ for fn in functions] == ["get_weather", "add"]
    registry = ToolRegistry(functions)
    assert [tool["name"] for tool in registry.payload()] == ["get_weather", "add"]


async def test_loaded_tools_run(tmp_path: Path) -> None:
    path = tmp_path / "my_tools.py"
    path.write_text(PLAIN_TOOLS)
    registry = ToolRegistry(load_tools([str(path)]))
    assert (await registry.invoke("add", '{"a": 2, "b": 3}', "c1")).result == "5"


def test_only_marked_functions_when_some_are_marked(package: Path) -> None:
    (package / "marked.py").write_text(MARKED_TOOLS)
    assert [fn.__name__ for fn in load_tools(["usertools.marked"])] == ["chosen"]


def test_a_module_by_dotted_name_offers_only_marked_functions(package: Path) -> None:
    (package / "plain.py").write_text(PLAIN_TOOLS)
    assert "marks no function with @voicecli.realtime.tool" in one_line_error(["usertools.plain"])


def one_line_error(specs: list[str]) -> str:
    with pytest.raises(ToolLoadError) as caught:
        load_tools(specs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.py")
    assert one_line_error([missing]) == f"{missing}: no such tools file"


def test_missing_module() -> None:
    assert one_line_error(["no_such_pkg.tools"]) == (
        "no_such_pkg.tools: cannot import: ModuleNotFoundError: No module named 'no_such_pkg'"
    )


def test_a_module_that_fails_on_import_shows_the_last_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("def connect():\n    raise RuntimeError('no network\\nat all')\n\n\nconnect()\n")
    assert one_line_error([str(path)]) == f"{path}: cannot import: RuntimeError: no network at all"


def test_a_syntax_error_keeps_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "typo.py"
    path.write_text("def f(:\n    pass\n")
    message = one_line_error([str(path)])
    assert message.startswith(f"{path}: cannot import: SyntaxError: ")
    assert "line 1" in message


def test_a_module_without_functions(tmp_path: Path) -> None:
    path = tmp_path / "empty.py"
    path.write_text("from os import getcwd\nVALUE = 1\n\n\ndef _private():\n    pass\n")
    assert one_line_error([str(path)]) == (
        f"{path}: defines no tool functions (public module-level functions, or @tool ones)"
    )


def test_an_unreadable_signature(tmp_path: Path) -> None:
    path = tmp_path / "hints.py"
    path.write_text("from __future__ import annotations\n\ndef f(x: Undefined) -> str:\n    return ''\n")
    assert "tool f: cannot read its signature: NameError" in one_line_error([str(path)])


def test_two_tools_with_one_name(tmp_path: Path) -> None:
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    first.write_text(PLAIN_TOOLS)
    second.write_text("def add(x: int) -> int:\n    return x\n")
    assert one_line_error([str(first), str(second)]) == f"{second}: a tool named 'add' is already defined by {first}"


def test_every_builtin_choice_has_a_tool() -> None:
    assert set(BUILTIN_TOOLS) == set(get_args(BuiltinTool))
    assert builtin_tools(["calculator", "time"]) == [calculate, get_current_time]
    names = [tool["name"] for tool in ToolRegistry(builtin_tools(["time", "calculator"])).payload()]
    assert names == ["get_current_time", "calculate"]


def test_current_time_has_weekday_date_and_zone() -> None:
    assert re.fullmatch(r"\w+day \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(UTC\+00:00\)", get_current_time("UTC"))
    assert re.search(r"\(UTC[+-]\d\d:\d\d\)$", get_current_time("Asia/Kolkata")).group() == "(UTC+05:30)"
    assert re.search(r"\(UTC[+-]\d\d:\d\d\)$", get_current_time())
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        get_current_time("Mars/Olympus")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("(2 + 3) * 4", "20"),
        ("7 / 2", "3.5"),
        ("7 // 2", "3"),
        ("17 % 5", "2"),
        ("2 ** 10", "1024"),
        ("2 ^ 10", "1024"),
        ("-3 + +1", "-2"),
        ("0.1 + 0.2", "0.3"),
        ("sqrt(16) + abs(-2)", "6"),
        ("round(pi, 2)", "3.14"),
        ("2 ** 200", str(2**200)),
    ],
)
def test_calculator_arithmetic(expression: str, expected: str) -> None:
    assert calculate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("__import__('os').system('echo pwned')", "not allowed"),
        ("open('/etc/passwd').read()", "not allowed"),
        ("(1).__class__.__bases__", "not allowed"),
        ("[x for x in range(10)]", "not allowed"),
        ("lambda: 1", "not allowed"),
        ("x + 1", "not allowed"),
        ("'a' * 10", "not allowed"),
        ("True + 1", "booleans"),
        ("9 ** 9 ** 9", "too large"),
        ("(10 ** 1000) ** 10", "too large"),
        ("10.0 ** 400", "too large"),
        ("exp(1000)", "too large"),
        ("1 / 0", "division by zero"),
        ("sqrt(-1)", "math domain error"),
        ("sqrt(1, 2)", "cannot calculate"),
        ("1 +", "not an arithmetic expression"),
        ("1" * 501, "longer than 500"),
    ],
)
def test_calculator_refuses_anything_else(expression: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        calculate(expression)


async def test_calculator_errors_go_back_to_the_model_as_text() -> None:
    registry = ToolRegistry(builtin_tools(["calculator"]))
    outcome = await registry.invoke("calculate", json.dumps({"expression": "1/0"}), "c1")
    assert outcome.is_error
    assert "division by zero" in outcome.result


def test_configured_tools_combine_builtins_and_modules(tmp_path: Path) -> None:
    path = tmp_path / "my_tools.py"
    path.write_text(PLAIN_TOOLS)
    config = AppConfig()
    config.tools.builtin = ["calculator"]
    config.tools.modules = [str(path)]
    assert [fn.__name__ for fn in configured_tools(config)] == ["calculate", "get_weather", "add"]
    assert configured_tools(AppConfig()) == []


def test_a_tool_error_is_a_configuration_error() -> None:
    assert issubclass(ToolLoadError, ConfigError)
