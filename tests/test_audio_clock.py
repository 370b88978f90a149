"""Played-position clock: handed-to-device minus what still sits in the device buffer, clamped."""

import pytest

from voicecli.audio.clock import (
    ItemSpan,
    PlayoutCounters,
    PlayoutSnapshot,
    frames_in_device,
    heard_frames,
    heard_ms,
)

RATE = 48000
LATENCY = 480  # 10 ms at 48 kHz


def snap(consumed: int, device_frames: int, last_data_frame: int) -> PlayoutSnapshot:
    return PlayoutSnapshot(consumed=consumed, device_frames=device_frames, last_data_frame=last_data_frame)


def test_while_playing_latency_is_subtracted() -> None:
    span = ItemSpan(start=0, end=48000, received_samples=24000)
    assert heard_frames(span, snap(4800, 4800, 4800), LATENCY) == 4800 - LATENCY
    assert heard_ms(span, snap(4800, 4800, 4800), LATENCY, RATE) == pytest.approx(90.0)


def test_nothing_heard_before_latency_has_passed() -> None:
    span = ItemSpan(start=0, end=48000, received_samples=24000)
    assert heard_frames(span, snap(300, 300, 300), LATENCY) == 0


def test_item_starting_later_in_the_stream() -> None:
    span = ItemSpan(start=10000, end=20000, received_samples=5000)
    assert heard_frames(span, snap(9000, 9000, 9000), LATENCY) == 0
    # an underrun left 300 frames of silence behind the item's latest frame: 180 still in the device
    assert heard_frames(span, snap(15000, 16000, 15700), LATENCY) == 5000 - 180


def test_device_buffer_drains_after_the_item_ends() -> None:
    span = ItemSpan(start=0, end=9600, received_samples=4800)
    # all handed over, 200 frames of silence since: 280 frames still in the device buffer
    assert heard_frames(span, snap(9600, 9800, 9600), LATENCY) == 9600 - 280
    # a later item's frames also push this one out
    assert heard_frames(span, snap(9700, 9700, 9700), LATENCY) == 9600 - 380
    assert heard_ms(span, snap(9600, 20000, 9600), LATENCY, RATE) == pytest.approx(200.0)


def test_clamped_to_audio_received() -> None:
    """Resampler edge effects can hand a few more device frames than the item's 24 kHz audio."""
    span = ItemSpan(start=0, end=4810, received_samples=2400)
    assert heard_ms(span, snap(4810, 99999, 4810), LATENCY, RATE) == pytest.approx(100.0)


def test_zero_latency_and_unplayed_item() -> None:
    span = ItemSpan(start=500, end=500, received_samples=2400)
    assert heard_frames(span, snap(1000, 1000, 1000), 0) == 0
    assert heard_frames(ItemSpan(0, 100), snap(60, 60, 60), 0) == 60


def test_counters_track_data_and_silence() -> None:
    counters = PlayoutCounters()
    counters.advance(256, 256)
    counters.advance(100, 256)  # ring ran dry mid-block
    counters.advance(0, 256, dac_time=10.0)
    assert counters.snapshot() == PlayoutSnapshot(356, 768, 356, block_dac_time=10.0, block_frames=256)


def test_frames_in_the_device_follow_the_dac_time_of_the_newest_block() -> None:
    """The device's real buffer, not its nominal latency: on a busy machine it grows after an underrun."""
    state = PlayoutSnapshot(4800, 4800, 4800, block_dac_time=10.0, block_frames=480)
    assert frames_in_device(state, 9.99, RATE, LATENCY) == 960  # 10 ms before the block: it and 10 ms more
    assert frames_in_device(state, 10.005, RATE, LATENCY) == 240  # halfway through the block
    assert frames_in_device(state, 10.5, RATE, LATENCY) == 0  # all heard
    assert frames_in_device(snap(2400, 2400, 2400), 10.0, RATE, LATENCY) == LATENCY  # no DAC time: nominal


def test_flushed_item_counts_everything_up_to_the_cut() -> None:
    """After a flush the audio up to the cut is already on its way out: final at once."""
    span = ItemSpan(start=1000, end=5800, received_samples=2400, flushed=True)
    assert heard_frames(span, snap(5000, 5000, 5000), LATENCY) == 4800
    assert heard_ms(span, snap(5000, 5000, 5000), LATENCY, RATE) == pytest.approx(100.0)
