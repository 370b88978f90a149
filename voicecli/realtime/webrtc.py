"""WebRTC transport (aiortc): OpenAI and Azure OpenAI.

The microphone is an aiortc `MediaStreamTrack` sent as Opus RTP; events travel as JSON on the
`oai-events` data channel; the model's voice arrives as a remote track, converted to 24 kHz int16
and delivered like WebSocket audio deltas (callback first, then `receive()`). The call is set up
by `webrtc_signaling`; ICE stays on 127.0.0.1 when the service is on loopback (`webrtc_ice`).
`WebRTCTransport` is the transport; the seed's client classes only build it for their endpoint.

Without an `audio_track` argument the transport makes its own `PcmAudioTrack` and `send()` of audio
(`RealtimeAudioEvent` or an `input_audio_buffer.append` dict) feeds that track, so code written for
the WebSocket clients works unchanged. `input_audio_buffer.commit` then waits until the queued
audio has gone out and crossed the network, since RTP has no marker for "this was the last of it".
A track passed by the caller is the caller's: audio given to `send()` then goes over the data
channel as `input_audio_buffer.append`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from voicecli.realtime import protocol
from voicecli.realtime.client import RealtimeClient
from voicecli.realtime.endpoints import (
    AzureEndpoint,
    AzureWebRTCEndpoint,
    OpenAIEndpoint,
    OpenAIWebRTCEndpoint,
    TokenProvider,
    WebRTCEndpoint,
)
from voicecli.realtime.errors import RealtimeConnectionError, RealtimeError
from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.protocol import ListenEvents, SendEvents
from voicecli.realtime.tasks import BackgroundTasks
from voicecli.realtime.transport import Transmit, TransportName, TransportSink
from voicecli.realtime.webrtc_audio import MicrophoneInput, PushToTalk, read_reply_audio
from voicecli.realtime.webrtc_ice import is_loopback_url, loopback_candidates, no_stun, why_not_open
from voicecli.realtime.webrtc_media import PcmAudioTrack
from voicecli.realtime.webrtc_playback import RemotePlayback
from voicecli.realtime.webrtc_signaling import CallAnswer, start_call

if TYPE_CHECKING:
    from aiortc import RTCDataChannel


__all__ = [
    "AzureRealtimeWebRTC",
    "OpenAIRealtimeWebRTC",
    "PcmAudioTrack",
    "WebRTCEndpoint",
    "WebRTCTransport",
]

EVENTS_CHANNEL = "oai-events"
_REPORT_AT = 0.95
"""The connection wait ends at this share of `create_session`'s overall timeout, just before it, so
the error can say which stage hung instead of only that the whole setup took too long."""


@dataclass(frozen=True, slots=True)
class _Lost:
    """Queued after the events received before the call was lost."""

    message: str
    code: str


class WebRTCTransport:
    """Realtime events on a data channel, microphone and reply audio as media; one call per session."""

    name: TransportName = "webrtc"
    media_audio = True

    def __init__(self, endpoint: WebRTCEndpoint, audio_track: MediaStreamTrack | None = None) -> None:
        self.endpoint = endpoint
        self._given_track = audio_track
        self.audio_track: MediaStreamTrack | None = audio_track
        self.call_location: str | None = None  # the call's URL, from the service's `Location` header
        self._own_track: PcmAudioTrack | None = None
        self._sink: TransportSink | None = None
        self.peer_connection: RTCPeerConnection | None = None
        """The current call's peer connection (None between calls)."""
        self._channel: RTCDataChannel | None = None
        self._incoming: asyncio.Queue[RealtimeEvent | _Lost] = asyncio.Queue()
        self._playback = RemotePlayback()
        self.tasks = BackgroundTasks()
        """The current call's readers (events, audio)."""
        self._releasing: asyncio.Future[None] | None = None  # the teardown after a lost call
        self._microphone = MicrophoneInput()

    def describe(self) -> str:
        return self.endpoint.realtime_base_url()

    def wire_form(self, payload: dict[str, Any]) -> dict[str, Any]:
        return payload

    async def prepare(self) -> None:
        pass

    # --- what the client sends ------------------------------------------------------------------

    async def send_event(self, payload: dict[str, Any], transmit: Transmit) -> None:
        """Audio goes into the transport's own microphone track when it has one; a commit waits
        until that audio has gone out and crossed the network."""
        track = self._own_track
        if track is None:
            await transmit(payload)
            return
        await self._microphone.send_event(payload, track, transmit, self._push_to_talk())

    async def stream_audio(self, pcm: np.ndarray, transmit: Transmit) -> None:
        """Microphone audio: into the own track; with the caller's track, on the data channel."""
        track = self._own_track
        if track is None:
            await transmit(protocol.append_audio(pcm))
            return
        await self._microphone.stream(pcm, track, transmit, self._push_to_talk())

    def _push_to_talk(self) -> PushToTalk | None:
        return self._sink.push_to_talk if self._sink is not None else None

    async def send(self, payload: dict[str, Any]) -> None:
        channel = self._channel
        if channel is None or channel.readyState != "open":
            raise RealtimeConnectionError("the realtime session is not open")
        if payload.get("type") == SendEvents.OUTPUT_AUDIO_BUFFER_CLEAR:
            self._playback.clear()  # stop delivering at once, not after the service's answer
        try:
            channel.send(protocol.encode(payload))
        except ValueError as exc:  # larger than the peer's maximum message size
            raise RealtimeError(f"cannot send {payload.get('type')}: {exc}") from exc

    # --- the call ---------------------------------------------------------------------------------

    async def open(self, sink: TransportSink) -> None:
        started = asyncio.get_running_loop().time()
        deadline = started + sink.connect_timeout_s * _REPORT_AT
        await self._released()  # a previous call that was lost may still be closing
        base_url = self.endpoint.realtime_base_url()
        credential_headers = await self.endpoint.credential_headers()
        track: MediaStreamTrack
        if self._given_track is None:
            self._own_track = track = PcmAudioTrack()
        else:
            self._own_track, track = None, self._given_track
        self.audio_track = track
        self._sink = sink
        self._incoming = asyncio.Queue()
        self._playback = self._new_playback()
        self.peer_connection = pc = self._new_peer()
        opened = self._wire(pc, track)
        try:
            with loopback_candidates(is_loopback_url(base_url)):
                await pc.setLocalDescription(await pc.createOffer())
            async with aiohttp.ClientSession() as http:
                answer = await self._exchange(http, base_url, credential_headers, sink, pc.localDescription.sdp)
            self.call_location = answer.location
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
            except ValueError as exc:
                raise RealtimeConnectionError(f"{base_url} sent an SDP answer that cannot be used: {exc}") from exc
            try:
                async with asyncio.timeout_at(deadline):
                    await opened
            except TimeoutError:
                waited_s = asyncio.get_running_loop().time() - started
                raise RealtimeConnectionError(
                    why_not_open(base_url, pc.iceConnectionState, pc.connectionState, waited_s)
                ) from None
        except BaseException:
            if not opened.done():
                opened.cancel()  # later channel or state changes have nobody to tell
            elif not opened.cancelled():
                opened.exception()  # seen: no "exception was never retrieved" warning
            await self._release()
            raise
        self._start(self._read_events(sink))

    async def _exchange(
        self, http: aiohttp.ClientSession, base_url: str, headers: dict[str, str], sink: TransportSink, offer: str
    ) -> CallAnswer:
        """The SDP answer for `offer` (the hook where another protocol sets up its call its own way)."""
        session = {**sink.session_config(), "model": self.endpoint.model}
        return await start_call(http, base_url, headers, session, offer)

    def _new_peer(self) -> RTCPeerConnection:
        """The call's peer connection, without STUN (the hook where a test puts a peer without sockets)."""
        return RTCPeerConnection(no_stun())

    def _parse(self, message: str | bytes) -> RealtimeEvent:
        """One data channel message as a typed event (the hook for another protocol's events)."""
        return protocol.parse_server_message(message)

    def _new_playback(self) -> RemotePlayback:
        """Which incoming audio is reply audio (the hook for a protocol without `output_audio_buffer.*`)."""
        return RemotePlayback()

    def _wire(self, pc: RTCPeerConnection, track: MediaStreamTrack) -> asyncio.Future[None]:
        """Add the tracks and the events channel; the future resolves when the channel opens."""
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def fail(message: str) -> None:
            if not opened.done():
                opened.set_exception(RealtimeConnectionError(message))
            elif self.peer_connection is pc:  # not a call already replaced by a newer one
                self._lose(message)

        pc.addTrack(track)
        channel = self._channel = pc.createDataChannel(EVENTS_CHANNEL)

        @channel.on("open")
        def on_open() -> None:
            if not opened.done():
                opened.set_result(None)

        incoming, playback = self._incoming, self._playback  # this call's, even once it is replaced

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            event = self._parse(message)
            playback.on_server_event(event)  # at once: `response.done` may be waiting for it
            incoming.put_nowait(event)

        @channel.on("close")
        def on_close() -> None:
            fail("the service closed the realtime data channel")

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                fail(f"the WebRTC connection {'failed' if pc.connectionState == 'failed' else 'was closed'}")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio" and self._sink is not None:
                self._start(self._read_audio(track, self._sink))

        return opened

    async def _read_events(self, sink: TransportSink) -> None:
        try:
            while True:
                event = await self._incoming.get()
                if isinstance(event, _Lost):
                    self._end(sink, event.message, event.code)
                    return
                if event.service_type == ListenEvents.RESPONSE_DONE and event.service_event:
                    await self._playback.played((event.service_event.get("response") or {}).get("id"))
                await sink.deliver(event)
        except Exception as exc:  # a bug in a callback must not leave receive() waiting forever
            self._end(sink, f"the realtime connection failed: {type(exc).__name__}: {exc}", "client_error")

    async def _read_audio(self, track: MediaStreamTrack, sink: TransportSink) -> None:
        try:
            await read_reply_audio(track, lambda pcm: self._playback.admit(pcm), sink.deliver, self._lose)
        except Exception as exc:
            self._lose(f"the realtime audio failed: {type(exc).__name__}: {exc}", "client_error")

    async def close(self) -> None:
        await self._release()

    async def end(self) -> None:
        """After a lost call, wait until its peer connection is closed."""
        await self._released()

    def _lose(self, message: str, code: str = "connection_closed") -> None:
        """The call is lost: report it after the events already received, and nothing waits for audio."""
        self._playback.clear()
        self._incoming.put_nowait(_Lost(message, code))

    def _end(self, sink: TransportSink, message: str, code: str) -> None:
        """Report a lost call once and release it now: closing the session will find nothing open."""
        if self._sink is sink:
            self._sink = None
            self._releasing = asyncio.ensure_future(self._release())
            sink.lost(message, code, reconnectable=code == "connection_closed")

    async def _released(self) -> None:
        releasing, self._releasing = self._releasing, None
        if releasing is not None:
            await releasing

    def _release(self) -> Coroutine[Any, Any, None]:
        """Detach the call's peer connection and tasks at once, so no later callback or session
        touches them; the coroutine closes them (closing the peer connection stops the tracks)."""
        pc, self.peer_connection, self._channel = self.peer_connection, None, None
        tasks, self.tasks = self.tasks, BackgroundTasks()
        self._sink = None

        async def close() -> None:
            await tasks.close()
            if pc is not None:
                await pc.close()

        return close()

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        self.tasks.spawn(work)


class _WebRTCClient(RealtimeClient):
    """What the seed's WebRTC clients share: the call's track and location, read from the transport."""

    webrtc: WebRTCTransport

    @property
    def model(self) -> str:
        return self.webrtc.endpoint.model

    @property
    def audio_track(self) -> MediaStreamTrack | None:
        """The microphone track of the current call (the caller's, or the transport's own)."""
        return self.webrtc.audio_track

    @property
    def call_location(self) -> str | None:
        """The call's URL, from the service's `Location` header."""
        return self.webrtc.call_location


class OpenAIRealtimeWebRTC(_WebRTCClient):
    """OpenAI Realtime over WebRTC. Credentials from arguments or `OPENAI_API_KEY`, `OPENAI_BASE_URL`
    (an `http://` base, such as `voicecli serve`, is fine), `OPENAI_REALTIME_MODEL_ID`."""

    def __init__(
        self,
        *,
        audio_track: MediaStreamTrack | None = None,
        api_key: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.endpoint = OpenAIWebRTCEndpoint(OpenAIEndpoint.resolve(api_key, model, base_url))
        self.webrtc = WebRTCTransport(self.endpoint, audio_track)
        super().__init__(transport=self.webrtc, **kwargs)


class AzureRealtimeWebRTC(_WebRTCClient):
    """Azure OpenAI realtime over WebRTC (the GA `/openai/v1` route; WebRTC has no preview route
    here). Anything not passed comes from the environment variables `AzureRealtimeWebsocket` reads;
    without a key, Entra ID signs in (the `azure` extra)."""

    def __init__(
        self,
        *,
        audio_track: MediaStreamTrack | None = None,
        endpoint: str | None = None,
        api_key: str | None = None,
        deployment_name: str | None = None,
        token_provider: TokenProvider | None = None,
        **kwargs: Any,
    ) -> None:
        azure = AzureEndpoint.resolve(endpoint, api_key, deployment_name, None, token_provider)
        self.webrtc = WebRTCTransport(AzureWebRTCEndpoint(azure), audio_track)
        super().__init__(transport=self.webrtc, **kwargs)
