"""A WebRTC call without sockets, for the client's own rules about its call: the test plays the
service on the `oai-events` data channel and the remote track.

`use_memory_peers(monkeypatch)` makes every `WebRTCTransport` call a `MemoryPeer` (through the
transport's `_new_peer` hook) and take the `answer` SDP without an HTTP request (its `_exchange`), or
signal to the local server's routes in memory (`signaling=app`).
The peer connects as soon as it has that answer, opens its channel and sends `greeting` on it
(`session.created`); then `channel.arrive(event)` is the service speaking, `channel.sent` what the
client sent, `channel.close()` the service hanging up, `peer.end_audio()` the service's track ending.
With `signaling=app` the local server's call is the service, its session behind a linked channel.
ICE, DTLS, RTP and the channel's wire format are aiortc's: the end-to-end tests keep real peers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiortc import RTCSessionDescription
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription
from pyee.asyncio import AsyncIOEventEmitter

from support.app_requests import AppSession
from voicecli.realtime.live_webrtc import LiveWebRTCTransport
from voicecli.realtime.transport import SESSION_CREATED, TransportSink
from voicecli.realtime.webrtc import WebRTCTransport
from voicecli.realtime.webrtc_signaling import CallAnswer
from voicecli.server.live.webrtc_call import LiveRtcCall
from voicecli.server.webrtc.call import RtcCall

OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 127.0.0.1\r\na=mid:0\r\na=rtpmap:96 opus/48000/2\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 127.0.0.1\r\na=mid:1\r\na=sctp-port:5000\r\n"
)
ANSWER = OFFER.replace("o=- 1 1", "o=- 2 2")
"""An answer whose media sections match the offer's, as the service's does."""


class MemoryChannel(AsyncIOEventEmitter):
    """The `oai-events` data channel, as the client's and the server's code use aiortc's `RTCDataChannel`.

    Linked to another (`link`), what one sends the other receives on a later turn of the event loop,
    in order, and closing one closes the other, as SCTP would."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label
        self.readyState = "connecting"
        self.sent: list[str | bytes] = []
        """What was sent on this end, as it was sent."""
        self._other: MemoryChannel | None = None

    def link(self, other: MemoryChannel) -> None:
        self._other, other._other = other, self

    def send(self, message: str | bytes) -> None:
        if self.readyState != "open":
            raise InvalidStateError
        self.sent.append(message)
        if self._other is not None:
            asyncio.get_running_loop().call_soon(self._other._received, message)

    def _received(self, message: str | bytes) -> None:
        if self.readyState == "open":
            self.emit("message", message)

    def open(self, greeting: list[dict[str, Any]]) -> None:
        self.readyState = "open"
        self.emit("open")
        for event in greeting:
            self.arrive(event)

    def arrive(self, event: dict[str, Any] | str) -> None:
        """A message from the service (a string is sent as it is, malformed or not)."""
        self.emit("message", event if isinstance(event, str) else orjson.dumps(event).decode())

    def close(self) -> None:
        if self.readyState != "closed":
            self.readyState = "closed"
            self.emit("close")
            if self._other is not None:
                asyncio.get_running_loop().call_soon(self._other.close)


class _EndedTrack(MediaStreamTrack):
    """The service's audio track once the service stopped it (RTCP BYE)."""

    kind = "audio"

    async def recv(self) -> Any:
        raise MediaStreamError


class MemoryPeer(AsyncIOEventEmitter):
    """A peer connection that connects at once to a service played by the test."""

    def __init__(self, greeting: list[dict[str, Any]], connect: Callable[[MemoryChannel], None] | None = None) -> None:
        """`greeting` is what the service says first; `connect` (when the service is the local
        server's call) links the client's channel to the call's instead."""
        super().__init__()
        self.greeting = greeting
        self._connect = connect
        self.connectionState = "new"
        self.iceConnectionState = "new"
        self.tracks: list[MediaStreamTrack] = []
        self.channel: MemoryChannel | None = None
        self.localDescription: RTCSessionDescription | None = None
        self.remoteDescription: RTCSessionDescription | None = None

    def addTrack(self, track: MediaStreamTrack) -> None:
        self.tracks.append(track)

    def createDataChannel(self, label: str) -> MemoryChannel:
        self.channel = MemoryChannel(label)
        return self.channel

    async def createOffer(self) -> RTCSessionDescription:
        return RTCSessionDescription(sdp=OFFER, type="offer")

    async def setLocalDescription(self, description: RTCSessionDescription) -> None:
        self.localDescription = description

    async def setRemoteDescription(self, description: RTCSessionDescription) -> None:
        """Connect, as aiortc would after ICE and DTLS; a `ValueError` for an answer that does not
        match the offer, as aiortc raises it."""
        if len(SessionDescription.parse(description.sdp).media) != len(SessionDescription.parse(OFFER).media):
            raise ValueError("Media sections in answer do not match offer")
        self.remoteDescription = description
        self.iceConnectionState, self.connectionState = "completed", "connected"
        self.emit("connectionstatechange")
        channel = self.channel
        assert channel is not None, "the client wires its channel before it offers"
        if self._connect is not None:
            self._connect(channel)
        else:
            asyncio.get_running_loop().call_soon(channel.open, self.greeting)

    def end_audio(self) -> None:
        """The service's audio track arrives, and has ended."""
        self.emit("track", _EndedTrack())

    async def close(self) -> None:
        if self.connectionState == "closed":
            return
        self.connectionState = "closed"
        if self.channel is not None:
            self.channel.close()
        self.emit("connectionstatechange")


def use_memory_peers(
    monkeypatch: pytest.MonkeyPatch,
    *,
    answer: str = ANSWER,
    greeting: list[dict[str, Any]] | None = None,
    signaling: web.Application | None = None,
) -> list[MemoryPeer]:
    """Every WebRTC call from now on is a `MemoryPeer` answered with `answer`; the peers, in order.

    With `signaling` (the local server's app), the service is that server instead (Realtime or
    GPT-Live): the client's own signaling posts to the app's routes in memory (`support.app_requests`),
    the server's call answers with `ANSWER` (its aiortc peer never opens), and once the client
    connects, its channel is linked to the call's, which starts the call's session as aiortc's
    `datachannel` event would."""
    peers: list[MemoryPeer] = []
    first_words = [SESSION_CREATED] if greeting is None else greeting
    answered: list[RtcCall | LiveRtcCall] = []

    def connect(client_side: MemoryChannel) -> None:
        call = answered.pop(0)
        server_side = MemoryChannel(client_side.label)
        server_side.link(client_side)

        def open_both() -> None:
            server_side.open([])
            client_side.open([])
            call.peer._on_channel(server_side)  # type: ignore[arg-type]

        asyncio.get_running_loop().call_soon(open_both)

    def new_peer(self: WebRTCTransport) -> MemoryPeer:
        peers.append(MemoryPeer(first_words, connect if signaling is not None else None))
        return peers[-1]

    async def exchange(self: WebRTCTransport, *_: object) -> CallAnswer:
        return CallAnswer(sdp=answer, location="/v1/realtime/calls/rtc_memory")

    def signals_to_the_app(transport: type[WebRTCTransport]) -> None:
        signal = transport._exchange

        async def exchange_with_the_app(
            self: WebRTCTransport,
            _http: object,
            base_url: str,
            headers: dict[str, str],
            sink: TransportSink,
            offer: str,
        ) -> CallAnswer:
            return await signal(self, AppSession(app), base_url, headers, sink, offer)  # type: ignore[arg-type]

        monkeypatch.setattr(transport, "_exchange", exchange_with_the_app)

    async def server_answer(self: RtcCall | LiveRtcCall, offer: str) -> str:
        answered.append(self)
        return ANSWER

    monkeypatch.setattr(WebRTCTransport, "_new_peer", new_peer)
    if signaling is None:
        monkeypatch.setattr(WebRTCTransport, "_exchange", exchange)
    else:
        app = signaling
        for transport in (WebRTCTransport, LiveWebRTCTransport):
            signals_to_the_app(transport)
        for call in (RtcCall, LiveRtcCall):
            monkeypatch.setattr(call, "answer", server_answer)
    return peers
