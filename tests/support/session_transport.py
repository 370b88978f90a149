"""A client transport bound to a local server session in memory: client↔server behaviour without a socket.

`SessionTransport` is a `Transport` (voicecli/realtime/transport.py) whose far end is the local
server's own session object, driven as the server's WebSocket route drives it: each client event
goes in as one JSON frame (`handle_raw` for Realtime, `handle_client_frame` for GPT-Live,
`VoiceLiveShape.handle_frame` for Azure Voice Live), one at a time as a socket's read loop would;
each event the session sends goes out through the same JSON encoding, into a queue that a reader
task hands to the client, as the WebSocket transport's reader does. So the client's rules and the
server's rules meet exactly as over loopback, in milliseconds.

What only a connection does (routes, keys, close codes, drops, faults, the session limit's close,
the SDK's own parsing of frames) stays tested over real sockets.
"""

from __future__ import annotations

import asyncio
import importlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import orjson
import pytest

from support.servers import WEATHER_SCRIPT
from voicecli.realtime import RealtimeClient, protocol
from voicecli.realtime.endpoints import AzureEndpoint
from voicecli.realtime.errors import RealtimeConnectionError
from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.live_protocol import parse_live_message
from voicecli.realtime.transport import Transmit, TransportName, TransportSink
from voicecli.realtime.voice_live import VOICE_LIVE_API_VERSION, VoiceLiveConnector, VoiceLiveOptions, VoiceLiveWire
from voicecli.server import recognition, synth
from voicecli.server.brains import Brain, EchoBrain, ScriptedBrain
from voicecli.server.config import ServerConfig
from voicecli.server.faults import Faults
from voicecli.server.session.pacing import UNPACED, Pacing
from voicecli.server.validation import build_validators
from voicecli.server.voicelive.route import VoiceLiveShape

__all__ = [
    "LiveSessionTransport",
    "RealtimeSessionTransport",
    "SessionTransport",
    "VoiceLiveSessionTransport",
    "echo_client",
    "in_tones",
    "replies_in_tones",
    "weather_client",
]

DROPPED = "the realtime connection ended (the connection was lost, close code 1006)"
CLOSED_BY_SESSION_CLOSE = "the realtime connection ended (closed normally, close code 1000): session closed"
Send = Callable[[dict[str, Any]], Awaitable[None]]


@contextmanager
def replies_in_tones() -> Iterator[None]:
    """The server speaks its replies in tones, as it does where espeak-ng is not installed: for tests
    of rules that never listen to the reply, so that no espeak-ng process runs. The synthesis cache
    is emptied on both sides, so no other test gets a tone where it wants speech."""
    synth.speak.cache_clear()
    original, synth._espeak = synth._espeak, lambda _text: None  # type: ignore[assignment]
    try:
        yield
    finally:
        synth._espeak = original
        synth.speak.cache_clear()


@pytest.fixture
def in_tones() -> Iterator[None]:
    """For in-memory tests: the server's replies in tones (their sound is not what they test).
    A test module imports it to use it (`@pytest.mark.usefixtures("in_tones")`)."""
    with replies_in_tones():
        yield


def echo_client(*, hears: bool = False, drop_after_events: int | None = None, **kwargs: Any) -> RealtimeClient:
    """A Realtime client bound in memory to a session of an unpaced echo server (as `echo_server`'s)."""
    transport = RealtimeSessionTransport.of(EchoBrain(), hears=hears, drop_after_events=drop_after_events)
    return RealtimeClient(transport=transport, **kwargs)


def weather_client(**kwargs: Any) -> RealtimeClient:
    """A Realtime client bound in memory to a session of an unpaced weather-script server (as `weather_server`'s)."""
    return RealtimeClient(transport=RealtimeSessionTransport.of(ScriptedBrain.from_toml(WEATHER_SCRIPT)), **kwargs)


class SessionTransport(ABC):
    """The shared half: the frame queue, its reader, one frame handled at a time, crashes reported.

    A server bug (a response task that failed, an invalid event) ends the connection as the server's
    1011 close would, and is kept in `crash` so that a test can show it."""

    name: TransportName = "memory"
    media_audio = False

    def __init__(self, *, hears: bool = False, drop_after_events: int | None = None) -> None:
        """`hears`: the test sends speech, so the recognisers are loaded before the session starts.
        `drop_after_events`: the first connection is cut after that many server events, as the
        server's fault `drop_after_events=N, connections=1` cuts a socket (close code 1006)."""
        self.hears = hears
        self.drop_after_events = drop_after_events
        self.opens = 0
        self.crash: BaseException | None = None
        self._frames: asyncio.Queue[bytes | None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._handling = asyncio.Lock()
        self._ending = ("the server session failed", "server_error", False)
        self._alive = False

    @abstractmethod
    async def _start(self, write: Send, on_crash: Callable[[BaseException], None]) -> None:
        """Build a new server session writing to `write`, and start it."""

    @abstractmethod
    async def _handle(self, frame: bytes) -> None:
        """Hand the session one client frame, as the route's read loop does."""

    @abstractmethod
    async def _stop(self) -> None:
        """Stop the session (the connection is gone)."""

    @abstractmethod
    def _parse(self, frame: bytes) -> RealtimeEvent:
        """One frame as the client's wire parses it."""

    def describe(self) -> str:
        return "a local server session in memory"

    def wire_form(self, payload: dict[str, Any]) -> dict[str, Any]:
        return payload

    async def prepare(self) -> None:
        """The protocol checks built (and with `hears` the recognisers loaded: pocketsphinx's worker
        is a process) first, as a server does at start-up, so that no bounded wait of a test includes
        a load that takes seconds on a busy machine."""
        await asyncio.to_thread(build_validators)
        for loading in recognition.warm_up() if self.hears else ():
            await asyncio.wrap_future(loading)

    async def open(self, sink: TransportSink) -> None:
        self.opens += 1
        frames: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._frames, self._alive = frames, True
        connection, sent = self.opens, 0

        async def write(event: dict[str, Any]) -> None:
            nonlocal sent
            if not self._alive or self._frames is not frames:
                return  # the connection is gone: what the session still says is lost
            frames.put_nowait(orjson.dumps(event))  # what the server's transport would write
            sent += 1
            if connection == 1 and sent == self.drop_after_events:
                self._end(DROPPED, "connection_closed", reconnectable=True)

        self._reader = asyncio.create_task(self._read(frames, sink))
        await self._start(write, self.server_failed)

    async def _read(self, frames: asyncio.Queue[bytes | None], sink: TransportSink) -> None:
        try:
            while (frame := await frames.get()) is not None:
                await sink.deliver(self._parse(frame))
        except Exception as exc:  # as the WebSocket transport's reader: never leave receive() waiting
            sink.lost(f"the realtime connection failed: {type(exc).__name__}: {exc}", "client_error")
            return
        message, code, reconnectable = self._ending
        sink.lost(message, code, reconnectable=reconnectable)

    def server_failed(self, error: BaseException) -> None:
        """The session's `on_crash` (a response task failed): the route would close with 1011."""
        self.crash = error
        self._end(f"the server session failed: {error!r}", "server_error")

    def _end(self, message: str, code: str, *, reconnectable: bool = False) -> None:
        """The server ends the connection (after its last event, as a close frame follows the last frame)."""
        if not self._alive:
            return
        self._ending, self._alive = (message, code, reconnectable), False
        if self._frames is not None:
            self._frames.put_nowait(None)

    async def send(self, payload: dict[str, Any]) -> None:
        if self._frames is None or not self._alive:
            raise RealtimeConnectionError("the realtime session is not open")
        async with self._handling:  # a socket's read loop handles one frame at a time
            try:
                await self._handle(protocol.encode(payload).encode())
            except Exception as exc:  # a server bug: the route would close with 1011
                self.server_failed(exc)

    async def send_event(self, payload: dict[str, Any], transmit: Transmit) -> None:
        await transmit(payload)

    async def stream_audio(self, pcm: np.ndarray, transmit: Transmit) -> None:
        await transmit(protocol.append_audio(pcm))

    async def close(self) -> None:
        reader, self._reader, self._frames = self._reader, None, None
        if reader is not None:
            reader.cancel()
        await self._stop()

    async def end(self) -> None:
        """The client's session is over: a connection still open goes (nothing else outlives one)."""
        if self._frames is not None:
            await self.close()


class RealtimeSessionTransport(SessionTransport):
    """The Realtime protocol against a `ServerSession` of `config` (the GA shape, as OpenAI's route)."""

    def __init__(self, config: ServerConfig, model: str = "gpt-realtime", **options: Any) -> None:
        super().__init__(**options)
        self.config = config
        self.model = model
        self.session: Any = None

    @classmethod
    def of(cls, brain: Brain, pacing: Pacing = UNPACED, **options: Any) -> RealtimeSessionTransport:
        """A transport to a session of a server with `brain` (unpaced unless told); `options` are the transport's."""
        return cls(ServerConfig(brain=brain, faults=Faults(), pacing=pacing), **options)

    async def _start(self, write: Send, on_crash: Callable[[BaseException], None]) -> None:
        self.session = self.config.new_session(write, model=self.model, on_crash=on_crash)
        await self.session.start()

    async def _handle(self, frame: bytes) -> None:
        await self.session.handle_raw(frame)

    async def _stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    def _parse(self, frame: bytes) -> RealtimeEvent:
        return protocol.parse_server_message(frame)


class LiveSessionTransport(SessionTransport):
    """GPT-Live against a `LiveServerSession`, every event checked both ways as the server's route does."""

    def __init__(
        self, brain: Brain, pacing: Pacing = UNPACED, lifetime_s: float = 3600.0, *, hears: bool = False
    ) -> None:
        super().__init__(hears=hears)
        self.brain = brain
        self.pacing = pacing
        self.lifetime_s = lifetime_s
        self.session: Any = None
        self._write: Send | None = None

    async def prepare(self) -> None:
        from voicecli.server.live.validation import build_live_validators

        await super().prepare()
        await asyncio.to_thread(build_live_validators)

    async def _start(self, write: Send, on_crash: Callable[[BaseException], None]) -> None:
        from voicecli.server.live.session import LiveServerSession
        from voicecli.server.live.validation import validate_live_server_event

        async def checked(event: dict[str, Any]) -> None:
            validate_live_server_event(event)  # a server bug raises, as on the route
            await write(event)

        self._write = checked
        self.session = LiveServerSession(
            checked, brain=self.brain, pacing=self.pacing, lifetime_s=self.lifetime_s, on_crash=on_crash
        )

    async def _handle(self, frame: bytes) -> None:
        from voicecli.server.live.route import handle_client_frame

        assert self._write is not None
        await handle_client_frame(self.session, frame, self._write, what="frame")
        if self.session.closed:  # `session.close`: the route closes the socket (1000, session closed)
            self._end(CLOSED_BY_SESSION_CLOSE, "connection_closed")

    async def _stop(self) -> None:
        if self.session is not None:
            await self.session.stop()

    def _parse(self, frame: bytes) -> RealtimeEvent:
        return parse_live_message(frame)


class VoiceLiveSessionTransport(RealtimeSessionTransport):
    """Azure Voice Live against a `ServerSession` of `config`, as the server's `/voice-live/realtime`
    route drives one (`VoiceLiveShape`: each frame checked against the `azure-ai-voicelive` models,
    each event in Voice Live's form); the client's side is the Voice Live client's own (its connector's
    `wire_form`, its wire's parsing of word timestamps). The key and the URL stay a socket's business."""

    def __init__(self, config: ServerConfig, options: VoiceLiveOptions | None = None, **transport: Any) -> None:
        super().__init__(config, **transport)
        azure = AzureEndpoint.resolve("http://memory.invalid", "memory-key", self.model, None, None)
        self.connector = VoiceLiveConnector(azure, VOICE_LIVE_API_VERSION, options or VoiceLiveOptions())
        self._wire = VoiceLiveWire(self.connector)
        self.shape: VoiceLiveShape | None = None

    @classmethod
    def of(  # type: ignore[override]
        cls, brain: Brain, pacing: Pacing = UNPACED, options: VoiceLiveOptions | None = None, **transport: Any
    ) -> VoiceLiveSessionTransport:
        """A transport to a session of a server with `brain` (unpaced unless told)."""
        return cls(ServerConfig(brain=brain, faults=Faults(), pacing=pacing), options, **transport)

    async def prepare(self) -> None:
        await super().prepare()
        await asyncio.to_thread(importlib.import_module, "azure.ai.voicelive.models")  # seconds, when busy

    def wire_form(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self.connector.wire_form(payload)

    async def _start(self, write: Send, on_crash: Callable[[BaseException], None]) -> None:
        shape = self.shape = VoiceLiveShape()

        async def in_voice_live_form(event: dict[str, Any]) -> None:
            for wire in shape.to_wire_events(event):  # with word timestamps, several frames
                await write(wire)

        await super()._start(in_voice_live_form, on_crash)

    async def _handle(self, frame: bytes) -> None:
        assert self.shape is not None
        await self.shape.handle_frame(self.session, frame)

    def _parse(self, frame: bytes) -> RealtimeEvent:
        return self._wire.parse(frame)
