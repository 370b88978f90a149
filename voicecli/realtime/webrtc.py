"""WebRTC transport (aiortc): OpenAI and Azure OpenAI.

The microphone is an aiortc `MediaStreamTrack` sent as Opus RTP; events travel as JSON on the
`oai-events` data channel; the model's voice arrives as a remote track, converted to 24 kHz int16
and delivered like WebSocket audio deltas (callback first, then `receive()`). The call is set up
by `webrtc_signaling`; ICE stays on 127.0.0.1 when the service is on loopback (`webrtc_ice`).

Without an `audio_track` argument the client makes its own `PcmAudioTrack` and `send()` of audio
(`RealtimeAudioEvent` or an `input_audio_buffer.append` dict) feeds that track, so code written for
the WebSocket clients works unchanged. `input_audio_buffer.commit` then waits until the queued
audio has gone out and crossed the network, since RTP has no marker for "this was the last of it".
A track passed by the caller is the caller's: audio given to `send()` then goes over the data
channel as `input_audio_buffer.append`.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from voicecli.realtime import protocol
from voicecli.realtime.client import (
    RealtimeClient,
    RealtimeConnectionError,
    RealtimeError,
)
from voicecli.realtime.endpoints import OPENAI_BASE_URL, AzureEndpoint, OpenAIEndpoint, TokenProvider
from voicecli.realtime.events import AudioContent, RealtimeAudioEvent, RealtimeEvent
from voicecli.realtime.protocol import ListenEvents, SendEvents
from voicecli.realtime.settings import RealtimeSettings
from voicecli.realtime.tasks import BackgroundTasks
from voicecli.realtime.webrtc_ice import is_loopback_url, loopback_candidates, no_stun, why_not_open
from voicecli.realtime.webrtc_media import Pcm24kConverter, PcmAudioTrack
from voicecli.realtime.webrtc_playback import RemotePlayback
from voicecli.realtime.webrtc_signaling import start_call

if TYPE_CHECKING:
    from aiortc import RTCDataChannel


__all__ = [
    "AzureRealtimeWebRTC",
    "OpenAIRealtimeWebRTC",
    "PcmAudioTrack",
    "WebRTCRealtimeClient",
]

EVENTS_CHANNEL = "oai-events"
RTP_LATENCY_S = 0.4
"""How long after the last queued sample a commit is sent: encoder, network, jitter buffer and
decoder take ~130 ms on loopback; the rest is margin for a busy machine or a real network."""
AUDIO_STALL_S = 5.0
"""The service's audio track never pauses (silence between replies); this long without a frame
means the peer is gone, which ICE alone notices only after ~30 s."""
_REPORT_AT = 0.95
"""The connection wait ends at this share of `create_session`'s overall timeout, just before it, so
the error can say which stage hung instead of only that the whole setup took too long."""


@dataclass(frozen=True, slots=True)
class _Lost:
    """Queued after the events received before the call was lost."""

    message: str
    code: str


class WebRTCRealtimeClient(RealtimeClient):
    """Shared machinery of the WebRTC clients; subclasses say where to call and with which key."""

    transport = "webrtc"

    def __init__(self, *, audio_track: MediaStreamTrack | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._given_track = audio_track
        self.audio_track: MediaStreamTrack | None = audio_track
        self.call_location: str | None = None  # the call's URL, from the service's `Location` header
        self._own_track: PcmAudioTrack | None = None
        self._pc: RTCPeerConnection | None = None
        self._channel: RTCDataChannel | None = None
        self._incoming: asyncio.Queue[RealtimeEvent | _Lost] = asyncio.Queue()
        self._playback = RemotePlayback()
        self._tasks = BackgroundTasks()
        self._releasing: asyncio.Future[None] | None = None  # the teardown after a lost call
        self._turn_open = False  # push-to-talk: audio of the current turn has gone into the track

    @property
    @abstractmethod
    def model(self) -> str:
        """The model (OpenAI) or deployment (Azure) the session runs on."""

    @abstractmethod
    def _realtime_base_url(self) -> str:
        """The URL that `/realtime/client_secrets` and `/realtime/calls` are relative to."""

    @abstractmethod
    async def _credential_headers(self) -> dict[str, str]:
        """Headers carrying the long-lived credential, for minting the ephemeral key."""

    @property
    def endpoint_description(self) -> str:
        """Where this client connects, for messages (never contains a secret)."""
        return self._realtime_base_url()

    # --- the public API, where WebRTC differs ---------------------------------------------------

    async def create_session(self, settings: RealtimeSettings | None = None, create_response: bool = False) -> None:
        """As for every client; the settings are needed before connecting, as the key carries them."""
        if settings is not None and not self.connected:
            self.settings = settings
        await super().create_session(settings=settings, create_response=create_response)

    async def delete_session(self) -> None:
        """As for every client; after a lost call, also wait until its peer connection is closed."""
        await super().delete_session()
        await self._released()

    async def send(self, event: RealtimeEvent | dict[str, Any]) -> None:
        """Send an event; audio goes into the client's own microphone track when it has one."""
        track = self._own_track
        if track is not None and self._switching is None:
            pcm = _audio_of(event)
            kind = _type_of(event)
            if kind == SendEvents.INPUT_AUDIO_BUFFER_CLEAR:
                track.clear()
                self._turn_open = True  # the caller cleared: the turn starts clean already
            try:
                if pcm is not None:
                    if not self.connected:
                        raise RealtimeConnectionError("the realtime session is not open")
                    if self.settings.push_to_talk and not self._turn_open:
                        # a new turn: drop the silence the idle track sent since the last commit
                        self._turn_open = True
                        await super().send(protocol.simple_event(SendEvents.INPUT_AUDIO_BUFFER_CLEAR))
                    await track.put(pcm)
                    return
                if kind == SendEvents.INPUT_AUDIO_BUFFER_COMMIT:
                    self._turn_open = False
                    await track.drained()
                    await asyncio.sleep(RTP_LATENCY_S)
            except MediaStreamError as exc:
                raise RealtimeConnectionError("the realtime connection is closed") from exc
        await super().send(event)

    async def _stream_audio(self, pcm: Any) -> None:
        """Microphone audio from `send_audio`: into the microphone track, as `send()` of audio does."""
        await self.send(RealtimeAudioEvent(audio=AudioContent(data=pcm)))

    # --- the transport ----------------------------------------------------------------------------

    async def _open(self) -> None:
        started = asyncio.get_running_loop().time()
        deadline = started + self.connect_timeout_s * _REPORT_AT
        await self._released()  # a previous call that was lost may still be closing
        base_url = self._realtime_base_url()
        credential_headers = await self._credential_headers()
        settings = self.settings.with_tools(self.tools.payload())
        session = {**settings.to_session_payload()["session"], "model": self.model}
        track: MediaStreamTrack
        if self._given_track is None:
            self._own_track = track = PcmAudioTrack()
        else:
            self._own_track, track = None, self._given_track
        self.audio_track = track
        self._incoming = asyncio.Queue()
        self._playback = RemotePlayback()
        self._pc = pc = RTCPeerConnection(no_stun())
        opened = self._wire(pc, track)
        try:
            with loopback_candidates(is_loopback_url(base_url)):
                await pc.setLocalDescription(await pc.createOffer())
            async with aiohttp.ClientSession() as http:
                answer = await start_call(http, base_url, credential_headers, session, pc.localDescription.sdp)
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
        self._start(self._read_events())

    def _wire(self, pc: RTCPeerConnection, track: MediaStreamTrack) -> asyncio.Future[None]:
        """Add the tracks and the events channel; the future resolves when the channel opens."""
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def fail(message: str) -> None:
            if not opened.done():
                opened.set_exception(RealtimeConnectionError(message))
            elif self._pc is pc:  # not a call already replaced by a newer one
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
            event = protocol.parse_server_message(message)
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
            if track.kind == "audio":
                self._start(self._read_audio(track))

        return opened

    async def _read_events(self) -> None:
        try:
            while True:
                event = await self._incoming.get()
                if isinstance(event, _Lost):
                    self._end(event.message, event.code)
                    return
                if event.service_type == ListenEvents.RESPONSE_DONE and event.service_event:
                    await self._playback.played((event.service_event.get("response") or {}).get("id"))
                await self._dispatch(event)
        except Exception as exc:  # a bug in a callback must not leave receive() waiting forever
            self._end(f"the realtime connection failed: {type(exc).__name__}: {exc}", "client_error")

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        converter = Pcm24kConverter()
        try:
            while True:
                try:
                    async with asyncio.timeout(AUDIO_STALL_S):
                        frame = await track.recv()
                except TimeoutError:
                    self._lose(f"no audio from the service for {AUDIO_STALL_S:g} s (the connection is lost)")
                    return
                assert isinstance(frame, AudioFrame)
                admitted = self._playback.admit(converter.convert(frame))
                if admitted is not None:
                    pcm, item_id = admitted
                    await self._dispatch(
                        RealtimeAudioEvent(
                            service_type=ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA,
                            audio=AudioContent(data=pcm, item_id=item_id),
                        )
                    )
        except MediaStreamError:
            self._lose("the service's audio track ended")
        except Exception as exc:
            self._lose(f"the realtime audio failed: {type(exc).__name__}: {exc}", "client_error")

    async def _send_payload(self, payload: dict[str, Any]) -> None:
        channel = self._channel
        if channel is None or channel.readyState != "open" or not self.connected:
            raise RealtimeConnectionError("the realtime session is not open")
        if payload.get("type") == SendEvents.OUTPUT_AUDIO_BUFFER_CLEAR:
            self._playback.clear()  # stop delivering at once, not after the service's answer
        try:
            channel.send(protocol.encode(payload))
        except ValueError as exc:  # larger than the peer's maximum message size
            raise RealtimeError(f"cannot send {payload.get('type')}: {exc}") from exc

    async def _close(self) -> None:
        await self._release()

    def _lose(self, message: str, code: str = "connection_closed") -> None:
        """The call is lost: report it after the events already received, and nothing waits for audio."""
        self._playback.clear()
        self._incoming.put_nowait(_Lost(message, code))

    def _end(self, message: str, code: str) -> None:
        """Report a lost call once and release it now: `delete_session` will find nothing open."""
        if self.connected:
            self._connection_lost(message, code, reconnectable=code == "connection_closed")
            self._releasing = asyncio.ensure_future(self._release())

    async def _released(self) -> None:
        releasing, self._releasing = self._releasing, None
        if releasing is not None:
            await releasing

    def _release(self) -> Coroutine[Any, Any, None]:
        """Detach the call's peer connection and tasks at once, so no later callback or session
        touches them; the coroutine closes them (closing the peer connection stops the tracks)."""
        pc, self._pc, self._channel = self._pc, None, None
        tasks, self._tasks = self._tasks, BackgroundTasks()

        async def close() -> None:
            await tasks.close()
            if pc is not None:
                await pc.close()

        return close()

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        self._tasks.spawn(work)


def _audio_of(event: RealtimeEvent | dict[str, Any]) -> np.ndarray | None:
    """The samples of an audio event or of an `input_audio_buffer.append` dict; None otherwise."""
    if isinstance(event, RealtimeAudioEvent):
        return event.audio.data
    if isinstance(event, dict) and event.get("type") == SendEvents.INPUT_AUDIO_BUFFER_APPEND:
        return protocol.base64_to_pcm(event["audio"])
    return None


def _type_of(event: RealtimeEvent | dict[str, Any]) -> str | None:
    return event.get("type") if isinstance(event, dict) else event.service_type


class OpenAIRealtimeWebRTC(WebRTCRealtimeClient):
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
        super().__init__(audio_track=audio_track, **kwargs)
        self._endpoint = OpenAIEndpoint.resolve(api_key, model, base_url)

    @property
    def model(self) -> str:
        return self._endpoint.model

    def _point_at(self, base_url: str) -> None:
        self._endpoint.base_url = base_url

    def _realtime_base_url(self) -> str:
        return self._endpoint.base_url or OPENAI_BASE_URL

    async def _credential_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._endpoint.require_key()}"}


class AzureRealtimeWebRTC(WebRTCRealtimeClient):
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
        super().__init__(audio_track=audio_track, **kwargs)
        self._azure = AzureEndpoint.resolve(endpoint, api_key, deployment_name, None, token_provider)

    @property
    def model(self) -> str:
        return self._azure.require_deployment()

    def _realtime_base_url(self) -> str:
        return f"{self._azure.require_endpoint()}/openai/v1"

    async def _credential_headers(self) -> dict[str, str]:
        credential = self._azure.credential()
        if isinstance(credential, str):
            return {"api-key": credential}
        return {"Authorization": f"Bearer {await credential()}"}
