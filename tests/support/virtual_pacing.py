"""The server's pacing on a virtual clock: a reply stays in flight until the test moves time on.

A paced server makes a reply come out over seconds, so that a client can cancel, truncate or talk
over it while it streams. Over a socket that takes real time, and how much of the reply went out by
the moment the client acts depends on the machine's load. `VirtualPacing` decides what is due exactly
as `Pacing` does (`due`: the first-audio delay, then the speed), but against a `PacingClock` that
only the test advances: after `await clock.advance(0.56)` a reply at the default pacing has sent what
is due by 0.56 s (its first 300 ms of audio) and waits for the rest, however slow the machine is.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any

from voicecli.server.session.pacing import DEFAULT_PACING, Pacing

__all__ = ["PacingClock", "VirtualPacing"]


class PacingClock:
    """Virtual seconds, advanced by the test; remembers when (in loop time) each advance happened, so
    that a response's start (which the session takes from the loop's clock) reads on this clock too."""

    def __init__(self) -> None:
        self.now = 0.0
        self._readings: list[tuple[float, float]] = []  # (loop time of the advance, reading after it)
        self._ticked: asyncio.Event | None = None
        self._advances = 0
        self._streams: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()  # the tasks that waited on it
        self._waiting: dict[asyncio.Task[Any] | None, int] = {}  # each waiting stream: since which advance

    async def advance(self, seconds: float, settle_s: float = 5.0) -> None:
        """Move time on (`math.inf`: everything is due from now on), then let each reply streaming
        so far send what is now due, until it waits again or ends (bounded by `settle_s` of real
        time: a reply may synthesize its next sentence in a thread meanwhile)."""
        self.now += seconds
        self._readings.append((asyncio.get_running_loop().time(), self.now))
        self._advances += 1
        streams = list(self._streams)
        if self._ticked is not None:
            self._ticked.set()
            self._ticked = None
        async with asyncio.timeout(settle_s):
            while not all(stream.done() or self._waiting.get(stream) == self._advances for stream in streams):
                await asyncio.sleep(0)

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
        stream = asyncio.current_task()
        if stream is not None:
            self._streams.add(stream)
        try:
            while self.now < deadline and not interrupt.is_set():
                if self._ticked is None:
                    self._ticked = asyncio.Event()
                self._waiting[stream] = self._advances
                waits = [asyncio.ensure_future(self._ticked.wait()), asyncio.ensure_future(interrupt.wait())]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiting in waits:
                        waiting.cancel()
        finally:
            self._waiting.pop(stream, None)
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
