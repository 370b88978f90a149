"""Audio between numpy pcm16 at 24 kHz and aiortc tracks, for both ends of a WebRTC call.

Outgoing: `PacedAudioTrack` hands aiortc one 20 ms frame every 20 ms of wall-clock time (silence
when its source is empty), because aiortc's RTP sender sends whatever `recv()` returns at once;
`PcmAudioTrack` is the ready microphone track fed with `put()`. Frames are 24 kHz stereo with
identical channels: aiortc's Opus encoder resamples them to 48 kHz stereo itself, and a mono frame
would come out 3 dB quieter from its upmix. Incoming: `Pcm24kConverter` turns decoded frames (Opus: 48 kHz
stereo) into 24 kHz mono int16, the rate the rest of voicecli speaks.
"""

from __future__ import annotations

import asyncio
import fractions
from abc import abstractmethod
from collections.abc import Callable

import numpy as np
import soxr
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from voicecli.realtime.clock import WALL_CLOCK, Clock
from voicecli.realtime.events import SAMPLE_RATE

FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
_FRAME_BYTES = FRAME_SAMPLES * 2
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
_MAX_LAG_S = 0.2  # further behind than this (a stalled event loop), restart the clock, don't burst


def _pcm16_bytes(pcm: np.ndarray | bytes) -> bytes:
    """Mono int16 samples as little-endian bytes."""
    if isinstance(pcm, bytes):
        return pcm
    return np.asarray(pcm).astype("<i2", copy=False).tobytes()


class PacedAudioTrack(MediaStreamTrack):
    """An audio track that produces 20 ms frames of 24 kHz pcm16 in real time (`clock`'s: a test may
    give a virtual one, so pacing is checked without waiting)."""

    kind = "audio"

    def __init__(self, clock: Clock = WALL_CLOCK) -> None:
        super().__init__()
        self._clock = clock
        self._start: float | None = None
        self._pts = 0
        self._taken = asyncio.Event()  # set whenever samples leave the source (or the track ends)

    @abstractmethod
    def _next_pcm(self, size: int) -> bytes:
        """Up to `size` bytes of pcm16 to send now; fewer (or none) are padded with silence."""

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._wait_for_frame_time()
        mono = np.frombuffer(self._next_pcm(_FRAME_BYTES).ljust(_FRAME_BYTES, b"\0"), dtype="<i2")
        self._taken.set()
        frame = AudioFrame(format="s16", layout="stereo", samples=FRAME_SAMPLES)
        frame.planes[0].update(np.repeat(mono, 2).tobytes())
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = _TIME_BASE
        frame.pts = self._pts
        return frame

    def stop(self) -> None:
        super().stop()
        self._taken.set()  # wake writers waiting for room; they see the track ended

    async def _wait_for_frame_time(self) -> None:
        now = self._clock.monotonic()
        if self._start is None:
            self._start = now
            return
        self._pts += FRAME_SAMPLES
        due = self._start + self._pts / SAMPLE_RATE
        if now - due > _MAX_LAG_S:
            self._start = now - self._pts / SAMPLE_RATE
        elif due > now:
            await self._clock.sleep(due - now)

    async def _wait_until(self, ready: Callable[[], bool]) -> None:
        """Wait until `ready()` holds; raise `MediaStreamError` once the track has ended."""
        while True:
            if self.readyState != "live":
                raise MediaStreamError("the audio track has ended")
            if ready():
                return
            self._taken.clear()
            await self._taken.wait()


class PcmAudioTrack(PacedAudioTrack):
    """A microphone track fed from numpy chunks of mono int16 at 24 kHz (any chunk size).

    `put()` waits while more than `max_buffered_s` of audio is queued, so a file can be pushed as
    fast as the caller likes; `put_nowait()` is for capture callbacks and raises `asyncio.QueueFull`
    instead. The track sends silence whenever nothing is queued, as a real microphone would.
    """

    def __init__(self, *, max_buffered_s: float = 10.0, clock: Clock = WALL_CLOCK) -> None:
        super().__init__(clock)
        self._buffer = bytearray()
        self._limit = int(max_buffered_s * SAMPLE_RATE) * 2

    @property
    def buffered_ms(self) -> float:
        return 1000.0 * len(self._buffer) / 2 / SAMPLE_RATE

    def put_nowait(self, pcm: np.ndarray | bytes) -> None:
        data = _pcm16_bytes(pcm)
        if self.readyState != "live":
            raise MediaStreamError("the audio track has ended")
        if self._buffer and len(self._buffer) + len(data) > self._limit:
            raise asyncio.QueueFull
        self._buffer += data

    async def put(self, pcm: np.ndarray | bytes) -> None:
        data = _pcm16_bytes(pcm)
        await self._wait_until(lambda: not self._buffer or len(self._buffer) + len(data) <= self._limit)
        self._buffer += data

    async def drained(self) -> None:
        """Wait until everything queued has been handed to the RTP sender."""
        await self._wait_until(lambda: not self._buffer)

    def clear(self) -> None:
        """Drop the audio not sent yet."""
        self._buffer.clear()
        self._taken.set()

    def _next_pcm(self, size: int) -> bytes:
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


class Pcm24kConverter:
    """Decoded pcm16 frames (Opus: 48 kHz stereo, G.711: 8 kHz mono) → mono int16 at 24 kHz.

    The first channel is kept as it is: the remote side sends mono upmixed to identical channels,
    and FFmpeg's downmix would lower the level by 3 dB. The rate is converted by a streaming soxr
    resampler, so there are no clicks at frame boundaries.
    """

    def __init__(self) -> None:
        self._stream: soxr.ResampleStream | None = None
        self._rate = SAMPLE_RATE

    def convert(self, frame: AudioFrame) -> np.ndarray:
        if frame.format.name not in ("s16", "s16p"):
            raise ValueError(f"expected pcm16 audio frames, got {frame.format.name}")
        samples = frame.to_ndarray()
        mono = samples[0] if frame.format.is_planar else samples[0, :: len(frame.layout.channels)]
        if frame.sample_rate == SAMPLE_RATE:
            return np.ascontiguousarray(mono)
        if self._stream is None or frame.sample_rate != self._rate:
            self._stream = soxr.ResampleStream(frame.sample_rate, SAMPLE_RATE, 1, dtype="int16")
            self._rate = frame.sample_rate
        return self._stream.resample_chunk(np.ascontiguousarray(mono))
