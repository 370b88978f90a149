"""How much of the audio sent to ACS the caller has heard, estimated from the clock.

ACS plays what the bridge sends at real time, from the moment it arrives, one chunk after the
other; the model sends faster than real time. So each item starts playing when the previous audio
ends (or when it arrives, if nothing is playing) and is heard for as long as the wall clock has run
since. At barge-in that says where to truncate the model's item, which is what keeps the model's
memory of the conversation equal to what the caller actually heard.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from voicecli.realtime.events import SAMPLE_RATE

MAX_ITEMS = 16


@dataclass(slots=True)
class _Item:
    start: float
    samples: int = 0

    @property
    def sent_ms(self) -> float:
        return self.samples * 1000.0 / SAMPLE_RATE

    def heard_ms(self, now: float) -> float:
        return min(max(0.0, (now - self.start) * 1000.0), self.sent_ms)


class Playout:
    """Estimated playback at ACS of the audio sent, per model item."""

    def __init__(self) -> None:
        self._end = 0.0
        self._items: OrderedDict[str, _Item] = OrderedDict()

    def sent(self, item_id: str, samples: int, now: float) -> None:
        """`samples` of `item_id` were just sent."""
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = _Item(start=max(self._end, now))
            while len(self._items) > MAX_ITEMS:
                self._items.popitem(last=False)
        item.samples += samples
        self._end = max(self._end, now) + samples / SAMPLE_RATE

    @property
    def sent_since_stop(self) -> bool:
        """Audio went out since the last `stop()`: ACS may still be playing some of it."""
        return bool(self._items)

    @property
    def ends_at(self) -> float:
        """When (monotonic) the audio sent so far has played out, as far as the clock can tell."""
        return self._end

    def remaining_s(self, now: float) -> float:
        return max(0.0, self._end - now)

    def stop(self, now: float) -> list[tuple[str, int]]:
        """Playback was cut now: (item, whole ms heard) for each item heard only in part, then forget all."""
        cut = []
        for item_id, item in self._items.items():
            heard = math.floor(item.heard_ms(now))
            if 0 < heard < math.floor(item.sent_ms):
                cut.append((item_id, heard))
        self._items.clear()
        self._end = now
        return cut
