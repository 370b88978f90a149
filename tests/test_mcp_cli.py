"""`voicecli talk --mcp …` and `[[tools.mcp]]` from the command line: the tools work, and every
problem is one line (a bad configuration exits 2; a server that fails does not end the turn)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support.cli import invoke
from test_cli_talk_files import assert_one_line_error, voicecli

pytestmark = pytest.mark.timeout(60)

SERVER = f"{sys.executable} {Path(__file__).parent / 'support' / 'mcp_test_server.py'}"
WEATHER = str(Path(__file__).resolve().parents[1] / "voicecli" / "server" / "scripts" / "weather.toml")
TURN = ["talk", "--text", "What is the weather like?", "--brain", "scripted", "--script", WEATHER]


def test_a_stdio_server_named_by_mcp_answers_the_models_call(tmp_path: Path) -> None:
    result = voicecli(*TURN, "--mcp", SERVER, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sunny and 21 degrees in Paris (from MCP)" in result.stdout
    assert "get_weather" in result.stdout, "the call shows in the transcript"


def test_a_missing_server_is_one_line_and_the_turn_goes_on(tmp_path: Path) -> None:
    result = voicecli(*TURN, "--mcp", "voicecli-no-such-mcp-server --flag", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "MCP server" in line]
    assert lines == [
        "MCP server 'voicecli-no-such-mcp-server': cannot start 'voicecli-no-such-mcp-server': no such command; "
        "its tools are withdrawn"
    ], result.stderr
    assert "Traceback" not in result.stderr and "Assistant:" in result.stdout


def test_the_same_tool_name_from_two_places_is_one_line_naming_both(tmp_path: Path) -> None:
    tools = tmp_path / "weather_tools.py"
    tools.write_text('def get_weather(city: str) -> str:\n    """Weather."""\n    return f"rainy in {city}"\n')
    result = voicecli(*TURN, "--tools", str(tools), "--mcp", SERVER, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "get_weather" in line]
    assert len(lines) == 1 and str(tools) in lines[0] and "MCP server 'mcp_test_server'" in lines[0], result.stderr
    assert "rainy in Paris" in result.stdout, "the first one offered is kept"


def test_a_secret_written_into_a_header_is_refused_without_showing_it(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    header = 'headers = { Authorization = "Bearer sk-live-0123456789abcdef" }'
    config.write_text(f'[[tools.mcp]]\nurl = "http://127.0.0.1:9/mcp"\n{header}\n')
    result = invoke(*TURN, "--config", str(config), cwd=tmp_path)  # refused before any connection
    assert_one_line_error(result, 2, "tools.mcp[0].headers.Authorization: secrets are not read from files")
    assert "sk-live" not in result.stderr + result.stdout


def test_a_header_naming_an_unset_variable_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[[tools.mcp]]\nurl = "http://127.0.0.1:9/mcp"\nheaders = { Authorization = "Bearer ${MCP_T}" }\n'
    )
    result = invoke(*TURN, "--config", str(config), cwd=tmp_path, env={"MCP_T": ""})  # before any connection
    assert_one_line_error(result, 2, "the environment variable MCP_T is not set")


@pytest.mark.parametrize(
    ("approve", "expected"), [("all", "sunny and 21 degrees in Paris (from MCP)"), ("none", "not")]
)
def test_a_demo_script_uses_its_mcp_servers_and_its_approve_setting(
    tmp_path: Path, approve: str, expected: str
) -> None:
    server = Path(__file__).parent / "support" / "mcp_test_server.py"
    script = tmp_path / "mcp.toml"
    script.write_text(
        f'title = "MCP"\n[local]\nbrain = "scripted"\nscript = {WEATHER!r}\nspeed = "max"\n'
        f'[tools]\nconfirm = ["get_weather"]\napprove = "{approve}"\n'
        f"[[tools.mcp]]\ncommand = {sys.executable!r}\nargs = [{str(server)!r}]\n"
        '[[turn]]\ntext = "What is the weather like?"\n'
    )
    result = voicecli("demo", str(script), "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    outcome = report["turns"][0]["tool_results"][0]["result"]
    assert expected in outcome and (approve == "all" or outcome.startswith("The user did not approve"))
