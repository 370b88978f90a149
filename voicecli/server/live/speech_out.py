"""Where a GPT-Live session's voice goes when it is not sent as events: a WebRTC call's audio track."""

from __future__ import annotations

from typing import Protocol

__all__ = ["SpeechOut"]


class SpeechOut(Protocol):
    """Where the model's voice goes when it is not sent as events (a WebRTC call's audio track)."""

    async def say(self, utterance: str, pcm: bytes) -> None:
        """More of one utterance's audio (24 kHz pcm16)."""
        ...

    def said(self, utterance: str) -> None:
        """The utterance is complete."""
        ...

    def cut(self) -> None:
        """The model stopped talking (the user spoke): drop what has not been played yet."""
        ...
