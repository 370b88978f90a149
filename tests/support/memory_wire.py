"""The provider clients' own WebSocket transport, over an in-memory connection to a local server session.

`MemoryWire` is a `Wire` (voicecli/realtime/websocket.py): `OpenAIRealtimeWebsocket` and
`AzureRealtimeWebsocket` keep their connector (model or deployment, the preview route's beta
rewriting) and their `WebSocketTransport` (the read loop, a close as a sentence with its code, the
send path); only the socket is replaced, by a queue each way. On the far side `MemoryRoute` serves
each connection as the server's WebSocket route does (voicecli/server/app.py): a `ServerSession` of
the route's `ServerConfig`, the beta shape on the preview route, the fault plan of its `Faults`
fired after each event sent (through the server's own `SessionTransport`), connections counted. A
connection ends as `websockets` reports a close: with the route's close frame (1011 after a server
error, 1001 at expiry), or with none after a drop, which the transport reads as 1006.

Time is the test's: a session expires when the test calls `expire()`, or after its lifetime on the
test's (virtual) clock, never after a real wait.
What only a socket shows (the handshake, URLs and headers, keys, real close frames, a TCP drop, the
SDK's own connection code) stays tested over loopback.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal, cast

import orjson
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from support.servers import ClientFactory, client_factory
from voicecli.realtime import RealtimeClient
from voicecli.realtime.clock import Clock
from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.websocket import REALTIME_WIRE, WebSocketTransport
from voicecli.server import LocalServer, recognition
from voicecli.server.brains import Brain, EchoBrain
from voicecli.server.config import ServerConfig
from voicecli.server.faults import EXPIRED_CLOSE_CODE, Faults, expired_message
from voicecli.server.preview_route import handle_preview_frame, to_beta_server_event
from voicecli.server.session.config import SESSION_SECONDS
from voicecli.server.session.pacing import UNPACED, Pacing
from voicecli.server.transport import SessionTransport
from voicecli.server.validation import build_validators

__all__ = ["MemoryRoute", "MemoryWire", "memory_client_factory", "over_memory"]

Shape = Literal["ga", "beta"]


class MemoryRoute:
    """A local server's WebSocket route in memory: each `accept` is a new connection and session."""

    def __init__(
        self,
        brain: Brain | None = None,
        *,
        faults: Faults | None = None,
        pacing: Pacing = UNPACED,
        max_session_s: float = SESSION_SECONDS,
        hears: bool = False,
        answers: bool = True,
        clock: Clock | None = None,
    ) -> None:
        """`hears`: the recognisers are loaded before the first session (the test sends speech);
        `answers=False`: the handshake is never answered, as a silent port's; `clock`: sessions
        expire after `max_session_s` on it (`expires_at` read on it too), else only at `expire()`."""
        self.config = ServerConfig(
            brain=brain or EchoBrain(), faults=faults or Faults(), pacing=pacing, max_session_s=max_session_s
        )
        self.hears = hears
        self.answers = answers
        self.clock = clock
        self.connections: list[MemoryConnection] = []

    @property
    def current(self) -> MemoryConnection:
        return self.connections[-1]

    async def prepare(self) -> None:
        """What a server does at start-up: the protocol checks built, and with `hears` the recognisers
        loaded (pocketsphinx's worker is a process), so that no bounded wait includes a load that takes
        seconds on a busy machine."""
        await asyncio.to_thread(build_validators)
        for loading in recognition.warm_up() if self.hears else ():
            await asyncio.wrap_future(loading)

    async def accept(self, shape: Shape, model: str) -> MemoryConnection:
        """A new connection, its session started (`session.created` sent), as the route's handler does."""
        if not self.answers:
            await asyncio.Event().wait()  # the client's connect timeout ends this
        await self.prepare()  # done already, in the client's `prepare`: quick
        self.config.connections += 1
        connection = MemoryConnection(self.config, self.config.connections, shape, model)
        self.connections.append(connection)
        if self.clock is not None:
            connection.expire_on(self.clock)
        await connection.session.start()
        return connection

    async def expire(self) -> None:
        """The current session reaches its lifetime now: `session_expired`, then close 1001."""
        await self.current.expire()

    async def close(self) -> None:
        """End every connection still open and wait until its session has stopped (the server shuts down)."""
        for connection in self.connections:
            await connection.finish()


class MemoryConnection(SessionTransport):
    """One connection: the server's half (the session, faults, ends) and the client's (`recv_bytes`,
    `send_raw`, `close`, as the SDK's `AsyncRealtimeConnection` offers them)."""

    def __init__(self, config: ServerConfig, number: int, shape: Shape, model: str) -> None:
        super().__init__(config.faults, number, "connection", config.max_session_s)
        self.shape = shape
        self.session = config.new_session(self.send, model=model, on_crash=self._crashed, intercept=self._intercept)
        self._frames: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._handling = asyncio.Lock()
        self._close: Close | None = None
        self._closed_by_client = False
        self._close_read = False
        self._ended = False
        self._stopping: asyncio.Task[None] | None = None

    # --- the server's half ----------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        """The session's `Send`: the event in the route's shape, then the faults now due."""
        if self.shape == "beta":
            beta = to_beta_server_event(event)
            if beta is None:
                return
            event = beta
        if self._ended:
            return  # the connection is gone: what the session still says is lost
        self._frames.put_nowait(orjson.dumps(event))
        await self._fire_faults(self._count_sent())

    async def _write_unchecked(self, frame: bytes) -> None:
        if not self._ended:
            self._frames.put_nowait(frame)

    async def _drop(self) -> None:
        if self.plan.drop_close_code is not None:
            self._end(Close(self.plan.drop_close_code, "dropped (fault)"))
        else:
            self._end(None)  # no close frame: the client reads 1006

    async def _end_expired(self, message: str) -> None:
        self._end(Close(EXPIRED_CLOSE_CODE, message))

    async def _end_after_error(self) -> None:
        self._end(Close(1011, "internal server error"))

    async def expire(self) -> None:
        await self._expire(0, expired_message(self.lifetime_s))

    def expire_on(self, clock: Clock) -> None:
        """The server's own lifetime timer, on `clock` (the session says when it expires on it too)."""
        self.session.config["expires_at"] = int(clock.time() + self.lifetime_s)

        async def at_the_end() -> None:
            await clock.sleep(self.lifetime_s)
            await self.expire()

        self._tasks.spawn(at_the_end())

    def _end(self, close: Close | None) -> None:
        """The connection ends after the frames already written; the session stops, as the route's
        `run()` stops it once the socket is closed."""
        if self._ended:
            return
        self._ended, self._close = True, close
        self._frames.put_nowait(None)
        self._stopping = asyncio.ensure_future(self.stop())

    async def stop(self) -> None:
        await self._tasks.close()
        await self.session.close()

    async def finish(self) -> None:
        """The server shuts down (1001): wait until the session has stopped."""
        self._end(Close(1001, "server shutting down"))
        assert self._stopping is not None
        await self._stopping

    # --- the client's half ----------------------------------------------------------------------

    def unread(self) -> int:
        """Frames sent that the client has not read yet."""
        return self._frames.qsize()

    def _closed(self) -> ConnectionClosed:
        if self._closed_by_client:
            return ConnectionClosed(None, Close(1000, ""))
        return ConnectionClosed(self._close, None)

    async def recv_bytes(self) -> bytes:
        frame = await self._frames.get()
        if frame is None:
            self._frames.put_nowait(None)  # every later read sees the close too
            self._close_read = True
            raise self._closed()
        return frame

    async def send_raw(self, data: str | bytes) -> None:
        if self._ended:
            if self._close_read or self._closed_by_client:
                raise self._closed()
            return  # written into a connection that is gone, as a socket does before its close is read
        async with self._handling:  # the route's read loop handles one frame at a time
            self.received += 1
            try:
                if self.shape == "beta":
                    await handle_preview_frame(self.session, data)
                else:
                    await self.session.handle_raw(data)
            except Exception:  # a server error: the route closes with 1011
                await self._end_after_error()

    async def close(self) -> None:
        """The client closes (1000)."""
        if not self._ended:
            self._closed_by_client = True
            self._end(Close(1000, ""))
        if self._stopping is not None:
            await self._stopping


class _Opening:
    """What `client.realtime.connect(...)` returns: `enter()` opens the connection."""

    def __init__(self, route: MemoryRoute, shape: Shape, model: str) -> None:
        self.route, self.shape, self.model = route, shape, model

    async def enter(self) -> MemoryConnection:
        return await self.route.accept(self.shape, self.model)


class MemoryWire:
    """A `Wire` whose connections are `route`'s, in the shape the client's route speaks."""

    def __init__(self, route: MemoryRoute, shape: Shape) -> None:
        self.route = route
        self.shape = shape

    def connect(self, client: Any, model: str) -> _Opening:
        return _Opening(self.route, self.shape, model)

    def parse(self, raw: bytes) -> RealtimeEvent:
        return REALTIME_WIRE.parse(raw)


def over_memory(client: RealtimeClient, route: MemoryRoute) -> RealtimeClient:
    """`client` (a provider's WebSocket client) with its socket replaced by connections to `route`;
    Azure's preview route speaks the beta shape, as it does over the network."""
    transport = client.transport_layer
    assert isinstance(transport, WebSocketTransport), "only a WebSocket client has a wire to replace"
    preview = bool(getattr(transport.connector, "uses_preview_route", False))
    transport.wire = MemoryWire(route, "beta" if preview else "ga")
    own_prepare = transport.prepare

    async def prepare() -> None:
        """The route's start-up joins the transport's set-up, outside the connect timeout, as the
        embedded server's start-up does."""
        await own_prepare()
        await route.prepare()

    transport.prepare = prepare  # type: ignore[method-assign]
    return client


class _Nowhere:
    """Where the provider clients point when their socket is replaced: no address is ever reached."""

    brain_name = "echo"
    http_url = "http://realtime.invalid"
    ws_base_url = "ws://realtime.invalid/v1"


def memory_client_factory(transport: str, route: MemoryRoute) -> ClientFactory:
    """As `support.servers.client_factory` (`openai_ws`, `azure_ga`, `azure_preview`): the provider's
    client, its connections being `route`'s."""
    if transport not in ("openai_ws", "azure_ga", "azure_preview"):
        raise ValueError(f"{transport} has no WebSocket of its own to replace")
    make = client_factory(transport, cast(LocalServer, _Nowhere()))
    return lambda **kwargs: over_memory(make(**kwargs), route)
