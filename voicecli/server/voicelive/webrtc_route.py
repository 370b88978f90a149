"""Voice Live over WebRTC on the local server: `/voice-live/realtime/calls?api-version=…&model=…`.

The client opens the WebSocket and sends `rtc.call.sdp.create` with its SDP offer (checked by
`rtc_signaling`'s strict models, its `session` by the SDK's); the server answers with aiortc in
`rtc.call.sdp.created`, then runs the same Voice Live session as the WebSocket route
(`VoiceLiveShape`: every other event checked against the `azure-ai-voicelive` models both ways),
with the audio as media: microphone frames arrive on the RTP track instead of
`input_audio_buffer.append`, and the reply's voice leaves on an RTP track (`RtpAudioOut`, as the
Realtime WebRTC route does) instead of `response.audio.delta`. Events stay on the WebSocket; Voice
Live has no `output_audio_buffer.started|stopped`, so those are not sent, and its `.cleared` names
no response. Client frames and microphone audio reach the session through one inbox, in order, as
in `webrtc/call.py`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import orjson
from aiohttp import WSMsgType, web
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from voicecli.realtime.hosts import is_loopback_host
from voicecli.realtime.webrtc_ice import no_stun
from voicecli.server.app import _Connection
from voicecli.server.config import ServerConfig
from voicecli.server.ids import new_id
from voicecli.server.preview_route import checked_frame
from voicecli.server.session.session import ServerSession
from voicecli.server.validation import ProtocolViolation
from voicecli.server.voicelive.rtc_signaling import SDP_CREATED, RtcCallSdpCreate, check_sdp_create, check_sdp_created
from voicecli.server.webrtc.audio import RtpAudioOut
from voicecli.server.webrtc.http import ANSWER_TIMEOUT_S
from voicecli.server.webrtc.peer import INBOX_SIZE, answer_offer, read_microphone

__all__ = ["VoiceLiveCall"]

_NOT_VOICE_LIVE = ("output_audio_buffer.started", "output_audio_buffer.stopped")


class VoiceLiveCall(_Connection):
    """One Voice Live WebRTC call: its signaling and events on the WebSocket, its audio as RTP."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, config: ServerConfig, number: int) -> None:
        self.audio_out = RtpAudioOut(self._emit)  # before the session, which is built with it
        super().__init__(request, ws, config, number)
        self.rtc_call_id = new_id("rtc")
        self.pc: RTCPeerConnection | None = None
        self._loopback = is_loopback_host(request.remote)
        self._inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(INBOX_SIZE)
        self._ending = False

    def _new_session(self, config: ServerConfig) -> ServerSession:
        return config.new_session(
            self.send, model=self.model, audio_out=self.audio_out, on_crash=self._crashed, intercept=self._intercept
        )

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            self._ending = True
            await self.audio_out.close()
            if self.pc is not None:
                await self.pc.close()

    # --- incoming -------------------------------------------------------------------------------

    async def _read_frames(self) -> None:
        async for message in self.ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            self.received += 1
            if self.pc is None:
                await self._signal(message.data)
            else:
                await self._inbox.put(("event", message.data))

    async def _signal(self, data: bytes | str) -> None:
        """Answer the offer, then start the session; a refused offer leaves the socket waiting for another."""
        event = await checked_frame(self.session, data, check_sdp_create)
        if event is None:
            return
        offer = RtcCallSdpCreate.model_validate(event)
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                answer = await self._answer(offer.sdp_offer)
        except (ValueError, TimeoutError) as exc:
            pc, self.pc = self.pc, None
            if pc is not None:
                await pc.close()
            violation = ProtocolViolation(
                f"The SDP offer cannot be answered: {exc}.", code="invalid_offer", param="sdp_offer"
            )
            await self.session.refuse(event, violation)
            return
        created = {
            "type": SDP_CREATED,
            "event_id": new_id("event"),
            "rtc_call_id": self.rtc_call_id,
            "sdp_answer": answer,
        }
        check_sdp_created(created)
        await self._send_frame(created)
        await self.session.start()
        if offer.session is not None:  # the offer's session applies first, as a `session.update` would
            self._inbox.put_nowait(("event", orjson.dumps({"type": "session.update", "session": offer.session})))
        self._tasks.spawn(self._serve(self._handle_inbox()))

    async def _answer(self, offer_sdp: str) -> str:
        pc = self.pc = RTCPeerConnection(no_stun())
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)
        return await answer_offer(pc, offer_sdp, self.audio_out.track, loopback=self._loopback)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._tasks.spawn(read_microphone(track, self._put_audio))

    def _on_state(self) -> None:
        pc = self.pc
        if pc is not None and pc.connectionState in ("failed", "closed") and not self._ending:
            self._ending = True
            self._tasks.spawn(self.ws.close(code=1011, message=f"the WebRTC connection {pc.connectionState}".encode()))

    async def _put_audio(self, pcm: np.ndarray) -> None:
        await self._inbox.put(("audio", pcm.astype("<i2", copy=False).tobytes()))

    async def _handle_inbox(self) -> None:
        assert self.voice_live is not None
        while True:
            kind, data = await self._inbox.get()
            if kind == "event":
                await self.voice_live.handle_frame(self.session, data)
            else:
                await self.session.append_audio(data)

    # --- outgoing -------------------------------------------------------------------------------

    async def _emit(self, event: dict[str, Any]) -> None:
        if not self._ending:
            await self.session.emit(event)

    async def send(self, event: dict[str, Any]) -> None:
        """Tell the audio track what it must know, then send the event's Voice Live form (if it has one)."""
        kind = event["type"]
        if kind == "response.done":
            self.audio_out.response_done(event["response"]["id"])
        elif kind == "input_audio_buffer.speech_started":
            turn_detection = self.session.config["audio"]["input"]["turn_detection"] or {}
            if turn_detection.get("interrupt_response", True):
                self._tasks.spawn(self.audio_out.clear(None))  # the service stops talking when the user does
        elif kind == "output_audio_buffer.cleared":  # Voice Live's says only that it was cleared
            event = {key: value for key, value in event.items() if key != "response_id"}
        if kind not in _NOT_VOICE_LIVE:
            await super().send(event)
