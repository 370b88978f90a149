"""The server's conversation: ordered items in wire shape, plus the audio the wire shape omits.

Items keep the JSON shape the service sends (`conversation.item.*` events carry `audio: null`), and
their PCM separately: truncation needs the model's audio, the echo brain needs input durations and
`conversation.item.retrieve` returns the audio base64-encoded.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BYTES_PER_MS", "Conversation", "Item"]

BYTES_PER_MS = 48  # 24 kHz × 2 bytes, mono pcm16


@dataclass(slots=True)
class Item:
    """One conversation item; `audio` maps a content index to its pcm16 bytes."""

    data: dict[str, Any]
    audio: dict[int, bytes] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.data["id"])

    def audio_ms(self, content_index: int = 0) -> int:
        return len(self.audio.get(content_index, b"")) // BYTES_PER_MS

    def wire(self) -> dict[str, Any]:
        """A copy for an event: later changes to the item must not alter events already built."""
        return copy.deepcopy(self.data)

    def wire_with_audio(self) -> dict[str, Any]:
        """The item as `conversation.item.retrieved` shows it: audio content included, base64."""
        data = self.wire()
        for index, pcm in self.audio.items():
            data["content"][index]["audio"] = base64.b64encode(pcm).decode("ascii")
        return data


class Conversation:
    """Items in conversation order; insertion after any item, like `previous_item_id` asks."""

    def __init__(self) -> None:
        self._order: list[str] = []
        self._items: dict[str, Item] = {}

    def __iter__(self) -> Iterator[Item]:
        return (self._items[item_id] for item_id in self._order)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def get(self, item_id: str) -> Item | None:
        return self._items.get(item_id)

    def insert(self, item: Item, previous_item_id: str | None = None) -> str | None:
        """Insert after `previous_item_id` (`"root"` = first; None = last); return the item before.

        Raises KeyError when `previous_item_id` names no item.
        """
        if previous_item_id is None:
            index = len(self._order)
        elif previous_item_id == "root":
            index = 0
        elif previous_item_id in self._items:
            index = self._order.index(previous_item_id) + 1
        else:
            raise KeyError(previous_item_id)
        self._order.insert(index, item.id)
        self._items[item.id] = item
        return self._order[index - 1] if index else None

    def remove(self, item_id: str) -> bool:
        if self._items.pop(item_id, None) is None:
            return False
        self._order.remove(item_id)
        return True
