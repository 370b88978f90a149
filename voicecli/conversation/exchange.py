"""One user turn over an open realtime session: send text or audio, collect the whole answer.

The answer is complete when a response finishes without asking for tools (after tool calls the
client answers them and the model speaks again). Used by file mode and by scripted demos.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from voicecli.realtime import (
    ContinuityEvents,
    ErrorContent,
    FunctionCallContent,
    FunctionResultContent,
    ListenEvents,
    RealtimeAudioEvent,
    RealtimeClient,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
    SendEvents,
    protocol,
)
from voicecli.realtime.continuity import INTERRUPTED_REASON
from voicecli.realtime.events import SAMPLE_RATE

AUDIO_APPEND_MS = 100
"""File audio is sent in 100 ms appends: small frames, few of them."""
MAX_TURN_AUDIO_S = 600
"""Reply audio one turn may collect (28.8 MB): far beyond any real answer (the service caps a response
at 4,096 output tokens, a few minutes of speech), and a service that streams without end cannot fill
the memory or write a WAV of half an hour."""
MAX_TURN_TEXT_CHARS = 200_000
"""Reply text one turn may collect, for the same reason."""


@dataclass(slots=True)
class TurnResult:
    """What one turn produced, including whatever arrived before a failure."""

    user_text: str = ""
    assistant_text: str = ""
    audio_chunks: list[np.ndarray] = field(default_factory=list)
    tool_calls: list[FunctionCallContent] = field(default_factory=list)
    tool_results: list[FunctionResultContent] = field(default_factory=list)
    errors: list[ErrorContent] = field(default_factory=list)
    failed: str | None = None
    first_text_s: float | None = None
    first_audio_s: float | None = None
    total_s: float = 0.0
    audio_samples: int = 0
    """Reply audio received in all (kept or cut off), checked against MAX_TURN_AUDIO_S."""
    response_start: tuple[int, int] = (0, 0)
    """Audio chunks and text characters before the current response (to drop one a drop cut off)."""
    cut_off_chunks: list[np.ndarray] = field(default_factory=list)
    """The audio of the last response a drop cut off: asked again on a new session, it is replaced by
    the new answer; when no new session comes, it is all the user gets, and it is kept for them."""

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.audio_chunks) if self.audio_chunks else np.zeros(0, dtype=np.int16)

    @property
    def received_audio(self) -> np.ndarray:
        """The answer's audio; after a failed turn, whatever arrived (a reply cut off included)."""
        if self.audio_chunks or not self.failed or not self.cut_off_chunks:
            return self.audio
        return np.concatenate(self.cut_off_chunks)


EventObserver = Callable[[RealtimeEvent], None]


async def send_user_turn(client: RealtimeClient, *, text: str | None = None, audio: np.ndarray | None = None) -> None:
    """Send the user's text message or audio (then commit) and ask for a response."""
    if text is not None:
        await client.send(protocol.user_text_item(text))
    if audio is not None:
        step = SAMPLE_RATE * AUDIO_APPEND_MS // 1000
        for start in range(0, len(audio), step):
            await client.send(protocol.append_audio(audio[start : start + step]))
        await client.send(protocol.simple_event(SendEvents.INPUT_AUDIO_BUFFER_COMMIT))
    await client.send(protocol.simple_event(SendEvents.RESPONSE_CREATE))


async def exchange(
    client: RealtimeClient,
    *,
    text: str | None = None,
    audio: np.ndarray | None = None,
    timeout_s: float = 60.0,
    observer: EventObserver | None = None,
) -> TurnResult:
    """Run one turn and return its result; never raises for service errors or a timeout."""
    result = TurnResult(user_text=text or "")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            if client.protocol == "live":
                if not await _live_turn(client, result, text, audio, observer, started):
                    result.failed = result.failed or "the session ended before the answer was complete"
                result.total_s = time.perf_counter() - started
                return result
            await send_user_turn(client, text=text, audio=audio)
            async for event in client.receive():
                if observer is not None:
                    observer(event)
                if _collect(result, event, started):
                    break
                if _needs_resending(event):  # the drop came before the service had the turn
                    await send_user_turn(client, text=text, audio=audio)
            else:
                result.failed = result.failed or "the session ended before the answer was complete"
    except TimeoutError:
        result.failed = f"no complete answer within {timeout_s:g} s"
    result.total_s = time.perf_counter() - started
    return result


async def _live_turn(
    client: RealtimeClient,
    result: TurnResult,
    text: str | None,
    audio: np.ndarray | None,
    observer: EventObserver | None,
    started: float,
) -> bool:
    """A GPT-Live turn: no response events, the model decides (see `live_exchange`)."""
    from voicecli.conversation.live_exchange import live_exchange

    def on_event(event: RealtimeEvent) -> bool:
        if observer is not None:
            observer(event)
        return _collect(result, event, started)

    return await live_exchange(client, text=text, audio=audio, on_event=on_event)


def _needs_resending(event: RealtimeEvent) -> bool:
    """A new session after a drop that did not hold the user's turn (so nobody asked again)."""
    if event.service_type != ContinuityEvents.RECONNECTED:
        return False
    status = event.service_event or {}
    return status.get("cause") == "drop" and not status.get("asked_again")


_ASKING_ITEMS = frozenset({"function_call", "mcp_approval_request"})
"""Output items after which the client answers (a tool's output, an approval) and the model goes on."""


def _collect(result: TurnResult, event: RealtimeEvent, started: float) -> bool:
    """Record one event; True when the turn is over."""
    elapsed = time.perf_counter() - started
    match event:
        case RealtimeAudioEvent():
            if result.first_audio_s is None:
                result.first_audio_s = elapsed
            result.audio_chunks.append(event.audio.data)
            result.audio_samples += len(event.audio.data)
            if result.audio_samples > MAX_TURN_AUDIO_S * SAMPLE_RATE:
                result.failed = f"the reply went on beyond {MAX_TURN_AUDIO_S:g} s of audio; stopped there"
                return True
        case RealtimeTextEvent() if event.text.source == "user_transcript":
            result.user_text = event.text.text
        case RealtimeTextEvent():
            if result.first_text_s is None:
                result.first_text_s = elapsed
            result.assistant_text += event.text.text
            if len(result.assistant_text) > MAX_TURN_TEXT_CHARS:
                result.failed = f"the reply went on beyond {MAX_TURN_TEXT_CHARS:,} characters of text; stopped there"
                return True
        case RealtimeFunctionCallEvent():
            result.tool_calls.append(event.function_call)
        case RealtimeFunctionResultEvent():
            result.tool_results.append(event.function_result)
        case RealtimeErrorEvent():
            result.errors.append(event.error)
            if event.error.fatal:
                result.failed = event.error.message
                return True
        case RealtimeEvent(service_type=ListenEvents.RESPONSE_CREATED):
            if result.assistant_text:
                result.assistant_text += " "  # the answer after a tool call is a new sentence
            result.response_start = (len(result.audio_chunks), len(result.assistant_text))
        case RealtimeEvent(service_type=ListenEvents.RESPONSE_DONE):
            response = (event.service_event or {}).get("response") or {}
            if (response.get("status_details") or {}).get("reason") == INTERRUPTED_REASON:
                chunks, chars = result.response_start  # asked again on the new session: keep that one only
                result.cut_off_chunks = result.audio_chunks[chunks:] or result.cut_off_chunks
                del result.audio_chunks[chunks:]
                result.assistant_text = result.assistant_text[:chars]
                return False
            if response.get("status") == "failed":
                error = (response.get("status_details") or {}).get("error") or {}
                result.failed = error.get("message") or "the response ended with status failed"
                return True
            asked_for_tools = any(item.get("type") in _ASKING_ITEMS for item in response.get("output") or [])
            return not asked_for_tools or response.get("status") == "cancelled"
    return False
