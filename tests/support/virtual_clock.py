"""A clock that moves only when the test moves it: continuity's rollover and its reconnect waits
(`ContinuitySupervisor.clock`, `LiveClient.clock`) and a `MemoryRoute`'s session lifetimes, without
real time passing."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time

__all__ = ["VirtualClock"]

SETTLE_YIELDS = 20
"""Turns of the event loop given to what a wake-up set going (enough for a woken task to act)."""


class VirtualClock:
    """Starts at the real time; `advance(seconds)` wakes each sleeper at its moment, in order."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), woken))
        await woken

    async def advance(self, seconds: float) -> None:
        """Move time on by `seconds`; each sleeper due on the way wakes at its moment and runs a little."""
        until = self.now + seconds
        while self._sleepers and self._sleepers[0][0] <= until:
            due, _, woken = heapq.heappop(self._sleepers)
            self.now = max(self.now, due)
            if not woken.done():  # a sleeper cancelled meanwhile is skipped
                woken.set_result(None)
                await _settle()
        self.now = until
        await _settle()


async def _settle() -> None:
    for _ in range(SETTLE_YIELDS):
        await asyncio.sleep(0)
