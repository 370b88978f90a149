"""Approvals: a tool marked `confirm` runs only when the user says yes; a refusal is the tool's result."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from support.session_transport import in_tones, weather_client  # noqa: F401  (in_tones: a fixture)
from test_cli_talk_files import voicecli

from voicecli.config import AppConfig
from voicecli.conversation.approvals import KeyApprovals, approval_notice, set_up_approvals
from voicecli.conversation.exchange import exchange
from voicecli.conversation.state import ConversationState
from voicecli.realtime import RealtimeSettings, ToolRegistry, tool
from voicecli.ui.view import ConversationView, SessionInfo

REFUSED = "The user did not approve running get_weather, so it did not run."
WEATHER = str(Path(__file__).resolve().parents[1] / "voicecli" / "server" / "scripts" / "weather.toml")
TURN = ["talk", "--text", "What is the weather like?", "--brain", "scripted", "--script", WEATHER]


@pytest.mark.usefixtures("in_tones")
@pytest.mark.parametrize("answer", [True, False])
async def test_a_marked_tool_runs_only_when_approved_and_a_refusal_reaches_the_model(answer: bool) -> None:
    """Against a server session in memory; `--approve` in file mode proves the same over the CLI's server."""
    calls: list[str] = []
    asked: list[tuple[str, dict[str, Any]]] = []

    @tool(confirm=True)
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        calls.append(city)
        return f"sunny in {city}"

    async def approver(name: str, arguments: dict[str, Any]) -> bool:
        asked.append((name, arguments))
        return answer

    client = weather_client(tools=[get_weather])
    client.tools.approver = approver
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        result = await exchange(client, text="What is the weather like?", timeout_s=20)
    assert asked == [("get_weather", {"city": "Paris"})]
    assert result.failed is None, result.failed
    if answer:
        assert calls == ["Paris"] and "sunny in Paris" in result.assistant_text
    else:
        assert calls == [] and [r.result for r in result.tool_results] == [REFUSED]
        assert REFUSED in result.assistant_text


async def test_the_screen_asks_and_the_keys_answer() -> None:
    lines: list[str] = []
    approvals = KeyApprovals(lines.append)
    assert not approvals.on_key("y"), "no question open: the key is not taken"
    question = asyncio.create_task(approvals("write_file", {"path": "notes.txt"}))
    while not lines:
        await asyncio.sleep(0.01)
    assert lines == ['Run write_file {"path": "notes.txt"}? Press y to run it, n to refuse.']
    passed: list[str] = []
    keys = approvals.before(passed.append)
    keys("m")
    keys("y")
    assert await question
    assert passed == ["m"], "other keys keep their meaning; the answer is taken"
    question = asyncio.create_task(approvals("write_file", {"path": "x"}))
    while len(lines) < 3:
        await asyncio.sleep(0.01)
    assert approvals.on_key("n") and not await question
    assert lines[1] == "write_file: approved" and lines[-1] == "write_file: refused"


async def test_an_unanswered_question_is_a_refusal() -> None:
    approvals = KeyApprovals(lambda line: None, wait_s=0.05)
    assert not await approvals("write_file", {})


async def test_configured_names_need_approval_and_nobody_to_ask_means_refused() -> None:
    registry = ToolRegistry()
    config = AppConfig()
    config.tools.confirm = ["get_weather"]
    set_up_approvals(registry, config)
    assert registry.confirm_names == {"get_weather"} and registry.approver is None

    def get_weather(city: str) -> str:
        raise AssertionError("ran unasked")

    registry.add(get_weather)
    refused = await registry.invoke("get_weather", '{"city": "Paris"}', "call-1")
    assert refused.result == REFUSED and not refused.is_error


@pytest.mark.parametrize(("approve", "expected"), [("all", "sunny in Paris"), ("none", REFUSED), (None, REFUSED)])
def test_in_file_mode_the_approve_flag_decides(tmp_path: Path, approve: str | None, expected: str) -> None:
    tools = tmp_path / "weather_tools.py"
    tools.write_text(
        "from voicecli.realtime import tool\n\n@tool(confirm=True)\n"
        'def get_weather(city: str) -> str:\n    """Weather."""\n    return f"sunny in {city}"\n'
    )
    flags = ["--approve", approve] if approve else []
    result = voicecli(*TURN, "--tools", str(tools), *flags, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_an_mcp_server_marked_confirm_needs_approval(tmp_path: Path) -> None:
    server = Path(__file__).parent / "support" / "mcp_test_server.py"
    config = tmp_path / "config.toml"
    mcp = f"[[tools.mcp]]\ncommand = {sys.executable!r}\nargs = [{str(server)!r}]\nconfirm = true\n"
    config.write_text(f'[local]\nspeed = "max"  # what is checked is who runs, not timing\n{mcp}')
    refused = voicecli(*TURN, "--config", str(config), cwd=tmp_path)
    assert refused.returncode == 0, refused.stderr
    assert REFUSED in refused.stdout and "(from MCP)" not in refused.stdout
    approved = voicecli(*TURN, "--config", str(config), "--approve", "all", cwd=tmp_path)
    assert "sunny and 21 degrees in Paris (from MCP)" in approved.stdout


def test_the_question_shows_on_the_live_screen_as_a_question_not_an_error() -> None:
    conversation = ConversationState()
    view = ConversationView(SessionInfo(provider="local", transport="websocket", model="m", voice="v"), conversation)
    conversation.handle(approval_notice("Run write_file {}? Press y to run it, n to refuse."))
    console = Console(record=True, width=100, color_system=None)
    console.print(view.render_transcript())
    text = console.export_text()
    assert "approve Run write_file {}? Press y to run it, n to refuse." in " ".join(text.split())
    assert "error" not in text
