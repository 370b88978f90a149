"""A preallocated ring of fixed-size int16 frames, each stamped with the moment it met the device.

A PortAudio callback pushes its block (a copy into a slot, nothing allocated, no lock held beyond two
integer updates) and a worker thread pops the frames in order. The capture uses one for the
microphone (stamped with the ADC time) and the player one for what it handed to the device (stamped
with the DAC time), so the echo canceller can pair them by time and the recorder can write what
really played. When the worker falls behind, the newest frames are dropped and counted.

A consumer sleeps in `wait_for` until as many frames as it can use are there, and the producer wakes
it only then: the capture's worker wakes once per chunk, not once per device block, and nobody is woken
for frames nobody waits for. On a virtual machine each wake-up costs a noticeable share of a core.
"""

import threading

import numpy as np


class FrameRing:
    """Single-producer/single-consumer FIFO of `frame_samples`-long int16 frames with a time each."""

    def __init__(self, frame_samples: int, capacity_frames: int) -> None:
        if frame_samples <= 0 or capacity_frames <= 0:
            raise ValueError("frame size and capacity must be positive")
        self.frame_samples = frame_samples
        self.capacity = capacity_frames
        self._frames = np.zeros((capacity_frames, frame_samples), dtype=np.int16)
        self._times = np.zeros(capacity_frames, dtype=np.float64)
        self._lock = threading.Lock()
        self._written = 0  # frames ever pushed (producer-owned)
        self._read = 0  # frames ever popped (consumer-owned)
        self.dropped = 0  # frames lost because the ring was full
        self.last_time = -1e18  # the time of the newest frame pushed (producer-owned)
        self._wanted = 0  # frames the waiting consumer needs before it is woken (0: nobody waits)
        self._ready = threading.Event()

    def __len__(self) -> int:
        with self._lock:
            return self._written - self._read

    def push(self, block: np.ndarray, at: float) -> None:
        """Copy one block (producer side; shorter blocks are zero-padded, longer ones cut)."""
        with self._lock:
            full = self._written - self._read >= self.capacity
            slot = self._written % self.capacity
        if full:
            self.dropped += 1
            return
        count = min(len(block), self.frame_samples)
        frame = self._frames[slot]
        frame[:count] = block[:count]
        frame[count:] = 0
        self._times[slot] = at
        self.last_time = at
        with self._lock:
            self._written += 1
            wake = 0 < self._wanted <= self._written - self._read
            if wake:
                self._wanted = 0
        if wake:
            self._ready.set()

    def wait_for(self, frames: int, timeout: float) -> bool:
        """Sleep until `frames` frames are unread, `wake()` is called or `timeout` passes; True if they are there."""
        with self._lock:
            if self._written - self._read >= frames:
                return True
            self._ready.clear()
            self._wanted = frames
        self._ready.wait(timeout)
        with self._lock:
            self._wanted = 0
            return self._written - self._read >= frames

    def wake(self) -> None:
        """End a consumer's `wait_for` now (the stream is stopping)."""
        self._ready.set()

    def peek_time(self) -> float | None:
        """The time of the oldest unread frame, or None when the ring is empty (consumer side)."""
        with self._lock:
            if self._written == self._read:
                return None
            return float(self._times[self._read % self.capacity])

    def pop_into(self, out: np.ndarray) -> float | None:
        """Move the oldest frame into `out` and return its time; None (and `out` untouched) when empty."""
        with self._lock:
            if self._written == self._read:
                return None
            slot = self._read % self.capacity
        out[:] = self._frames[slot]
        at = float(self._times[slot])
        with self._lock:
            self._read += 1
        return at
