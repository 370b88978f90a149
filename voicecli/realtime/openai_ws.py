"""WebSocket transport on the `openai` package's realtime connection, and the OpenAI client on it.

The connection's `recv_bytes()` is read in one task; each frame is parsed once by `protocol` and
handed to the client's `_dispatch`. Sending goes through `send_raw` with orjson-encoded payloads,
which skips the SDK's per-event TypedDict transform on the hot audio path.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from voicecli.realtime import protocol
from voicecli.realtime.client import RealtimeClient, RealtimeConnectionError
from voicecli.realtime.continuity import RECONNECTABLE_CLOSE_CODES
from voicecli.realtime.endpoints import OpenAIEndpoint, websocket_url_for
from voicecli.realtime.safe_text import shown

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.resources.realtime.realtime import AsyncRealtimeConnection
    from websockets.exceptions import ConnectionClosed

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


class WebsocketRealtimeClient(RealtimeClient):
    """Shared machinery of every transport that uses `AsyncOpenAI(...).realtime.connect()`."""

    transport = "websocket"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._connection: AsyncRealtimeConnection | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    @abstractmethod
    def model(self) -> str:
        """The model (OpenAI) or deployment (Azure) the session runs on."""

    @abstractmethod
    def _sdk_client(self) -> AsyncOpenAI:
        """Build the `openai` client that knows the endpoint and credentials."""

    @property
    def endpoint_description(self) -> str:
        """Where this client connects, for messages (never contains a secret)."""
        client = self._sdk_client()
        return str(client.websocket_base_url or client.base_url)

    def _connect_extras(self) -> dict[str, Any]:
        """More `connect()` arguments (`extra_query`, `extra_headers`) for a service that needs them."""
        return {}

    async def _prepare(self) -> None:
        self._sdk_client()  # imports `openai` (a second or more on a slow machine) and checks the credentials

    async def _open(self) -> None:
        from websockets.exceptions import InvalidStatus, WebSocketException

        client = self._sdk_client()
        where = self.endpoint_description
        try:
            connection = client.realtime.connect(
                model=self.model, websocket_connection_options=CONNECTION_OPTIONS, **self._connect_extras()
            )
            self._connection = await connection.enter()
        except InvalidStatus as exc:
            status = exc.response.status_code
            hint = " (check the API key)" if status in (401, 403) else ""
            raise RealtimeConnectionError(f"{where} refused the realtime connection: HTTP {status}{hint}") from exc
        except (OSError, WebSocketException) as exc:
            raise RealtimeConnectionError(f"cannot reach the realtime service at {where}: {exc}") from exc
        self._reader = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        from websockets.exceptions import ConnectionClosed

        assert self._connection is not None
        try:
            while True:
                raw = await self._connection.recv_bytes()
                await self._dispatch(protocol.parse_server_message(raw))
        except ConnectionClosed as exc:
            code, message = _closed(exc)
            self._connection_lost(message, reconnectable=code in RECONNECTABLE_CLOSE_CODES)
        except OSError as exc:  # the network under the socket failed
            self._connection_lost(f"the realtime connection failed: {exc}", reconnectable=True)
        except Exception as exc:  # a bug in a callback must not leave receive() waiting forever
            self._connection_lost(f"the realtime connection failed: {type(exc).__name__}: {exc}", "client_error")

    async def _send_payload(self, payload: dict[str, Any]) -> None:
        from websockets.exceptions import ConnectionClosed

        if self._connection is None or not self.connected:
            raise RealtimeConnectionError("the realtime session is not open")
        try:
            await self._connection.send_raw(protocol.encode(payload))
        except ConnectionClosed as exc:  # the reader may not have seen the close yet: say its code and reason
            raise RealtimeConnectionError(shown(_closed(exc)[1])) from exc

    async def _close(self) -> None:
        reader, connection = self._reader, self._connection
        self._reader = self._connection = None
        if reader is not None:
            reader.cancel()
        if connection is not None:
            with contextlib.suppress(Exception):  # closing a dropped connection is not the caller's error
                await connection.close()


def _closed(exc: ConnectionClosed) -> tuple[int, str]:
    """The close code and the sentence saying how the connection ended."""
    close = exc.rcvd or exc.sent  # `sent` when the client closed, e.g. 1009 for a message too big
    code = close.code if close is not None else 1006
    reason = close.reason if close is not None else ""
    meaning = CLOSE_CODE_MEANINGS.get(code, "closed")
    detail = f": {reason}" if reason else ""
    return code, f"the realtime connection ended ({meaning}, close code {code}){detail}"


class OpenAIRealtimeWebsocket(WebsocketRealtimeClient):
    """OpenAI Realtime over WebSocket. Credentials from arguments or `OPENAI_API_KEY` etc."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        websocket_base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._endpoint = OpenAIEndpoint.resolve(api_key, model, base_url)
        self._websocket_base_url = websocket_base_url
        self._client: AsyncOpenAI | None = None

    @property
    def model(self) -> str:
        return self._endpoint.model

    def _point_at(self, base_url: str) -> None:
        """Use another `http(s)://…/v1` base (the embedded server's, once it listens)."""
        self._endpoint.base_url = base_url
        self._websocket_base_url = None
        self._client = None

    def _sdk_client(self) -> AsyncOpenAI:
        if self._client is None:
            from openai import AsyncOpenAI

            base_url = self._endpoint.base_url
            self._client = AsyncOpenAI(
                api_key=self._endpoint.require_key(),
                base_url=base_url,
                websocket_base_url=self._websocket_base_url or (websocket_url_for(base_url) if base_url else None),
            )
        return self._client
