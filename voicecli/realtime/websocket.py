"""The WebSocket transport, on the `openai` package's realtime connection.

A `Connector` knows an endpoint (OpenAI, Azure GA, Azure preview): it builds the SDK client, names
the model and rewrites events for its route. The transport reads the connection's `recv_bytes()` in
one task and parses each frame once; a `Wire` says which of the SDK's connections is opened and how
its frames parse (`REALTIME_WIRE` unless another protocol, such as GPT-Live, hands its own). Sending
goes through `send_raw` with orjson-encoded payloads, which skips the SDK's per-event TypedDict
transform on the hot audio path.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from voicecli.realtime import protocol
from voicecli.realtime.continuity import RECONNECTABLE_CLOSE_CODES
from voicecli.realtime.errors import RealtimeConnectionError
from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.safe_text import shown
from voicecli.realtime.transport import Transmit, TransportName, TransportSink

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.resources.realtime.realtime import AsyncRealtimeConnection
    from websockets.exceptions import ConnectionClosed

__all__ = ["CLOSE_CODE_MEANINGS", "MAX_MESSAGE_BYTES", "REALTIME_WIRE", "Connector", "WebSocketTransport", "Wire"]

MAX_MESSAGE_BYTES = 16 * 2**20
"""The largest message taken from the service. Its biggest real frames are `conversation.item.retrieved`
and `.done` carrying a user turn's whole audio as base64, and `session.created|updated` echoing long
instructions and tools; the service itself takes at most 15 MiB in one `input_audio_buffer.append`.
16 MiB holds a retrieved item of over four minutes of speech; anything bigger is not a real frame, and
without a bound one 100 MB frame took the client to 556 MB (the `openai` package sets none)."""

CLOSE_CODE_MEANINGS = {
    1000: "closed normally",
    1001: "the service is going away",
    1006: "the connection was lost",
    1005: "closed without a reason",
    1011: "the service had an internal error",
    1012: "the service is restarting",
    1013: "the service is overloaded; try again later",
    1009: f"the service sent a message larger than the {MAX_MESSAGE_BYTES // 2**20} MiB limit",
    3000: "the API key was missing or rejected",
    4000: "the service refused the request shape",
}
CONNECTION_OPTIONS: Any = {"open_timeout": None, "max_size": MAX_MESSAGE_BYTES}
"""`websockets` gives up an opening handshake after 10 s of its own; `connect_timeout_s` is meant to
be the one bound (a loaded machine, a slow link), so its own is switched off."""


class Connector(Protocol):
    """One endpoint as the WebSocket transport reaches it."""

    @property
    def model(self) -> str:
        """The model (OpenAI) or deployment (Azure) the session runs on."""
        ...

    def sdk_client(self) -> AsyncOpenAI:
        """The `openai` client that knows the endpoint and credentials (built once)."""
        ...

    def check(self) -> None:
        """Raise `RealtimeConfigurationError` for what is missing, before anything is opened."""
        ...

    def wire_form(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The event as this endpoint's route speaks it."""
        ...

    def opening(self) -> None:
        """A connection is about to open (a log line saying the route)."""
        ...


class Wire(Protocol):
    """The protocol spoken over the socket: which SDK connection opens it and how a frame parses.
    The endpoint (`Connector`) is the same for every protocol of the same service."""

    def connect(self, client: AsyncOpenAI, model: str) -> Any:
        """The SDK's connection manager (`.enter()` opens it; the connection has `recv_bytes`, `send_raw`, `close`)."""
        ...

    def parse(self, raw: bytes) -> RealtimeEvent:
        """One received frame as a typed event."""
        ...


class RealtimeWire:
    """OpenAI Realtime: `client.realtime.connect(model=…)` and the Realtime events."""

    def connect(self, client: AsyncOpenAI, model: str) -> Any:
        return client.realtime.connect(model=model, websocket_connection_options=CONNECTION_OPTIONS)

    def parse(self, raw: bytes) -> RealtimeEvent:
        return protocol.parse_server_message(raw)


REALTIME_WIRE = RealtimeWire()


class WebSocketTransport:
    """Realtime events over one WebSocket per session, through the `openai` package."""

    name: TransportName = "websocket"
    media_audio = False

    def __init__(self, connector: Connector, wire: Wire = REALTIME_WIRE) -> None:
        self.connector = connector
        self.wire = wire
        self._connection: AsyncRealtimeConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    def describe(self) -> str:
        client = self.connector.sdk_client()
        return str(client.websocket_base_url or client.base_url)

    def wire_form(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self.connector.wire_form(payload)

    async def prepare(self) -> None:
        self.connector.sdk_client()  # imports `openai` (a second or more on a slow machine) and checks the credentials
        self.connector.check()

    async def open(self, sink: TransportSink) -> None:
        from websockets.exceptions import InvalidStatus, WebSocketException

        self.connector.opening()
        client = self.connector.sdk_client()
        where = self.describe()
        try:
            connection = self.wire.connect(client, self.connector.model)
            self._connection = await connection.enter()
        except InvalidStatus as exc:
            status = exc.response.status_code
            hint = " (check the API key)" if status in (401, 403) else ""
            raise RealtimeConnectionError(f"{where} refused the realtime connection: HTTP {status}{hint}") from exc
        except (OSError, WebSocketException) as exc:
            raise RealtimeConnectionError(f"cannot reach the realtime service at {where}: {exc}") from exc
        self._reader = asyncio.create_task(self._read_loop(self._connection, sink))

    async def _read_loop(self, connection: AsyncRealtimeConnection, sink: TransportSink) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            while True:
                raw = await connection.recv_bytes()
                await sink.deliver(self.wire.parse(raw))
        except ConnectionClosed as exc:
            code, message = _closed(exc)
            sink.lost(message, reconnectable=code in RECONNECTABLE_CLOSE_CODES)
        except OSError as exc:  # the network under the socket failed
            sink.lost(f"the realtime connection failed: {exc}", reconnectable=True)
        except Exception as exc:  # a bug in a callback must not leave receive() waiting forever
            sink.lost(f"the realtime connection failed: {type(exc).__name__}: {exc}", "client_error")

    async def send(self, payload: dict[str, Any]) -> None:
        from websockets.exceptions import ConnectionClosed

        if self._connection is None:
            raise RealtimeConnectionError("the realtime session is not open")
        try:
            await self._connection.send_raw(protocol.encode(payload))
        except ConnectionClosed as exc:  # the reader may not have seen the close yet: say its code and reason
            raise RealtimeConnectionError(shown(_closed(exc)[1])) from exc

    async def send_event(self, payload: dict[str, Any], transmit: Transmit) -> None:
        await transmit(payload)

    async def stream_audio(self, pcm: np.ndarray, transmit: Transmit) -> None:
        await transmit(protocol.append_audio(pcm))  # no media path: audio is appended

    async def close(self) -> None:
        reader, connection = self._reader, self._connection
        self._reader = self._connection = None
        if reader is not None:
            reader.cancel()
        if connection is not None:
            with contextlib.suppress(Exception):  # closing a dropped connection is not the caller's error
                await connection.close()

    async def end(self) -> None:
        pass


def _closed(exc: ConnectionClosed) -> tuple[int, str]:
    """The close code and the sentence saying how the connection ended."""
    close = exc.rcvd or exc.sent  # `sent` when the client closed, e.g. 1009 for a message too big
    code = close.code if close is not None else 1006
    reason = close.reason if close is not None else ""
    meaning = CLOSE_CODE_MEANINGS.get(code, "closed")
    detail = f": {reason}" if reason else ""
    return code, f"the realtime connection ended ({meaning}, close code {code}){detail}"
