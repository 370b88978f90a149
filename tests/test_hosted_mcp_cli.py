"""Hosted MCP and approvals from the command line: `[[tools.hosted_mcp]]` in `talk`'s file mode with
`--approve`, and `demo --approve`, which beats the script's own `[tools] approve`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import invoke
from test_cli_talk_files import assert_one_line_error, voicecli
from test_mcp_cli import TURN, WEATHER
from test_mcp_tools import serving_http

pytestmark = pytest.mark.timeout(90)
SUNNY = "sunny and 21 degrees in Paris (from MCP)"
UNPACED = '[local]\nspeed = "max"\n'  # these configs replace the unpaced test home: what runs is checked, not timing


# First in the module: it ends before the module's MCP server starts, whose start and stop count
# against the tests that use it (the I/O census).
def test_demo_approve_takes_only_all_or_none(tmp_path: Path) -> None:
    script = tmp_path / "s.toml"
    script.write_text('title = "x"\n[[turn]]\ntext = "hello"\n')
    result = invoke("demo", str(script), "--approve", "ask", cwd=tmp_path)  # refused before any connection
    assert_one_line_error(result, 2, "--approve: 'ask' is not one of all, none")


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    with serving_http() as url:
        yield url


@pytest.mark.parametrize("approve", ["all", "none"])
def test_talk_offers_a_hosted_server_and_approve_answers_its_approval_request(
    tmp_path: Path, http_server: str, approve: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'{UNPACED}[[tools.hosted_mcp]]\nserver_label = "weather"\nserver_url = "{http_server}"\n')
    result = voicecli(*TURN, "--config", str(config), "--approve", approve, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "~ hosted MCP server 'weather' offers" in out and "get_weather" in out
    assert '? approval asked: weather.get_weather({"city":"Paris"})' in out
    if approve == "all":
        assert "? weather.get_weather: approved" in out
        assert '-> tool weather.get_weather({"city":"Paris"}) [hosted MCP]' in out and SUNNY in out
    else:
        assert "? weather.get_weather: refused" in out and "[hosted MCP]" not in out and SUNNY not in out


def test_a_hosted_server_beyond_this_machine_is_refused_by_the_local_server_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'{UNPACED}[[tools.hosted_mcp]]\nserver_label = "far"\nserver_url = "https://mcp.example.com/mcp"\n'
    )
    result = voicecli(*TURN, "--config", str(config), cwd=tmp_path)
    assert "only MCP servers on this machine" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_demo_approve_beats_the_scripts_own_setting(tmp_path: Path) -> None:
    server = Path(__file__).parent / "support" / "mcp_test_server.py"
    script = tmp_path / "mcp.toml"
    script.write_text(
        f'title = "MCP"\n[local]\nbrain = "scripted"\nscript = {WEATHER!r}\nspeed = "max"\n'
        '[tools]\nconfirm = ["get_weather"]\napprove = "none"\n'
        f"[[tools.mcp]]\ncommand = {sys.executable!r}\nargs = [{str(server)!r}]\n"
        '[[turn]]\ntext = "What is the weather like?"\n'
    )
    result = voicecli("demo", str(script), "-o", str(tmp_path / "out"), "--approve", "all", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["turns"][0]["tool_results"][0]["result"] == SUNNY
