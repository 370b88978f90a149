"""Sample-rate conversion with soxr: a streaming resampler for live audio and a one-shot helper.

Live audio arrives in arbitrary chunks; resampling each chunk on its own would reset the filter
state at every edge and click. ``StreamResampler`` keeps that state across chunks.
"""

import numpy as np
import soxr

from voicecli.audio.pcm import to_float32, to_int16

QUALITY = "HQ"


class StreamResampler:
    """Mono streaming resampler: int16 or float32 chunks in, int16 chunks out, continuous across edges."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, "float32", QUALITY)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Resample one mono chunk; the output may lag the input by the filter delay."""
        if self._stream is None:
            return to_int16(chunk)
        return to_int16(self._stream.resample_chunk(to_float32(chunk)))

    def flush(self) -> np.ndarray:
        """Return the filter's buffered tail and make the resampler ready for a new, unrelated signal."""
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        tail = self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self._stream.clear()
        return to_int16(tail)

    def reset(self) -> None:
        """Drop the buffered tail (after a barge-in flush the old signal must not leak into the next)."""
        if self._stream is not None:
            self._stream.clear()


def resample(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample a whole mono signal (int16 or float32) at once and return int16."""
    if in_rate == out_rate:
        return to_int16(samples)
    return to_int16(soxr.resample(to_float32(samples), in_rate, out_rate, QUALITY))
