"""Per-turn latency from the event stream and the player's report, and its percentiles."""

from __future__ import annotations

import numpy as np
import pytest

from voicecli.realtime.events import (
    AudioContent,
    FunctionResultContent,
    RealtimeAudioEvent,
    RealtimeEvent,
    RealtimeFunctionResultEvent,
)
from voicecli.records.latency import LatencyTracker, percentile


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def service(event_type: str) -> RealtimeEvent:
    return RealtimeEvent(service_type=event_type, service_event={"type": event_type})


AUDIO = RealtimeAudioEvent(audio=AudioContent(data=np.zeros(480, dtype=np.int16)))
STOPPED = service("input_audio_buffer.speech_stopped")
COMMITTED = service("input_audio_buffer.committed")


@pytest.mark.parametrize("values", [[5.0], [1.0, 2.0], [3.0, 1.0, 2.0, 10.0], list(np.arange(1.0, 101.0))])
@pytest.mark.parametrize("q", [0, 50, 95, 100])
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_nothing() -> None:
    assert percentile([], 50) is None


def test_a_turn_from_speech_end_to_audible() -> None:
    clock = Clock()
    tracker = LatencyTracker(clock=clock)
    tracker.handle(STOPPED)
    clock.now += 0.1
    tracker.handle(COMMITTED)  # the commit of the same speech does not start another turn
    clock.now += 0.2
    tracker.handle(AUDIO)
    clock.now += 0.5
    tracker.handle(AUDIO)  # only the first delta counts
    tracker.audible(clock.now - 0.4)
    tracker.audible(clock.now)  # only the first report counts
    (turn,) = tracker.turns
    assert turn.first_audio_ms == pytest.approx(300.0)
    assert turn.first_audible_ms == pytest.approx(400.0)


def test_push_to_talk_turns_start_at_the_commit_or_the_key_release() -> None:
    clock = Clock()
    tracker = LatencyTracker(clock=clock)
    tracker.speech_ended()  # key released
    clock.now += 0.05
    tracker.handle(COMMITTED)
    clock.now += 0.15
    tracker.handle(AUDIO)
    clock.now += 1.0
    tracker.handle(COMMITTED)  # the next turn, committed without a key-release report
    clock.now += 0.25
    tracker.handle(AUDIO)
    assert [turn.first_audio_ms for turn in tracker.turns] == [pytest.approx(200.0), pytest.approx(250.0)]


def test_tool_time_adds_up_and_audible_needs_audio_first() -> None:
    tracker = LatencyTracker(clock=Clock())
    tracker.audible(5.0)  # no turn yet: ignored
    tracker.handle(STOPPED)
    tracker.audible(5.0)  # no audio received yet in this turn: ignored
    for duration in (0.02, 0.03):
        result = FunctionResultContent(name="t", call_id="c", result="ok", duration_s=duration)
        tracker.handle(RealtimeFunctionResultEvent(function_result=result))
    assert tracker.turns[0].tool_ms == pytest.approx(50.0)
    assert tracker.turns[0].first_audible is None


def test_summary_percentiles_skip_turns_without_the_measure() -> None:
    clock = Clock()
    tracker = LatencyTracker(clock=clock)
    for delay in (0.1, 0.2, 0.3, 0.4):
        tracker.speech_ended(at=clock.now)
        tracker.audio_received(at=clock.now + delay)
        tracker.audible(clock.now + delay + 0.1)
        clock.now += 10
    tracker.speech_ended()  # a turn that never got an answer
    summary = tracker.summary()
    assert summary.turns == 5
    assert summary.first_audio_ms.count == 4
    assert summary.first_audio_ms.p50 == pytest.approx(250.0)
    assert summary.first_audio_ms.p95 == pytest.approx(385.0)
    assert summary.first_audible_ms.p50 == pytest.approx(350.0)
    assert (summary.tool_ms.count, summary.tool_ms.p50) == (0, None)
