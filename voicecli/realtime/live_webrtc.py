"""GPT-Live clients over WebRTC, for OpenAI and Azure, behind the seed's client API.

The Realtime WebRTC transport (aiortc, ICE on 127.0.0.1 for a loopback service, the microphone as
an Opus track, the model's voice as a remote track) with what GPT-Live changes:
- one request sets up the call and starts the session: `POST {base}/live/sessions` with JSON
  `{"session": …, "transport": {"type": "webrtc", "sdp": <offer>}}`, the answer in the JSON reply
  (no ephemeral key, no `application/sdp`); `session.start` is never sent on the data channel, and
  no command goes out before `session.started` arrives there;
- the session is `session.start`'s without `audio.format` (WebRTC negotiates its media format);
- the data channel (`oai-events`) carries GPT-Live's events, parsed as over WebSocket; microphone
  audio is media only (`session.input_audio.append` is WebSocket-only), silence included, so the
  session clock runs as long as the call does;
- there are no `output_audio_buffer.*` events: `LivePlayback` passes on the frames that carry sound,
  and the short pauses within a stretch of speech, and drops the silence between stretches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from voicecli.realtime.endpoints import (
    AzureEndpoint,
    AzureRoute,
    AzureWebRTCEndpoint,
    OpenAIWebRTCEndpoint,
    TokenProvider,
)
from voicecli.realtime.errors import RealtimeConnectionError, RealtimeError
from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.live_client import LiveClient
from voicecli.realtime.live_protocol import parse_live_message
from voicecli.realtime.live_ws import AzureLiveConnector, openai_live_endpoint
from voicecli.realtime.openai_ws import OpenAIConnector
from voicecli.realtime.transport import Transmit, TransportSink
from voicecli.realtime.webrtc import WebRTCEndpoint, WebRTCTransport
from voicecli.realtime.webrtc_playback import SOUND_LEVEL, RemotePlayback
from voicecli.realtime.webrtc_signaling import CallAnswer, start_live_call

__all__ = ["AzureLiveWebRTC", "LivePlayback", "LiveWebRTCClient", "LiveWebRTCTransport", "OpenAILiveWebRTC"]

PAUSE_FRAMES = 25
"""Quiet frames after sound still passed on as part of the speech (500 ms: pauses between words)."""


class LivePlayback(RemotePlayback):
    """Reply audio without playback events: sound, and the pauses within it, are the model speaking."""

    def __init__(self) -> None:
        super().__init__()
        self._quiet_left = 0

    def on_server_event(self, event: RealtimeEvent) -> None:
        pass  # GPT-Live announces no audio: the frames speak for themselves

    def clear(self) -> None:
        self._quiet_left = 0

    def admit(self, pcm: np.ndarray) -> tuple[np.ndarray, str | None] | None:
        loud = len(pcm) > 0 and (int(pcm.max()) > SOUND_LEVEL or int(pcm.min()) < -SOUND_LEVEL)
        if loud:
            self._quiet_left = PAUSE_FRAMES
        elif self._quiet_left > 0:
            self._quiet_left -= 1
        else:
            return None
        return pcm, None  # the protocol session names the stretch of speech

    async def played(self, response_id: str | None) -> None:
        return


def webrtc_session(session: dict[str, Any]) -> dict[str, Any]:
    """`session.start`'s session as the WebRTC request takes it: no `audio.format` (media negotiates it)."""
    audio = {key: value for key, value in (session.get("audio") or {}).items() if key != "format"}
    rest = {key: value for key, value in session.items() if key != "audio"}
    return {**rest, "audio": audio} if audio else rest


class LiveWebRTCTransport(WebRTCTransport):
    """The WebRTC transport speaking GPT-Live; `session_start` builds the session when a call is set up."""

    def __init__(
        self,
        endpoint: WebRTCEndpoint,
        session_start: Callable[[], dict[str, Any]],
        audio_track: MediaStreamTrack | None = None,
    ) -> None:
        super().__init__(endpoint, audio_track)
        self._session_start = session_start
        self.session_id: str | None = None

    def describe(self) -> str:
        return self.endpoint.realtime_base_url().rstrip("/") + "/live/sessions"

    async def _exchange(
        self, http: aiohttp.ClientSession, base_url: str, headers: dict[str, str], sink: TransportSink, offer: str
    ) -> CallAnswer:
        session = webrtc_session(self._session_start()["session"])
        answer = await start_live_call(http, base_url, headers, session, offer)
        self.session_id = answer.location
        return answer

    def _parse(self, message: str | bytes) -> RealtimeEvent:
        return parse_live_message(message)

    def _new_playback(self) -> RemotePlayback:
        return LivePlayback()

    async def stream_audio(self, pcm: np.ndarray, transmit: Transmit) -> None:
        """Microphone audio into the call's track (never appended: that is WebSocket-only)."""
        track = self._own_track
        if track is None and self._given_track is not None:
            raise RealtimeError("this client's microphone is the audio_track it was given: send audio there")
        if track is None or self._sink is None:
            raise RealtimeConnectionError("the realtime session is not open")
        try:
            await track.put(pcm)
        except Exception as exc:  # the track ended with the call
            raise RealtimeConnectionError("the realtime connection is closed") from exc


class LiveWebRTCClient(LiveClient):
    """What the GPT-Live WebRTC clients share (see `LiveClient` for the API)."""

    webrtc: LiveWebRTCTransport

    @property
    def model(self) -> str:
        return self.webrtc.endpoint.model

    @property
    def audio_track(self) -> MediaStreamTrack | None:
        """The microphone track of the current call (the caller's, or the client's own)."""
        return self.webrtc.audio_track


class OpenAILiveWebRTC(LiveWebRTCClient):
    """GPT-Live on OpenAI over WebRTC (`POST https://api.openai.com/v1/live/sessions`); credentials and
    model as `OpenAILiveWebsocket` takes them (an `http://` base such as `voicecli serve` is fine)."""

    def __init__(
        self,
        *,
        audio_track: MediaStreamTrack | None = None,
        api_key: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Without `audio_track`, the client's own track carries what `send_audio` is given."""
        endpoint = openai_live_endpoint(api_key, model, base_url)
        self.connector = OpenAIConnector(endpoint)  # the delegate's `openai` client
        self.endpoint = OpenAIWebRTCEndpoint(endpoint)
        self.webrtc = LiveWebRTCTransport(self.endpoint, self.session_start, audio_track)
        super().__init__(transport=self.webrtc, sdk_client=self.connector.sdk_client, **kwargs)

    def point_at(self, base_url: str) -> None:
        """Use another `http(s)://…/v1` base (the embedded server's, once it listens)."""
        self.endpoint.point_at(base_url)
        self.connector.point_at(base_url)


class AzureLiveWebRTC(LiveWebRTCClient):
    """GPT-Live on Azure OpenAI over WebRTC (`POST …/openai/v1/live/sessions`, a `gpt-live-*` deployment);
    key (`api-key` header) or Entra ID as for `AzureLiveWebsocket`; an API version is not used."""

    def __init__(
        self,
        *,
        audio_track: MediaStreamTrack | None = None,
        endpoint: str | None = None,
        api_key: str | None = None,
        deployment_name: str | None = None,
        api_version: str | None = None,
        token_provider: TokenProvider | None = None,
        **kwargs: Any,
    ) -> None:
        azure = AzureEndpoint.resolve(endpoint, api_key, deployment_name, None, token_provider)
        self.connector = AzureLiveConnector(azure)
        self.webrtc = LiveWebRTCTransport(AzureWebRTCEndpoint(azure), self.session_start, audio_track)
        super().__init__(transport=self.webrtc, sdk_client=self.connector.sdk_client, **kwargs)

    @property
    def route(self) -> AzureRoute:
        """The route this client posts to (for `config show`, logs and messages)."""
        return AzureRoute("GPT-Live over WebRTC", self.webrtc.describe())
