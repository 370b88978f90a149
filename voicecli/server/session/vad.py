"""Energy-based server VAD for 24 kHz int16 input, configured like the service's `server_vad`.

Positions are sample counts since the start of the session's input stream, so the session can
report `audio_start_ms` / `audio_end_ms` the way the service does: the start includes the
`prefix_padding_ms` before the detected onset, the end includes the `silence_duration_ms` that
confirmed the stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicecli.realtime.events import SAMPLE_RATE

__all__ = ["EnergyVad", "SpeechStarted", "SpeechStopped", "VadConfig"]

_WINDOW = SAMPLE_RATE // 100  # 10 ms analysis windows
_ONSET_WINDOWS = 3  # 30 ms of consecutive voiced windows make speech (a click does not)
_SEMANTIC_SILENCE_MS = {"low": 800, "medium": 500, "auto": 500, "high": 250}


@dataclass(frozen=True, slots=True)
class VadConfig:
    """`threshold` 0..1 maps linearly onto -70..-10 dBFS of RMS (0.5 → -40 dBFS)."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500

    @classmethod
    def from_turn_detection(cls, turn_detection: Mapping[str, Any]) -> VadConfig:
        """Read a session's `audio.input.turn_detection`; `semantic_vad` maps eagerness to silence."""
        if turn_detection.get("type") == "semantic_vad":
            eagerness = turn_detection.get("eagerness") or "auto"
            return cls(silence_duration_ms=_SEMANTIC_SILENCE_MS[eagerness])
        given = {key: turn_detection.get(key) for key in ("threshold", "prefix_padding_ms", "silence_duration_ms")}
        return cls(**{key: value for key, value in given.items() if value is not None})

    @property
    def level_dbfs(self) -> float:
        return -70.0 + 60.0 * min(1.0, max(0.0, self.threshold))


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    sample: int  # stream position where the committed audio starts (onset minus prefix padding)
    detected: int = field(default=0, compare=False)  # stream position where the VAD was sure


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    sample: int  # stream position where the committed audio ends (last voice plus silence)

    @property
    def detected(self) -> int:
        return self.sample  # the silence that confirms the stop ends the turn


class EnergyVad:
    """Feed it consecutive input audio; it reports speech start/stop positions in the stream."""

    def __init__(self, config: VadConfig, stream_position: int = 0) -> None:
        self.config = config
        self._position = stream_position  # samples consumed into whole windows
        self._pending = np.zeros(0, dtype=np.int16)
        # Mean square of int16 samples at the threshold level.
        self._threshold_ms = (32768.0 * 10 ** (config.level_dbfs / 20)) ** 2
        self._silence_windows = max(1, config.silence_duration_ms // 10)
        self._voiced_run = 0
        self._silent_run = 0
        self.in_speech = False

    def process(self, pcm: np.ndarray) -> list[SpeechStarted | SpeechStopped]:
        """Analyse the next samples of the stream (any length); return the transitions found."""
        samples = np.concatenate((self._pending, pcm)) if self._pending.size else pcm
        whole = samples.size - samples.size % _WINDOW
        self._pending = samples[whole:].copy()
        if not whole:
            return []
        frames = samples[:whole].astype(np.float32).reshape(-1, _WINDOW)
        voiced = np.mean(frames * frames, axis=1) >= self._threshold_ms
        events: list[SpeechStarted | SpeechStopped] = []
        for is_voiced in voiced.tolist():
            self._position += _WINDOW
            if not self.in_speech:
                self._voiced_run = self._voiced_run + 1 if is_voiced else 0
                if self._voiced_run >= _ONSET_WINDOWS:
                    onset = self._position - _ONSET_WINDOWS * _WINDOW
                    start = max(0, onset - self.config.prefix_padding_ms * SAMPLE_RATE // 1000)
                    events.append(SpeechStarted(start, self._position))
                    self.in_speech, self._silent_run = True, 0
            elif is_voiced:
                self._silent_run = 0
            else:
                self._silent_run += 1
                if self._silent_run >= self._silence_windows:
                    events.append(SpeechStopped(self._position))
                    self.in_speech, self._voiced_run = False, 0
        return events
