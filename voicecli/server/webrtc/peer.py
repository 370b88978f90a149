"""The media side of the local server's WebRTC calls, one piece for every protocol.

A Realtime call and a GPT-Live call differ in their session, not in their peer: both answer an
offer with aiortc, take their client events on the `oai-events` channel and their microphone as
RTP, and hand both to their session through one bounded inbox, in order. Voice Live keeps its
events on the WebSocket but answers and reads the microphone the same way. Each call composes these
pieces (`answer_offer`, `read_microphone`, `ChannelPeer`) instead of inheriting them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from voicecli.realtime.tasks import BackgroundTasks
from voicecli.realtime.webrtc_ice import loopback_candidates, no_stun
from voicecli.realtime.webrtc_media import Pcm24kConverter

__all__ = ["EVENTS_CHANNEL", "INBOX_SIZE", "ChannelPeer", "answer_offer", "read_microphone"]

EVENTS_CHANNEL = "oai-events"
INBOX_SIZE = 1024  # ~20 s of microphone frames, or a burst of client events


async def answer_offer(pc: RTCPeerConnection, offer_sdp: str, track: MediaStreamTrack, *, loopback: bool) -> str:
    """The SDP answer that sends `track`; `ValueError` when the offer cannot be used."""
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
    except Exception as exc:  # aiortc's parser fails on bad SDP with asserts, index and key errors
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise ValueError(f"it is not valid SDP ({detail})") from None
    if not any(transceiver.kind == "audio" for transceiver in pc.getTransceivers()):
        raise ValueError("the offer has no audio section")
    pc.addTrack(track)
    with loopback_candidates(loopback):
        await pc.setLocalDescription(await pc.createAnswer())
    return str(pc.localDescription.sdp)


async def read_microphone(track: MediaStreamTrack, deliver: Callable[[np.ndarray], Awaitable[None]]) -> None:
    """Deliver the client's microphone as 24 kHz PCM until its track ends (the call goes on)."""
    converter = Pcm24kConverter()
    try:
        while True:
            frame = await track.recv()
            assert isinstance(frame, AudioFrame)
            pcm = converter.convert(frame)
            if len(pcm):
                await deliver(pcm)
    except MediaStreamError:
        return  # the client stopped its microphone


class ChannelPeer:
    """A call's peer connection and its events channel, feeding one inbox of `("event", frame)` and
    `("audio", pcm)`; it tells its call when to start (`run`, once the channel opens) and when to end
    (`end`, with the reason)."""

    def __init__(
        self,
        *,
        loopback: bool,
        tasks: BackgroundTasks,
        run: Callable[[], Awaitable[None]],
        end: Callable[[str], Awaitable[None]],
    ) -> None:
        """A `loopback` peer (the client is on this machine) keeps ICE on 127.0.0.1; `tasks` are the call's."""
        self.pc = RTCPeerConnection(no_stun())
        self.channel: RTCDataChannel | None = None
        self.inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(INBOX_SIZE)
        self._loopback = loopback
        self._tasks = tasks
        self._run = run
        self._end = end

    async def answer(self, offer_sdp: str, track: MediaStreamTrack, *, setup_timeout_s: float) -> str:
        """The SDP answer; the call ends if its channel has not opened `setup_timeout_s` later."""
        pc = self.pc
        pc.on("datachannel", self._on_channel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)
        answer = await answer_offer(pc, offer_sdp, track, loopback=self._loopback)
        self._tasks.spawn(self._give_up_unless_opened(setup_timeout_s))
        return answer

    def send(self, text: str) -> None:
        """Write one event to the channel, if it is open (a call that ended drops what is left)."""
        channel = self.channel
        if channel is not None and channel.readyState == "open":
            channel.send(text)

    def is_open(self) -> bool:
        return self.channel is not None and self.channel.readyState == "open"

    async def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
        await self.pc.close()

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_CHANNEL or self.channel is not None:
            channel.close()
            return
        self.channel = channel
        channel.on("message", self._on_message)
        channel.on("close", lambda: self._tasks.spawn(self._end("the client closed the data channel")))
        self._tasks.spawn(self._run())

    def _on_message(self, message: str | bytes) -> None:
        try:
            self.inbox.put_nowait(("event", message))
        except asyncio.QueueFull:
            self._tasks.spawn(self._end("the client sent events faster than they could be handled"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._tasks.spawn(read_microphone(track, self._put_audio))

    async def _put_audio(self, pcm: np.ndarray) -> None:
        await self.inbox.put(("audio", pcm))

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._tasks.spawn(self._end(f"peer connection {self.pc.connectionState}"))

    async def _give_up_unless_opened(self, timeout_s: float) -> None:
        await asyncio.sleep(timeout_s)
        if self.channel is None:
            await self._end(f"no data channel within {timeout_s:g} s")
