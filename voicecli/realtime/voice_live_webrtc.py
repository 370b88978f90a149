"""Azure Voice Live over WebRTC (a preview): events on a WebSocket, audio as Opus RTP media.

The call is signalled on a WebSocket to `/voice-live/realtime/calls?api-version=2026-01-01-preview&model=…`
(Microsoft's "Voice Live API with WebRTC" page and its Foundry blog post of 2026-04-30): the client
sends `rtc.call.sdp.create {sdp_offer, session?}` and the service answers `rtc.call.sdp.created
{rtc_call_id, sdp_answer}` (the `@azure/ai-projects` JavaScript reference, VoiceAgentClientEventRtcCallSdpCreate
and VoiceAgentServerEventRtcCallSdpCreated; the Python SDK models neither). The WebSocket then stays
open as the control channel, and here it carries every event both ways, in the same Voice Live
dialect as `VoiceLiveWebsocket` (`VoiceLiveWire`): the documentation says commands, session settings
and tool calls go there, and names no data channel, so none is opened. Microphone audio goes out on
an RTP track and the reply's voice comes in on one (`VoiceLivePlayback` says which frames are the
reply). ICE stays on 127.0.0.1 when the service is on loopback, as for every WebRTC call here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from voicecli.realtime.endpoints import AzureEndpoint, TokenProvider
from voicecli.realtime.errors import RealtimeConnectionError
from voicecli.realtime.events import RealtimeErrorEvent, RealtimeEvent
from voicecli.realtime.protocol import ListenEvents, SendEvents
from voicecli.realtime.tasks import BackgroundTasks
from voicecli.realtime.transport import Transmit, TransportName, TransportSink
from voicecli.realtime.voice_live import VoiceLiveClient, VoiceLiveOptions
from voicecli.realtime.voice_live_calls import (
    SDP_CREATE,
    SDP_CREATED,
    VOICE_LIVE_WEBRTC_API_VERSION,
    CallsWire,
    VoiceLiveCallsConnector,
)
from voicecli.realtime.voice_live_playback import VoiceLivePlayback
from voicecli.realtime.webrtc_audio import MicrophoneInput, PushToTalk, read_reply_audio
from voicecli.realtime.webrtc_ice import is_loopback_url, loopback_candidates, no_stun, why_not_open
from voicecli.realtime.webrtc_media import PcmAudioTrack
from voicecli.realtime.websocket import WebSocketTransport

__all__ = ["VoiceLiveWebRTC", "VoiceLiveWebRTCTransport"]

T = TypeVar("T")
_REPORT_AT = 0.95  # as in `webrtc`: say which stage hung just before the overall connect timeout


class _Signaling:
    """The transport's view of the WebSocket: the SDP answer is the call's; every other event goes
    to the client, after the reply audio it follows has been delivered. Until the call is `open`, a
    refusal or a lost socket ends its setup (`failed`) rather than a session."""

    def __init__(self, transport: VoiceLiveWebRTCTransport, sink: TransportSink) -> None:
        self.transport = transport
        self.sink = sink
        loop = asyncio.get_running_loop()
        self.answer: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.failed: asyncio.Future[None] = loop.create_future()
        self.open = False

    @property
    def connect_timeout_s(self) -> float:
        return self.sink.connect_timeout_s

    def session_config(self) -> dict[str, Any]:
        return self.sink.session_config()

    def push_to_talk(self) -> bool:
        return self.sink.push_to_talk()

    def fail(self, message: str) -> None:
        """The setup fails (the first reason is the one reported: a refusal comes before the close)."""
        if not self.failed.done():
            self.failed.set_exception(RealtimeConnectionError(message))

    async def deliver(self, event: RealtimeEvent) -> None:
        if not self.answer.done():
            if event.service_type == SDP_CREATED:
                self.answer.set_result(event.service_event or {})
                return
            if isinstance(event, RealtimeErrorEvent):  # the connection or the offer was refused
                self.fail(f"the WebRTC call was refused: {event.error.message}")
                return
        playback = self.transport.playback
        playback.on_server_event(event)
        if event.service_type == ListenEvents.RESPONSE_DONE and event.service_event:
            await playback.played((event.service_event.get("response") or {}).get("id"))
        await self.sink.deliver(event)

    def lost(self, message: str, code: str = "connection_closed", *, reconnectable: bool = False) -> None:
        if not self.open:
            self.fail(message)
            return
        self.transport.lose(self, message, code, reconnectable=reconnectable)

    async def step(self, work: Awaitable[T]) -> T:
        """`work`'s result, unless the setup fails first (its reason is then raised)."""
        task = asyncio.ensure_future(work)
        racing: set[asyncio.Future[Any]] = {task, self.failed}
        await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
        if self.failed.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            self.failed.result()
        return task.result()

    def settle(self) -> None:
        """The setup is over (opened or abandoned): no failure is left unretrieved."""
        for future in (self.answer, self.failed):
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()


class VoiceLiveWebRTCTransport:
    """Voice Live events over its WebSocket, microphone and reply audio as RTP; one call per session."""

    name: TransportName = "webrtc"
    media_audio = True

    def __init__(self, connector: VoiceLiveCallsConnector) -> None:
        self.connector = connector
        self.events = WebSocketTransport(connector, CallsWire(connector))
        self.rtc_call_id: str | None = None
        self.peer_connection: RTCPeerConnection | None = None
        self.audio_track: PcmAudioTrack | None = None
        self.playback = VoiceLivePlayback()
        self.tasks = BackgroundTasks()
        self._signaling: _Signaling | None = None
        self._releasing: asyncio.Future[None] | None = None
        self._microphone = MicrophoneInput()

    def describe(self) -> str:
        return self.connector.url

    def wire_form(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self.connector.wire_form(payload)

    async def prepare(self) -> None:
        await self.events.prepare()

    # --- the call ---------------------------------------------------------------------------------

    async def open(self, sink: TransportSink) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + sink.connect_timeout_s * _REPORT_AT
        await self._released()
        self.playback = VoiceLivePlayback()
        self._microphone = MicrophoneInput()
        signaling = self._signaling = _Signaling(self, sink)
        await self.events.open(signaling)
        pc = self.peer_connection = RTCPeerConnection(no_stun())
        track = self.audio_track = PcmAudioTrack()
        pc.addTrack(track)
        connected = self._watch(pc, signaling)
        url = self.connector.url
        try:
            with loopback_candidates(is_loopback_url(url)):
                await pc.setLocalDescription(await pc.createOffer())
            session = self.wire_form({"type": "session.update", "session": sink.session_config()})["session"]
            offer = {"type": SDP_CREATE, "sdp_offer": pc.localDescription.sdp, "session": session}
            await signaling.step(self.events.send(offer))
            try:
                async with asyncio.timeout_at(deadline):
                    await self._answered(pc, await signaling.step(signaling.answer), url)
                    await signaling.step(connected)
            except TimeoutError:
                waited_s = loop.time() - started
                raise RealtimeConnectionError(
                    why_not_open(url, pc.iceConnectionState, pc.connectionState, waited_s)
                ) from None
        except BaseException:
            if not connected.done():
                connected.cancel()
            elif not connected.cancelled():
                connected.exception()  # seen: no "exception was never retrieved" warning
            signaling.settle()
            await self._release()
            raise
        signaling.settle()
        signaling.open = True

    async def _answered(self, pc: RTCPeerConnection, answer: dict[str, Any], url: str) -> None:
        """Apply the service's `rtc.call.sdp.created`."""
        sdp, call_id = answer.get("sdp_answer"), answer.get("rtc_call_id")
        if not isinstance(sdp, str):
            raise RealtimeConnectionError(f"{url} answered the call without an SDP answer")
        self.rtc_call_id = call_id if isinstance(call_id, str) else None
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except ValueError as exc:
            raise RealtimeConnectionError(f"{url} sent an SDP answer that cannot be used: {exc}") from exc

    def _watch(self, pc: RTCPeerConnection, signaling: _Signaling) -> asyncio.Future[None]:
        """Follow the peer connection; the future resolves once its media path is connected."""
        connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected" and not connected.done():
                connected.set_result(None)
            elif pc.connectionState in ("failed", "closed"):
                message = f"the WebRTC connection {'failed' if pc.connectionState == 'failed' else 'was closed'}"
                if not connected.done():
                    connected.set_exception(RealtimeConnectionError(message))
                elif self.peer_connection is pc:
                    self.lose(signaling, message, reconnectable=True)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "audio":
                self.tasks.spawn(self._read_audio(track, signaling))

        return connected

    async def _read_audio(self, track: MediaStreamTrack, signaling: _Signaling) -> None:
        await read_reply_audio(
            track,
            lambda pcm: self.playback.admit(pcm),
            signaling.sink.deliver,
            lambda message: self.lose(signaling, message, reconnectable=True),
        )

    def lose(
        self, signaling: _Signaling, message: str, code: str = "connection_closed", *, reconnectable: bool
    ) -> None:
        """Report a lost call once (the WebSocket or the media path) and release both."""
        if self._signaling is not signaling:
            return
        self._signaling = None
        self.playback.clear()
        self._releasing = asyncio.ensure_future(self._release())
        signaling.sink.lost(message, code, reconnectable=reconnectable)

    # --- what the client sends ------------------------------------------------------------------

    async def send(self, payload: dict[str, Any]) -> None:
        if payload.get("type") == SendEvents.OUTPUT_AUDIO_BUFFER_CLEAR:
            self.playback.clear()  # stop delivering at once, not after the service's answer
        await self.events.send(payload)

    async def send_event(self, payload: dict[str, Any], transmit: Transmit) -> None:
        """Audio goes into the microphone track; a commit waits until it has crossed the network."""
        track = self.audio_track
        if track is None:
            await transmit(payload)
            return
        await self._microphone.send_event(payload, track, transmit, self._push_to_talk())

    async def stream_audio(self, pcm: np.ndarray, transmit: Transmit) -> None:
        track = self.audio_track
        if track is None:
            raise RealtimeConnectionError("the realtime session is not open")
        await self._microphone.stream(pcm, track, transmit, self._push_to_talk())

    def _push_to_talk(self) -> PushToTalk | None:
        signaling = self._signaling
        return signaling.push_to_talk if signaling is not None else None

    # --- the end ----------------------------------------------------------------------------------

    async def close(self) -> None:
        self._signaling = None
        await self._release()

    async def end(self) -> None:
        await self._released()

    async def _released(self) -> None:
        releasing, self._releasing = self._releasing, None
        if releasing is not None:
            await releasing

    def _release(self) -> Coroutine[Any, Any, None]:
        """Detach the call at once (no later callback touches it); the coroutine closes it."""
        pc, self.peer_connection = self.peer_connection, None
        tasks, self.tasks = self.tasks, BackgroundTasks()
        self.audio_track = None
        events = self.events

        async def close() -> None:
            await tasks.close()
            await events.close()
            if pc is not None:
                await pc.close()

        return close()


class VoiceLiveWebRTC(VoiceLiveClient):
    """Azure Voice Live over WebRTC (preview); endpoint, key and model default to the `AZURE_OPENAI_*`
    variables, as for `VoiceLiveWebsocket`, and without a key Entra ID signs in."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        api_key: str | None = None,
        deployment_name: str | None = None,
        api_version: str | None = None,
        token_provider: TokenProvider | None = None,
        options: VoiceLiveOptions | None = None,
        **kwargs: Any,
    ) -> None:
        azure = AzureEndpoint.resolve(endpoint, api_key, deployment_name, None, token_provider)
        version = api_version or VOICE_LIVE_WEBRTC_API_VERSION
        self.connector = VoiceLiveCallsConnector(azure, version, options or VoiceLiveOptions())
        self.webrtc = VoiceLiveWebRTCTransport(self.connector)
        super().__init__(transport=self.webrtc, **kwargs)

    @property
    def rtc_call_id(self) -> str | None:
        """The service's id of the current call, from `rtc.call.sdp.created`."""
        return self.webrtc.rtc_call_id
