"""Device and screen stand-ins for `Conversation` tests that need no audio devices: a microphone that
hears silence unless told to say something, speakers that play instantly or in real time, a screen
that remembers events."""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from voicecli.audio.echo import EchoStatus
from voicecli.realtime import RealtimeEvent

CHUNK = 480  # 20 ms at 24 kHz


class Microphone:
    """20 ms chunks in real time: silence, or what `say` queued."""

    def __init__(self) -> None:
        self.mute = False
        self.level = -math.inf
        self.chunk_at = 0.0
        self.echo_status = EchoStatus("off", "off", None)
        self._pending = np.zeros(0, dtype=np.int16)

    def say(self, pcm: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, pcm.astype(np.int16)])

    def __aiter__(self) -> AsyncIterator[np.ndarray]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[np.ndarray]:
        while True:
            await asyncio.sleep(CHUNK / 24_000)
            chunk = np.zeros(CHUNK, dtype=np.int16)
            take = self._pending[:CHUNK]
            chunk[: len(take)] = take
            self._pending = self._pending[CHUNK:]
            self.chunk_at = time.monotonic()
            yield chunk


class InstantSpeaker:
    """Plays everything the moment it arrives."""

    is_playing = False
    buffered_ms = 0.0
    latency = 0.0

    def __init__(self) -> None:
        self.samples = 0

    def add_audio(self, audio: np.ndarray, item_id: str | None = None) -> None:
        self.samples += len(audio)

    def finish(self) -> None:
        pass

    def flush(self, fade_ms: float = 8.0) -> None:
        pass

    def heard_ms(self, item_id: str) -> float:
        return 0.0


class RealTimeSpeaker:
    """Plays the items one after another in real time from the first chunk on; a flush stops it where
    it is. What was heard of each item follows from that position."""

    latency = 0.0

    def __init__(self) -> None:
        self.items: OrderedDict[str, int] = OrderedDict()  # samples received per item, in play order
        self._started: float | None = None
        self._stopped_at: float | None = None

    def _position(self) -> float:
        if self._started is None:
            return 0.0
        now = self._stopped_at if self._stopped_at is not None else time.monotonic()
        return (now - self._started) * 24_000

    @property
    def is_playing(self) -> bool:
        return self._stopped_at is None and self._position() < sum(self.items.values())

    @property
    def buffered_ms(self) -> float:
        return max(0.0, sum(self.items.values()) - self._position()) / 24 if self._stopped_at is None else 0.0

    def add_audio(self, audio: np.ndarray, item_id: str | None = None) -> None:
        if self._started is None:
            self._started = time.monotonic()
        key = item_id or "?"
        self.items[key] = self.items.get(key, 0) + len(audio)

    def finish(self) -> None:
        pass

    def flush(self, fade_ms: float = 8.0) -> None:
        self._stopped_at = time.monotonic()

    def heard_ms(self, item_id: str) -> float:
        offset = 0
        for key, samples in self.items.items():
            if key == item_id:
                return min(max(self._position() - offset, 0.0), samples) / 24
            offset += samples
        return 0.0


class Screen:
    """A `ConversationScreen` that remembers the events it was shown."""

    def __init__(self) -> None:
        self.events: list[RealtimeEvent] = []

    def __enter__(self) -> Screen:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def handle(self, event: RealtimeEvent) -> None:
        self.events.append(event)

    def set_state(self, state: Any) -> None:
        pass

    def set_level(self, dbfs: float) -> None:
        pass

    def set_muted(self, muted: bool) -> None:
        pass

    def set_echo(self, status: EchoStatus) -> None:
        pass

    def seen(self, event_type: str) -> list[dict[str, Any]]:
        return [e.service_event or {} for e in self.events if e.service_type == event_type]
