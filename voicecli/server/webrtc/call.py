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

from voicecli.realtime.hosts import is_loopback_host
from voicecli.server.events import error_event
from voicecli.server.ids import new_id
from voicecli.server.transport import SessionTransport
from voicecli.server.webrtc.audio import RtpAudioOut
from voicecli.server.webrtc.peer import ChannelPeer

if TYPE_CHECKING:
    from voicecli.server.config import ServerConfig

__all__ = ["RtcCall"]

SETUP_TIMEOUT_S = 15.0
"""A call whose events channel has not opened by then is given up (the client never connected)."""
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
        self.peer = ChannelPeer(loopback=is_loopback_host(peer_host), tasks=self._tasks, run=self._run, end=self.close)
        self.pc = self.peer.pc
        self.audio_out = RtpAudioOut(self._emit)
        self.session = config.new_session(
            self._send, model=model, audio_out=self.audio_out, on_crash=self._crashed, intercept=self._intercept
        )
        self.closed = asyncio.Event()
        self._session_update = session_update
        self._on_closed = on_closed
        self._closing = False
        self._quiet = False
        self._started = time.monotonic()

    async def answer(self, offer_sdp: str) -> str:
        """The SDP answer to the client's offer; `ValueError` when the offer cannot be used."""
        return await self.peer.answer(offer_sdp, self.audio_out.track, setup_timeout_s=SETUP_TIMEOUT_S)

    async def close(self, reason: str) -> None:
        """End the call (idempotent): stop the session, the tracks and the peer connection."""
        if self._closing:
            return
        self._closing = True
        await self._stop_background()
        await self.session.close()
        await self.audio_out.close()
        await self.peer.close()
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
            kind, data = await self.peer.inbox.get()
            if kind == "event":
                self.received += 1
                await self.session.handle_raw(data)
            else:
                await self.session.append_audio(data.astype("<i2", copy=False).tobytes())

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
        if not self.peer.is_open():
            return
        try:
            self.peer.send(orjson.dumps(event).decode())
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
        if self.peer.channel is not None:
            self.peer.channel.send(frame.decode())

    async def _drop(self) -> None:
        if self.peer.channel is not None:
            self.peer.channel.close()  # the client sees its events channel close

    async def _end_expired(self, message: str) -> None:
        await self.close(f"session expired: {message}")

    async def _end_after_error(self) -> None:
        await self.close("internal server error")
