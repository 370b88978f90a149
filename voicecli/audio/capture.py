"""Microphone capture: device-rate frames in, 20 ms chunks of 24 kHz mono int16 out, on asyncio.

The PortAudio callback downmixes and resamples (streaming, so chunk edges do not click), then
hands finished chunks to the event loop with ``call_soon_threadsafe``. The queue is bounded: if
the consumer stalls, the oldest chunks are dropped (and counted) so the microphone stays live.
"""

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from voicecli.audio.devices import find_device
from voicecli.audio.pcm import API_RATE, rms_dbfs
from voicecli.audio.portaudio import open_stream
from voicecli.audio.resample import StreamResampler


class Capture:
    """Records an input device; iterate with ``async for chunk in capture`` after ``start()``."""

    def __init__(self, device: int | str | None = None, *, chunk_ms: int = 20, max_queued_chunks: int = 100) -> None:
        info = find_device(device, "input")
        self.device = info
        self.sample_rate = info.default_samplerate
        self.chunk_samples = API_RATE * chunk_ms // 1000
        self.mute = False  # while muted, chunks keep flowing but carry silence
        self.level = -math.inf  # RMS dBFS of the latest callback block (measured even while muted)
        self.overflows = 0  # chunks dropped because the consumer fell behind
        self.device_overflows = 0  # PortAudio input overflows (the callback itself was late)
        self._resampler = StreamResampler(self.sample_rate, API_RATE)
        self._pending = np.zeros(self.chunk_samples, dtype=np.int16)
        self._pending_len = 0
        self._queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue(max_queued_chunks)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stream: Any = None

    def start(self) -> None:
        """Open and start the input stream; must be called from the running event loop."""
        if self._stream is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._resampler.reset()
        self._pending_len = 0
        self._stream = open_stream(
            "input", self.device.index, self.sample_rate, "float32", self._callback, self.device.max_input_channels
        )
        self._stream.start()

    def stop(self) -> None:
        """Stop recording and end the iteration (chunks already queued are still delivered)."""
        if self._stream is None:
            return
        self._stream.abort()
        self._stream.close()
        self._stream = None
        if self._loop is not None:  # queued after any chunk deliveries the callback already scheduled
            self._loop.call_soon(self._deliver, None)

    async def __aenter__(self) -> "Capture":
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.stop()

    def __aiter__(self) -> AsyncIterator[np.ndarray]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[np.ndarray]:
        while (chunk := await self._queue.get()) is not None:
            yield chunk

    def _callback(self, indata: np.ndarray, _frames: int, _time: Any, status: Any) -> None:
        if status.input_overflow:
            self.device_overflows += 1
        mono = indata[:, 0] if indata.shape[1] == 1 else indata.mean(axis=1)
        self.level = rms_dbfs(mono)
        pcm = self._resampler.process(mono)
        if self.mute:
            pcm[:] = 0
        while pcm.size:
            take = min(pcm.size, self.chunk_samples - self._pending_len)
            self._pending[self._pending_len : self._pending_len + take] = pcm[:take]
            self._pending_len += take
            pcm = pcm[take:]
            if self._pending_len == self.chunk_samples:
                self._pending_len = 0
                self._send_threadsafe(self._pending.copy())

    def _send_threadsafe(self, chunk: np.ndarray) -> None:
        if self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed while the stream still ran
            self._loop.call_soon_threadsafe(self._deliver, chunk)

    def _deliver(self, chunk: np.ndarray | None) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.overflows += 1
        self._queue.put_nowait(chunk)
