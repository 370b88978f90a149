"""The client as its transport and its continuity supervisor see it.

A transport calls back into the client (`TransportSink`: what to deliver, when the link is lost) and
the supervisor drives it (`SupervisedClient`: connect, send, emit, fail); `ClientSide` gives each
exactly that, so neither reaches into `RealtimeClient` and the client's public API stays as it is.
It reads the client's private state on purpose: it is the client's other face, kept in its own file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.session_rules import ProtocolSession

if TYPE_CHECKING:
    from voicecli.realtime.client import RealtimeClient

__all__ = ["ClientSide"]


class ClientSide:
    """The client as its transport (`TransportSink`) and its continuity supervisor
    (`SupervisedClient`) see it, so neither reaches into the client and its API stays as it is."""

    def __init__(self, client: RealtimeClient) -> None:
        self._client = client

    # --- for the transport

    @property
    def connect_timeout_s(self) -> float:
        return self._client.connect_timeout_s

    def session_config(self) -> dict[str, Any]:
        session: dict[str, Any] = self.session_payload()["session"]
        return session

    def push_to_talk(self) -> bool:
        return self._client.settings.push_to_talk

    async def deliver(self, event: RealtimeEvent) -> None:
        await self._client._dispatch(event)

    def lost(self, message: str, code: str = "connection_closed", *, reconnectable: bool = False) -> None:
        self._client._connection_lost(message, code, reconnectable=reconnectable)

    # --- for the supervisor

    @property
    def protocol_session(self) -> ProtocolSession:
        return self._client._protocol

    def in_session(self) -> bool:
        return self._client.connected and not self._client._closing

    def session_payload(self) -> dict[str, Any]:
        client = self._client
        return client.settings.with_tools(client.tools.payload()).to_session_payload()

    async def connect(self) -> None:
        client = self._client
        client._session_ready = asyncio.Event()
        await client._open()
        await client._session_ready.wait()

    async def disconnect(self) -> None:
        await self._client._close()

    async def send_now(self, payload: dict[str, Any]) -> None:
        await self._client._send_now(payload)

    def emit(self, event: RealtimeEvent) -> None:
        self._client._stream.put_nowait(event)

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return self._client._background.spawn(work)

    def fail(self, message: str) -> None:
        self._client._connection_lost(message)
