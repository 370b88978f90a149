"""Hosted MCP on the local server: a session's `{"type": "mcp"}` tools, called by the server itself.

The service connects to the MCP server a session names, lists its tools into the conversation
(`mcp_list_tools`) and calls them within a response (`mcp_call`), first asking the client when the
tool requires approval (`mcp_approval_request`, answered by an `mcp_approval_response` item). The
local server does the same through the official `mcp` SDK (the `mcp` extra), but only with servers
on this machine: a `server_url` naming another host is refused in `session.update`, so whoever can
talk to the local server cannot make it reach, or probe, other hosts (the SDK follows redirects only
within the same origin). Each listing and each call opens its own connection: nothing stays open
between turns, and a server that went away costs one failed call, not the session.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from voicecli.server.events import Send
from voicecli.server.ids import new_id
from voicecli.server.session.conversation import ConversationItems, Item
from voicecli.server.validation import ProtocolViolation

__all__ = [
    "HostedMcp",
    "Opened",
    "answered_approval",
    "approval_request",
    "check_hosted_tools",
    "hosted_tools",
    "needs_approval",
]

_log = logging.getLogger(__name__)
LIST_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 20.0
_ARGUMENT_DELTA_CHARS = 8
Opened = Callable[[dict[str, Any]], Awaitable[tuple[Item, dict[str, Any], Callable[[], Awaitable[None]]]]]
"""Adds an output item to the response: returns it, the fields that place its events, and its closing."""


def check_hosted_tools(tools: Sequence[Mapping[str, Any]] | None, where: str = "session.tools") -> None:
    """`ProtocolViolation` for an MCP tool the local server will not call: not by `server_url`, or
    not on this machine, or a label given twice."""
    labels: set[str] = set()
    for index, tool in enumerate(tools or ()):
        if tool.get("type") != "mcp":
            continue
        param = f"{where}[{index}]"
        if tool.get("connector_id") or tool.get("tunnel_id") or not tool.get("server_url"):
            raise ProtocolViolation(
                "The local server calls MCP servers by server_url only; connectors and tunnels need the real service.",
                param=f"{param}.server_url",
            )
        parts = urlsplit(str(tool["server_url"]))
        if parts.scheme not in ("http", "https") or not _on_this_machine(parts.hostname):
            raise ProtocolViolation(
                "The local server calls only MCP servers on this machine (127.0.0.1, ::1 or localhost), so that it "
                "cannot be used to reach other hosts; use the real service for this server_url.",
                param=f"{param}.server_url",
            )
        if tool["server_label"] in labels:
            raise ProtocolViolation(
                f"Duplicate MCP server_label {tool['server_label']!r}.", param=f"{param}.server_label"
            )
        labels.add(tool["server_label"])


def _on_this_machine(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:  # a name: it could resolve anywhere
        return False


def hosted_tools(items: Sequence[Item], config: Mapping[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The hosted tools a response may call, by name: (the session's `mcp` tool, the tool as listed).

    A tool is offered once its server's `mcp_list_tools` item is in the conversation, and only when
    the session's `allowed_tools` lets it through."""
    servers = {tool["server_label"]: tool for tool in config.get("tools") or () if tool.get("type") == "mcp"}
    offered: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for item in items:
        data = item.data
        server = servers.get(data.get("server_label", "")) if data.get("type") == "mcp_list_tools" else None
        if server is None:
            continue
        for listed in data.get("tools") or ():
            if _matches(server.get("allowed_tools"), listed, default=True):
                offered[listed["name"]] = (server, listed)
    return offered


def needs_approval(server: Mapping[str, Any], listed: Mapping[str, Any]) -> bool:
    """`require_approval`: "always" (the service's default), "never", or filters naming the tools of each."""
    rule = server.get("require_approval") or "always"
    if isinstance(rule, str):
        return rule != "never"
    return not _matches(rule.get("never"), listed, default=False)


def _matches(rule: Any, listed: Mapping[str, Any], *, default: bool) -> bool:
    """Whether a tool passes a list of names or a `{tool_names, read_only}` filter (None: `default`)."""
    if rule is None:
        return default
    if isinstance(rule, list):
        return listed["name"] in rule
    names, read_only = rule.get("tool_names"), rule.get("read_only")
    if names is not None and listed["name"] not in names:
        return False
    hint = bool((listed.get("annotations") or {}).get("readOnlyHint"))
    return read_only is None or hint == read_only


class HostedMcp:
    """The hosted MCP servers of one session: their tool lists, and the calls responses make."""

    def __init__(self, emit: Send, conversation: ConversationItems) -> None:
        self._emit = emit
        self._conversation = conversation
        self._listed: dict[str, tuple[str, ...]] = {}  # label → what it was listed with (url and headers)

    async def list_new(self, tools: Sequence[Mapping[str, Any]]) -> None:
        """List the tools of each MCP server the session names that was not listed with these settings."""
        for tool in tools:
            if tool.get("type") != "mcp":
                continue
            key = (str(tool["server_url"]), *sorted(f"{k}:{v}" for k, v in (tool.get("headers") or {}).items()))
            if self._listed.get(tool["server_label"]) != key:
                self._listed[tool["server_label"]] = key
                await self._list(tool)

    async def _list(self, server: Mapping[str, Any]) -> None:
        label = server["server_label"]
        item = Item({"id": new_id("mcpl"), "type": "mcp_list_tools", "server_label": label, "tools": []})
        previous = self._conversation.insert(item)
        await self._emit({"type": "conversation.item.added", "item": item.wire(), "previous_item_id": previous})
        await self._emit({"type": "mcp_list_tools.in_progress", "item_id": item.id})
        try:
            item.data["tools"] = await _with_server(server, LIST_TIMEOUT_S, _all_tools)
        except _McpFailure as exc:
            _log.info("MCP server %r: listing its tools failed: %s", server["server_label"], exc)
            await self._emit({"type": "mcp_list_tools.failed", "item_id": item.id})
        else:
            await self._emit({"type": "mcp_list_tools.completed", "item_id": item.id})
        await self._emit({"type": "conversation.item.done", "item": item.wire(), "previous_item_id": previous})

    async def call(
        self,
        opened: Opened,
        server: Mapping[str, Any],
        name: str,
        arguments: str,
        approval_request_id: str | None = None,
    ) -> None:
        """One `mcp_call` output item: its arguments streamed, the server called, its output or error.

        `opened` adds the item to the response and returns it, the fields that place its events
        (`response_id`, `item_id`, `output_index`) and what closes it."""
        data: dict[str, Any] = {
            "id": new_id("mcp"),
            "type": "mcp_call",
            "server_label": server["server_label"],
            "name": name,
            "arguments": "",
            "approval_request_id": approval_request_id,
            "output": None,
            "error": None,
        }
        item, where, close = await opened(data)
        for start in range(0, len(arguments), _ARGUMENT_DELTA_CHARS):
            delta = arguments[start : start + _ARGUMENT_DELTA_CHARS]
            await self._emit({"type": "response.mcp_call_arguments.delta", **where, "delta": delta})
        await self._emit({"type": "response.mcp_call_arguments.done", **where, "arguments": arguments})
        item.data["arguments"] = arguments
        placed = {"item_id": where["item_id"], "output_index": where["output_index"]}
        await self._emit({"type": "response.mcp_call.in_progress", **placed})
        try:
            parsed = json.loads(arguments or "{}")
            item.data["output"] = await _with_server(server, CALL_TIMEOUT_S, _calling(name, parsed))
        except (_McpFailure, ValueError) as exc:
            item.data["error"] = {"type": "tool_execution_error", "message": str(exc)}
            await self._emit({"type": "response.mcp_call.failed", **placed})
        else:
            await self._emit({"type": "response.mcp_call.completed", **placed})
        await close()


def approval_request(server: Mapping[str, Any], name: str, arguments: str) -> dict[str, Any]:
    """The `mcp_approval_request` item asking the client whether `name` may run with `arguments`."""
    return {
        "id": new_id("mcpr"),
        "type": "mcp_approval_request",
        "server_label": server["server_label"],
        "name": name,
        "arguments": arguments,
    }


def answered_approval(items: Sequence[Item]) -> tuple[Item, bool] | None:
    """The approval request the client answered last, and its answer, when nothing has followed the
    answer yet (the response that follows runs, or declines, the call)."""
    if not items or items[-1].data.get("type") != "mcp_approval_response":
        return None
    answer = items[-1].data
    request = next((item for item in items if item.id == answer["approval_request_id"]), None)
    return None if request is None else (request, bool(answer["approve"]))


class _McpFailure(Exception):
    """The MCP server could not be reached, did not answer in time, or its tool failed."""


async def _with_server(server: Mapping[str, Any], timeout_s: float, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Connect to the server (streamable HTTP), initialize, do `work`, disconnect; `_McpFailure` on any failure."""
    try:
        import httpx2
        from mcp import ClientSession
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client
    except ImportError:
        raise _McpFailure("the local server needs the mcp extra for hosted MCP: pip install 'voicecli[mcp]'") from None
    headers = dict(server.get("headers") or {})
    try:
        async with asyncio.timeout(timeout_s):
            async with (
                create_mcp_http_client(headers=headers, timeout=httpx2.Timeout(timeout_s)) as http,
                streamable_http_client(str(server["server_url"]), http_client=http) as streams,
                ClientSession(streams[0], streams[1]) as session,
            ):
                await session.initialize()
                return await work(session)
    except TimeoutError:
        raise _McpFailure(f"the MCP server did not answer within {timeout_s:g} s") from None
    except _McpFailure:
        raise
    except Exception as exc:
        raise _McpFailure(_first_cause(exc)) from None


def _first_cause(exc: BaseException) -> str:
    """The first real cause, out of the task groups the SDK wraps it in; the tool's own error as it said it."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    said = str(exc) if isinstance(exc, _McpFailure) else f"{type(exc).__name__}: {exc}"
    return " ".join(said.split())[:300]


async def _all_tools(session: Any) -> list[dict[str, Any]]:
    """Every tool the server lists, page after page, in the shape of an `mcp_list_tools` item's tools."""
    tools: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await session.list_tools(params=_page(cursor))
        for tool in page.tools:
            annotations = tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else None
            tools.append(
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.input_schema,
                    "annotations": annotations,
                }
            )
        cursor = getattr(page, "next_cursor", None)
        if not cursor:
            return tools


def _page(cursor: str | None) -> Any:
    if cursor is None:
        return None
    from mcp.types import PaginatedRequestParams

    return PaginatedRequestParams(cursor=cursor)


def _calling(name: str, arguments: Any) -> Callable[[Any], Awaitable[str]]:
    async def call(session: Any) -> str:
        result = await session.call_tool(name, arguments if isinstance(arguments, dict) else {})
        text = "\n".join(
            block.text if getattr(block, "type", "") == "text" else f"[{getattr(block, 'type', 'content')} not shown]"
            for block in result.content or ()
        )
        if not text and getattr(result, "structured_content", None) is not None:
            text = json.dumps(result.structured_content, default=str)
        if getattr(result, "is_error", False):
            raise _McpFailure(text or f"{name} failed")
        return text

    return call
