"""Checks shared by the live-mode tests: what the speaker really played vs what the service was told."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from voicecli.audio.resample import resample
from voicecli.realtime.events import SAMPLE_RATE

LOUD = 300
"""Samples above this magnitude count as sound (espeak speech peaks in the thousands)."""


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait on the event loop until `condition` holds; fail (not hang) after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def first_burst(pcm: np.ndarray, rate: int, gap_ms: float = 400.0) -> tuple[int, int] | None:
    """First and last loud sample of the first stretch of sound that has no gap longer than `gap_ms`."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > LOUD)
    if not loud.size:
        return None
    gaps = np.flatnonzero(np.diff(loud) > rate * gap_ms / 1000)
    end = loud[gaps[0]] if gaps.size else loud[-1]
    return int(loud[0]), int(end)


@dataclass(frozen=True)
class PlayedReply:
    """Where the interrupted reply sat in a speaker recording, in ms of the reply item's own audio."""

    last_heard_ms: float  # last loud sample that came out of the speaker
    reference_last_loud_ms: float  # last loud sample of the item's audio up to `audio_end_ms`


def played_reply(recorded: np.ndarray, rate: int, reference: np.ndarray, audio_end_ms: int) -> PlayedReply:
    """Line the recorded reply up with the item's audio (24 kHz) by their first loud sample."""
    ref = resample(reference, SAMPLE_RATE, rate)
    ref_loud = np.flatnonzero(np.abs(ref.astype(np.int32)) > LOUD)
    burst = first_burst(recorded, rate)
    assert burst is not None and ref_loud.size, "no reply audio came out of the speaker"
    item_start = burst[0] - int(ref_loud[0])  # recorded index of the item's sample 0
    cut = audio_end_ms * rate // 1000
    before_cut = ref_loud[ref_loud < cut]
    return PlayedReply(
        last_heard_ms=(burst[1] - item_start) * 1000 / rate,
        reference_last_loud_ms=float(before_cut[-1]) * 1000 / rate if before_cut.size else 0.0,
    )


def assert_truncate_matches_speaker(
    recorded: np.ndarray, rate: int, reference: np.ndarray, audio_end_ms: int, tolerance_ms: float = 20.0
) -> PlayedReply:
    """`audio_end_ms` is what the listener heard: nothing loud after it, nothing loud before it missing."""
    played = played_reply(recorded, rate, reference, audio_end_ms)
    assert played.last_heard_ms <= audio_end_ms + tolerance_ms, f"{played} vs audio_end_ms={audio_end_ms}"
    assert played.reference_last_loud_ms <= played.last_heard_ms + tolerance_ms, (
        f"{played} vs audio_end_ms={audio_end_ms}: the truncate claims audio that was never played"
    )
    return played
