"""Player on a real PortAudio stream: what it plays is recorded from the null sink's monitor."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from support.audio import PulseAudio, Recorder, active_span, assert_sounds_for, sound_segments, wait_until
from support.audio import pulse_audio as pulse_audio  # session fixture

from voicecli.audio.pcm import rms_dbfs
from voicecli.audio.player import Player

pytestmark = pytest.mark.audio

FREQ = 440.0


def tone(ms: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(24 * ms) / 24000
    return (amplitude * 32767 * np.sin(2 * np.pi * FREQ * t)).astype(np.int16)


def feed(player: Player, pcm: np.ndarray, item_id: str, delta_ms: int = 100) -> None:
    """Hand audio over the way the realtime client does: ~100 ms deltas, faster than real time."""
    for start in range(0, len(pcm), 24 * delta_ms):
        player.add_audio(pcm[start : start + 24 * delta_ms], item_id)


def envelope(pcm: np.ndarray, rate: int, window_ms: float = 3.0) -> np.ndarray:
    size = int(rate * window_ms / 1000)
    frames = np.abs(pcm[: len(pcm) // size * size].astype(np.int32)).reshape(-1, size)
    return frames.max(axis=1)


@dataclass
class Event:
    """Shaped like the realtime client's audio event."""

    data: np.ndarray
    item_id: str


@pytest.fixture
def player(pulse_audio: PulseAudio) -> Iterator[Player]:
    with Player(pulse_audio.device) as started:
        wait_until(lambda: started._counters.snapshot().device_frames > 0, what="the first output callback")
        yield started


@pytest.fixture
def recorder(pulse_audio: PulseAudio, player: Player, tmp_path: Path) -> Iterator[Recorder]:
    """Records vspeaker.monitor at the player's rate (no resampling inside PulseAudio)."""
    started = Recorder(pulse_audio, tmp_path / "out.raw", rate=player.sample_rate)
    yield started
    started.stop()


def wait_played(player: Player, recorder: Recorder | None = None) -> None:
    """Until the player drained and, when recording, 200 ms of silence came after the tail."""
    wait_until(lambda: not player.is_playing, what="playback to finish")
    if recorder is not None:
        wait_until(lambda: recorder.quiet_for_s() >= 0.2, what="the recording to catch up with the tail")


def test_plays_a_clean_tone_of_the_right_length(player: Player, recorder: Recorder) -> None:
    feed(player, tone(1000), "item_a")
    player.finish()
    wait_played(player, recorder)
    recorded = recorder.stop()
    rate = player.sample_rate

    span = active_span(recorded)
    assert span is not None, "nothing was played"
    assert_sounds_for(recorded[span[0] : span[1] + 1], rate, 1.0, 0.005)
    body = recorded[span[0] + rate // 100 : span[1] - rate // 100]
    segments = sound_segments(recorded[span[0] : span[1] + 1], rate)  # split where the device was late
    assert rms_dbfs(body) == pytest.approx(-9.0, abs=0.5)  # 0.5 full scale sine, unity gain
    spectrum = np.abs(np.fft.rfft(body.astype(np.float64)))
    assert np.argmax(spectrum) * rate / len(body) == pytest.approx(FREQ, abs=2)
    # no clicks at the 100 ms delta edges: no step steeper than the sine itself allows
    max_step = 0.5 * 32767 * 2 * np.pi * FREQ / rate
    # (within each stretch of continuous playback: 10 ms in from the tone's ends, 1 ms from a gap)
    edge, gap_edge, last = rate // 100, rate // 1000, len(segments) - 1
    inner = [
        seg[edge if i == 0 else gap_edge : len(seg) - (edge if i == last else gap_edge)]
        for i, seg in enumerate(segments)
    ]
    steepest = max(int(np.max(np.abs(np.diff(seg.astype(np.int32))))) for seg in inner if len(seg) > 1)
    assert steepest < max_step * 1.1
    assert player.heard_ms("item_a") == pytest.approx(1000, abs=2)
    assert player.overflows == 0


def test_items_are_timed_separately(player: Player) -> None:
    for item_id, ms in (("first", 300), ("second", 200)):
        for start in range(0, 24 * ms, 2400):
            player.add_audio(Event(tone(ms)[start : start + 2400], item_id))
    player.finish()
    second_heard = player.heard_ms("second")
    # Items play in order, whatever the machine's speed: none of the second before all of the first.
    assert second_heard == 0 or player.heard_ms("first") == pytest.approx(300, abs=2)
    wait_played(player)
    player.add_audio(tone(100), "second")  # more of the same item after finish() extends it
    player.finish()
    wait_played(player)
    assert player.heard_ms("first") == pytest.approx(300, abs=2)
    assert player.heard_ms("second") == pytest.approx(300, abs=2)
    assert player.heard_ms("unknown") == 0.0


def test_flush_fades_out_within_a_block_and_matches_heard_ms(player: Player, recorder: Recorder) -> None:
    feed(player, tone(3000), "long")
    wait_until(lambda: player.heard_ms("long") >= 500, what="half a second to be heard")
    player.flush(fade_ms=8)
    heard = player.heard_ms("long")  # what a barge-in sends as audio_end_ms, right away
    feed(player, tone(500), "long")  # late deltas of a flushed item are dropped
    assert player.buffered_ms <= 8.1  # only the fade-out ramp is left
    wait_played(player, recorder)
    assert player.heard_ms("long") == heard
    feed(player, tone(300), "next")  # a new item plays normally after a flush
    player.finish()
    wait_played(player, recorder)
    recorded = recorder.stop()
    rate = player.sample_rate

    loud = np.flatnonzero(np.abs(recorded.astype(np.int32)) > 300)
    # Two bursts, the flushed item then the next one, apart by the drained pause (200 ms of recorded
    # silence at least: longer than the silence a late device callback leaves inside a burst).
    pauses = np.diff(loud)
    between = int(np.argmax(pauses))
    assert pauses[between] > rate // 10, "expected two bursts: the flushed item, then the next one"
    first_end, second_start = loud[between], loud[between + 1]
    # What came out of the speaker before the cut is what the player says was heard (within 20 ms):
    # not the 3 s fed. A late callback can leave a gap in it (see assert_sounds_for).
    assert_sounds_for(recorded[loud[0] : first_end + 1], rate, heard / 1000, 0.02)
    assert_sounds_for(recorded[second_start : loud[-1] + 1], rate, 0.3, 0.005)

    # the stop is a short ramp, not a click and not a slow tail
    env = envelope(recorded[loud[0] : first_end + rate // 10], rate)
    full = np.flatnonzero(env > 0.9 * 0.5 * 32767)[-1]
    quiet = np.flatnonzero(env > 300)[-1]
    assert 1 <= quiet - full <= 6, "fade should take ~8 ms (3 ms windows)"


def test_duck_fades_down_and_back_up_losing_nothing(player: Player, recorder: Recorder) -> None:
    feed(player, tone(1500), "long")
    player.finish()
    wait_until(lambda: player.heard_ms("long") >= 300, what="300 ms to be heard")
    player.duck(0.1)  # -20 dB
    wait_until(lambda: player.heard_ms("long") >= 800, what="the ducked stretch to play")
    player.duck(1.0)
    wait_played(player, recorder)
    recorded = recorder.stop()
    rate = player.sample_rate

    assert player.heard_ms("long") == pytest.approx(1500, abs=2)  # nothing dropped, nothing skipped
    span = active_span(recorded)
    assert span is not None, "nothing was played"
    assert_sounds_for(recorded[span[0] : span[1] + 1], rate, 1.5, 0.02)
    levels = [rms_dbfs(window) for window in np.array_split(recorded[span[0] : span[1] + 1], 15)]  # 100 ms each
    # -20 dB while ducked (lower in a window where a late device callback left a gap)
    assert max(levels) == pytest.approx(-9.0, abs=0.5) and -40 < min(levels) < -27
    ducked = [i for i, level in enumerate(levels) if level < -25]
    assert ducked and ducked == list(range(ducked[0], ducked[-1] + 1))  # one stretch, then back up
    assert ducked[-1] < len(levels) - 1 and levels[-1] == pytest.approx(-9.0, abs=0.5)
