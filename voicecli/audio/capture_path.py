"""What happens to each microphone frame after the device callback: resample, cancel echo, resample to 24 kHz.

Pure and single-threaded, so the capture's worker thread runs it live and `voicecli echo-test`
replays recorded frames through every mode. Microphone and speaker frames come at their devices'
rates; with an echo mode both go to `CANCELLER_RATE` and are paired in 10 ms frames; the result
(or, with `off`, the microphone directly) goes to the API's 24 kHz.

While the speaker has played digital silence for `IDLE_AFTER_FRAMES` (its last echo has died
away), the canceller rests: the microphone passes as it is (what the canceller leaves of a frame
with nothing to cancel), and neither the speaker's resampling nor the canceller runs. That is most
of a listening session's time, and the canceller was most of its CPU. Its first frame of sound wakes
the canceller again, before that sound's echo reaches the microphone.
"""

from __future__ import annotations

import numpy as np

from voicecli.audio.echo import CANCELLER_RATE, FRAME_SAMPLES, EchoMode, EchoProcessor, NoEcho, open_echo
from voicecli.audio.polyphase import LowLatencyResampler
from voicecli.realtime.events import SAMPLE_RATE

IDLE_AFTER_FRAMES = 50
"""Frames of a silent speaker (0.5 s; the echo gate counts the last 300 ms of playback as still arriving)
after which the canceller rests."""


class _Fifo:
    """A float32 FIFO for resampled audio until a whole 10 ms frame is there."""

    def __init__(self) -> None:
        self._data = np.zeros(0, dtype=np.float32)

    def __len__(self) -> int:
        return len(self._data)

    def put(self, samples: np.ndarray) -> None:
        self._data = np.concatenate((self._data, samples)) if len(self._data) else samples

    def take(self, count: int) -> np.ndarray:
        head, self._data = self._data[:count], self._data[count:]
        return head


class CapturePath:
    """Microphone frames (with the speaker frame played at the same moment) in, 24 kHz float32 out."""

    def __init__(self, mic_rate: int, far_rate: int, mode: EchoMode = "off") -> None:
        self.echo: EchoProcessor = open_echo(mode)
        self.needs_speaker = not isinstance(self.echo, NoEcho)
        """Whether `process` uses the speaker's frames (with `off` it passes the microphone on alone)."""
        working_rate = CANCELLER_RATE if self.needs_speaker else mic_rate
        self._near_rs = LowLatencyResampler(mic_rate, CANCELLER_RATE)
        self._far_rs = LowLatencyResampler(far_rate, CANCELLER_RATE)
        self._out_rs = LowLatencyResampler(working_rate, SAMPLE_RATE)
        self._near, self._far = _Fifo(), _Fifo()
        self._silent_far: dict[int, np.ndarray] = {}
        self._silent_frames = 0  # speaker frames in a row that were digital silence
        self.idle_frames = 0  # frames passed without the canceller (for the tests and benchmarks)

    def process(self, mic: np.ndarray, far: np.ndarray | None) -> np.ndarray:
        """One microphone frame (int16, device rate) and the speaker's frame of that moment (None: silence)."""
        if not self.needs_speaker:
            return self._out_rs.process(mic)
        silent = far is None or not far.any()
        self._silent_frames = self._silent_frames + 1 if silent else 0
        near = self._near_rs.process(mic)
        self._near.put(near)
        if self._silent_frames > IDLE_AFTER_FRAMES:
            self._far.put(np.zeros(len(near), dtype=np.float32))  # keeps the two in step for the wake-up
            return self._rest()
        if far is None:
            far = self._silent_far.setdefault(len(mic), np.zeros(len(mic), dtype=np.int16))
        self._far.put(self._far_rs.process(far))
        cleaned = []
        while len(self._near) >= FRAME_SAMPLES and len(self._far) >= FRAME_SAMPLES:
            cleaned.append(self.echo.process(self._near.take(FRAME_SAMPLES), self._far.take(FRAME_SAMPLES)))
        if not cleaned:
            return np.zeros(0, dtype=np.float32)
        return self._out_rs.process(np.concatenate(cleaned) if len(cleaned) > 1 else cleaned[0])

    def _rest(self) -> np.ndarray:
        """The canceller rests: the microphone's frames pass as they are, taken in step with the
        (silent) speaker's as when it works, so its pairing is unchanged when it wakes."""
        passed = []
        while len(self._near) >= FRAME_SAMPLES and len(self._far) >= FRAME_SAMPLES:
            self._far.take(FRAME_SAMPLES)
            passed.append(self._near.take(FRAME_SAMPLES))
        self.idle_frames += len(passed)
        if not passed:
            return np.zeros(0, dtype=np.float32)
        return self._out_rs.process(np.concatenate(passed) if len(passed) > 1 else passed[0])
