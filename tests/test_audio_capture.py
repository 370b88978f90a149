"""Capture on a real PortAudio stream: speech played into the virtual mic arrives on time."""

import asyncio
import math
import time
from pathlib import Path

import numpy as np
import pytest
from audio_support import PulseAudio, active_span, play_into_mic, speech_wav
from audio_support import pulse_audio as pulse_audio  # session fixture

from voicecli.audio.capture import Capture
from voicecli.audio.pcm import API_RATE
from voicecli.audio.wavio import read_audio_24k_mono

pytestmark = pytest.mark.audio

TEXT = "the quick brown fox jumps over the lazy dog"


async def capture_while_speaking(
    pulse: PulseAudio, capture: Capture, wav: Path, lead_s: float = 0.5
) -> tuple[np.ndarray, float, float]:
    """Capture ``lead_s`` of silence, then the WAV played into vmic, then 0.5 s more.

    Returns the captured audio, when playback was started (seconds after capture started) and the
    loudest level the meter showed.
    """
    chunks: list[np.ndarray] = []
    loudest = -math.inf

    async def collect() -> None:
        async for chunk in capture:
            chunks.append(chunk)

    async with capture:
        started = time.monotonic()
        collector = asyncio.create_task(collect())
        await asyncio.sleep(lead_s)
        player = play_into_mic(pulse, wav)
        play_at = time.monotonic() - started
        while player.poll() is None:
            loudest = max(loudest, capture.level)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
    await asyncio.wait_for(collector, timeout=10)
    assert chunks, "no audio captured"
    assert {(len(c), c.dtype) for c in chunks} == {(capture.chunk_samples, np.dtype(np.int16))}
    return np.concatenate(chunks), play_at, loudest


async def test_speech_arrives_in_the_right_window(pulse_audio: PulseAudio, tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "speech.wav", TEXT)
    reference = read_audio_24k_mono(wav)
    ref_span = active_span(reference)
    assert ref_span is not None
    capture = Capture(pulse_audio.device)
    captured, play_at, loudest = await capture_while_speaking(pulse_audio, capture, wav)

    span = active_span(captured)
    assert span is not None, "the speech never reached the capture stream"
    onset = span[0] / API_RATE
    expected_onset = play_at + ref_span[0] / API_RATE
    assert expected_onset - 0.05 <= onset <= expected_onset + 0.5
    duration = (span[1] - span[0]) / API_RATE
    assert duration == pytest.approx((ref_span[1] - ref_span[0]) / API_RATE, abs=0.05)
    assert np.all(captured[: int((play_at - 0.05) * API_RATE)] == 0), "energy before anything was played"
    assert loudest > -40
    assert capture.overflows == 0


async def test_mute_sends_silence_but_the_meter_still_moves(pulse_audio: PulseAudio, tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "short.wav", "muted words")
    capture = Capture(pulse_audio.device)
    capture.mute = True
    captured, _, loudest = await capture_while_speaking(pulse_audio, capture, wav, lead_s=0.2)
    assert not np.any(captured)
    assert loudest > -40


async def test_a_stalled_consumer_loses_the_oldest_chunks(pulse_audio: PulseAudio) -> None:
    capture = Capture(pulse_audio.device, max_queued_chunks=5)
    async with capture:
        await asyncio.sleep(0.3)  # nobody reads: ~15 chunks for 5 places
    received = [chunk async for chunk in capture]
    assert capture.overflows >= 5
    assert 5 <= len(received) < 10  # the queue's 5, plus any deliveries still in flight at stop
