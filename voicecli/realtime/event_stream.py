"""The stream `receive()` yields: events in arrival order, then its end, with backpressure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from voicecli.realtime.events import RealtimeEvent

RECEIVE_QUEUE_EVENTS = 1000
"""How far `receive()`'s consumer may fall behind before the transport stops reading (backpressure)."""

_END = None


class EventStream:
    """Events for `receive()`; once ended, every `receive()` (a later one too) ends after them."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[RealtimeEvent | None] = asyncio.Queue()
        self._moved = asyncio.Event()
        """Set when the consumer took an event or the stream ended: a held `put` looks again."""

    def __len__(self) -> int:
        """Events (and the end marker) waiting for the consumer."""
        return self._queue.qsize()

    def put_nowait(self, event: RealtimeEvent) -> None:
        """Queue at once (closing and tool results never wait)."""
        self._queue.put_nowait(event)

    async def put(self, event: RealtimeEvent, *, flowing: Callable[[], bool]) -> None:
        """Queue an event, waiting while the consumer is far behind and `flowing()` holds.

        The transport's reader then stops reading, so the socket's own flow control holds the rest:
        the queue stays bounded and nothing is dropped. The wait ends when the consumer takes an
        event or the stream ends (whoever stops the flow ends the stream), not on a timer."""
        while self._queue.qsize() >= RECEIVE_QUEUE_EVENTS and flowing():
            self._moved.clear()
            await self._moved.wait()
        self._queue.put_nowait(event)

    def end(self) -> None:
        self._queue.put_nowait(_END)
        self._moved.set()

    async def __aiter__(self) -> AsyncIterator[RealtimeEvent]:
        while True:
            event = await self._queue.get()
            self._moved.set()
            if event is _END:
                self._queue.put_nowait(_END)  # later receive() calls end at once too
                return
            yield event
