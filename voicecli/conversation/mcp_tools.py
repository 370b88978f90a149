"""MCP servers as tools: each configured server (stdio or streamable HTTP) offers its tools to the model
with their own JSON schemas, next to the Python tools, through the official `mcp` SDK.

Every server is held by a task of its own, so one that fails to start, crashes or hangs costs one line
(`notice`) and its own tools, never the conversation. A tool list that changes
(`notifications/tools/list_changed`) is listed again; `on_change` then refreshes the session. The SDK
is the `mcp` extra, imported only when a server is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any, Self

from voicecli.config import ConfigError
from voicecli.conversation.mcp_config import HostedMcpServer, McpServer
from voicecli.realtime.client import RealtimeClient
from voicecli.realtime.events import ErrorContent, RealtimeErrorEvent
from voicecli.realtime.functions import Tool, ToolRegistry
from voicecli.realtime.safe_text import shown

Notice = Callable[[str], None]
_LOST, _HUNG, _CHANGED, _STOP = "lost", "hung", "changed", "stop"
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""The names the Realtime API takes for a function tool; one it would refuse would fail the whole session.update."""
STOP_WAIT_S = 10.0
"""How long the servers get to stop at the end (the SDK's own steps take at most about 7 s)."""


class McpToolError(Exception):
    """A tool of an MCP server answered with an error, or its server did not answer."""


class McpTools:
    """The MCP servers of one conversation: `async with McpTools(servers, client.tools, notice=...)`.

    Hosted servers (`HostedMcpServer`) are not started here: they join the session's tools as
    `{"type": "mcp"}` entries, and the service calls them."""

    def __init__(
        self,
        servers: list[McpServer | HostedMcpServer],
        registry: ToolRegistry,
        *,
        notice: Notice,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.servers = [server for server in servers if isinstance(server, McpServer)]
        self.hosted = [server for server in servers if isinstance(server, HostedMcpServer)]
        self.registry = registry
        self.notice = notice
        self.on_change = on_change
        """Called after tools came or went mid-conversation (e.g. `client.update_session`)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._events: dict[str, asyncio.Queue[str]] = {}
        self._started = False
        self._said: set[tuple[str, str]] = set()
        self._dropped: set[str] = set()
        self._stopping = False

    async def __aenter__(self) -> Self:
        """Start every server and wait until each offers its tools or has failed (each within its timeout)."""
        self.registry.hosted = [server.payload() for server in self.hosted]
        if self.servers:
            try:
                import mcp  # noqa: F401
            except ImportError:
                raise ConfigError("MCP servers need the mcp extra: pip install 'voicecli[mcp]'") from None
        readiness = []
        for server in self.servers:
            ready = asyncio.Event()
            self._events[server.label] = asyncio.Queue()
            self._tasks.append(asyncio.create_task(self._serve(server, ready), name=f"mcp-{server.label}"))
            readiness.append(ready.wait())
        await asyncio.gather(*readiness)
        self._started = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop every server the way the SDK stops it (a native cancel could cut its shutdown short)."""
        self._stopping = True
        for queue in self._events.values():
            queue.put_nowait(_STOP)
        if self._tasks:
            _, starting = await asyncio.wait(self._tasks, timeout=STOP_WAIT_S)
            for task in starting:  # still starting: nothing to shut down gracefully yet
                task.cancel()
            await asyncio.gather(*starting, return_exceptions=True)
        self._tasks.clear()

    async def _serve(self, server: McpServer, ready: asyncio.Event) -> None:
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
            try:
                await self._hold(server, ready, errlog)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # any failure of one server is its own, reported in one line
                await self._drop(server, _why(exc, server, errlog))
            finally:
                ready.set()

    async def _drop(self, server: McpServer, why: str) -> None:
        """One line, and the server's tools out of the session, before its connection is torn down."""
        if server.label in self._dropped or self._stopping:
            return
        self._dropped.add(server.label)
        self.notice(f"{server.source}: {why}; its tools are withdrawn")
        if self.registry.withdraw(server.source) and self._started:
            await self._changed()

    async def _hold(self, server: McpServer, ready: asyncio.Event, errlog: Any) -> None:
        """Connect, offer the tools, then follow list changes until the server stops or hangs."""
        import anyio
        from mcp import ClientSession

        events = self._events[server.label]

        async def on_message(message: Any) -> None:
            if getattr(getattr(message, "root", message), "method", None) == "notifications/tools/list_changed":
                events.put_nowait(_CHANGED)

        async with contextlib.AsyncExitStack() as stack:
            streams = await _connect(stack, server, errlog)
            relay_in, relay_out = anyio.create_memory_object_stream[Any](0)
            group = await stack.enter_async_context(anyio.create_task_group())
            group.start_soon(_relay, streams[0], relay_in, events)
            session = await stack.enter_async_context(ClientSession(relay_out, streams[1], message_handler=on_message))
            await self._within(server.start_timeout_s, session.initialize(), "start")
            await self._within(server.start_timeout_s, self._offer(server, session), "list its tools")
            ready.set()
            while (what := await events.get()) == _CHANGED:
                await self._within(server.timeout_s, self._offer(server, session), "list its tools")
                await self._changed()
            if what != _STOP:
                hung = f"did not answer within {server.timeout_s:g} s"
                await self._drop(server, hung if what == _HUNG else _why(McpToolError("stopped"), server, errlog))
            group.cancel_scope.cancel()

    async def _within(self, timeout_s: float, step: Awaitable[Any], what: str) -> Any:
        try:
            async with asyncio.timeout(timeout_s):
                return await step
        except TimeoutError:
            raise McpToolError(f"did not {what} within {timeout_s:g} s") from None

    async def _offer(self, server: McpServer, session: Any) -> None:
        """(Re)place the server's tools in the registry, keeping a name another source already has."""
        listed: list[Any] = []
        cursor = None
        while True:
            page = await session.list_tools(params=_page(cursor))
            listed.extend(page.tools)
            cursor = getattr(page, "next_cursor", None)
            if not cursor:
                break
        self.registry.withdraw(server.source)
        for found in listed:
            if not _FUNCTION_NAME.fullmatch(found.name):
                self._say_once(
                    (found.name, server.source),
                    f"{server.source}: tool {shown(repr(found.name))} is not offered: a tool's name may have only "
                    "letters, digits, _ and - (at most 64)",
                )
                continue
            other = self.registry.source_of(found.name)
            if other is not None:
                self._say_once(
                    (found.name, server.source),
                    f"tool {found.name!r} is offered by {other} and by {server.source}; {other}'s is kept",
                )
                continue
            self.registry.add_tool(
                Tool(
                    name=found.name,
                    description=found.description or "",
                    parameters=found.input_schema or {"type": "object", "properties": {}},
                    function=self._caller(server, session, found.name),
                    source=server.source,
                    confirm=server.needs_confirmation(found.name),
                )
            )

    def _say_once(self, key: tuple[str, str], line: str) -> None:
        """A problem with one tool is said once, not again at each list change."""
        if key not in self._said:
            self._said.add(key)
            self.notice(line)

    def _caller(self, server: McpServer, session: Any, name: str) -> Callable[..., Awaitable[str]]:
        events = self._events[server.label]

        async def call(**arguments: Any) -> str:
            try:
                async with asyncio.timeout(server.timeout_s):
                    result = await session.call_tool(name, arguments)
            except TimeoutError:
                events.put_nowait(_HUNG)
                raise McpToolError(f"{server.source} did not answer within {server.timeout_s:g} s") from None
            text = _result_text(result)
            if getattr(result, "is_error", False):
                raise McpToolError(text)
            return text

        return call

    async def _changed(self) -> None:
        if self.on_change is not None:
            try:
                await self.on_change()
            except Exception as exc:  # the session is gone: nothing to refresh
                self.notice(f"the session could not be told the new tool list: {shown(str(exc))}")


def mcp_notice(line: str) -> RealtimeErrorEvent:
    """A server's one line as the screen shows a non-fatal problem."""
    return RealtimeErrorEvent(service_type="mcp", error=ErrorContent(message=line, code="mcp"))


async def refresh_session(client: RealtimeClient) -> None:
    """Send the session its tool list again, when there is a session to tell."""
    if client.connected:
        await client.update_session()


async def _connect(stack: contextlib.AsyncExitStack, server: McpServer, errlog: Any) -> Any:
    """The read and write streams of a stdio or streamable-HTTP server."""
    if server.url:
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        http = await stack.enter_async_context(create_mcp_http_client(headers=server.resolved_headers()))
        return await stack.enter_async_context(streamable_http_client(server.url, http_client=http))
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    parameters = StdioServerParameters(
        command=server.command, args=list(server.args), env=server.resolved_env() or None, cwd=server.cwd or None
    )
    return await stack.enter_async_context(stdio_client(parameters, errlog=errlog))


async def _relay(source: Any, sink: Any, events: asyncio.Queue[str]) -> None:
    """Pass the server's messages to the session and say when they end (the server stopped)."""
    try:
        async with sink:
            async for message in source:
                await sink.send(message)
    finally:
        events.put_nowait(_LOST)


def _page(cursor: str | None) -> Any:
    if cursor is None:
        return None
    from mcp.types import PaginatedRequestParams

    return PaginatedRequestParams(cursor=cursor)


def _result_text(result: Any) -> str:
    """What the model gets of a tool result: its text blocks, else its structured content, else a note."""
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", "")
        parts.append(block.text if kind == "text" else f"[{kind or 'content'} not shown]")
    if not parts and getattr(result, "structured_content", None) is not None:
        return json.dumps(result.structured_content, default=str)
    return "\n".join(parts) if parts else "(no content)"


def _why(exc: BaseException, server: McpServer, errlog: Any) -> str:
    """One line on why a server failed: the first real cause, and the last line it wrote to stderr."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, FileNotFoundError) and not server.url:
        return f"cannot start {server.command!r}: no such command"
    reason = str(exc) if isinstance(exc, McpToolError) else f"{type(exc).__name__}: {exc}"
    reason = " ".join(reason.split()) or type(exc).__name__
    last = _last_stderr_line(errlog)
    return shown(f"{reason} ({last})" if last else reason)


def _last_stderr_line(errlog: Any) -> str:
    with contextlib.suppress(OSError, ValueError):
        errlog.flush()
        os.fsync(errlog.fileno())
        errlog.seek(0)
        lines = [line.strip() for line in errlog.read()[-4000:].splitlines() if line.strip()]
        return lines[-1][:200] if lines else ""
    return ""
