"""What a transport is to the client: one small interface, so the client is composed, not inherited.

A `RealtimeClient` is built from a `Transport` (WebSocket, WebRTC, in memory) and chooses the
protocol session itself; the transport only moves events. It opens a connection for a `TransportSink`
(the client, as a transport sees it): every event that arrives goes to `sink.deliver`, and a lost
connection is reported once with `sink.lost`. `MemoryTransport` is the transport of tests, as httpx's
`MockTransport` is: the test plays the service, without a socket, a server or a clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

import numpy as np

from voicecli.realtime import protocol
from voicecli.realtime.errors import RealtimeConnectionError, RealtimeError
from voicecli.realtime.events import RealtimeEvent

__all__ = ["MemoryTransport", "Transmit", "Transport", "TransportName", "TransportSink"]

TransportName = Literal["websocket", "webrtc", "memory"]
Transmit = Callable[[dict[str, Any]], Awaitable[None]]
"""The client's own way of sending an event: history, observers, then the transport's `send`."""


class TransportSink(Protocol):
    """The client as its transport sees it."""

    @property
    def connect_timeout_s(self) -> float:
        """The bound on opening a connection (a transport may report which stage hung just before it)."""
        ...

    def session_config(self) -> dict[str, Any]:
        """The `session` object the client will configure (WebRTC sends it when the call is set up)."""
        ...

    def push_to_talk(self) -> bool:
        """Whether turns are ended by the caller (WebRTC then clears the idle track's silence at a turn's start)."""
        ...

    async def deliver(self, event: RealtimeEvent) -> None:
        """One event arrived (may wait while `receive()`'s consumer is far behind: backpressure)."""
        ...

    def lost(self, message: str, code: str = "connection_closed", *, reconnectable: bool = False) -> None:
        """The connection is gone; `reconnectable` when a new connection may well work (a drop)."""
        ...


class Transport(Protocol):
    """Moves one session's events; the same object opens a new connection after a drop or a rollover."""

    name: TransportName
    media_audio: bool
    """Whether audio travels as media (WebRTC): microphone audio is streamed, the reply's sound
    arrives after its events, and the service truncates what it played itself."""

    def describe(self) -> str:
        """Where this transport connects, for messages (never contains a secret)."""
        ...

    def wire_form(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The event as this transport's route speaks it (observers see exactly what is sent)."""
        ...

    async def prepare(self) -> None:
        """Local set-up before connecting (importing the SDK, starting an embedded server), outside
        the connect timeout: a slow machine is not a service that does not answer."""
        ...

    async def open(self, sink: TransportSink) -> None:
        """Open a connection and start handing what arrives to `sink`."""
        ...

    async def send(self, payload: dict[str, Any]) -> None:
        """Send one client event; raise `RealtimeConnectionError` when the connection is gone."""
        ...

    async def send_event(self, payload: dict[str, Any], transmit: Transmit) -> None:
        """A client event from the caller: most transports hand it to `transmit`; WebRTC feeds
        microphone audio to its track instead, and at a commit waits until that audio has crossed."""
        ...

    async def stream_audio(self, pcm: np.ndarray, transmit: Transmit) -> None:
        """Microphone audio from `send_audio`: over the media path where there is one, else appended."""
        ...

    async def close(self) -> None:
        """Close the connection (the transport may open another one later)."""
        ...

    async def end(self) -> None:
        """The client's session is over: release what outlives connections (an embedded server)."""
        ...


SESSION_CREATED = {"type": "session.created", "event_id": "event_0", "session": {"id": "sess_memory"}}


class MemoryTransport:
    """A transport whose service is the test: it keeps what is sent in `sent`, and `arrive` hands
    the client a service event as the WebSocket transport would parse it. Opening answers with
    `session.created` (or calls `on_open`, which may raise to refuse the connection)."""

    name: TransportName = "memory"

    def __init__(self, *, media_audio: bool = False, on_open: Callable[[], Awaitable[None]] | None = None) -> None:
        self.media_audio = media_audio
        self.on_open = on_open
        self.sent: list[dict[str, Any]] = []
        self.streamed: list[np.ndarray] = []
        self.opens = 0
        self._sink: TransportSink | None = None

    def describe(self) -> str:
        return "memory"

    async def prepare(self) -> None:
        pass

    async def open(self, sink: TransportSink) -> None:
        self.opens += 1
        if self.on_open is not None:
            await self.on_open()
        self._sink = sink
        await self.arrive(SESSION_CREATED)

    async def arrive(self, payload: dict[str, Any]) -> None:
        """The service sends one event."""
        if self._sink is None:
            raise RealtimeError("the memory transport is not open")
        await self._sink.deliver(protocol.parse_server_event(payload))

    def drop(self, message: str = "the connection dropped", *, reconnectable: bool = True) -> None:
        """The service goes away."""
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.lost(message, reconnectable=reconnectable)

    def sent_types(self) -> list[str]:
        return [payload["type"] for payload in self.sent]

    def wire_form(self, payload: dict[str, Any]) -> dict[str, Any]:
        return payload

    async def send(self, payload: dict[str, Any]) -> None:
        if self._sink is None:
            raise RealtimeConnectionError("the realtime session is not open")
        self.sent.append(payload)

    async def send_event(self, payload: dict[str, Any], transmit: Transmit) -> None:
        await transmit(payload)

    async def stream_audio(self, pcm: np.ndarray, transmit: Transmit) -> None:
        if not self.media_audio:
            await transmit(protocol.append_audio(pcm))
            return
        if self._sink is None:
            raise RealtimeConnectionError("the realtime session is not open")
        self.streamed.append(pcm)

    async def close(self) -> None:
        self._sink = None

    async def end(self) -> None:
        pass
