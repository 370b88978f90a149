"""Tools that misbehave: every exception becomes the model's error text, big results are bounded,
and an installed module offers only what is marked as a tool (issue 24, case 7)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from voicecli.conversation.tools import ToolLoadError, load_tools
from voicecli.realtime import ToolRegistry
from voicecli.realtime.events import FunctionResultContent, RealtimeFunctionResultEvent
from voicecli.realtime.functions import MAX_RESULT_CHARS
from voicecli.ui.plain import PlainTranscript


def leaves_sync() -> str:
    """Ends the program, as a careless tool might."""
    sys.exit(3)


async def leaves_async() -> str:
    raise SystemExit(4)


async def interrupts_async() -> str:
    raise KeyboardInterrupt


def interrupts_sync() -> str:
    raise KeyboardInterrupt


def huge() -> str:
    return "x" * 10_000_000


async def invoke(registry: ToolRegistry, name: str) -> FunctionResultContent:
    try:
        return await registry.invoke(name, "{}", "call_1")
    except BaseException as escaped:
        pytest.fail(f"the tool's {escaped!r} escaped the registry")


@pytest.mark.parametrize(
    ("function", "kind"),
    [
        (leaves_sync, "SystemExit"),
        (leaves_async, "SystemExit"),
        (interrupts_async, "KeyboardInterrupt"),
        (interrupts_sync, "KeyboardInterrupt"),
    ],
)
async def test_a_tool_that_tries_to_end_the_program_only_fails_its_call(function: object, kind: str) -> None:
    registry = ToolRegistry([function])  # type: ignore[list-item]
    outcome = await invoke(registry, function.__name__)  # type: ignore[attr-defined]
    assert outcome.is_error and kind in outcome.result


async def test_a_huge_result_is_cut_for_the_model_and_for_the_screen() -> None:
    outcome = await invoke(ToolRegistry([huge]), "huge")
    assert len(outcome.result) == MAX_RESULT_CHARS and "10,000,000 characters" in outcome.result
    shown = io.StringIO()
    PlainTranscript(shown)(RealtimeFunctionResultEvent(function_result=FunctionResultContent("c", "huge", "y" * 10**7)))
    assert len(shown.getvalue()) < 400


def test_an_installed_module_offers_nothing_unmarked() -> None:
    with pytest.raises(ToolLoadError) as refused:
        load_tools(["os"])
    message = str(refused.value)
    assert message.startswith("os: marks no function with @voicecli.realtime.tool") and "\n" not in message


def test_an_installed_module_offers_its_marked_functions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "installed_tools.py").write_text(
        "from voicecli.realtime import tool\n\n@tool\ndef chosen() -> str:\n    return 'ok'\n\n"
        "def helper() -> str:\n    return 'not a tool'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert [fn.__name__ for fn in load_tools(["installed_tools"])] == ["chosen"]
    finally:
        sys.modules.pop("installed_tools", None)


def test_the_users_own_file_still_offers_its_public_functions(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text("def get_time() -> str:\n    return 'noon'\n")
    assert [fn.__name__ for fn in load_tools([str(path)])] == ["get_time"]
