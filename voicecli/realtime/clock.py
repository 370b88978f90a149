"""The clock continuity's timers read and wait on: the wall clock, or a test's virtual one.

A rollover is timed against the session's `expires_at` (wall-clock seconds), waits for a quiet
moment, and reconnect tries wait between them; with the clock passed in, a test moves time on
instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["WALL_CLOCK", "Clock", "WallClock"]


class Clock(Protocol):
    def time(self) -> float:
        """Now, in wall-clock seconds (as the service's `expires_at`)."""
        ...

    def monotonic(self) -> float:
        """Now, for measuring how long something lasted (never goes back)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` on this clock."""
        ...


class WallClock:
    """Real time."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


WALL_CLOCK = WallClock()
