"""Capture on a real PortAudio stream: speech played into the virtual mic arrives whole."""

import asyncio
import math
import time
from pathlib import Path

import numpy as np
import pytest
from support.audio import PulseAudio, active_span, play_into_mic, speech_wav
from support.audio import pulse_audio as pulse_audio  # session fixture

from voicecli.audio.capture import Capture
from voicecli.audio.wavio import read_audio_24k_mono
from voicecli.realtime.events import SAMPLE_RATE

pytestmark = pytest.mark.audio

TEXT = "the quick brown fox jumps over the lazy dog"


async def capture_while_speaking(
    pulse: PulseAudio, capture: Capture, wav: Path, lead_s: float = 0.5
) -> tuple[np.ndarray, float]:
    """Capture ``lead_s`` of silence, then the WAV played into vmic, then 0.5 s more.

    Returns the captured audio and the loudest level the meter showed.
    """
    chunks: list[np.ndarray] = []
    loudest = -math.inf

    async def collect() -> None:
        async for chunk in capture:
            chunks.append(chunk)

    async with capture:
        collector = asyncio.create_task(collect())
        await asyncio.sleep(lead_s)
        player = play_into_mic(pulse, wav)
        while player.poll() is None:
            loudest = max(loudest, capture.level)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
    await asyncio.wait_for(collector, timeout=10)
    assert chunks, "no audio captured"
    assert {(len(c), c.dtype) for c in chunks} == {(capture.chunk_samples, np.dtype(np.int16))}
    return np.concatenate(chunks), loudest


def similarity(captured: np.ndarray, reference: np.ndarray, max_lag: int = 240) -> float:
    """Best normalised correlation of two recordings of the same sound, over lags up to 10 ms."""
    length = min(len(captured) - 2 * max_lag, len(reference) - max_lag)
    ref = reference[max_lag : max_lag + length].astype(np.float64)
    best = 0.0
    for lag in range(2 * max_lag + 1):
        seg = captured[lag : lag + length].astype(np.float64)
        best = max(best, float(np.dot(seg, ref) / (np.linalg.norm(seg) * np.linalg.norm(ref) + 1e-9)))
    return best


async def test_speech_arrives_whole_after_the_silence_before_it(pulse_audio: PulseAudio, tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "speech.wav", TEXT)
    reference = read_audio_24k_mono(wav)
    ref_span = active_span(reference)
    assert ref_span is not None
    capture = Capture(pulse_audio.device)
    captured, loudest = await capture_while_speaking(pulse_audio, capture, wav)

    span = active_span(captured)
    assert span is not None, "the speech never reached the capture stream"
    # Judged by content, not by the clock: silence until the WAV began (its own quiet lead-in
    # excepted), then the speech itself, whole and undistorted. How late it arrives is a benchmark.
    wav_start = span[0] - ref_span[0]
    assert wav_start > 0 and not np.any(captured[: wav_start - SAMPLE_RATE // 100]), "sound before the WAV began"
    duration = (span[1] - span[0]) / SAMPLE_RATE
    assert duration == pytest.approx((ref_span[1] - ref_span[0]) / SAMPLE_RATE, abs=0.05)
    assert similarity(captured[span[0] : span[1]], reference[ref_span[0] : ref_span[1]]) > 0.9
    assert loudest > -40
    assert capture.overflows == 0


async def test_mute_sends_silence_but_the_meter_still_moves(pulse_audio: PulseAudio, tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "short.wav", "muted words")
    capture = Capture(pulse_audio.device)
    capture.mute = True
    captured, loudest = await capture_while_speaking(pulse_audio, capture, wav, lead_s=0.2)
    assert not np.any(captured)
    assert loudest > -40


async def test_a_stalled_consumer_loses_the_oldest_chunks(pulse_audio: PulseAudio) -> None:
    capture = Capture(pulse_audio.device, max_queued_chunks=5)
    async with capture:
        deadline = time.monotonic() + 30  # a guard against hanging, not a speed check
        while capture.overflows < 5 and time.monotonic() < deadline:  # nobody reads: 5 places fill up
            await asyncio.sleep(0.01)
    received = [chunk async for chunk in capture]
    assert capture.overflows >= 5
    assert 5 <= len(received) < 10  # the queue's 5, plus any deliveries still in flight at stop


async def test_after_two_seconds_of_quiet_chunks_wake_the_loop_in_fives_and_sound_goes_at_once(
    pulse_audio: PulseAudio, tmp_path: Path
) -> None:
    wav = speech_wav(tmp_path / "speech.wav", "hello there")
    capture = Capture(pulse_audio.device)
    batches: list[list[float]] = []  # each wake-up of the event loop: the levels of the chunks it brought
    deliver_all = capture._deliver_all

    def noted(items: list[tuple[np.ndarray, float]]) -> None:
        batches.append([float(np.abs(chunk).max()) for chunk, _ in items])
        deliver_all(items)

    capture._deliver_all = noted  # type: ignore[method-assign]
    captured, _ = await capture_while_speaking(pulse_audio, capture, wav, lead_s=3.0)
    sizes = [len(batch) for batch in batches]
    assert sizes[:90] == [1] * 90  # the first 1.8 s of quiet: chunk by chunk (a turn's end is not held back)
    first_loud = next(n for n, batch in enumerate(batches) if max(batch) > 300)
    assert 5 in sizes[100:first_loud]  # then in fives
    assert all(size <= 5 for size in sizes) and batches[first_loud][-1] > 300  # sound goes with no wait
    assert sum(sizes) == len(captured) // capture.chunk_samples  # nothing held back at the stop


async def test_a_frame_tap_gets_every_10_ms_frame_from_10_ms_device_blocks(pulse_audio: PulseAudio) -> None:
    """Local barge-in's trigger: each frame as sent, in order, the device reading 10 ms at a time."""
    capture = Capture(pulse_audio.device)
    frames: list[tuple[int, float]] = []
    capture.on_frame = lambda pcm, at: frames.append((len(pcm), at))
    chunks = []
    async with capture:
        assert capture._stream.blocksize == capture.sample_rate // 100
        async for chunk in capture:
            chunks.append(chunk)
            if len(chunks) == 25:
                break
    span = frames[-1][1] - frames[0][1]  # ADC times, one frame after another (the plugin's stamps jitter)
    assert len(frames) >= 50 and span == pytest.approx((len(frames) - 1) * 0.01, abs=0.02)
    assert sum(size for size, _ in frames) >= 25 * capture.chunk_samples
