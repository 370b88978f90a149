"""How much reply audio arrived per assistant item: counted once, by the client, at each chunk.

The continuity replay (how much of a reply the listener heard, as a share of what arrived) and the
application's conversation state (where a truncate may end) both need the same figure. The client
sees every chunk with its item when the protocol session says `Play`, so it counts there, once, and
both read `RealtimeClient.received_audio`.
"""

from __future__ import annotations

from collections import OrderedDict

from voicecli.realtime.events import SAMPLE_RATE, AudioContent

__all__ = ["MAX_COUNTED_ITEMS", "ReceivedAudio"]

MAX_COUNTED_ITEMS = 512
"""Items remembered; older ones are forgotten (an unknown item counts as text: heard whole)."""


class ReceivedAudio:
    """Samples of reply audio received per item id (chunks without an item are not counted)."""

    def __init__(self, max_items: int = MAX_COUNTED_ITEMS) -> None:
        self._samples: OrderedDict[str, int] = OrderedDict()
        self._max_items = max_items

    def add(self, audio: AudioContent) -> None:
        """One chunk arrived."""
        if not audio.item_id:
            return
        self._samples[audio.item_id] = self._samples.get(audio.item_id, 0) + len(audio.data)
        self._samples.move_to_end(audio.item_id)
        while len(self._samples) > self._max_items:
            self._samples.popitem(last=False)

    def samples(self, item_id: str) -> int:
        return self._samples.get(item_id, 0)

    def ms(self, item_id: str) -> float:
        return self.samples(item_id) * 1000.0 / SAMPLE_RATE

    def clear(self) -> None:
        self._samples.clear()
