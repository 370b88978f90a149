"""Azure Voice Live's word timestamps: `response.audio_timestamp.delta` as a typed event, and which
words of a reply were heard before it was cut off.

Voice Live, asked with `output_audio_timestamp_types: ["word"]`, sends each spoken word with its
offset and duration in its item's audio. With the `audio_end_ms` of a truncate (what the listener
heard), they tell which words the listener heard, where the transcript alone cannot: it runs ahead
of the audio.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from voicecli.realtime.events import RealtimeEvent, RealtimeWordEvent, WordTimestampContent

WORD_TIMESTAMP_DELTA = "response.audio_timestamp.delta"
WORD_TIMESTAMPS_DONE = "response.audio_timestamp.done"


def word_event(payload: dict[str, Any]) -> RealtimeEvent:
    """A `response.audio_timestamp.delta` as a `RealtimeWordEvent`; a malformed one passes through untyped."""
    offset, duration, text = payload.get("audio_offset_ms"), payload.get("audio_duration_ms"), payload.get("text")
    if not (isinstance(offset, int) and isinstance(duration, int) and isinstance(text, str)):
        return RealtimeEvent(service_type=WORD_TIMESTAMP_DELTA, service_event=payload)
    item_id, response_id = payload.get("item_id"), payload.get("response_id")
    word = WordTimestampContent(
        text=text,
        audio_offset_ms=offset,
        audio_duration_ms=duration,
        item_id=item_id if isinstance(item_id, str) else None,
        response_id=response_id if isinstance(response_id, str) else None,
    )
    return RealtimeWordEvent(service_type=WORD_TIMESTAMP_DELTA, service_event=payload, word=word)


def heard_text(words: Iterable[WordTimestampContent], audio_end_ms: int) -> str:
    """The words heard by `audio_end_ms`: those at least half played by then."""
    heard = [word.text.strip() for word in words if word.audio_offset_ms + word.audio_duration_ms / 2 <= audio_end_ms]
    return " ".join(text for text in heard if text)
