"""MCP servers as tools: a small server of the tests' own (tests/support/mcp_test_server.py), on stdio and
on streamable HTTP at 127.0.0.1, against the local realtime server's scripted brain; an HTTP server's
list change runs with both in memory."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.mcp_memory import MEMORY_MCP_URL, mcp_in_memory
from support.servers import client_factory
from support.session_transport import RealtimeSessionTransport, replies_in_tones

from voicecli.conversation.exchange import exchange
from voicecli.conversation.mcp_config import McpServer, mcp_servers
from voicecli.conversation.mcp_tools import McpTools, refresh_session
from voicecli.realtime import RealtimeClient, RealtimeSettings
from voicecli.realtime.safe_text import shown
from voicecli.server import UNPACED, LocalServer
from voicecli.server.brains import ScriptedBrain

SERVER_SCRIPT = str(Path(__file__).parent / "support" / "mcp_test_server.py")
BRAIN_SCRIPT = """
[[turn]]
when_contains = "weather"
reply = "Let me look."
after_tool = "Weather: {output}"
[[turn.call]]
name = "get_weather"
arguments = { city = "Paris" }

[[turn]]
when_contains = "learn"
reply = "Learning."
after_tool = "Learned: {output}"
[[turn.call]]
name = "learn_forecast"
arguments = {}

[[turn]]
when_contains = "hello"
reply = "Hello there."
"""


@pytest.fixture
async def brain(tmp_path: Path) -> AsyncIterator[LocalServer]:
    script = tmp_path / "mcp.toml"
    script.write_text(BRAIN_SCRIPT)
    server = LocalServer(brain="scripted", script=script, pacing=UNPACED)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def http_server() -> Iterator[str]:
    """The test MCP server on streamable HTTP at a free loopback port; its /mcp URL."""
    with serving_http() as url:
        yield url


@contextlib.contextmanager
def serving_http() -> Iterator[str]:
    """Run the test MCP server on streamable HTTP at a free loopback port; its /mcp URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, SERVER_SCRIPT, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, "the MCP test server exited"
            subprocess.run(["sleep", "0.05"], check=True)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def stdio_server(mode: str = "ok", timeout_s: float = 20.0) -> McpServer:
    return McpServer("test", command=sys.executable, args=(SERVER_SCRIPT, "--mode", mode), timeout_s=timeout_s)


def offered(sent: list[dict[str, Any]]) -> list[dict[str, list[dict[str, Any]]]]:
    """The tools of every session.update the client sent, by name."""
    return [
        {tool["name"]: tool for tool in payload["session"].get("tools", [])}
        for payload in sent
        if payload["type"] == "session.update"
    ]


async def converse(brain: LocalServer, server: McpServer, *turns: str) -> tuple[list[Any], list[str], list[dict]]:
    """Each turn's result, the notice lines, and what the client sent."""
    client = client_factory("openai_ws", brain)()
    sent: list[dict[str, Any]] = []
    client.observe_sent(sent.append)
    lines: list[str] = []
    results = []
    mcp = McpTools([server], client.tools, notice=lines.append)
    mcp.on_change = functools.partial(refresh_session, client)
    async with mcp, client(settings=RealtimeSettings(push_to_talk=True)):
        for text in turns:
            results.append(await exchange(client, text=text, timeout_s=30))
    return results, lines, sent


async def test_a_stdio_servers_tools_reach_the_session_with_their_schemas_and_a_turn_calls_one(
    brain: LocalServer,
) -> None:
    (result,), lines, sent = await converse(brain, stdio_server(), "What is the weather like?")
    assert lines == [
        "MCP server 'test': tool 'odd.name' is not offered: a tool's name may have only letters, digits, _ and - "
        "(at most 64)"
    ]
    assert "odd.name" not in offered(sent)[0]
    weather = offered(sent)[0]["get_weather"]
    assert weather["type"] == "function" and weather["description"] == "Get the current weather for a city."
    assert weather["parameters"]["properties"]["city"]["type"] == "string"
    assert weather["parameters"]["required"] == ["city"]
    assert result.failed is None, result.failed
    assert [r.result for r in result.tool_results] == ["sunny and 21 degrees in Paris (from MCP)"]
    assert "Weather: sunny and 21 degrees in Paris (from MCP)" in result.assistant_text


async def test_an_http_servers_tools_reach_the_session_and_a_turn_calls_one(
    brain: LocalServer, http_server: str
) -> None:
    """Over real streamable HTTP to the server's process (the list-change rule runs in memory, below)."""
    server = McpServer("web", url=http_server)
    client = client_factory("openai_ws", brain)()
    sent: list[dict[str, Any]] = []
    client.observe_sent(sent.append)
    mcp = McpTools([server], client.tools, notice=lambda _line: None)
    async with mcp, client(settings=RealtimeSettings(push_to_talk=True)):
        assert "learn_forecast" in offered(sent)[0]
        result = await exchange(client, text="What is the weather like?", timeout_s=30)
    assert result.failed is None, result.failed
    assert [r.result for r in result.tool_results] == ["sunny and 21 degrees in Paris (from MCP)"]


async def test_an_http_servers_list_change_updates_the_session(tmp_path: Path) -> None:
    """The client bound to the server's session in memory, the MCP server in memory (support/mcp_memory.py)."""
    script = tmp_path / "mcp.toml"
    script.write_text(BRAIN_SCRIPT)
    with replies_in_tones(), mcp_in_memory():
        server = McpServer("web", url=MEMORY_MCP_URL)
        client = RealtimeClient(transport=RealtimeSessionTransport.of(ScriptedBrain.from_toml(script)))
        sent: list[dict[str, Any]] = []
        client.observe_sent(sent.append)
        lines: list[str] = []
        mcp = McpTools([server], client.tools, notice=lines.append)
        changed = asyncio.Event()

        async def on_change() -> None:
            await refresh_session(client)
            changed.set()

        mcp.on_change = on_change
        async with mcp, client(settings=RealtimeSettings(push_to_talk=True)):
            assert "get_forecast" not in offered(sent)[0] and "learn_forecast" in offered(sent)[0]
            result = await exchange(client, text="learn something", timeout_s=30)
            async with asyncio.timeout(20):
                await changed.wait()
    assert result.failed is None and "Learned: get_forecast is offered now" in result.assistant_text
    forecast = offered(sent)[-1]["get_forecast"]
    assert forecast["parameters"]["required"] == ["city", "days"]
    assert forecast["parameters"]["properties"]["days"]["type"] == "integer"
    assert len(lines) == 1 and "odd.name" in lines[0], "said once, not again when the list changed"


@pytest.mark.parametrize("mode", ["crash", "hang", "missing"])
async def test_a_crashing_hanging_or_missing_server_gives_one_line_and_the_session_goes_on(
    brain: LocalServer, mode: str
) -> None:
    server = stdio_server(mode, timeout_s=2.0)
    if mode == "missing":
        server = McpServer("test", command="voicecli-no-such-mcp-server", timeout_s=2.0)
    (weather, hello), lines, sent = await converse(brain, server, "What is the weather like?", "hello")
    lines = [line for line in lines if "odd.name" not in line]
    assert len(lines) == 1 and lines[0].startswith("MCP server 'test': "), lines
    assert "its tools are withdrawn" in lines[0] and "Traceback" not in lines[0]
    if mode == "missing":
        assert "no such command" in lines[0]
        assert all("get_weather" not in tools for tools in offered(sent))
    else:
        assert "get_weather" in offered(sent)[0], "offered while the server lived"
        assert weather.tool_results[0].is_error
        assert "get_weather" not in offered(sent)[-1], "withdrawn from the session"
    assert hello.failed is None and "Hello there." in hello.assistant_text


def test_header_and_env_secrets_come_from_variables_and_are_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_TEST_TOKEN", "tok-0123456789abcdef")
    (server,) = mcp_servers(
        [],
        [{"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer ${MCP_TEST_TOKEN}"}}],
    )
    assert server.headers == {"Authorization": "Bearer ${MCP_TEST_TOKEN}"}, "the configuration keeps the reference"
    assert server.resolved_headers() == {"Authorization": "Bearer tok-0123456789abcdef"}
    assert "tok-0123456789abcdef" not in shown("the server said: Bearer tok-0123456789abcdef")
    (named,) = mcp_servers(["npx -y @modelcontextprotocol/server-filesystem /tmp"], [])
    assert (named.label, named.command, named.args) == (
        "server-filesystem",
        "npx",
        ("-y", "@modelcontextprotocol/server-filesystem", "/tmp"),
    )
