"""The server's pacing on a virtual clock: a reply stays in flight until the test moves time on.

A paced server makes a reply come out over seconds, so that a client can cancel, truncate or talk
over it while it streams. Over a socket that takes real time, and how much of the reply went out by
the moment the client acts depends on the machine's load. `VirtualPacing` decides what is due exactly
as `Pacing` does (`due`: the first-audio delay, then the speed), but against a `PacingClock` that
only the test advances: after `clock.advance(0.55)` a reply at the default pacing has sent what is
due by 0.55 s (its first 200 ms of audio) and waits for the rest, however slow the machine is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from voicecli.server.session.pacing import DEFAULT_PACING, Pacing

__all__ = ["PacingClock", "VirtualPacing"]


class PacingClock:
    """Virtual seconds, advanced by the test; remembers when (in loop time) each advance happened, so
    that a response's start (which the session takes from the loop's clock) reads on this clock too."""

    def __init__(self) -> None:
        self.now = 0.0
        self._readings: list[tuple[float, float]] = []  # (loop time of the advance, reading after it)
        self._ticked: asyncio.Event | None = None

    def advance(self, seconds: float) -> None:
        """Move time on: whatever output is due by the new reading goes out (in the loop's next turns)."""
        self.now += seconds
        self._readings.append((asyncio.get_running_loop().time(), self.now))
        if self._ticked is not None:
            self._ticked.set()
            self._ticked = None

    def reading_at(self, loop_time: float) -> float:
        """What this clock read at `loop_time` (a moment of the running loop's clock)."""
        reading = 0.0
        for when, after in self._readings:
            if when > loop_time:
                break
            reading = after
        return reading

    async def until(self, deadline: float, interrupt: asyncio.Event) -> None:
        """Wait until the clock reads `deadline` or `interrupt` is set (at least yield, as `Pacing.wait`)."""
        while self.now < deadline and not interrupt.is_set():
            if self._ticked is None:
                self._ticked = asyncio.Event()
            waits = [asyncio.ensure_future(self._ticked.wait()), asyncio.ensure_future(interrupt.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
        await asyncio.sleep(0)


@dataclass(frozen=True, eq=False)
class VirtualPacing(Pacing):
    """`Pacing`'s decisions (what is due when) on `clock` instead of the loop's clock; by default
    the server's default pacing (first audio after 0.5 s, then 4 times real time)."""

    first_audio_s: float = DEFAULT_PACING.first_audio_s
    speed: float | None = DEFAULT_PACING.speed
    clock: PacingClock = field(default_factory=PacingClock)

    async def wait(self, started: float, produced_s: float, interrupt: asyncio.Event) -> None:
        await self.clock.until(self.clock.reading_at(started) + self.due(produced_s), interrupt)
