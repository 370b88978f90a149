"""A phone call's playback as an `AudioSink`: what goes to ACS, and how much the caller heard.

ACS plays what the bridge sends at real time, from the moment it arrives, one chunk after the
other; the model sends faster than real time. So each item starts playing when the previous audio
ends (or when it arrives, if nothing is playing) and is heard for as long as the clock has run
since. At barge-in that says where to truncate the model's item, which keeps the model's memory of
the conversation equal to what the caller heard. So the same `BargeInPolicy` as the speaker's
drives it: `flush` queues `StopAudio` and freezes what each item was heard to.

The sink's methods are synchronous, as the speaker's are; the frames they make wait in an outbox
that `drain()` sends in order (`StopAudio` after the audio it stops, never before).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from voicecli.phone import media
from voicecli.realtime.events import SAMPLE_RATE

__all__ = ["CallPlayout"]


MAX_ITEMS = 16


class FrameSocket(Protocol):
    """What the playout needs of the media WebSocket."""

    async def send_str(self, data: str, compress: int | None = None) -> None: ...


@dataclass(slots=True)
class _Item:
    start: float
    samples: int = 0
    stopped_at: float | None = None  # the flush that cut it off

    @property
    def sent_ms(self) -> float:
        return self.samples * 1000.0 / SAMPLE_RATE

    def heard_ms(self, now: float) -> float:
        until = now if self.stopped_at is None else self.stopped_at
        return min(max(0.0, (until - self.start) * 1000.0), self.sent_ms)


class CallPlayout:
    """Estimated playback at ACS of the audio sent, per model item; an `AudioSink` (see the module doc)."""

    latency = 0.0
    """ACS's own buffering is unknown; the estimate starts at the send."""

    def __init__(self, socket: FrameSocket, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._socket = socket
        self._clock = clock
        self._end = 0.0
        self._gain = 1.0
        self._items: OrderedDict[str, _Item] = OrderedDict()
        self._outbox: deque[str] = deque()
        self._sending = asyncio.Lock()

    # --- AudioSink ----------------------------------------------------------------------------

    @property
    def is_playing(self) -> bool:
        """Audio went out since the last flush: ACS may still be playing some of it (it may lag the
        clock's estimate, so a barge-in after the estimated end still sends `StopAudio`)."""
        return any(item.stopped_at is None for item in self._items.values())

    @property
    def buffered_ms(self) -> float:
        return self.remaining_s(self._clock()) * 1000.0

    def add_audio(self, audio: np.ndarray, item_id: str | None = None) -> None:
        """Queue `audio` of `item_id` for the caller."""
        now = self._clock()
        key = item_id or "response"
        item = self._items.get(key)
        if item is None or item.stopped_at is not None:
            item = self._items[key] = _Item(start=max(self._end, now))
            self._items.move_to_end(key)
            while len(self._items) > MAX_ITEMS:
                self._items.popitem(last=False)
        item.samples += len(audio)
        self._end = max(self._end, now) + len(audio) / SAMPLE_RATE
        if self._gain != 1.0:
            audio = (audio.astype(np.float32) * self._gain).astype(np.int16)
        self._outbox.append(media.audio_out(audio.astype("<i2", copy=False).tobytes()))

    def finish(self) -> None:
        """Nothing to mark: ACS plays what it has and then stays quiet."""

    def flush(self, fade_ms: float = 8.0) -> None:
        """Stop now: drop audio not yet sent, queue `StopAudio`, freeze what each item was heard to."""
        now = self._clock()
        self._outbox.clear()
        self._outbox.append(media.stop_audio())
        for item in self._items.values():
            if item.stopped_at is None:
                item.stopped_at = now
        self._end = now

    def duck(self, gain: float) -> None:
        """Scale the audio sent from now on (what ACS already has plays as it was)."""
        self._gain = gain

    def heard_ms(self, item_id: str) -> float:
        item = self._items.get(item_id)
        return 0.0 if item is None else item.heard_ms(self._clock())

    # --- the call's side ----------------------------------------------------------------------

    async def drain(self) -> None:
        """Send the queued frames in order; a caller gone is the reader's to notice."""
        async with self._sending:
            while self._outbox:
                frame = self._outbox.popleft()
                with contextlib.suppress(ConnectionError):
                    await self._socket.send_str(frame)

    @property
    def ends_at(self) -> float:
        """When (monotonic) the audio sent so far has played out, as far as the clock can tell."""
        return self._end

    def remaining_s(self, now: float) -> float:
        return max(0.0, self._end - now)
