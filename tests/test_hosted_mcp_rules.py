"""Hosted MCP's rules on the client, fed events directly (no socket, no server): approval requests
asked and answered once their response is done, a server's tool list typed whatever the event order,
the screen's lines, the replay after a drop, and header secrets kept off screens and logs."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from test_ui_view import Driven, feed, screen

from voicecli.config import ConfigError
from voicecli.conversation.approvals import KeyApprovals
from voicecli.conversation.mcp_config import hosted_mcp_servers
from voicecli.realtime import protocol
from voicecli.realtime.continuity import History
from voicecli.realtime.events import RealtimeMcpApprovalEvent, RealtimeMcpCallEvent, RealtimeMcpToolsEvent
from voicecli.realtime.functions import ToolRegistry
from voicecli.realtime.protocol_session import Action, AskApproval, Deliver, RealtimeProtocolSession, Send
from voicecli.realtime.safe_text import shown

REQUEST = {
    "type": "response.output_item.done",
    "event_id": "event_1",
    "response_id": "resp_1",
    "output_index": 1,
    "item": {
        "id": "mcpr_1",
        "type": "mcp_approval_request",
        "server_label": "docs",
        "name": "search",
        "arguments": '{"q": "voice"}',
    },
}
DONE = {"type": "response.done", "event_id": "event_2", "response": {"id": "resp_1", "status": "completed"}}


def arrive(session: RealtimeProtocolSession, payload: dict[str, Any]) -> list[Action]:
    return session.received(protocol.parse_server_event(payload))


def sent(actions: list[Action]) -> list[dict[str, Any]]:
    return [action.payload for action in actions if isinstance(action, Send)]


@pytest.mark.parametrize("answer_first", [True, False], ids=["answered-before-done", "answered-after-done"])
def test_an_approval_request_is_asked_and_its_answer_sent_with_one_response_create_after_done(
    answer_first: bool,
) -> None:
    session = RealtimeProtocolSession()
    actions = arrive(session, REQUEST)
    (ask,) = [action for action in actions if isinstance(action, AskApproval)]
    assert (ask.request.server_label, ask.request.name, ask.request.approval_request_id) == ("docs", "search", "mcpr_1")
    assert session.tools_running
    if answer_first:
        answered = session.approval_answered(ask.request, True)
        assert [p["type"] for p in sent(answered)] == ["conversation.item.create"], "the response is not done yet"
        later = sent(arrive(session, DONE))
    else:
        assert sent(arrive(session, DONE)) == [], "nothing is asked of the service before the answer"
        answered = session.approval_answered(ask.request, True)
        later = []
    item = sent(answered)[0]["item"]
    assert item["type"] == "mcp_approval_response" and item["approval_request_id"] == "mcpr_1" and item["approve"]
    assert [p["type"] for p in sent(answered) + later].count("response.create") == 1
    delivered = [a.event for a in answered if isinstance(a, Deliver) and isinstance(a.event, RealtimeMcpApprovalEvent)]
    assert [event.approval.approved for event in delivered] == [True], "the answer is on receive() too"
    assert not session.tools_running


def test_a_client_that_runs_no_tools_itself_is_not_asked() -> None:
    actions = arrive(RealtimeProtocolSession(auto_invoke_tools=False), REQUEST)
    assert not [action for action in actions if isinstance(action, AskApproval)]
    assert any(isinstance(a, Deliver) and isinstance(a.event, RealtimeMcpApprovalEvent) for a in actions)


def listing(kind: str, failed: bool) -> dict[str, Any]:
    item = {"id": "mcpl_1", "type": "mcp_list_tools", "server_label": "docs", "tools": []}
    if kind == "conversation.item.done" and not failed:
        item["tools"] = [{"name": "search", "input_schema": {}}, {"name": "fetch", "input_schema": {}}]
    return {"type": kind, "event_id": "e", "item": item, "previous_item_id": None}


@pytest.mark.parametrize(
    "order",
    [
        ["conversation.item.added", "mcp_list_tools.in_progress", "mcp_list_tools.completed", "conversation.item.done"],
        ["conversation.item.added", "mcp_list_tools.in_progress", "conversation.item.done", "mcp_list_tools.completed"],
        ["conversation.item.added", "mcp_list_tools.failed", "conversation.item.done"],
    ],
)
def test_a_servers_tool_list_is_one_typed_event_whatever_the_order(order: list[str]) -> None:
    session = RealtimeProtocolSession()
    typed = []
    failed = "mcp_list_tools.failed" in order
    for kind in order:
        payload = (
            listing(kind, failed)
            if kind.startswith("conversation")
            else {"type": kind, "event_id": "e", "item_id": "mcpl_1"}
        )
        for action in arrive(session, payload):
            if isinstance(action, Deliver) and isinstance(action.event, RealtimeMcpToolsEvent):
                typed.append(action.event.mcp_tools)
    (listed,) = typed
    assert (listed.server_label, listed.failed) == ("docs", failed)
    assert listed.tools == ([] if failed else ["search", "fetch"])


def test_a_hosted_call_shows_on_the_screen_as_a_tool_call_with_its_result() -> None:
    view = Driven()
    call = {
        "id": "mcp_1",
        "type": "mcp_call",
        "server_label": "docs",
        "name": "search",
        "arguments": '{"q":"voice"}',
        "output": "3 pages found",
        "error": None,
    }
    event = protocol.parse_server_event(
        {"type": "response.output_item.done", "event_id": "e", "response_id": "r", "output_index": 0, "item": call}
    )
    assert isinstance(event, RealtimeMcpCallEvent)
    listed = RealtimeMcpToolsEvent(mcp_tools=protocol.ev.McpToolsContent("docs", ["search", "fetch"], "mcpl_1"))
    feed(view, listed, event)
    text = screen(view)
    assert "hosted MCP server 'docs' offers search, fetch" in text
    assert 'docs.search {"q": "voice"}' in text and "3 pages found" in text


async def test_a_hosted_approval_is_answered_with_the_keys_of_the_live_screen() -> None:
    lines: list[str] = []
    approvals = KeyApprovals(lines.append)
    registry = ToolRegistry()
    registry.approver = approvals
    asking = asyncio.create_task(registry.approve("docs.search", {"q": "voice"}))
    while not lines:
        await asyncio.sleep(0)
    assert lines == ['Run docs.search {"q": "voice"}? Press y to run it, n to refuse.']
    assert approvals.on_key("y")
    assert await asking is True


def test_an_approval_answer_is_not_replayed_into_a_new_session() -> None:
    history = History()
    history.on_sent(protocol.user_text_item("search for voice"))
    history.on_sent(protocol.mcp_approval_item("mcpr_1", True))
    kinds = [event["item"]["type"] for event in history.replay()]
    assert "mcp_approval_response" not in kinds, "the request it answers exists only in the old session (_paired)"
    assert kinds[0] == "message"


def test_a_hosted_servers_header_secret_is_read_from_its_variable_and_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCS_MCP_TOKEN", "tok-hosted-0123456789")
    (server,) = hosted_mcp_servers(
        [
            {
                "server_label": "docs",
                "server_url": "https://mcp.example.com/mcp",
                "headers": {"Authorization": "Bearer ${DOCS_MCP_TOKEN}"},
            }
        ]
    )
    tool = server.payload()
    assert tool["headers"] == {"Authorization": "Bearer tok-hosted-0123456789"}, "the service gets the secret"
    assert "tok-hosted" not in shown(str(tool)), "a screen or log line never shows it"
    assert os.environ["DOCS_MCP_TOKEN"] not in shown("server said tok-hosted-0123456789")


@pytest.mark.parametrize(
    ("table", "line"),
    [
        ({"server_url": "https://m.example/mcp"}, "tools.hosted_mcp[0].server_label: expected a name"),
        ({"server_label": "a.b", "server_url": "https://m.example/mcp"}, "server_label: expected a name"),
        ({"server_label": "docs", "server_url": "sk-not-a-url-0123456789"}, "server_url: must be a URL"),
        (
            {"server_label": "docs", "server_url": "https://m.example/mcp", "require_approval": "sometimes"},
            "require_approval: expected",
        ),
        ({"server_label": "docs", "server_url": "https://m.example/mcp", "allowed_tools": "search"}, "allowed_tools"),
        (
            {
                "server_label": "docs",
                "server_url": "https://m.example/mcp",
                "headers": {"Authorization": "Bearer sk-abcdef0123456789"},
            },
            "secrets are not read from files",
        ),
        ({"server_label": "docs", "server_url": "https://m.example/mcp", "url": "x"}, "unknown key 'url'"),
    ],
)
def test_a_bad_hosted_table_is_one_line_that_never_shows_a_secret(table: dict[str, Any], line: str) -> None:
    with pytest.raises(ConfigError) as raised:
        hosted_mcp_servers([table])
    message = str(raised.value)
    assert line in message and "\n" not in message and "sk-" not in shown(message)


def test_two_hosted_servers_with_one_label_are_refused() -> None:
    table = {"server_label": "docs", "server_url": "https://m.example/mcp"}
    with pytest.raises(ConfigError, match="two servers are labelled 'docs'"):
        hosted_mcp_servers([table, table])
