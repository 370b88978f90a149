"""The audio side of a client WebRTC call, shared by every protocol that sends its audio as media.

Whether events travel on a data channel (Realtime, GPT-Live) or on a WebSocket (Voice Live), the
microphone is a `PcmAudioTrack` and the reply's voice a remote track. `MicrophoneInput` turns the
protocol's audio events into what that track needs (append feeds it, clear empties it, commit waits
until the audio has crossed the network, a push-to-talk turn starts by dropping the idle track's
silence); `read_reply_audio` delivers the remote track's reply audio as audio deltas and notices a
stalled or ended track. Transports compose these rather than inherit them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from voicecli.realtime import protocol
from voicecli.realtime.errors import RealtimeConnectionError
from voicecli.realtime.events import AudioContent, RealtimeAudioEvent, RealtimeEvent
from voicecli.realtime.protocol import ListenEvents, SendEvents
from voicecli.realtime.transport import Transmit
from voicecli.realtime.webrtc_media import Pcm24kConverter, PcmAudioTrack

__all__ = ["AUDIO_STALL_S", "RTP_LATENCY_S", "MicrophoneInput", "read_reply_audio"]

RTP_LATENCY_S = 0.4
"""How long after the last queued sample a commit is sent: encoder, network, jitter buffer and
decoder take ~130 ms on loopback; the rest is margin for a busy machine or a real network."""
AUDIO_STALL_S = 5.0
"""The service's audio track never pauses (silence between replies); this long without a frame
means the peer is gone, which ICE alone notices only after ~30 s."""

PushToTalk = Callable[[], bool]
"""Whether the session is in push-to-talk mode; None in its place means no session is open."""
Admit = Callable[[np.ndarray], "tuple[np.ndarray, str | None] | None"]
"""Which received audio is reply audio, and of which item (a playback's `admit`)."""


class MicrophoneInput:
    """The protocol's audio events applied to the call's own microphone track."""

    def __init__(self) -> None:
        self.turn_open = False
        """Push-to-talk: audio of the current turn has gone into the track."""

    async def send_event(
        self, payload: dict[str, Any], track: PcmAudioTrack, transmit: Transmit, push_to_talk: PushToTalk | None
    ) -> None:
        """Audio goes into the track; a commit waits until that audio has gone out and crossed the network."""
        kind = payload.get("type")
        if kind == SendEvents.INPUT_AUDIO_BUFFER_CLEAR:
            track.clear()
            self.turn_open = True  # the caller cleared: the turn starts clean already
        try:
            if kind == SendEvents.INPUT_AUDIO_BUFFER_APPEND:
                await self._put(protocol.base64_to_pcm(payload["audio"]), track, transmit, push_to_talk)
                return
            if kind == SendEvents.INPUT_AUDIO_BUFFER_COMMIT:
                self.turn_open = False
                await track.drained()
                await asyncio.sleep(RTP_LATENCY_S)
        except MediaStreamError as exc:
            raise RealtimeConnectionError("the realtime connection is closed") from exc
        await transmit(payload)

    async def stream(
        self, pcm: np.ndarray, track: PcmAudioTrack, transmit: Transmit, push_to_talk: PushToTalk | None
    ) -> None:
        """Microphone audio into the track."""
        try:
            await self._put(pcm, track, transmit, push_to_talk)
        except MediaStreamError as exc:
            raise RealtimeConnectionError("the realtime connection is closed") from exc

    async def _put(
        self, pcm: np.ndarray, track: PcmAudioTrack, transmit: Transmit, push_to_talk: PushToTalk | None
    ) -> None:
        if push_to_talk is None:
            raise RealtimeConnectionError("the realtime session is not open")
        if push_to_talk() and not self.turn_open:
            # a new turn: drop the silence the idle track sent since the last commit
            self.turn_open = True
            await transmit(protocol.simple_event(SendEvents.INPUT_AUDIO_BUFFER_CLEAR))
        await track.put(pcm)


async def read_reply_audio(
    track: MediaStreamTrack,
    admit: Admit,
    deliver: Callable[[RealtimeEvent], Awaitable[None]],
    lose: Callable[[str], None],
) -> None:
    """Deliver the service's track as 24 kHz audio deltas (what `admit` lets through) until it ends or
    stalls, then `lose` the call with the reason."""
    converter = Pcm24kConverter()
    try:
        while True:
            try:
                async with asyncio.timeout(AUDIO_STALL_S):
                    frame = await track.recv()
            except TimeoutError:
                lose(f"no audio from the service for {AUDIO_STALL_S:g} s (the connection is lost)")
                return
            assert isinstance(frame, AudioFrame)
            admitted = admit(converter.convert(frame))
            if admitted is not None:
                pcm, item_id = admitted
                audio = AudioContent(data=pcm, item_id=item_id)
                await deliver(RealtimeAudioEvent(service_type=ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA, audio=audio))
    except MediaStreamError:
        lose("the service's audio track ended")
