"""Word timestamps on the local server's Voice Live route, as the service sends them when a session
asks with `output_audio_timestamp_types: ["word"]`.

The session streams each ~100 ms chunk of reply audio right after the transcript words it speaks, so
a word's place in the audio is the chunk it rides in; within the chunk the words share its duration by
their length in letters (an estimate: the local synthesizer reports no word timing of its own). Each
word goes out as `response.audio_timestamp.delta` just before its chunk's audio, and
`response.audio_timestamp.done` before the part's `response.audio.done`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from voicecli.server.ids import new_id

__all__ = ["WordTimer"]

_BYTES_PER_MS = 48  # 24 kHz mono int16
_WHERE = ("response_id", "item_id", "output_index", "content_index")


@dataclass(slots=True)
class _Part:
    spoken_ms: float = 0.0
    """How much of the part's audio has gone out."""
    pending: str = ""
    """Transcript text whose audio has not gone out yet."""
    timed: bool = False


@dataclass(slots=True)
class WordTimer:
    """Turns one connection's GA audio and transcript events into word timestamp events."""

    parts: dict[tuple[Any, Any], _Part] = field(default_factory=dict)

    def before(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """The word timestamp events due before `event` (a GA server event) goes out."""
        kind = event.get("type")
        key = (event.get("item_id"), event.get("content_index"))
        if kind == "response.output_audio_transcript.delta" and isinstance(event.get("delta"), str):
            self.parts.setdefault(key, _Part()).pending += event["delta"]
        elif kind == "response.output_audio.delta":
            part = self.parts.setdefault(key, _Part())
            chunk_ms = _audio_ms(event.get("delta"))
            words = _timed_words(part.pending, part.spoken_ms, chunk_ms)
            part.pending, part.spoken_ms = "", part.spoken_ms + chunk_ms
            part.timed = part.timed or bool(words)
            return [_word_event(event, *word) for word in words]
        elif kind == "response.output_audio.done":
            part = self.parts.pop(key, _Part())
            done = {"event_id": new_id("event"), "type": "response.audio_timestamp.done"}
            return [{**done, **{name: event.get(name) for name in _WHERE}}] if part.timed else []
        return []


def _audio_ms(delta: Any) -> float:
    if not isinstance(delta, str):
        return 0.0
    try:
        return len(base64.b64decode(delta)) / _BYTES_PER_MS
    except (binascii.Error, ValueError):
        return 0.0


def _timed_words(text: str, start_ms: float, chunk_ms: float) -> list[tuple[str, int, int]]:
    """(word, offset, duration) for the words of `text`, sharing `chunk_ms` from `start_ms` by length."""
    words = text.split()
    letters = sum(len(word) for word in words)
    timed, at = [], start_ms
    for word in words:
        duration = chunk_ms * len(word) / letters
        timed.append((word, round(at), max(1, round(duration))))
        at += duration
    return timed


def _word_event(event: dict[str, Any], text: str, offset_ms: int, duration_ms: int) -> dict[str, Any]:
    return {
        "event_id": new_id("event"),
        "type": "response.audio_timestamp.delta",
        **{name: event.get(name) for name in _WHERE},
        "audio_offset_ms": offset_ms,
        "audio_duration_ms": duration_ms,
        "text": text,
        "timestamp_type": "word",
    }
