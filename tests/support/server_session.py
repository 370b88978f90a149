"""The local server's session driven directly, without a socket: the protocol's rules in milliseconds.

`SessionPeer` (Realtime) and `LivePeer` (GPT-Live) offer what a WebSocket peer of the tests does
(`send`, `send_raw`, `recv`, ...), but feed the frames to the session as the server's WebSocket
transport does (`handle_raw`; in the beta shape as the Azure preview route does, through
`handle_preview_frame` and `to_beta_server_event`; GPT-Live's through `handle_client_frame`) and take
what the session sends from a queue, through the same JSON encoding. What only the connection does
(routes, keys, close codes, the shape a route or header chooses, faults) stays tested over loopback.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson

from voicecli.server import recognition
from voicecli.server.brains import Brain
from voicecli.server.config import ServerConfig
from voicecli.server.preview_route import handle_preview_frame, to_beta_server_event
from voicecli.server.session.pacing import UNPACED, Pacing
from voicecli.server.validation import Shape, build_validators, validate_server_event


class SessionPeer:
    """A client of one `ServerSession`, in memory; every wait is bounded."""

    def __init__(self, config: ServerConfig, model: str = "gpt-realtime", shape: Shape = "ga") -> None:
        self.shape = shape
        self._frames: asyncio.Queue[bytes] = asyncio.Queue()
        self._crash: BaseException | None = None
        self.session = config.new_session(self._deliver, model=model, on_crash=self._crashed)

    async def _deliver(self, event: dict[str, Any]) -> None:
        if self.shape == "beta":
            beta = to_beta_server_event(event)
            if beta is None:
                return  # a GA-only event: the preview route does not send it
            event = beta
        await self._frames.put(orjson.dumps(event))  # what the transport would write

    def _crashed(self, error: BaseException) -> None:
        self._crash = error
        self._frames.put_nowait(b"")  # wakes a test waiting for the next event: it fails at once

    async def send(self, event: dict[str, Any]) -> None:
        await self.send_raw(orjson.dumps(event))

    async def send_raw(self, data: str | bytes) -> None:
        if self.shape == "beta":
            await handle_preview_frame(self.session, data)
        else:
            await self.session.handle_raw(data)

    async def raw(self, timeout: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout):
            frame = await self._frames.get()
        if self._crash is not None:
            raise AssertionError("a response task of the session failed") from self._crash
        return frame

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        event: dict[str, Any] = orjson.loads(await self.raw(timeout))
        validate_server_event(event, self.shape)
        return event

    async def expect(self, kind: str) -> dict[str, Any]:
        event = await self.recv()
        assert event["type"] == kind, event
        return event

    async def until(self, kind: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """All events up to and including the first of `kind`, within `timeout` in all (a guard against
        hanging: one event may take most of it, such as a transcript on a busy machine)."""
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while not events or events[-1]["type"] != kind:
                events.append(await self.recv(timeout))
        return events


class VoiceLivePeer(SessionPeer):
    """A client of one `ServerSession` as the `/voice-live/realtime` route drives it (`VoiceLiveShape`):
    frames checked against the `azure-ai-voicelive` models, events in Voice Live's form, checked too."""

    def __init__(self, config: ServerConfig, model: str = "gpt-realtime") -> None:
        from voicecli.server.voicelive.route import VoiceLiveShape

        self.voice_live = VoiceLiveShape()
        super().__init__(config, model=model, shape="beta")

    async def _deliver(self, event: dict[str, Any]) -> None:
        for wire in self.voice_live.to_wire_events(event):  # each checked against the SDK's models
            await self._frames.put(orjson.dumps(wire))

    async def send_raw(self, data: str | bytes) -> None:
        await self.voice_live.handle_frame(self.session, data)

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        from voicecli.server.voicelive.conformance import check_server_event

        event: dict[str, Any] = orjson.loads(await self.raw(timeout))
        check_server_event(event)
        return event


@asynccontextmanager
async def session_peer(
    config: ServerConfig, *, hears: bool = False, phrases: bool = True, voice_live: bool = False, **options: Any
) -> AsyncIterator[SessionPeer]:
    """A started session (its `session.created` is the first event to receive), closed afterwards.

    `voice_live`: the session as Azure Voice Live's route drives it. The protocol checks (of the
    peer's shape too) are built first, and with `hears` (the test sends speech to recognise) the
    recognisers loaded (a server loads them in the background), so that no bounded wait of a test
    includes a load that takes seconds on a busy machine; `phrases` False: no phrase is expected (no
    keywords, no brain phrases), so pocketsphinx's worker (a process) is not started where Whisper is
    installed, as the session would not start it."""
    await asyncio.to_thread(build_validators)
    if options.get("shape") == "beta":
        await asyncio.to_thread(build_validators, "beta")
    if voice_live:  # the azure-ai-voicelive models: seconds of imports on a busy machine
        await asyncio.to_thread(importlib.import_module, "azure.ai.voicelive.models")
    for loading in recognition.warm_up(grammar=phrases) if hears else ():
        await asyncio.wrap_future(loading)
    peer = VoiceLivePeer(config, **options) if voice_live else SessionPeer(config, **options)
    await peer.session.start()
    try:
        yield peer
    finally:
        await peer.session.close()


class LivePeer:
    """A client of one GPT-Live `LiveServerSession`, in memory, as the server's GPT-Live route drives
    one: each frame through `handle_client_frame`, each event the session sends checked against the
    `openai.types.live` models (a server bug raises, as the route's 1011 close would show it)."""

    def __init__(self, brain: Brain, pacing: Pacing = UNPACED) -> None:
        from voicecli.server.live.session import LiveServerSession

        self._frames: asyncio.Queue[bytes] = asyncio.Queue()
        self.session = LiveServerSession(self._deliver, brain=brain, pacing=pacing)

    async def _deliver(self, event: dict[str, Any]) -> None:
        from voicecli.server.live.validation import validate_live_server_event

        validate_live_server_event(event)
        await self._frames.put(orjson.dumps(event))

    async def send_raw(self, data: str | bytes) -> None:
        from voicecli.server.live.route import handle_client_frame

        await handle_client_frame(self.session, data, self._deliver, what="frame")

    async def send(self, event: dict[str, Any]) -> None:
        await self.send_raw(orjson.dumps(event))

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            event: dict[str, Any] = orjson.loads(await self._frames.get())
        return event


@asynccontextmanager
async def live_peer(brain: Brain, pacing: Pacing = UNPACED) -> AsyncIterator[LivePeer]:
    """A GPT-Live session not yet started (the client's `session.start` is the first event), stopped afterwards."""
    from voicecli.server.live.validation import build_live_validators

    await asyncio.to_thread(build_validators)
    await asyncio.to_thread(build_live_validators)
    peer = LivePeer(brain, pacing)
    try:
        yield peer
    finally:
        await peer.session.stop()
