"""Per-turn latency: how long the user waits from the end of their speech until they hear the answer.

A turn starts when the user stops speaking (`speech_stopped`, or the commit in push-to-talk) and
records three moments on the `time.monotonic()` clock: the first audio delta received, the first
sample the player reports as audible, and the time spent in tools. Only numbers live here; the UI
renders them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from voicecli.realtime import ListenEvents, RealtimeAudioEvent, RealtimeEvent, RealtimeFunctionResultEvent

Clock = Callable[[], float]


@dataclass(slots=True)
class TurnLatency:
    """The moments of one turn, in `time.monotonic()` seconds; `None` until they happen."""

    number: int
    speech_end: float
    first_audio: float | None = None
    first_audible: float | None = None
    tool_s: float = 0.0

    @property
    def first_audio_ms(self) -> float | None:
        return None if self.first_audio is None else 1000.0 * (self.first_audio - self.speech_end)

    @property
    def first_audible_ms(self) -> float | None:
        return None if self.first_audible is None else 1000.0 * (self.first_audible - self.speech_end)

    @property
    def tool_ms(self) -> float:
        return 1000.0 * self.tool_s


@dataclass(slots=True, frozen=True)
class Percentiles:
    """p50 and p95 of one measure over the turns that have it."""

    count: int
    p50: float | None
    p95: float | None


@dataclass(slots=True, frozen=True)
class LatencySummary:
    """What the exit screen shows: per-measure percentiles, in milliseconds."""

    turns: int
    first_audio_ms: Percentiles
    first_audible_ms: Percentiles
    tool_ms: Percentiles


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks, like numpy's default."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    lower = int(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _percentiles(values: Sequence[float]) -> Percentiles:
    return Percentiles(count=len(values), p50=percentile(values, 50), p95=percentile(values, 95))


@dataclass(slots=True)
class LatencyTracker:
    """Collects turns from the event stream plus the player's audible timestamp.

    Feed every event from `receive()` to `handle()`. The player calls `audible(t)` with the monotonic
    time its first sample of a reply reaches the speaker; that call only stores a float, so it is safe
    from an audio thread.
    """

    clock: Clock = time.monotonic
    turns: list[TurnLatency] = field(default_factory=list)

    @property
    def current(self) -> TurnLatency | None:
        return self.turns[-1] if self.turns else None

    def handle(self, event: RealtimeEvent) -> None:
        match event:
            case RealtimeAudioEvent():
                self.audio_received()
            case RealtimeFunctionResultEvent():
                self.tool_finished(event.function_result.duration_s)
            case RealtimeEvent(service_type=ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STOPPED):
                self.speech_ended()
            case RealtimeEvent(service_type=ListenEvents.INPUT_AUDIO_BUFFER_COMMITTED):
                turn = self.current
                if turn is None or turn.first_audio is not None:  # not the commit of a turn already open
                    self.speech_ended()

    def speech_ended(self, at: float | None = None) -> TurnLatency:
        """Open a new turn (call it directly when a push-to-talk key is released)."""
        turn = TurnLatency(number=len(self.turns) + 1, speech_end=self.clock() if at is None else at)
        self.turns.append(turn)
        return turn

    def audio_received(self, at: float | None = None) -> None:
        turn = self.current
        if turn is not None and turn.first_audio is None:
            turn.first_audio = self.clock() if at is None else at

    def audible(self, at: float) -> None:
        """The player's report: the first sample of the current reply is heard at monotonic time `at`."""
        turn = self.current
        if turn is not None and turn.first_audio is not None and turn.first_audible is None:
            turn.first_audible = at

    def tool_finished(self, duration_s: float) -> None:
        turn = self.current
        if turn is not None:
            turn.tool_s += duration_s

    def summary(self) -> LatencySummary:
        turns = list(self.turns)
        return LatencySummary(
            turns=len(turns),
            first_audio_ms=_percentiles([t.first_audio_ms for t in turns if t.first_audio_ms is not None]),
            first_audible_ms=_percentiles([t.first_audible_ms for t in turns if t.first_audible_ms is not None]),
            tool_ms=_percentiles([t.tool_ms for t in turns if t.tool_s > 0]),
        )
