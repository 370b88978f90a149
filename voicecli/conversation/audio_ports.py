"""What a conversation needs of its audio devices: a microphone that yields timed chunks and a
speaker that plays, fades and says what was heard. `Capture` and `Player` are the real ones; the
tests pass stand-ins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import numpy as np

from voicecli.audio.echo import EchoStatus

__all__ = ["AudioSink", "AudioSource"]


class AudioSource(Protocol):
    """What the conversation needs of a microphone (`Capture` is one): 24 kHz int16 chunks.

    `chunk_at` is when the first sample of the chunk last yielded met the microphone (`time.monotonic`):
    push-to-talk sends what was said between the presses, not what arrived between them.
    """

    mute: bool
    level: float
    chunk_at: float

    @property
    def echo_status(self) -> EchoStatus: ...

    def __aiter__(self) -> AsyncIterator[np.ndarray]: ...


class AudioSink(Protocol):
    """What the conversation needs of a speaker (`Player` is one)."""

    @property
    def is_playing(self) -> bool: ...

    @property
    def buffered_ms(self) -> float: ...

    @property
    def latency(self) -> float: ...

    def add_audio(self, audio: np.ndarray, item_id: str | None = None) -> None: ...

    def finish(self) -> None: ...

    def flush(self, fade_ms: float = 8.0) -> None: ...

    def duck(self, gain: float) -> None: ...

    def heard_ms(self, item_id: str) -> float: ...
