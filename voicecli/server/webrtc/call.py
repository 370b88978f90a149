"""One WebRTC call of the local server: peer connection, `oai-events` channel, microphone, session.

Client events (data channel) and microphone frames (RTP, decoded to 24 kHz) reach the
`ServerSession` through one bounded inbox, handled in order by one task, as a WebSocket connection
handles its frames. Server events go out on the data channel, reply audio on the RTP track
(`RtpAudioOut`). The call ends when the data channel or the peer connection closes, when the
channel does not open in time, or on a server error; ending it closes everything it owns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from voicecli.realtime.hosts import is_loopback_host
from voicecli.realtime.webrtc_ice import loopback_candidates, no_stun
from voicecli.realtime.webrtc_media import Pcm24kConverter
from voicecli.server.events import error_event
from voicecli.server.ids import new_id
from voicecli.server.transport import SessionTransport
from voicecli.server.webrtc.audio import RtpAudioOut

if TYPE_CHECKING:
    from voicecli.server.config import ServerConfig

__all__ = ["EVENTS_CHANNEL", "RtcCall"]

EVENTS_CHANNEL = "oai-events"
SETUP_TIMEOUT_S = 15.0
"""A call whose events channel has not opened by then is given up (the client never connected)."""
_INBOX_SIZE = 1024  # ~20 s of microphone frames, or a burst of client events
_log = logging.getLogger("voicecli.server")


class RtcCall(SessionTransport):
    """A call from its SDP offer to its end; `closed` is set once everything is released."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        number: int,
        model: str,
        session_update: dict[str, Any] | None,
        peer_host: str | None,
        on_closed: Callable[[RtcCall], object],  # what it returns is ignored
    ) -> None:
        """`session_update` is the session the ephemeral key was minted with; a `peer_host` on
        loopback (the client is on this machine) keeps ICE on 127.0.0.1."""
        super().__init__(config.faults, number, "call", config.max_session_s)
        self.id = new_id("rtc")
        self.model = model
        self.pc = RTCPeerConnection(no_stun())
        self.audio_out = RtpAudioOut(self._emit)
        self.session = config.new_session(
            self._send, model=model, audio_out=self.audio_out, on_crash=self._crashed, intercept=self._intercept
        )
        self.closed = asyncio.Event()
        self._session_update = session_update
        self._loopback = is_loopback_host(peer_host)
        self._on_closed = on_closed
        self._channel: RTCDataChannel | None = None
        self._inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(_INBOX_SIZE)
        self._closing = False
        self._quiet = False
        self._started = time.monotonic()

    async def answer(self, offer_sdp: str) -> str:
        """The SDP answer to the client's offer; `ValueError` when the offer cannot be used."""
        pc = self.pc
        pc.on("datachannel", self._on_channel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except Exception as exc:  # aiortc's parser fails on bad SDP with asserts, index and key errors
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise ValueError(f"it is not valid SDP ({detail})") from None
        if not any(transceiver.kind == "audio" for transceiver in pc.getTransceivers()):
            raise ValueError("the offer has no audio section")
        pc.addTrack(self.audio_out.track)
        with loopback_candidates(self._loopback):
            await pc.setLocalDescription(await pc.createAnswer())
        self._tasks.spawn(self._give_up_unless_opened())
        return pc.localDescription.sdp

    async def close(self, reason: str) -> None:
        """End the call (idempotent): stop the session, the tracks and the peer connection."""
        if self._closing:
            return
        self._closing = True
        await self._tasks.close()
        await self.session.close()
        await self.audio_out.close()
        if self._channel is not None:
            self._channel.close()
        await self.pc.close()
        _log.info(
            "call %d (%s) model=%s: %d events in, %d out, %.1f s, %s",
            self.number,
            self.id,
            self.model,
            self.received,
            self.sent,
            time.monotonic() - self._started,
            reason,
        )
        self.closed.set()
        self._on_closed(self)

    # --- incoming -------------------------------------------------------------------------------

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL or self._channel is not None:
            channel.close()
            return
        self._channel = channel
        channel.on("message", self._on_message)
        channel.on("close", lambda: self._tasks.spawn(self.close("the client closed the data channel")))
        self._tasks.spawn(self._run())

    def _on_message(self, message: str | bytes) -> None:
        try:
            self._inbox.put_nowait(("event", message))
        except asyncio.QueueFull:
            self._tasks.spawn(self.close("the client sent events faster than they could be handled"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._tasks.spawn(self._read_microphone(track))

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._tasks.spawn(self.close(f"peer connection {self.pc.connectionState}"))

    async def _read_microphone(self, track: MediaStreamTrack) -> None:
        converter = Pcm24kConverter()
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, AudioFrame)
                pcm = converter.convert(frame)
                if len(pcm):
                    await self._inbox.put(("audio", pcm.astype("<i2", copy=False).tobytes()))
        except MediaStreamError:
            return  # the client stopped its microphone; the call goes on

    async def _run(self) -> None:
        await self._serve(self._handle_inbox())

    async def _handle_inbox(self) -> None:
        """Handle the inbox in order, as the WebSocket transport handles its frames."""
        if self._session_update is not None:  # the session starts as minted, as the service's does
            self._quiet = True  # checked when minted: no `session.updated` (nor error) to send
            await self.session.handle({"type": "session.update", "session": self._session_update})
            self._quiet = False
        await self.session.start()
        self._start_expiry()
        while True:
            kind, data = await self._inbox.get()
            if kind == "event":
                self.received += 1
                await self.session.handle_raw(data)
            else:
                await self.session.append_audio(data)

    async def _give_up_unless_opened(self) -> None:
        await asyncio.sleep(SETUP_TIMEOUT_S)
        if self._channel is None:
            await self.close(f"no data channel within {SETUP_TIMEOUT_S:g} s")

    # --- outgoing -------------------------------------------------------------------------------

    async def _emit(self, event: dict[str, Any]) -> None:
        """Emit through the session (it validates), unless the call is over."""
        if not self._closing:
            await self.session.emit(event)

    async def _send(self, event: dict[str, Any]) -> None:
        """The session's `send`: observe what the audio track must know, then write to the channel."""
        if self._quiet:
            return
        self._observe(event)
        if self.plan.delay:
            await asyncio.sleep(self.plan.delay)
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return
        try:
            channel.send(orjson.dumps(event).decode())
        except ValueError as exc:  # larger than the client accepts on the data channel
            await self.session.emit(error_event("event_too_large", f"Cannot send {event['type']}: {exc}."))
            return
        await self._fire_faults(self._count_sent())

    def _observe(self, event: dict[str, Any]) -> None:
        if event["type"] == "response.done":
            self.audio_out.response_done(event["response"]["id"])
        elif event["type"] == "input_audio_buffer.speech_started":
            turn_detection = self.session.config["audio"]["input"]["turn_detection"] or {}
            if turn_detection.get("interrupt_response", True):
                self._tasks.spawn(self.audio_out.clear(None))  # the service stops talking when the user does

    async def _write_unchecked(self, frame: bytes) -> None:
        if self._channel is not None:
            self._channel.send(frame.decode())

    async def _drop(self) -> None:
        if self._channel is not None:
            self._channel.close()  # the client sees its events channel close

    async def _end_expired(self, message: str) -> None:
        await self.close(f"session expired: {message}")

    async def _end_after_error(self) -> None:
        await self.close("internal server error")
