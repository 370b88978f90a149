"""A low-latency streaming resampler for the capture path (windowed-sinc, polyphase, numpy).

soxr's streaming mode buffers its input and answers in bursts: 44.1 kHz → 24 kHz comes out as
820 samples every fourth 10 ms block, so a microphone chunk waits up to ~35 ms before it can be
sent. This filter needs only `TAPS / 2` input samples of look-ahead (well under a millisecond), and
it starts with that much silence already in hand, so every 10 ms block in gives its 10 ms out at
once, the first block included. Without that, the first block would give 9.6 ms and every later
output would end 0.4 ms short of its block: a 20 ms chunk would then be finished by the first few
samples of a block and wait the whole block for them. Quality is ample for speech and echo
cancellation (a Kaiser-windowed sinc, cut off just below the lower Nyquist frequency).
"""

from math import gcd

import numpy as np

TAPS = 32
KAISER_BETA = 8.0
CUTOFF = 0.92  # of the lower of the two Nyquist frequencies
MAX_PLANS = 64


class LowLatencyResampler:
    """Mono streaming resampler: int16 or float32 blocks in, float32 (-1..1) blocks out, continuous."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        common = gcd(in_rate, out_rate)
        self.in_rate, self.out_rate = in_rate, out_rate
        self._up, self._down = out_rate // common, in_rate // common
        half = TAPS // 2
        self._offsets = np.arange(-half + 1, half + 1)  # input taps around each output's position
        phases = np.arange(self._up) / self._up  # fractional position of an output between inputs
        scale = min(1.0, out_rate / in_rate) * CUTOFF
        distance = phases[:, None] - self._offsets[None, :]  # output position minus tap position
        edge = np.clip(distance / (half + 1), -1.0, 1.0)
        window = np.i0(KAISER_BETA * np.sqrt(1.0 - edge**2)) / np.i0(KAISER_BETA)  # centred on each output
        table = scale * np.sinc(scale * distance) * window
        self._table = (table / table.sum(axis=1, keepdims=True)).astype(np.float32)
        self.reset()

    def _plan(self, first_phase: int, count: int, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Gather indices (into the history) and weights for `count` outputs from a given phase on.

        The pattern repeats with every block of the same size, so it is computed once and cached.
        """
        positions = first_phase * self._down + np.arange(count) * self._down
        bases, phases = positions // self._up, positions % self._up
        index = bases[:, None] + self._offsets[None, :] + start - (first_phase * self._down) // self._up
        return np.clip(index, 0, None), self._table[phases]

    def reset(self) -> None:
        """Forget the signal so far (the next block starts a new stream, after `TAPS / 2` silent samples)."""
        self._history = np.zeros(TAPS, dtype=np.float32)  # the newest input samples
        self._history_start = -TAPS // 2  # absolute input index of _history[0]
        self._inputs = TAPS // 2  # input samples received: the look-ahead's silence counts as received
        self._outputs = 0  # output samples produced
        self._plans: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}

    def process(self, block: np.ndarray) -> np.ndarray:
        """Resample one block: exactly what it stands for, lagging the input by `TAPS / 2` input samples."""
        samples = block.astype(np.float32) / 32768.0 if block.dtype == np.int16 else block.astype(np.float32)
        history = np.concatenate((self._history, samples))
        self._inputs += len(samples)
        # Output n sits at input position n * down / up and needs inputs up to floor(that) + TAPS / 2.
        last_ready = ((self._inputs - TAPS // 2 - 1) * self._up) // self._down
        count = max(0, last_ready - self._outputs + 1) if self._inputs > TAPS // 2 else 0
        start = self._outputs * self._down // self._up - self._history_start
        key = (self._outputs % self._up, count, start)
        if (plan := self._plans.get(key)) is None:
            if len(self._plans) >= MAX_PLANS:  # odd block sizes: start over rather than grow
                self._plans.clear()
            plan = self._plans[key] = self._plan(*key)
        index, weights = plan
        out = np.einsum("ij,ij->i", history[index], weights)
        self._outputs += count
        # Keep the inputs the next output still needs (its first tap onwards).
        needed_from = (self._outputs * self._down) // self._up + self._offsets[0]
        drop = min(max(0, needed_from - self._history_start), len(history))
        self._history_start += drop
        self._history = history[drop:]
        return out.astype(np.float32, copy=False)
