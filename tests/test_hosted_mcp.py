"""Hosted MCP: `[[tools.hosted_mcp]]` servers go to the session as `{"type": "mcp"}` tools, and the local
server calls them itself, as the service would: the tests' MCP server (tests/support/mcp_test_server.py),
the scripted brain choosing the call. Every event both ways is checked against `openai.types.realtime`.

The rules (approval, filters, failures, conformance, a server given for one response) run with the
client bound to the server's session in memory and the MCP server in memory (support/mcp_memory.py);
a real WebSocket session calling a real MCP server on streamable HTTP, a refused connection, and the
phone bridge starting its servers stay tested over loopback and processes."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.mcp_memory import MEMORY_MCP_URL, mcp_in_memory
from support.servers import client_factory
from support.session_transport import RealtimeSessionTransport, replies_in_tones
from test_mcp_tools import SERVER_SCRIPT, serving_http

from voicecli.commands.phone import phone_client_factory, phone_mcp
from voicecli.config.app_config import AppConfig, LocalConfig, ToolsConfig
from voicecli.conversation.exchange import TurnResult, exchange
from voicecli.conversation.mcp_config import HostedMcpServer
from voicecli.conversation.mcp_tools import McpTools
from voicecli.phone.calls import CallRecord
from voicecli.realtime import (
    RealtimeClient,
    RealtimeEvent,
    RealtimeMcpApprovalEvent,
    RealtimeMcpCallEvent,
    RealtimeMcpToolsEvent,
    RealtimeSettings,
    protocol,
)
from voicecli.server import UNPACED, LocalServer
from voicecli.server.brains import EchoBrain, ScriptedBrain
from voicecli.server.session.session import ServerSession
from voicecli.server.validation import validate_client_event, validate_server_event

BRAIN_SCRIPT = """
[[turn]]
when_contains = "weather"
reply = "Let me look."
after_tool = "Weather: {output}"
[[turn.call]]
name = "get_weather"
arguments = { city = "Paris" }

[[turn]]
when_contains = "broken"
reply = "Trying."
after_tool = "Got: {output}"
[[turn.call]]
name = "broken_tool"
arguments = {}
"""
WEATHER = "sunny and 21 degrees in Paris (from MCP)"
Clients = Callable[[], RealtimeClient]


@pytest.fixture
async def brain(tmp_path: Path) -> Any:
    script = tmp_path / "hosted.toml"
    script.write_text(BRAIN_SCRIPT)
    server = LocalServer(brain="scripted", script=script, pacing=UNPACED)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def in_memory(tmp_path: Path) -> Iterator[Clients]:
    """New clients, each bound in memory to a session of the scripted server; hosted MCP servers in
    memory too (replies in tones: no test here listens to them)."""
    script = tmp_path / "hosted.toml"
    script.write_text(BRAIN_SCRIPT)
    brain = ScriptedBrain.from_toml(script)
    with replies_in_tones(), mcp_in_memory():
        yield lambda: RealtimeClient(transport=RealtimeSessionTransport.of(brain))


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """One MCP server for the module: no test here changes its tools."""
    with serving_http() as url:
        yield url


class Run:
    """One conversation's turns, every event received and every client event sent."""

    def __init__(self) -> None:
        self.results: list[TurnResult] = []
        self.events: list[RealtimeEvent] = []
        self.sent: list[dict[str, Any]] = []
        self.asked: list[tuple[str, dict[str, Any]]] = []


async def converse(
    server: LocalServer | Clients,
    hosted: HostedMcpServer,
    *turns: str,
    approve: bool | None = None,
) -> Run:
    """The turns through a new client: of a real `server` over WebSocket, or one that `server` makes."""
    run = Run()
    client = client_factory("openai_ws", server)() if isinstance(server, LocalServer) else server()
    client.observe_sent(run.sent.append)

    async def approver(name: str, arguments: dict[str, Any]) -> bool:
        run.asked.append((name, arguments))
        return bool(approve)

    client.tools.approver = approver if approve is not None else None
    async with (
        McpTools([hosted], client.tools, notice=pytest.fail),
        client(settings=RealtimeSettings(push_to_talk=True)),
    ):
        for text in turns:
            run.results.append(await exchange(client, text=text, timeout_s=30, observer=run.events.append))
    return run


def of_type(run: Run, kind: type[RealtimeEvent]) -> list[Any]:
    return [event for event in run.events if isinstance(event, kind)]


def received(run: Run) -> list[dict[str, Any]]:
    """The service events as they came (audio deltas aside: their audio left the payload when decoded)."""
    return [
        event.service_event
        for event in run.events
        if event.service_event and event.service_type != "response.output_audio.delta"
    ]


async def test_a_hosted_servers_tools_are_listed_and_a_call_is_made_and_answered_in_the_response(
    brain: LocalServer, http_server: str
) -> None:
    hosted = HostedMcpServer("weather", http_server, require_approval="never")
    run = await converse(brain, hosted, "What is the weather like?")
    (update,) = [payload for payload in run.sent if payload["type"] == "session.update"]
    assert update["session"]["tools"] == [
        {"type": "mcp", "server_label": "weather", "server_url": http_server, "require_approval": "never"}
    ]
    (listed,) = of_type(run, RealtimeMcpToolsEvent)
    assert listed.mcp_tools.server_label == "weather" and not listed.mcp_tools.failed
    assert {"get_weather", "broken_tool", "learn_forecast"} <= set(listed.mcp_tools.tools)
    (call,) = of_type(run, RealtimeMcpCallEvent)
    assert (call.mcp_call.name, call.mcp_call.output, call.mcp_call.error) == ("get_weather", WEATHER, None)
    assert call.mcp_call.arguments == '{"city":"Paris"}' and call.mcp_call.approval_request_id is None
    (result,) = run.results
    assert not result.failed and result.assistant_text.endswith(f"Weather: {WEATHER}")
    assert not of_type(run, RealtimeMcpApprovalEvent) and not run.asked
    assert [p["type"] for p in run.sent].count("response.create") == 1, "the call is answered within the response"


async def test_an_approval_is_asked_and_a_yes_runs_the_call(in_memory: Clients) -> None:
    run = await converse(
        in_memory, HostedMcpServer("weather", MEMORY_MCP_URL), "What is the weather like?", approve=True
    )
    assert run.asked == [("weather.get_weather", {"city": "Paris"})]
    asked, answered = of_type(run, RealtimeMcpApprovalEvent)
    assert asked.approval.approved is None and answered.approval.approved is True
    (answer,) = [p for p in run.sent if p.get("item", {}).get("type") == "mcp_approval_response"]
    request_id = asked.approval.approval_request_id
    assert answer["item"] == {
        "id": answer["item"]["id"],
        "type": "mcp_approval_response",
        "approval_request_id": request_id,
        "approve": True,
    }
    (call,) = of_type(run, RealtimeMcpCallEvent)
    assert call.mcp_call.output == WEATHER and call.mcp_call.approval_request_id == request_id
    assert run.results[0].assistant_text.endswith(f"Weather: {WEATHER}")


async def test_an_approval_answered_no_runs_nothing_and_the_model_is_told(in_memory: Clients) -> None:
    hosted = HostedMcpServer("weather", MEMORY_MCP_URL)
    run = await converse(in_memory, hosted, "What is the weather like?", approve=False)
    assert len(run.asked) == 1
    (answer,) = [p for p in run.sent if p.get("item", {}).get("type") == "mcp_approval_response"]
    assert answer["item"]["approve"] is False
    assert not of_type(run, RealtimeMcpCallEvent), "a refused call is never made"
    assert run.results[0].assistant_text.endswith("Weather: The user did not approve this call, so it did not run.")


async def test_with_nobody_to_ask_a_call_that_needs_approval_is_refused(in_memory: Clients) -> None:
    run = await converse(in_memory, HostedMcpServer("weather", MEMORY_MCP_URL), "What is the weather like?")
    assert not of_type(run, RealtimeMcpCallEvent)
    assert "did not approve" in run.results[0].assistant_text


async def test_allowed_tools_and_approval_filters_decide_what_is_offered_and_asked(in_memory: Clients) -> None:
    only_broken = HostedMcpServer("weather", MEMORY_MCP_URL, allowed_tools=("broken_tool",), require_approval="never")
    run = await converse(in_memory, only_broken, "What is the weather like?")
    assert not of_type(run, RealtimeMcpCallEvent), "a tool outside allowed_tools is not offered"
    filtered = HostedMcpServer("weather", MEMORY_MCP_URL, require_approval={"never": {"tool_names": ["get_weather"]}})
    run = await converse(in_memory, filtered, "What is the weather like?", approve=False)
    assert not run.asked and of_type(run, RealtimeMcpCallEvent)[0].mcp_call.output == WEATHER


async def test_every_mcp_event_conforms_to_the_openai_types_failures_included(in_memory: Clients) -> None:
    run = await converse(
        in_memory, HostedMcpServer("weather", MEMORY_MCP_URL), "What is the weather like?", "It is broken", approve=True
    )
    (_, broken) = of_type(run, RealtimeMcpCallEvent)
    assert broken.mcp_call.output is None and broken.mcp_call.error == "Error executing tool broken_tool"
    assert run.results[1].assistant_text.endswith("Got: Error: Error executing tool broken_tool")
    gone = HostedMcpServer("gone", "http://127.0.0.1:1/mcp", require_approval="never")  # refused (in memory)
    unreachable = await converse(in_memory, gone, "hello weather")
    (listed,) = of_type(unreachable, RealtimeMcpToolsEvent)
    assert listed.mcp_tools.failed and listed.mcp_tools.server_label == "gone"
    assert not unreachable.results[0].failed, "the conversation goes on without the server's tools"
    events = received(run) + received(unreachable)
    for event in events:
        validate_server_event(event)
    for payload in run.sent:
        validate_client_event(payload)
    kinds = {event["type"] for event in events}
    assert {
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "mcp_list_tools.failed",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
    } <= kinds
    items = {(event["item"]["type"]) for event in events if event["type"] == "response.output_item.done"}
    assert {"mcp_call", "mcp_approval_request"} <= items


async def test_a_hosted_server_that_refuses_the_connection_fails_its_listing_and_the_conversation_goes_on(
    brain: LocalServer,
) -> None:
    """Over a real WebSocket, to a loopback port nobody listens on: the SDK's real connection failure."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/mcp"
    unreachable = await converse(brain, HostedMcpServer("gone", dead, require_approval="never"), "hello weather")
    (listed,) = of_type(unreachable, RealtimeMcpToolsEvent)
    assert listed.mcp_tools.failed and listed.mcp_tools.server_label == "gone"
    assert not unreachable.results[0].failed, "the conversation goes on without the server's tools"
    for event in received(unreachable):
        validate_server_event(event)


@pytest.mark.parametrize(
    ("tool", "refusal"),
    [
        ({"server_url": "http://example.com/mcp"}, "only MCP servers on this machine"),
        ({"server_url": "http://10.0.0.7:8000/mcp"}, "only MCP servers on this machine"),
        ({"server_url": "file:///etc/passwd"}, "only MCP servers on this machine"),
        ({"connector_id": "connector_gmail"}, "by server_url only"),
    ],
)
async def test_the_local_server_calls_no_mcp_server_beyond_this_machine(tool: dict[str, Any], refusal: str) -> None:
    sent: list[dict[str, Any]] = []

    async def send(event: dict[str, Any]) -> None:
        sent.append(event)

    session = ServerSession(send, brain=EchoBrain())
    tools = [{"type": "mcp", "server_label": "far", **tool}]
    await session.handle({"type": "session.update", "session": {"type": "realtime", "tools": tools}})
    (error,) = sent
    assert error["type"] == "error" and refusal in error["error"]["message"]
    assert error["error"]["param"] == "session.tools[0].server_url"
    assert session.config["tools"] == [], "the update is refused whole"


async def test_a_hosted_server_given_for_one_response_is_listed_and_called_then(in_memory: Clients) -> None:
    client = in_memory()
    tool = {"type": "mcp", "server_label": "once", "server_url": MEMORY_MCP_URL, "require_approval": "never"}
    seen: list[RealtimeEvent] = []
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        await client.send(protocol.user_text_item("What is the weather like?"))
        await client.send({"type": "response.create", "response": {"tools": [tool]}})
        async for event in client.receive():
            seen.append(event)
            if event.service_type == "response.done":
                break
    (listed,) = [e.mcp_tools for e in seen if isinstance(e, RealtimeMcpToolsEvent)]
    (call,) = [e.mcp_call for e in seen if isinstance(e, RealtimeMcpCallEvent)]
    assert listed.server_label == "once" and (call.server_label, call.output) == ("once", WEATHER)


async def test_the_phone_bridge_starts_the_configured_mcp_servers_and_each_call_uses_them(
    tmp_path: Path, http_server: str
) -> None:
    script = tmp_path / "phone.toml"
    script.write_text(BRAIN_SCRIPT)
    brain = LocalConfig(brain="scripted", script=str(script), speed="max", first_audio_ms=0)
    local = ToolsConfig(mcp=[{"name": "local", "command": sys.executable, "args": [SERVER_SCRIPT]}])
    hosted = ToolsConfig(hosted_mcp=[{"server_label": "hosted", "server_url": http_server}], approve="all")
    events: list[RealtimeEvent] = []
    results = []
    for tools, text in ((local, "What is the weather?"), (hosted, "It is broken")):
        config = AppConfig(provider="local", local=brain, tools=tools)
        async with phone_mcp(config) as catalog:
            make_client = phone_client_factory(config, catalog)
            for number in range(2):  # two calls, one set of servers
                client = make_client(CallRecord(f"call-{number}"), [])
                async with client(settings=RealtimeSettings(push_to_talk=True)):
                    results.append(await exchange(client, text=text, timeout_s=30, observer=events.append))
    assert [r.result for result in results[:2] for r in result.tool_results] == [WEATHER] * 2, "local MCP server"
    hosted_calls = [(e.mcp_call.server_label, e.mcp_call.name) for e in events if isinstance(e, RealtimeMcpCallEvent)]
    assert hosted_calls == [("hosted", "broken_tool")] * 2, "approved by [tools] approve: nobody to ask on a phone"
    assert results[3].assistant_text.endswith("Got: Error: Error executing tool broken_tool")
