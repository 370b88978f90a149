"""Reply audio over WebRTC: an RTP track paced in real time, and the `AudioOut` that fills it.

The session streams a reply faster than real time; the track keeps each response's audio as a
segment and sends it at the speed of speech, 20 ms per frame, silence when idle. Like the service,
the data channel then says `output_audio_buffer.started` when a response's audio begins streaming,
`.stopped` once its last frame is out, and `.cleared` when the client (or an interruption) cut it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from voicecli.realtime.clock import WALL_CLOCK, Clock
from voicecli.realtime.events import SAMPLE_RATE
from voicecli.realtime.tasks import BackgroundTasks
from voicecli.realtime.webrtc_media import PacedAudioTrack
from voicecli.server.events import Send
from voicecli.server.session.audio_out import AudioRef

__all__ = ["ResponseAudioTrack", "RtpAudioOut"]

MAX_BUFFERED_S = 60.0
"""Reply audio queued ahead of playback; the session waits beyond this (a very long reply)."""


@dataclass(slots=True)
class _Segment:
    response_id: str
    pcm: bytearray = field(default_factory=bytearray)
    complete: bool = False  # the response is done: no more audio will come for it


class ResponseAudioTrack(PacedAudioTrack):
    """The outgoing voice: response segments one after another. `announce(event_type, response_id)`
    hears when a segment starts (`output_audio_buffer.started`) or has been sent (`.stopped`)."""

    def __init__(
        self,
        announce: Callable[[str, str], None],
        max_buffered_s: float = MAX_BUFFERED_S,
        clock: Clock = WALL_CLOCK,
    ) -> None:
        super().__init__(clock)
        self._announce = announce
        self._segments: deque[_Segment] = deque()
        self._queued = 0  # bytes in all segments
        self._limit = int(max_buffered_s * SAMPLE_RATE) * 2

    async def put(self, response_id: str, pcm: bytes) -> None:
        await self._wait_until(lambda: self._queued == 0 or self._queued + len(pcm) <= self._limit)
        last = self._segments[-1] if self._segments else None
        if last is None or last.response_id != response_id or last.complete:
            last = _Segment(response_id)
            self._segments.append(last)
            if len(self._segments) == 1:
                self._announce("output_audio_buffer.started", response_id)
        last.pcm += pcm
        self._queued += len(pcm)

    def finish_response(self, response_id: str) -> None:
        """No more audio will come for this response: its segment ends once it has been sent."""
        for segment in self._segments:
            if segment.response_id == response_id:
                segment.complete = True
        self._finish_sent_segments()

    def clear(self) -> list[str]:
        """Drop every queued segment; return their response ids."""
        cleared = list(dict.fromkeys(segment.response_id for segment in self._segments))
        self._segments.clear()
        self._queued = 0
        self._taken.set()
        return cleared

    def _next_pcm(self, size: int) -> bytes:
        out = bytearray()
        while self._segments and len(out) < size:
            head = self._segments[0]
            taken = head.pcm[: size - len(out)]
            del head.pcm[: len(taken)]
            self._queued -= len(taken)
            out += taken
            if head.pcm or not head.complete:
                break  # more of it later (or the session is slower than real time: silence meanwhile)
            self._finish_sent_segments()
        return bytes(out)

    def _finish_sent_segments(self) -> None:
        while self._segments and self._segments[0].complete and not self._segments[0].pcm:
            done = self._segments.popleft()
            self._announce("output_audio_buffer.stopped", done.response_id)
            if self._segments:
                self._announce("output_audio_buffer.started", self._segments[0].response_id)


class RtpAudioOut:
    """The session's `AudioOut` over WebRTC: no `response.output_audio.delta` events, RTP instead."""

    def __init__(self, emit: Send) -> None:
        self._emit = emit
        self.track = ResponseAudioTrack(self._announce)
        self._tasks = BackgroundTasks()

    async def send(self, ref: AudioRef, pcm: bytes) -> None:
        await self.track.put(ref.response_id, pcm)

    async def clear(self, response_id: str | None) -> None:
        """The client's `output_audio_buffer.clear`, or an interruption by the user's speech."""
        for cleared in self.track.clear() or ([response_id] if response_id else []):
            await self._emit({"type": "output_audio_buffer.cleared", "response_id": cleared})

    def response_done(self, response_id: str) -> None:
        self.track.finish_response(response_id)

    async def close(self) -> None:
        await self._tasks.close()
        self.track.stop()

    def _announce(self, event_type: str, response_id: str) -> None:
        # Called from the RTP sender's `recv()` or the session's `send()`: emit in order, soon.
        self._tasks.spawn(self._emit({"type": event_type, "response_id": response_id}))
