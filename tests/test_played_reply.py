"""`assert_truncate_matches_speaker` without I/O: on a busy machine the speaker recording of a ducked,
then cut reply has digital silence where device callbacks came late; where the reply was cut must
still be found to within a few milliseconds, and sound past the cut must still fail the check."""

from __future__ import annotations

import numpy as np
import pytest
from support.live import assert_truncate_matches_speaker

from voicecli.audio.resample import resample

RATE = 44_100
CUT_MS = 2_000
DUCK = 0.1


def reply() -> np.ndarray:
    """3 s of word-like bursts of shaped noise (24 kHz), with the faint noise a resampler leaves in pauses."""
    rng = np.random.default_rng(7)
    audio = rng.integers(-1, 2, 72_000).astype(np.float64)
    for start in range(0, 72_000, 24_000 * 23 // 100):
        length = 24_000 * 15 // 100
        audio[start : start + length] = (
            rng.standard_normal(len(audio[start : start + length]))
            * 6000
            * np.hanning(len(audio[start : start + length]))
        )
    return audio.astype(np.int16)


def speaker(reference: np.ndarray, heard_ms: int, gaps_ms: tuple[int, ...]) -> np.ndarray:
    """What the speaker played: the reply up to `heard_ms`, its last 400 ms ducked, with late callbacks'
    digital silence (`gaps_ms` long each) put in before the duck, then silence."""
    played = resample(reference, 24_000, RATE)[: heard_ms * RATE // 1000].copy()
    duck_from = (heard_ms - 400) * RATE // 1000
    played[duck_from:] = (played[duck_from:] * DUCK).astype(np.int16)
    pieces, at = [np.zeros(RATE // 2, dtype=np.int16)], 0
    for index, gap in enumerate(gaps_ms):
        upto = (index + 1) * duck_from // (len(gaps_ms) + 1)
        pieces += [played[at:upto], np.zeros(gap * RATE // 1000, dtype=np.int16)]
        at = upto
    pieces += [played[at:], np.zeros(RATE // 2, dtype=np.int16)]
    return np.concatenate(pieces)


def lifted(recorded: np.ndarray) -> np.ndarray:
    return np.clip(recorded.astype(np.int32) / DUCK, -32768, 32767).astype(np.int16)


def test_late_callbacks_silence_does_not_pass_for_sound_past_the_cut() -> None:
    reference = reply()
    recorded = lifted(speaker(reference, CUT_MS + 8, gaps_ms=(60, 90, 70)))  # the flush's 8 ms fade
    played = assert_truncate_matches_speaker(recorded, RATE, reference, CUT_MS, tolerance_ms=60)
    assert played.last_heard_matched_ms is not None
    low, high = played.last_heard_matched_ms  # after the last gap the waveform places the end exactly
    assert abs(low - CUT_MS) < 20 and abs(high - CUT_MS) < 20
    assert played.last_heard_ms > CUT_MS + 60  # what counting from the first loud sample said


@pytest.mark.parametrize("gaps_ms", [(), (60, 90, 70)])
def test_sound_past_the_cut_fails(gaps_ms: tuple[int, ...]) -> None:
    reference = reply()
    recorded = lifted(speaker(reference, CUT_MS + 150, gaps_ms=gaps_ms))
    with pytest.raises(AssertionError):
        assert_truncate_matches_speaker(recorded, RATE, reference, CUT_MS, tolerance_ms=60)
