"""The canceller rests while the speaker is silent (CPU while listening) and wakes in step: no devices."""

from __future__ import annotations

import numpy as np
import pytest
from test_echo import RATE, echo_of, energy_db, reply_at, run

from voicecli.audio import capture_path
from voicecli.audio.capture_path import IDLE_AFTER_FRAMES, CapturePath
from voicecli.audio.resample import resample


def test_the_canceller_rests_while_the_speaker_is_silent_and_the_microphone_passes_as_it_is() -> None:
    path = CapturePath(RATE, RATE, "aec")
    calls = []
    process = path.echo.process
    path.echo.process = lambda near, far: calls.append(1) or process(near, far)  # type: ignore[method-assign]
    room = (np.random.default_rng(1).standard_normal(RATE * 2) * 300).astype(np.int16)  # 2 s of a room's noise
    out = run(path, room, np.zeros_like(room))
    assert len(calls) <= IDLE_AFTER_FRAMES + 2 and path.idle_frames >= 140  # it ran only for the first 0.5 s
    rested = slice(24_000, len(out))
    sent_in = resample(room, RATE, 24_000).astype(np.float64) / 32768
    assert abs(energy_db(out[rested]) - energy_db(sent_in[rested])) < 0.5  # the microphone as it is


def test_after_a_rest_the_canceller_cancels_the_next_reply_from_its_start(monkeypatch: pytest.MonkeyPatch) -> None:
    far = reply_at(RATE)
    pause = np.zeros(RATE * 2, np.int16)  # two seconds of silence between two replies: it rests
    speaker = np.concatenate([far, pause, far])
    near = np.clip(echo_of(speaker, 60), -32768, 32767).astype(np.int16)
    path = CapturePath(RATE, RATE, "aec")
    out = run(path, near, speaker)
    assert path.idle_frames > 100
    second = len(far) + len(pause)
    start, end = second * 24_000 // RATE, (second + RATE) * 24_000 // RATE  # the second reply's first second
    sent_in = resample(near, RATE, 24_000).astype(np.float64) / 32768
    erle = energy_db(sent_in[start:end]) - energy_db(out[start:end])
    assert erle >= 25, f"{erle:.1f} dB in the first second after the rest"
    monkeypatch.setattr(capture_path, "IDLE_AFTER_FRAMES", len(speaker))  # a canceller that never rests
    awake = run(CapturePath(RATE, RATE, "aec"), near, speaker)
    assert len(out) == len(awake)  # resting moved nothing in time
