"""The server's conversation: ordered items in wire shape, plus the audio the wire shape omits.

Items keep the JSON shape the service sends (`conversation.item.*` events carry `audio: null`), and
their PCM separately: truncation needs the model's audio, the echo brain needs input durations and
`conversation.item.retrieve` returns the audio base64-encoded. `ConversationItems` also applies the
protocol's rules for `conversation.item.*` client events (raising `ProtocolViolation`); the
session sends the events that report them.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from voicecli.server.ids import new_id
from voicecli.server.validation import ProtocolViolation

__all__ = ["BYTES_PER_MS", "MAX_AUDIO_BYTES", "ConversationItems", "Item", "decode_audio"]

BYTES_PER_MS = 48  # 24 kHz × 2 bytes, mono pcm16
MAX_AUDIO_BYTES = 30 * 60 * 1000 * BYTES_PER_MS
"""The audio one conversation holds (30 minutes, ~86 MB), user turns and replies together."""


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

    def summary(self) -> str:
        """One line for the server's debug log: kind, role and the start of its text."""
        data = self.data
        if data["type"] != "message":
            detail = data.get("name") or data.get("output") or ""
            return f"{data['type']} {data.get('call_id')}: {str(detail)[:80]!r}"
        text = " ".join(str(part.get("text") or part.get("transcript") or "") for part in data.get("content") or [])
        return f"message/{data.get('role')}: {text[:80]!r}"

    def wire_with_audio(self) -> dict[str, Any]:
        """The item as `conversation.item.retrieved` shows it: audio content included, base64."""
        data = self.wire()
        for index, pcm in self.audio.items():
            data["content"][index]["audio"] = base64.b64encode(pcm).decode("ascii")
        return data


class ConversationItems:
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
        self._release_old_audio(keep=item)
        return self._order[index - 1] if index else None

    def _release_old_audio(self, keep: Item) -> None:
        """Hold at most `MAX_AUDIO_BYTES` of audio: beyond it the oldest items lose their audio (their
        words stay), so that turn after committed turn cannot grow a session without bound."""
        total = sum(len(pcm) for item in self._items.values() for pcm in item.audio.values())
        for item in self:
            if total <= MAX_AUDIO_BYTES:
                return
            if item is not keep and item.audio:
                total -= sum(len(pcm) for pcm in item.audio.values())
                item.audio.clear()

    def remove(self, item_id: str) -> bool:
        if self._items.pop(item_id, None) is None:
            return False
        self._order.remove(item_id)
        return True

    def create(self, data: dict[str, Any], previous_item_id: str | None) -> tuple[Item, str | None]:
        """`conversation.item.create`: the new item and the id of the item before it."""
        item = self.client_item(data, "item")
        if item.data["type"] == "function_call_output" and not any(
            other.data.get("call_id") == item.data["call_id"] and other.data["type"] == "function_call"
            for other in self
        ):
            raise ProtocolViolation(
                f"No function call with call_id '{item.data['call_id']}' found in the conversation.",
                param="item.call_id",
            )
        try:
            return item, self.insert(item, previous_item_id)
        except KeyError:
            raise ProtocolViolation(
                f"Previous item with id '{previous_item_id}' not found.", param="previous_item_id"
            ) from None

    def add_user_audio(self, item_id: str, audio: bytes) -> tuple[Item, str | None]:
        """A committed input audio buffer as the user's message, last; returns it and the item before."""
        item = Item(
            {
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_audio", "transcript": None}],
            },
            {0: audio},
        )
        return item, self.insert(item)

    def client_item(self, data: dict[str, Any], param: str) -> Item:
        """A client-supplied item in the server's shape: id, object and status set, audio decoded."""
        if data["type"] not in ("message", "function_call", "function_call_output", "mcp_approval_response"):
            raise ProtocolViolation(
                f"The local server does not support items of type '{data['type']}'.", param=f"{param}.type"
            )
        data = copy.deepcopy(data)
        data["id"] = data.get("id") or new_id("item")
        if data["id"] in self:
            raise ProtocolViolation(f"Item with id '{data['id']}' already exists.", param=f"{param}.id")
        if data["type"] == "mcp_approval_response":  # an MCP item has no object or status
            self._check_answers_a_request(data, param)
            return Item(data)
        data.update(object="realtime.item", status="completed")
        if data["type"] == "function_call":
            data["call_id"] = data.get("call_id") or new_id("call")
        audio = {}
        for index, part in enumerate(data.get("content", [])):
            encoded = part.pop("audio", None)
            if encoded is not None:
                audio[index] = decode_audio(encoded, f"{param}.content[{index}].audio")
        return Item(data, audio)

    def _check_answers_a_request(self, data: dict[str, Any], param: str) -> None:
        request = self.get(data["approval_request_id"])
        if request is None or request.data["type"] != "mcp_approval_request":
            raise ProtocolViolation(
                f"No MCP approval request with id '{data['approval_request_id']}' found in the conversation.",
                param=f"{param}.approval_request_id",
            )

    def response_input(self, entries: Sequence[dict[str, Any]]) -> list[Item]:
        """The items of a `response.create` `input`: new items, or references to this conversation's."""
        items = []
        for index, entry in enumerate(entries):
            if entry["type"] != "item_reference":
                items.append(self.client_item(entry, f"response.input[{index}]"))
                continue
            item = self.get(entry["id"])
            if item is None:
                raise ProtocolViolation(f"Item with id '{entry['id']}' not found.", param=f"response.input[{index}].id")
            items.append(item)
        return items

    def existing(self, item_id: str, operation: str) -> Item:
        """The item a `conversation.item.<operation>` names; the service's error when there is none."""
        item = self.get(item_id)
        if item is None:
            raise ProtocolViolation(
                f"Item with item_id '{item_id}' not found.",
                code=f"item_{operation}_invalid_item_id",
                param="item_id",
            )
        return item

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> Item:
        """`conversation.item.truncate`: cut an assistant message's audio where the listener stopped.

        An item still streaming is checked against the audio produced so far; one with no audio yet
        is refused as the service refuses it."""
        item = self.existing(item_id, "truncate")
        content = item.data.get("content", [])
        if (
            item.data.get("role") != "assistant"
            or not 0 <= content_index < len(content)
            or content[content_index].get("type") != "output_audio"
            or not item.audio.get(content_index)
        ):
            raise ProtocolViolation(
                "Only model output audio messages can be truncated",
                code="unsupported_content_type",
                param="content_index",
            )
        if not 0 <= audio_end_ms <= item.audio_ms(content_index):
            raise ProtocolViolation(
                f"Audio content of {item.audio_ms(content_index)}ms is already shorter than {audio_end_ms}ms",
                param="audio_end_ms",
            )
        item.audio[content_index] = item.audio.get(content_index, b"")[: audio_end_ms * BYTES_PER_MS]
        content[content_index]["transcript"] = None  # the service drops text the listener never heard
        return item

    def delete(self, item_id: str) -> None:
        """`conversation.item.delete`."""
        self.existing(item_id, "delete")
        self.remove(item_id)


def decode_audio(encoded: str, param: str) -> bytes:
    """Base64 pcm16 from a client event; `ProtocolViolation` naming `param` when it is not that."""
    try:
        pcm = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ProtocolViolation(f"Invalid '{param}': expected base64-encoded pcm16 audio.", param=param) from None
    if len(pcm) % 2:
        raise ProtocolViolation(f"Invalid '{param}': pcm16 audio has an even number of bytes.", param=param)
    return pcm
