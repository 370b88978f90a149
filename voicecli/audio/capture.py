"""Microphone capture: device frames in, 20 ms chunks of 24 kHz mono int16 out, on asyncio.

The PortAudio callback only copies its block (one chunk long) into a preallocated `FrameRing` as
10 ms frames, each stamped with its ADC time; nothing is resampled or allocated there. A worker
thread, woken once enough frames are there to finish the next chunk (not at every frame: each
wake-up costs CPU), takes the frames, pairs each with what the speaker played at that moment (the
player's own `FrameRing`, stamped with DAC times, so the pairing follows the devices' clocks), runs
the `CapturePath` (resampling, echo handling), and hands finished chunks to the event loop. The
queue is bounded: if the consumer stalls, the oldest chunks are dropped (and counted) so the
microphone stays live.

A microphone that has heard only quiet for `BATCH_AFTER_S` does not wake the event loop for each
chunk: its quiet chunks go in fives (100 ms), and the first chunk with sound goes at once, with
the quiet ones held before it. Nothing waits on quiet that late: a turn's end was detected on the
quiet right after it (delivered chunk by chunk), and a person's first syllable still goes out at
once. Listening with nobody speaking is most of a session.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from voicecli.audio.capture_path import CapturePath
from voicecli.audio.devices import find_device
from voicecli.audio.echo import EchoMode, EchoStatus
from voicecli.audio.frames import FrameRing
from voicecli.audio.pcm import rms_dbfs, to_int16
from voicecli.audio.portaudio import BLOCK_MS, INPUT_BLOCK_MS, open_stream
from voicecli.realtime.events import SAMPLE_RATE

RING_FRAMES = 200  # two seconds of device blocks: the worker may be late, never this late
PAIRING_START_S = BLOCK_MS / 2000
"""The first pairing takes the speaker frame within half a block of the microphone frame."""
RESYNC_S = 0.05
"""Once paired, frames go one for one; only a speaker frame this far off (an underrun's gap, clock
drift) moves the pairing: callback jitter must not, or the canceller would have to find the echo again."""
REFERENCE_WAIT_S = 0.03
"""How long a microphone frame waits for its speaker frame when the player's callback runs late."""
QUIET_DBFS = -50.0
"""A chunk (as sent) below this is quiet: a room's noise, not a voice."""
BATCH_AFTER_S = 2.0
"""After this much quiet, chunks go to the event loop `BATCH_CHUNKS` at a time (longer than a
service's end-of-turn silence, 0.5 s by default, so a turn's end is never held back)."""
BATCH_CHUNKS = 5
PLAYER_ALIVE_S = 0.1
"""A player whose last frame is older than this has stopped: its silence needs no waiting for."""

ChunkTap = Callable[[np.ndarray, float], None]
"""Called on the worker thread with a block and the monotonic time its first sample met the device."""
FrameTap = Callable[[np.ndarray, float], None]
"""Called on the worker thread with each processed frame (24 kHz, as sent) and the monotonic time it met the device."""
PairTap = Callable[[np.ndarray, np.ndarray | None], None]
"""Called on the worker thread with a microphone frame and the speaker frame paired with it (None: silence)."""


class Capture:
    """Records an input device; iterate with ``async for chunk in capture`` after ``start()``.

    With `reference` (the player's `monitor`) the speaker's output is paired with the microphone,
    which echo handling needs and which `on_played` passes on (what really reached the speaker).
    """

    def __init__(
        self,
        device: int | str | None = None,
        *,
        chunk_ms: int = 20,
        max_queued_chunks: int = 100,
        echo: EchoMode = "off",
        reference: FrameRing | None = None,
        reference_rate: int | None = None,
    ) -> None:
        info = find_device(device, "input")
        self.device = info
        self.sample_rate = info.default_samplerate
        self.chunk_samples = SAMPLE_RATE * chunk_ms // 1000
        self.mute = False  # while muted, chunks keep flowing but carry silence
        self.level = -math.inf  # RMS dBFS of the latest device block (measured even while muted)
        self.chunk_at = -math.inf  # monotonic time the first sample of the chunk last yielded met the device
        self.overflows = 0  # chunks dropped because the consumer fell behind
        self.device_overflows = 0  # PortAudio input overflows (the callback itself was late)
        self.on_chunk: ChunkTap | None = None  # each chunk as sent (24 kHz), for `--record`
        self.on_played: ChunkTap | None = None  # each speaker frame (device rate), for `--record`
        self.on_pair: PairTap | None = None  # each microphone frame with its speaker frame, for `echo-test`
        self.on_frame: FrameTap | None = None
        """Each 10 ms frame as sent, as soon as the device has it (local barge-in's trigger): set before
        `start()`, it makes the device blocks 10 ms and wakes the worker at each (twice the wake-ups)."""
        self._echo_mode = echo
        self._reference = reference
        self._reference_rate = reference_rate or self.sample_rate
        self._frame_samples = self.sample_rate * BLOCK_MS // 1000
        self._ring = FrameRing(self._frame_samples, RING_FRAMES)
        self._path = CapturePath(self.sample_rate, self._reference_rate, echo)
        self._queue: asyncio.Queue[tuple[np.ndarray, float] | None] = asyncio.Queue(max_queued_chunks)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None
        self._worker: threading.Thread | None = None
        self._running = False
        self._clock_offset = 0.0  # time.monotonic() minus PortAudio's stream clock
        self._paired = False  # microphone and speaker frames go one for one
        self._quiet_s = 0.0  # how long the chunks sent have been quiet
        self._held: list[tuple[np.ndarray, float]] = []  # quiet chunks waiting to go together

    @property
    def echo_status(self) -> EchoStatus:
        return self._path.echo.status

    @property
    def frames_dropped(self) -> int:
        """Device blocks lost because the worker fell two seconds behind."""
        return self._ring.dropped

    def start(self) -> None:
        """Open and start the input stream; must be called from the running event loop."""
        if self._stream is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._path = CapturePath(self.sample_rate, self._reference_rate, self._echo_mode)
        self._stream = open_stream(
            "input",
            self.device.index,
            self.sample_rate,
            "int16",
            self._callback,
            self.device.max_input_channels,
            block_ms=BLOCK_MS if self.on_frame is not None else INPUT_BLOCK_MS,
        )
        self._clock_offset = time.monotonic() - self._stream.time
        self._paired = False
        self._quiet_s, self._held = 0.0, []
        self._running = True
        self._worker = threading.Thread(target=self._work, name="voicecli-capture", daemon=True)
        self._worker.start()
        self._stream.start()

    def stop(self) -> None:
        """Stop recording and end the iteration (chunks already queued are still delivered)."""
        if self._stream is None:
            return
        self._stream.abort()
        self._stream.close()
        self._stream = None
        self._running = False
        self._ring.wake()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        if self._loop is not None:  # queued after any chunk deliveries the worker already scheduled
            self._loop.call_soon(self._deliver, None)

    async def __aenter__(self) -> Capture:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.stop()

    def __aiter__(self) -> AsyncIterator[np.ndarray]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[np.ndarray]:
        while (item := await self._queue.get()) is not None:
            chunk, self.chunk_at = item
            yield chunk

    def _callback(self, indata: np.ndarray, _frames: int, time_info: Any, status: Any) -> None:
        if status.input_overflow:
            self.device_overflows += 1
        at, step = time_info.inputBufferAdcTime, self._frame_samples
        for start in range(0, len(indata), step):  # 10 ms frames: what pairing and the canceller take
            self._ring.push(indata[start : start + step, 0], at + start / self.sample_rate)

    # --- the worker thread ---------------------------------------------------------------------

    def _work(self) -> None:
        mic = np.zeros(self._frame_samples, dtype=np.int16)
        far = np.zeros(self._reference.frame_samples if self._reference else 1, dtype=np.int16)
        pending = np.zeros(self.chunk_samples, dtype=np.int16)
        filled, pending_at = 0, 0.0
        chunk_per_frame = self._frame_samples * SAMPLE_RATE / self.sample_rate
        while self._running or len(self._ring):
            frames_to_chunk = math.ceil((self.chunk_samples - filled) / chunk_per_frame)
            self._ring.wait_for(1 if self.on_frame is not None else max(1, frames_to_chunk), 0.1)
            while (stream_time := self._ring.pop_into(mic)) is not None:
                at = stream_time + self._clock_offset
                self.level = rms_dbfs(mic)
                speaker = self._speaker_frame(far, at) if self._pairs_speaker() else None
                if self.on_pair is not None:
                    self.on_pair(mic.copy(), None if speaker is None else speaker.copy())
                pcm = to_int16(self._path.process(mic, speaker))
                if self.mute:
                    pcm[:] = 0
                if self.on_frame is not None:
                    self.on_frame(pcm, at)
                offset = 0
                while offset < len(pcm):
                    if filled == 0:
                        pending_at = at + offset / SAMPLE_RATE
                    take = min(len(pcm) - offset, self.chunk_samples - filled)
                    pending[filled : filled + take] = pcm[offset : offset + take]
                    filled, offset = filled + take, offset + take
                    if filled == self.chunk_samples:
                        filled = 0
                        self._send(pending.copy(), pending_at)
        self._release()  # quiet chunks still held when the stream stopped

    def _pairs_speaker(self) -> bool:
        """Whether anything needs the speaker's frames: echo handling, `--record` or `echo-test`.

        Without such a need (headphones, `echo = "off"`, no recording) the worker leaves the speaker alone.
        """
        return self._path.needs_speaker or self.on_played is not None or self.on_pair is not None

    def _speaker_frame(self, out: np.ndarray, at: float) -> np.ndarray | None:
        """The speaker frame played when the microphone frame at `at` was heard (None: nothing played).

        Both streams run on their devices' clocks in blocks of the same length, so after the first
        pairing by time they go one for one; the times only correct a pairing gone far off.
        """
        ring = self._reference
        if ring is None:
            return None
        deadline = time.monotonic() + REFERENCE_WAIT_S
        while True:
            played_at = ring.peek_time()
            if played_at is None:
                # The player's callback may just be late (a busy machine): wait for it rather than pair
                # this frame with silence, which would shift the pairing by a frame and make the
                # canceller look for the echo again. A stopped player is not waited for.
                alive = ring.last_time + self._clock_offset > at - PLAYER_ALIVE_S
                remaining = deadline - time.monotonic()
                if not alive or remaining <= 0:
                    return None
                ring.wait_for(1, remaining)
                continue
            played_at += self._clock_offset
            window = RESYNC_S if self._paired else PAIRING_START_S
            if played_at > at + window:
                self._paired = False
                return None  # the next frame is still to come: silence was playing
            ring.pop_into(out)
            if self.on_played is not None:
                self.on_played(out.copy(), played_at)
            if played_at >= at - window:
                self._paired = True
                return out
            self._paired = False  # a stale frame: pair afresh

    def _send(self, chunk: np.ndarray, at: float) -> None:
        if self.on_chunk is not None:
            self.on_chunk(chunk, at)
        quiet = rms_dbfs(chunk) < QUIET_DBFS
        self._quiet_s = self._quiet_s + len(chunk) / SAMPLE_RATE if quiet else 0.0
        self._held.append((chunk, at))
        if self._quiet_s <= BATCH_AFTER_S or len(self._held) >= BATCH_CHUNKS:
            self._release()

    def _release(self) -> None:
        """Hand the held chunks to the event loop (one wake-up for them all)."""
        held, self._held = self._held, []
        if self._loop is None or not held:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed while the stream still ran
            self._loop.call_soon_threadsafe(self._deliver_all, held)

    def _deliver_all(self, items: list[tuple[np.ndarray, float]]) -> None:
        for item in items:
            self._deliver(item)

    def _deliver(self, item: tuple[np.ndarray, float] | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.overflows += 1
        self._queue.put_nowait(item)
