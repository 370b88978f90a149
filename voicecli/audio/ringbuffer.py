"""Preallocated single-producer/single-consumer int16 ring buffer between asyncio and PortAudio.

The producer (event loop) writes and flushes; the consumer (PortAudio callback) reads straight into
the callback's output array. Positions are ever-growing sample counters, so "where is sample N"
stays meaningful across wrap-around and flushes. A lock guards the index updates and a flush's short
fade (it rescales samples just past the region being read); the bulk copies of `write` and
`read_into` run outside it, on regions the other side cannot touch at that moment.
"""

import threading

import numpy as np


class RingBuffer:
    """Fixed-capacity int16 FIFO; overflowing writes drop the newest samples and are counted."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._buf = np.zeros(capacity, dtype=np.int16)
        self._lock = threading.Lock()
        self._write_pos = 0  # producer-owned: total samples ever written (minus flushed)
        self._read_pos = 0  # consumer-owned: total samples ever read
        self._reading_end = 0  # end of the region the consumer is copying right now
        self.overflows = 0  # writes that did not fit completely

    @property
    def fill(self) -> int:
        """Samples written but not yet read."""
        with self._lock:
            return self._write_pos - self._read_pos

    @property
    def write_position(self) -> int:
        """Total samples in the stream so far: the position the next written sample will get."""
        return self._write_pos

    def write(self, samples: np.ndarray) -> int:
        """Append samples (producer side); returns how many fitted, the rest is dropped and counted."""
        with self._lock:
            start = self._write_pos
            free = self.capacity - (start - self._read_pos)
        count = min(len(samples), free)
        if count < len(samples):
            self.overflows += 1
        self._copy_in(start, samples[:count])
        with self._lock:
            self._write_pos = start + count
        return count

    def read_into(self, out: np.ndarray) -> int:
        """Fill ``out`` (consumer side, no allocation); returns samples read, the rest is zero-filled."""
        with self._lock:
            start = self._read_pos
            count = min(len(out), self._write_pos - start)
            self._reading_end = start + count
        first = min(count, self.capacity - start % self.capacity)
        offset = start % self.capacity
        out[:first] = self._buf[offset : offset + first]
        out[first:count] = self._buf[: count - first]
        out[count:] = 0
        with self._lock:
            self._read_pos = start + count
        return count

    def flush(self, fade: np.ndarray | None = None) -> int:
        """Drop unread audio (producer side) and return the new write position.

        With ``fade`` (gains from 1 towards 0), the first ``len(fade)`` samples after the region the
        consumer is copying are kept and scaled, so playback ends in a short ramp instead of a click.
        """
        with self._lock:
            cut = self._reading_end
            keep = 0 if fade is None else min(len(fade), self._write_pos - cut)
            if keep and fade is not None:
                self._scale(cut, fade[:keep])
            self._write_pos = cut + keep
            return self._write_pos

    def _copy_in(self, start: int, samples: np.ndarray) -> None:
        offset = start % self.capacity
        first = min(len(samples), self.capacity - offset)
        self._buf[offset : offset + first] = samples[:first]
        self._buf[: len(samples) - first] = samples[first:]

    def _scale(self, start: int, gains: np.ndarray) -> None:
        offset = start % self.capacity
        first = min(len(gains), self.capacity - offset)
        for dst, gain in (
            (self._buf[offset : offset + first], gains[:first]),
            (self._buf[: len(gains) - first], gains[first:]),
        ):
            np.multiply(dst, gain, out=dst, casting="unsafe")
