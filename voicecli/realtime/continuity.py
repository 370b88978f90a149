"""Session continuity: what a new session must be told so that the conversation carries on.

Reconnecting after a drop and rolling over before the service's session limit are one mechanism:
open a new session with the same settings and tools, then replay the history as
`conversation.item.create` items plus one system note saying this is a continuation (without it,
models greet again or switch language). `History` follows the events in both directions and builds
that replay: user turns as their transcripts (or a placeholder), assistant turns cut to what the
listener heard, tool calls with their outputs, in order and within `Continuity`'s bounds. How much
audio each reply received is not counted here: it reads the client's count (`ReceivedAudio`).
`supervisor` decides when; this module only knows what.
"""

from __future__ import annotations

import math
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from voicecli.realtime.events import RealtimeAudioEvent, RealtimeEvent, RealtimeTextEvent
from voicecli.realtime.received import ReceivedAudio

__all__ = [
    "CONTINUATION_NOTE",
    "INTERRUPTED_REASON",
    "RECONNECTABLE_CLOSE_CODES",
    "Continuity",
    "ContinuityEvents",
    "HeardMs",
    "History",
]


class ContinuityEvents(StrEnum):
    """Event types the client makes while it replaces a session (`service_event` holds the details)."""

    RECONNECTING = "connection.reconnecting"
    """Each reconnect try: `{"attempt", "attempts", "reason"}`."""
    RECONNECTED = "connection.reconnected"
    """The new session holds the history: `{"cause": "drop" | "rollover", "replayed_items", "asked_again"}`."""


INTERRUPTED_REASON = "connection_lost"
"""`status_details.reason` of the `response.done` the client makes for a response cut off by a drop."""
RECONNECTABLE_CLOSE_CODES = frozenset({1001, 1005, 1006, 1011, 1012, 1013, 1014, 1015})
"""WebSocket close codes after which a new session may work (others: a refused key, a bad request)."""
CONTINUATION_NOTE = (
    "The conversation above continues from an earlier session of this same conversation, which ended "
    "for technical reasons. Carry on from where it stopped: do not greet the user again, keep the "
    "language, tone and persona used so far."
)
USER_PLACEHOLDER = "[the user spoke here; no transcript was made]"

_PLAYED_OUT_SLACK_MS = 100
"""A reply heard to within this of its end was heard whole (the player's clock rounds, fades out)."""

HeardMs = Callable[[str], float | None]
"""Milliseconds of an assistant item the listener heard, or None when unknown (all of it counts)."""


@dataclass(frozen=True, slots=True)
class Continuity:
    """How a client keeps a conversation alive: reconnect tries, rollover timing, replay bounds."""

    delays_s: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 8.0, 15.0)
    """Wait before each reconnect try; their number is the number of tries (30 s in all)."""
    attempt_timeout_s: float = 10.0
    rollover_lead_s: float = 180.0
    """Roll over this long before `expires_at`, but at most `rollover_share` of the lifetime."""
    rollover_share: float = 0.25
    max_items: int = 200
    max_chars: int = 32_000
    """Bounds of the replay; the oldest items are left out first (a note says how many)."""
    max_item_chars: int = 4_000

    @property
    def attempts(self) -> int:
        return len(self.delays_s)

    @classmethod
    def with_tries(cls, tries: int) -> Continuity | None:
        """The default policy with `tries` reconnect tries (the last delay repeats); None for 0: off."""
        if tries <= 0:
            return None
        delays = cls().delays_s
        return cls(delays_s=tuple(delays[min(index, len(delays) - 1)] for index in range(tries)))

    def rollover_in(self, expires_at: float, now: float) -> float:
        """Seconds from `now` (wall clock) until the rollover should start."""
        lifetime = max(0.0, expires_at - now)
        return max(0.0, lifetime - min(self.rollover_lead_s, lifetime * self.rollover_share))


@dataclass(slots=True)
class _Entry:
    item: dict[str, Any]
    heard_ms: float | None = None  # assistant items: where the listener's hearing was cut off
    cut: bool = False  # assistant items: playback was stopped (a truncate, or the service's buffer cleared)

    @property
    def kind(self) -> str:
        return str(self.item.get("type"))


@dataclass(slots=True)
class History:
    """The conversation as the client saw it, in order; `replay()` turns it into client events."""

    policy: Continuity = field(default_factory=Continuity)
    received: ReceivedAudio = field(default_factory=ReceivedAudio)
    """Reply audio per item: the client's count (`RealtimeClient.received_audio`), read, not kept here."""
    _entries: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)
    _transcripts: dict[str, str] = field(default_factory=dict)
    response_id: str | None = None
    """The response in flight (created, not done), if any."""
    user_speaking: bool = False
    """Server VAD heard speech start and not yet stop."""
    input_pending: bool = False
    """Audio was appended and is not yet committed or cleared (push-to-talk: someone is talking)."""
    _requested: bool = False  # `response.create` sent, the response not yet created
    _cut_off: bool = False  # a drop ended the last response before it was done

    def __len__(self) -> int:
        return len(self._entries)

    # --- following the session ------------------------------------------------------------------

    def on_sent(self, payload: dict[str, Any]) -> None:
        """A client event about to be sent (or dropped while disconnected)."""
        match payload.get("type"):
            case "input_audio_buffer.append":
                self.input_pending = True
            case "input_audio_buffer.clear":
                self.input_pending = False  # a commit counts once the service says `committed`
            case "response.create":
                self._requested = True
            case "conversation.item.create" if isinstance(payload.get("item"), dict):
                item = dict(payload["item"])
                item.pop("id", None)
                self._add(str(payload["item"].get("id") or _new_key()), item)
            case "conversation.item.truncate":
                self._truncated(payload.get("item_id"), payload.get("audio_end_ms"))
            case "output_audio_buffer.clear":
                self._playback_cleared()
            case "conversation.item.delete":
                self._entries.pop(str(payload.get("item_id")), None)

    def on_received(self, event: RealtimeEvent) -> None:
        """An event from the service (or made by the client, such as audio over WebRTC)."""
        if isinstance(event, RealtimeAudioEvent):
            return  # counted by the client, at `Play`, in `received`
        if isinstance(event, RealtimeTextEvent):
            self._text(event)
            return
        payload = event.service_event or {}
        match event.service_type:
            case "input_audio_buffer.speech_started":
                self.user_speaking = True
            case "input_audio_buffer.speech_stopped":
                self.user_speaking = False
            case "input_audio_buffer.cleared":
                self.input_pending = False
            case "input_audio_buffer.committed":
                self.user_speaking = self.input_pending = False
                self._add(str(payload.get("item_id")), {"type": "message", "role": "user", "content": []})
            case "response.created":
                self.response_id = _dict(payload.get("response")).get("id")
                self._cut_off = self._requested = False
            case "response.done":
                self.response_id = None
                self._requested = False
            case "response.output_item.added" | "response.output_item.done":
                self._output_item(_dict(payload.get("item")), done=event.service_type.endswith("done"))
            case "conversation.item.truncated":
                self._truncated(payload.get("item_id"), payload.get("audio_end_ms"))
            case "conversation.item.deleted":
                self._entries.pop(str(payload.get("item_id")), None)

    def cut_off(self) -> str | None:
        """The connection dropped: the response in flight (its id returned) will never be done."""
        response_id, self.response_id = self.response_id, None
        self._cut_off = self._cut_off or response_id is not None
        return response_id

    @property
    def unanswered(self) -> bool:
        """The last turn (a user message or tool outputs) has no answer yet, or its answer was cut off."""
        if self.response_id is not None or self._cut_off or self._requested:
            return True
        last = next(reversed(self._entries.values()), None)
        if last is None:
            return False
        return last.kind == "function_call_output" or last.item.get("role") == "user"

    def played_out(self, heard_ms: HeardMs | None) -> bool:
        """The listener has heard the last reply to its end (a rollover must not cut it short)."""
        for key, entry in reversed(self._entries.items()):
            if entry.item.get("role") == "assistant":
                return self._heard_share(key, entry, heard_ms) >= 1.0
        return True

    # --- the replay -----------------------------------------------------------------------------

    def replay(self, heard_ms: HeardMs | None = None) -> list[dict[str, Any]]:
        """`conversation.item.create` events for a new session: the history, then the note."""
        items = [item for key, entry in self._entries.items() if (item := self._replayed(key, entry, heard_ms))]
        items = _paired(items)
        left_out = 0
        while items and (len(items) >= self.policy.max_items or _chars(items) > self.policy.max_chars):
            dropped = items.pop(0)
            left_out += 1
            if dropped["type"] == "function_call":  # its output goes with it
                items = [item for item in items if item.get("call_id") != dropped["call_id"]]
        note = CONTINUATION_NOTE
        if left_out:
            note += f" ({left_out} older items of the conversation were left out for length.)"
        items.append(_message("system", "input_text", note))
        return [{"type": "conversation.item.create", "item": {"id": _new_key(), **item}} for item in items]

    def _replayed(self, key: str, entry: _Entry, heard_ms: HeardMs | None) -> dict[str, Any] | None:
        item = entry.item
        if entry.kind != "message":
            return dict(item)
        role = item.get("role")
        text = _text_of(item) or self._transcripts.get(key, "")
        if role == "assistant":
            # A reply whose playback was not stopped is heard whole: the player goes on through a
            # reconnect. One that was cut is heard up to the cut (the truncate's, else the player's).
            share = self._heard_share(key, entry, heard_ms) if entry.cut else 1.0
            text = _cut_to_heard(text, share)
            return _message("assistant", "output_text", text[: self.policy.max_item_chars]) if text else None
        if role == "user" and not text:
            text = USER_PLACEHOLDER
        if not text:
            return None
        return _message(str(role), "input_text", text[: self.policy.max_item_chars])

    def _heard_share(self, key: str, entry: _Entry, heard_ms: HeardMs | None) -> float:
        received_ms = self.received.ms(key)
        if received_ms <= 0:
            return 1.0  # a text reply, or audio not followed here: all of it counts
        heard = entry.heard_ms
        if heard is None and heard_ms is not None:
            heard = heard_ms(key)
        if heard is None or heard >= received_ms - _PLAYED_OUT_SLACK_MS:
            return 1.0
        return max(0.0, heard / received_ms)

    # --- bookkeeping ----------------------------------------------------------------------------

    def _add(self, key: str, item: dict[str, Any]) -> None:
        self._entries[key] = _Entry(item)
        limit = 2 * self.policy.max_items  # the replay keeps fewer; the rest only costs memory
        while len(self._entries) > limit:
            old, _ = self._entries.popitem(last=False)
            self._transcripts.pop(old, None)

    def _text(self, event: RealtimeTextEvent) -> None:
        key = event.text.item_id or ""
        if event.text.source == "user_transcript":
            if key in self._entries:
                self._transcripts[key] = event.text.text
            return
        entry = self._entries.get(key)
        if entry is not None and entry.item.get("role") == "assistant":
            self._transcripts[key] = self._transcripts.get(key, "") + event.text.text

    def _output_item(self, item: dict[str, Any], *, done: bool) -> None:
        key = str(item.get("id") or "")
        if not key:
            return
        if item.get("type") == "message" and item.get("role") == "assistant":
            if key not in self._entries:
                self._add(key, {"type": "message", "role": "assistant", "content": []})
            content = item.get("content")
            parts = content if isinstance(content, list) else []
            final = "".join(str(_dict(part).get("transcript") or _dict(part).get("text") or "") for part in parts)
            if done and final:
                self._transcripts[key] = final
        elif item.get("type") == "function_call" and done:
            self._add(
                key,
                {
                    "type": "function_call",
                    "call_id": item.get("call_id"),
                    "name": item.get("name"),
                    "arguments": item.get("arguments") or "{}",
                },
            )

    def _truncated(self, item_id: Any, audio_end_ms: Any) -> None:
        entry = self._entries.get(str(item_id))
        if entry is not None and isinstance(audio_end_ms, int | float):
            entry.heard_ms = float(audio_end_ms)
            entry.cut = True

    def _playback_cleared(self) -> None:
        """The client stopped the service's playback (WebRTC): the reply being played was cut where
        the player says; the service truncates it by itself."""
        for entry in reversed(self._entries.values()):
            if entry.item.get("role") == "assistant":
                entry.cut = True
                return


def _dict(value: Any) -> dict[str, Any]:
    """`value` when it is an object; an empty one for what a misshapen event put there."""
    return value if isinstance(value, dict) else {}


def _message(role: str, part_type: str, text: str) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": [{"type": part_type, "text": text}]}


def _text_of(item: dict[str, Any]) -> str:
    return " ".join(
        str(part.get("text") or part.get("transcript") or "") for part in item.get("content") or [] if part
    ).strip()


def _cut_to_heard(text: str, share: float) -> str:
    """The words of `text` the listener heard, by the share of its audio played; "…" marks a cut."""
    if share >= 1.0 or not text:
        return text
    end = math.floor(len(text) * share)
    if end <= 0:
        return ""
    cut = text[:end]
    if end < len(text) and not text[end].isspace():
        cut = cut.rsplit(" ", 1)[0] if " " in cut else ""
    return f"{cut.rstrip()}…" if cut.strip() else ""


def _paired(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only calls that have an output, and outputs whose call is there (the service insists)."""
    calls = {item["call_id"] for item in items if item["type"] == "function_call"}
    outputs = {item["call_id"] for item in items if item["type"] == "function_call_output"}
    answered = calls & outputs
    return [item for item in items if item["type"] == "message" or item.get("call_id") in answered]


def _chars(items: list[dict[str, Any]]) -> int:
    return sum(len(_text_of(item)) + len(str(item.get("arguments") or item.get("output") or "")) for item in items)


def _new_key() -> str:
    return f"item_{secrets.token_hex(8)}"
