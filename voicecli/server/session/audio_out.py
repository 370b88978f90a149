"""Where response audio goes: the seam between a streaming response and its transport.

The response paces and records its audio; an `AudioOut` delivers it. Over WebSocket that is base64
`response.output_audio.delta` events (`DeltaAudioOut`); a WebRTC call passes one that writes to its
RTP track instead (`rtc_audio.RtpAudioOut`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Protocol

from voicecli.server.events import Send
from voicecli.server.validation import ProtocolViolation

__all__ = ["AudioOut", "AudioRef", "DeltaAudioOut"]


@dataclass(frozen=True, slots=True)
class AudioRef:
    """Which content part a piece of response audio belongs to."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int

    def fields(self) -> dict[str, Any]:
        """The location fields shared by the events of this content part."""
        return {
            "response_id": self.response_id,
            "item_id": self.item_id,
            "output_index": self.output_index,
            "content_index": self.content_index,
        }


class AudioOut(Protocol):
    """Where response audio goes. The session paces and records it; the strategy delivers it."""

    async def send(self, ref: AudioRef, pcm: bytes) -> None:
        """Deliver ~100 ms of 24 kHz pcm16 of the given content part."""
        ...

    async def clear(self, response_id: str | None) -> None:
        """Handle the client's `output_audio_buffer.clear` (raise `ProtocolViolation` to refuse)."""
        ...


class DeltaAudioOut:
    """WebSocket delivery: base64 `response.output_audio.delta` events."""

    def __init__(self, emit: Send) -> None:
        self._emit = emit

    async def send(self, ref: AudioRef, pcm: bytes) -> None:
        delta = base64.b64encode(pcm).decode("ascii")
        await self._emit({"type": "response.output_audio.delta", **ref.fields(), "delta": delta})

    async def clear(self, response_id: str | None) -> None:
        raise ProtocolViolation(
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections.", param="type"
        )
