"""The input audio buffer and the turn detection that cuts it into user turns.

Protocol state only: `append` returns the turns it found (`TurnStarted`, `TurnEnded` with the turn's
audio) and the session turns them into events. Positions are counted in samples since the session
began, so `audio_start_ms`/`audio_end_ms` are on the client's clock, as the service reports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicecli.server.ids import new_id
from voicecli.server.session.conversation import BYTES_PER_MS, decode_audio
from voicecli.server.session.vad import EnergyVad, SpeechStarted, VadConfig
from voicecli.server.validation import ProtocolViolation

__all__ = ["InputAudioBuffer", "TurnEnded", "TurnStarted", "appended_audio"]

_SAMPLES_PER_MS = BYTES_PER_MS // 2
_MIN_COMMIT_MS = 100
_MAX_APPEND_BYTES = 15 * 1024 * 1024
_MAX_UNCOMMITTED_MS = 15 * 60 * 1000  # at most 15 minutes of uncommitted audio (about 43 MB)
_IDLE_BUFFER_MS = 1000  # audio kept before the prefix padding while server VAD hears silence


@dataclass(frozen=True, slots=True)
class TurnStarted:
    """Server VAD heard speech begin (`input_audio_buffer.speech_started`)."""

    item_id: str
    audio_start_ms: int


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """Server VAD heard speech end (`input_audio_buffer.speech_stopped`); `audio` is the turn, committed."""

    item_id: str
    audio_end_ms: int
    audio: bytes


def appended_audio(encoded: str) -> bytes:
    """The pcm16 an `input_audio_buffer.append` carries; `ProtocolViolation` when it is unusable."""
    pcm = decode_audio(encoded, "audio")
    if len(pcm) > _MAX_APPEND_BYTES:
        raise ProtocolViolation("Invalid 'audio': at most 15 MiB of audio per event.", param="audio")
    return pcm


class InputAudioBuffer:
    """24 kHz pcm16 since the last commit or clear, bounded, with server VAD when it is on."""

    def __init__(self, turn_detection: Mapping[str, Any] | None) -> None:
        self._buffer = bytearray()
        self._buffer_start = 0  # stream position (samples) of the buffer's first sample
        self._stream_samples = 0  # samples appended during the session
        self._turn_detection = turn_detection
        self._vad: EnergyVad | None = None
        self._speech_item_id: str | None = None
        self.detect_turns(turn_detection)

    def detect_turns(self, turn_detection: Mapping[str, Any] | None) -> None:
        """Start turn detection afresh with this `turn_detection` (None: push-to-talk)."""
        self._turn_detection = turn_detection
        config = VadConfig.from_turn_detection(turn_detection) if turn_detection else None
        self._vad = EnergyVad(config, self._stream_samples) if config else None
        self._speech_item_id = None

    def append(self, pcm: bytes) -> list[TurnStarted | TurnEnded]:
        """Add audio and run turn detection on it; return the turns it began or ended."""
        self._buffer += pcm
        self._stream_samples += len(pcm) // 2
        # A bounded window, so that neither a microphone left open (push-to-talk) nor endless loud
        # audio (server VAD hearing one turn that never ends) can grow it forever.
        self._drop_before(self._stream_samples - _MAX_UNCOMMITTED_MS * _SAMPLES_PER_MS)
        if self._vad is None:
            return []
        turns: list[TurnStarted | TurnEnded] = []
        for change in self._vad.process(np.frombuffer(pcm, dtype="<i2")):
            if isinstance(change, SpeechStarted):
                self._drop_before(change.sample)
                self._speech_item_id = new_id("item")
                start_ms = max(change.sample, self._buffer_start) // _SAMPLES_PER_MS
                turns.append(TurnStarted(self._speech_item_id, start_ms))
            else:
                item_id = self._speech_item_id or new_id("item")
                self._speech_item_id = None
                audio = self._take_until(change.sample)
                turns.append(TurnEnded(item_id, change.sample // _SAMPLES_PER_MS, audio))
        if not self._vad.in_speech:
            keep = (self._vad.config.prefix_padding_ms + _IDLE_BUFFER_MS) * _SAMPLES_PER_MS
            self._drop_before(self._stream_samples - keep)
        return turns

    def commit(self) -> tuple[str, bytes]:
        """`input_audio_buffer.commit`: the new item's id and all buffered audio; turn detection
        starts afresh. `ProtocolViolation` when less than 100 ms is buffered."""
        buffered_ms = len(self._buffer) / BYTES_PER_MS
        if buffered_ms < _MIN_COMMIT_MS:
            raise ProtocolViolation(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        item_id = self._speech_item_id or new_id("item")
        audio = self._take_until(self._stream_samples)
        self.detect_turns(self._turn_detection)
        return item_id, audio

    def buffered(self) -> bytes:
        """The audio a commit would take now."""
        return bytes(self._buffer)

    def clear(self) -> None:
        """`input_audio_buffer.clear`: drop the audio; turn detection starts afresh."""
        self._drop_before(self._stream_samples)
        self.detect_turns(self._turn_detection)

    def _drop_before(self, sample: int) -> None:
        cut = max(0, min(sample - self._buffer_start, len(self._buffer) // 2))
        del self._buffer[: cut * 2]
        self._buffer_start += cut

    def _take_until(self, sample: int) -> bytes:
        cut = max(0, min(sample - self._buffer_start, len(self._buffer) // 2))
        audio = bytes(self._buffer[: cut * 2])
        self._drop_before(self._buffer_start + cut)
        return audio
