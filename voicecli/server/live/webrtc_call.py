"""One GPT-Live WebRTC call of the local server: peer connection, `oai-events` channel, microphone, session.

The HTTP request that set up the call already started the session (as the service's does): once the
data channel opens, `session.started` goes out on it. Client events arrive on the channel, checked
against `openai.types.live.ClientEvent` (a bad one gets the protocol's `error`, the session goes on);
microphone frames arrive as RTP, decoded to 24 kHz, and advance the session clock. Every event out
is checked against `ServerEvent`; the model's voice goes out as RTP, paced in real time, and is cut
when the user starts to speak. The call ends when the channel or the peer connection closes, when
the session closes or expires, or on a server bug; ending it closes everything it owns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson

from voicecli.realtime.hosts import is_loopback_host
from voicecli.realtime.tasks import BackgroundTasks
from voicecli.server.config import ServerConfig
from voicecli.server.live.route import handle_client_frame
from voicecli.server.live.session import LiveServerSession
from voicecli.server.live.validation import validate_live_server_event
from voicecli.server.validation import ProtocolViolation
from voicecli.server.webrtc.audio import ResponseAudioTrack
from voicecli.server.webrtc.call import SETUP_TIMEOUT_S
from voicecli.server.webrtc.peer import ChannelPeer

__all__ = ["LiveRtcCall"]

_log = logging.getLogger("voicecli.server")


class _TrackSpeech:
    """The session's `SpeechOut` on the call's audio track: each utterance a segment, paced out in real time."""

    def __init__(self, track: ResponseAudioTrack) -> None:
        self.track = track

    async def say(self, utterance: str, pcm: bytes) -> None:
        await self.track.put(utterance, pcm)

    def said(self, utterance: str) -> None:
        self.track.finish_response(utterance)

    def cut(self) -> None:
        self.track.clear()


class LiveRtcCall:
    """A GPT-Live call from its SDP offer to its end; `closed` is set once everything is released."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        session_config: Mapping[str, Any],
        peer_host: str | None,
        on_closed: Callable[[LiveRtcCall], None],
    ) -> None:
        """`session_config` is the request's `session`, already checked; a `peer_host` on loopback
        keeps ICE on 127.0.0.1."""
        self._tasks = BackgroundTasks()
        self.peer = ChannelPeer(loopback=is_loopback_host(peer_host), tasks=self._tasks, run=self._run, end=self.close)
        self.pc = self.peer.pc
        self.track = ResponseAudioTrack(lambda _kind, _utterance: None)  # GPT-Live has no output buffer events
        self.session = LiveServerSession(
            self._send,
            brain=config.brain,
            pacing=config.pacing,
            lifetime_s=config.max_session_s,
            on_crash=self._crashed,
            speech_out=_TrackSpeech(self.track),
        )
        self.id = self.session.id
        self.closed = asyncio.Event()
        self._config = session_config
        self._on_closed = on_closed
        self._closing = False
        self._started = time.monotonic()

    async def answer(self, offer_sdp: str) -> str:
        """The SDP answer to the client's offer; `ValueError` when the offer cannot be used."""
        return await self.peer.answer(offer_sdp, self.track, setup_timeout_s=SETUP_TIMEOUT_S)

    async def close(self, reason: str) -> None:
        """End the call (idempotent): stop the session, the track and the peer connection."""
        if self._closing:
            return
        self._closing = True
        await self._tasks.close()
        await self.session.stop()
        self.track.stop()
        await self.peer.close()
        _log.info("GPT-Live call %s: %.1f s, %s", self.id, time.monotonic() - self._started, reason)
        self.closed.set()
        self._on_closed(self)

    # --- incoming -------------------------------------------------------------------------------

    async def _run(self) -> None:
        """Start the session as requested, then handle the inbox in order until the session ends."""
        expiry = asyncio.get_running_loop().call_later(
            self.session.lifetime_s, lambda: self._tasks.spawn(self._expire())
        )
        try:
            await self.session.start(self._config)
            while not self.session.closed:
                kind, data = await self.peer.inbox.get()
                if kind == "event":
                    await handle_client_frame(self.session, data, self._send, what="message")
                else:
                    await self.session.append_pcm(np.asarray(data, dtype=np.int16))
            await self.close("session closed")
        except ProtocolViolation:
            _log.exception("the local GPT-Live server sent an invalid event")
            await self.close("internal server error")
        finally:
            expiry.cancel()

    async def _expire(self) -> None:
        """The session limit: `session.closed` (reason `expired`), then the call ends, as the service's do."""
        if self.session.started and not self.session.closed:
            await self.session.finish("expired")
        await self.close("session expired")

    def _crashed(self, _exc: BaseException) -> None:
        """A server bug in a session task (an invalid event, say): end the call, as the service would."""
        self._tasks.spawn(self.close("internal server error"))

    # --- outgoing -------------------------------------------------------------------------------

    async def _send(self, event: dict[str, Any]) -> None:
        """Check one event against the types (a server bug raises `ProtocolViolation`), then send it."""
        validate_live_server_event(event)
        if not self._closing:
            self.peer.send(orjson.dumps(event).decode())
