"""Which incoming RTP audio is reply audio, and when a response's audio has all arrived.

Over WebRTC the reply audio has no events of its own: it is a continuous RTP stream (silence
between replies), and the data channel says when a response's audio starts
(`output_audio_buffer.started`), ends (`.stopped`, once the service has sent its last frame) or is
cut off (`.cleared`). `RemotePlayback` follows those events to pass on the frames of each response
in order, without the silence around them, so callers get the same audio events as over WebSocket.

The service's events run ahead of its audio (the frames still cross the network, the jitter buffer
and the decoder), so a response's audio ends only after `stopped` plus `TAIL_FRAMES` more frames;
trailing silence within that tail is dropped. `played()` lets the client hold back `response.done`
until then, which keeps the WebSocket order: all of a response's audio comes before its
`response.done`. When no sound arrives for `stall_s`, a response counts as played, so a service
that stops sending (or never sends) its audio cannot hold the events back for long.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.protocol import ListenEvents

TAIL_FRAMES = 15
"""Frames after `stopped` that may still carry the response's audio (300 ms; ~130 ms on loopback)."""
SOUND_LEVEL = 64
"""Peak level above which a frame counts as sound (-54 dBFS; decoded silence stays within ±8)."""
_MAX_REMEMBERED = 16


@dataclass(slots=True)
class _Playback:
    response_id: str
    item_id: str | None
    heard_sound: bool = False
    tail_left: int | None = None  # frames still expected after `stopped`
    held: list[np.ndarray] = field(default_factory=list)  # silence in the tail, kept if sound follows
    finished: asyncio.Event = field(default_factory=asyncio.Event)


def _part_type(payload: dict[str, Any]) -> Any:
    part = payload.get("part")
    return part.get("type") if isinstance(part, dict) else None


class RemotePlayback:
    """Feed it every server event and every decoded 24 kHz frame; it says which frames to deliver."""

    def __init__(self, stall_s: float = 1.5) -> None:
        self.stall_s = stall_s
        self._queue: deque[_Playback] = deque()  # in the order the service streams them
        self._by_response: dict[str, _Playback] = {}
        self._audio_items: dict[str, str | None] = {}  # response id → id of its audio item
        self._sound_frames = 0

    def on_server_event(self, event: RealtimeEvent) -> None:
        payload: dict[str, Any] = event.service_event or {}
        response_id = payload.get("response_id")
        if not isinstance(response_id, str) and event.service_type != ListenEvents.OUTPUT_AUDIO_BUFFER_CLEARED:
            return  # a malformed event (the parser has reported it) or one without a response
        match event.service_type:
            case ListenEvents.RESPONSE_CONTENT_PART_ADDED if _part_type(payload) == "audio":
                item_id = payload.get("item_id")
                self._audio_items[str(response_id)] = item_id if isinstance(item_id, str) else None
                if len(self._audio_items) > _MAX_REMEMBERED:  # responses whose audio never started
                    del self._audio_items[next(iter(self._audio_items))]
            case ListenEvents.OUTPUT_AUDIO_BUFFER_STARTED if response_id not in self._by_response:
                playback = _Playback(str(response_id), self._audio_items.get(str(response_id)))
                self._by_response[playback.response_id] = playback
                self._queue.append(playback)
            case ListenEvents.OUTPUT_AUDIO_BUFFER_STOPPED:
                stopped = self._by_response.get(str(response_id))
                if stopped is not None and stopped.tail_left is None:
                    stopped.tail_left = TAIL_FRAMES
            case ListenEvents.OUTPUT_AUDIO_BUFFER_CLEARED:
                self.clear()

    def clear(self) -> None:
        """The output buffer was cleared: frames still in flight belong to no response."""
        while self._queue:
            self._finish(self._queue[0])

    def admit(self, pcm: np.ndarray) -> tuple[np.ndarray, str | None] | None:
        """The audio of this frame to deliver now (with its item id), or None to drop it."""
        loud = len(pcm) > 0 and (int(pcm.max()) > SOUND_LEVEL or int(pcm.min()) < -SOUND_LEVEL)
        if loud:
            self._sound_frames += 1
        if not self._queue:
            return None
        playback = self._queue[0]
        delivered: np.ndarray | None = None
        if loud:
            playback.heard_sound = True
            delivered = np.concatenate([*playback.held, pcm]) if playback.held else pcm
            playback.held.clear()
        elif playback.heard_sound:
            if playback.tail_left is None:
                delivered = pcm  # a pause within the reply
            else:
                playback.held.append(pcm)
        if playback.tail_left is not None:
            playback.tail_left -= 1
            if playback.tail_left <= 0:
                self._finish(playback)
        return None if delivered is None else (delivered, playback.item_id)

    async def played(self, response_id: str | None) -> None:
        """Return once the response's audio has all been admitted (at once if it has none)."""
        playback = self._by_response.get(response_id or "")
        while playback is not None and not playback.finished.is_set():
            heard = self._sound_frames
            try:
                async with asyncio.timeout(self.stall_s):
                    await playback.finished.wait()
            except TimeoutError:
                if self._sound_frames == heard:
                    self._finish(playback)

    def _finish(self, playback: _Playback) -> None:
        playback.finished.set()
        self._by_response.pop(playback.response_id, None)
        self._audio_items.pop(playback.response_id, None)
        if playback in self._queue:
            self._queue.remove(playback)
