"""One user turn over GPT-Live (file mode, demos): what `exchange` does for the Realtime protocol.

GPT-Live differs in two ways that matter here. Its clock runs only on microphone frames, so while
waiting for the answer the client keeps streaming silence, at the pace of real time, as a
microphone would. And no event says a turn is complete (the model decides when it speaks): the
answer counts as complete once the model has spoken and then stayed quiet for `quiet_s` with no
delegation still running (the quiet starts afresh when a delegation's tools report back).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import numpy as np

from voicecli.realtime import (
    RealtimeAudioEvent,
    RealtimeClient,
    RealtimeEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
    TextContent,
)
from voicecli.realtime.events import SAMPLE_RATE

__all__ = ["FRAME_MS", "QUIET_S", "live_exchange"]

FRAME_MS = 20
"""A microphone frame: audio and silence go out in frames of this length, at the pace of real time."""
QUIET_S = 1.5
"""How long the model stays quiet after speaking before its answer counts as complete."""


async def live_exchange(
    client: RealtimeClient,
    *,
    text: str | None,
    audio: np.ndarray | None,
    on_event: Callable[[RealtimeEvent], bool],
    quiet_s: float = QUIET_S,
) -> bool:
    """Send the turn, stream silence after it, and hand every event to `on_event` (True: the turn
    failed and is over). Returns False when the session ended before the answer was complete."""
    mute = getattr(client, "mute", None)
    if mute is not None:
        await mute(False)  # a push-to-talk session starts muted: this turn is the user's to hear
    if text is not None:
        await client.send(RealtimeTextEvent(text=TextContent(text=text, source="user_text")))
    microphone = asyncio.create_task(_stream(client, audio))
    events = aiter(client.receive())
    spoke_at: float | None = None  # when the model's voice or words last arrived
    try:
        while True:
            deadline = None
            if spoke_at is not None and not getattr(client, "delegations_running", False):
                deadline = spoke_at + quiet_s  # other events (usage, acknowledgements) do not count
            try:
                async with asyncio.timeout_at(deadline):
                    event = await anext(events)
            except TimeoutError:
                return True
            except StopAsyncIteration:
                return False
            if isinstance(event, RealtimeAudioEvent) or _model_words(event):
                spoke_at = asyncio.get_running_loop().time()
            elif isinstance(event, RealtimeFunctionResultEvent) and spoke_at is not None:
                spoke_at = asyncio.get_running_loop().time()  # the model speaks the result next: wait afresh
            if on_event(event):
                return True
    finally:
        microphone.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await microphone


def _model_words(event: RealtimeEvent) -> bool:
    return isinstance(event, RealtimeTextEvent) and event.text.source == "assistant_transcript"


async def _stream(client: RealtimeClient, audio: np.ndarray | None) -> None:
    """The turn's audio, then silence, frame by frame at the pace of real time."""
    frame = SAMPLE_RATE * FRAME_MS // 1000
    pcm = audio if audio is not None else np.zeros(0, np.int16)
    next_at = time.perf_counter()
    position = 0
    while True:
        chunk = pcm[position : position + frame]
        position += frame
        if chunk.size < frame:
            chunk = np.concatenate((chunk, np.zeros(frame - chunk.size, np.int16)))
        await client.send_audio(chunk)
        next_at += FRAME_MS / 1000
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
