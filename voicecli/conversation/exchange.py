"""One user turn over an open realtime session: send text or audio, collect the whole answer.

The answer is complete when a response finishes without asking for tools (after tool calls the
client answers them and the model speaks again). Used by file mode and by scripted demos.

The words of the turn are read from the one `ConversationState` (fed each event once, as the screen's
is): the user's transcript and the assistant's turns, where a response a drop cut off is marked
`lost` (asked again on the new session, the new answer replaces it). On top of it, a turn keeps what
only file mode needs: the reply's audio samples, kept with the assistant turn they belong to, and the
caps on what one turn may collect.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from voicecli.conversation.state import ConversationState
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
from voicecli.realtime.events import SAMPLE_RATE
from voicecli.ui.entries import AssistantTurn, UserTurn

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
    text_chars: int = 0
    """Reply text received in all, checked against MAX_TURN_TEXT_CHARS."""
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
    state: ConversationState | None = None,
) -> TurnResult:
    """Run one turn and return its result; never raises for service errors or a timeout.

    `state` is the conversation the turn belongs to (a new one when not given): it is fed each event
    of the turn once, and the turn's words are read from what it adds."""
    turn = TurnCollector(TurnResult(user_text=text or ""), state or ConversationState())
    try:
        async with asyncio.timeout(timeout_s):
            if client.protocol == "live":
                if not await _live_turn(client, turn, text, audio, observer):
                    turn.result.failed = turn.result.failed or "the session ended before the answer was complete"
                return turn.finish()
            await send_user_turn(client, text=text, audio=audio)
            async for event in client.receive():
                if observer is not None:
                    observer(event)
                if turn.collect(event):
                    break
                if _needs_resending(event):  # the drop came before the service had the turn
                    await send_user_turn(client, text=text, audio=audio)
            else:
                turn.result.failed = turn.result.failed or "the session ended before the answer was complete"
    except TimeoutError:
        turn.result.failed = f"no complete answer within {timeout_s:g} s"
    return turn.finish()


async def _live_turn(
    client: RealtimeClient,
    turn: TurnCollector,
    text: str | None,
    audio: np.ndarray | None,
    observer: EventObserver | None,
) -> bool:
    """A GPT-Live turn: no response events, the model decides (see `live_exchange`)."""
    from voicecli.conversation.live_exchange import live_exchange

    def on_event(event: RealtimeEvent) -> bool:
        if observer is not None:
            observer(event)
        return turn.collect(event)

    return await live_exchange(client, text=text, audio=audio, on_event=on_event)


def _needs_resending(event: RealtimeEvent) -> bool:
    """A new session after a drop that did not hold the user's turn (so nobody asked again)."""
    if event.service_type != ContinuityEvents.RECONNECTED:
        return False
    status = event.service_event or {}
    return status.get("cause") == "drop" and not status.get("asked_again")


_ASKING_ITEMS = frozenset({"function_call", "mcp_approval_request"})
"""Output items after which the client answers (a tool's output, an approval) and the model goes on."""


class TurnCollector:
    """One turn being collected: the conversation state fed once per event, and on top of it what only
    file mode keeps (the reply's samples with the assistant turn they belong to, the caps, the timings)."""

    def __init__(self, result: TurnResult, state: ConversationState) -> None:
        self.result = result
        self.state = state
        self.first_entry = len(state.entries)  # the entries this turn adds come after
        self.audio: list[tuple[AssistantTurn | None, np.ndarray]] = []
        self.started = time.perf_counter()

    def collect(self, event: RealtimeEvent) -> bool:
        """Record one event; True when the turn is over."""
        self.state.handle(event)
        result = self.result
        elapsed = time.perf_counter() - self.started
        match event:
            case RealtimeAudioEvent():
                if result.first_audio_s is None:
                    result.first_audio_s = elapsed
                self.audio.append((self.state.transcript.playing, event.audio.data))
                result.audio_chunks.append(event.audio.data)
                result.audio_samples += len(event.audio.data)
                if result.audio_samples > MAX_TURN_AUDIO_S * SAMPLE_RATE:
                    result.failed = f"the reply went on beyond {MAX_TURN_AUDIO_S:g} s of audio; stopped there"
                    return True
            case RealtimeTextEvent() if event.text.source in ("user_transcript", "user_text"):
                pass  # read from the state's user turn
            case RealtimeTextEvent():
                if result.first_text_s is None:
                    result.first_text_s = elapsed
                result.text_chars += len(event.text.text)
                if result.text_chars > MAX_TURN_TEXT_CHARS:
                    beyond = f"{MAX_TURN_TEXT_CHARS:,} characters of text"
                    result.failed = f"the reply went on beyond {beyond}; stopped there"
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
            case RealtimeEvent(service_type=ListenEvents.RESPONSE_DONE):
                if self._lost_response():
                    return False  # asked again on the new session: its answer replaces this one
                response = (event.service_event or {}).get("response") or {}
                if response.get("status") == "failed":
                    error = (response.get("status_details") or {}).get("error") or {}
                    result.failed = error.get("message") or "the response ended with status failed"
                    return True
                asked_for_tools = any(item.get("type") in _ASKING_ITEMS for item in response.get("output") or [])
                return not asked_for_tools or response.get("status") == "cancelled"
        return False

    def _lost_response(self) -> bool:
        """A drop cut the response off (the state says so, and marked its turns `lost`): its audio
        leaves the answer, kept apart as all the user gets should no new session come."""
        if not self.state.transcript.response_lost:
            return False
        lost = [chunk for turn, chunk in self.audio if turn is not None and turn.lost]
        self.audio = [(turn, chunk) for turn, chunk in self.audio if turn is None or not turn.lost]
        self.result.cut_off_chunks = lost or self.result.cut_off_chunks
        self.result.audio_chunks = [chunk for _, chunk in self.audio]
        return True

    def finish(self) -> TurnResult:
        """The turn's words, read from the state; its time."""
        result = self.result
        entries = self.state.entries[self.first_entry :]
        heard = [entry.text for entry in entries if isinstance(entry, UserTurn) and entry.final and not entry.typed]
        if heard:
            result.user_text = heard[-1]
        answers = [entry for entry in entries if isinstance(entry, AssistantTurn) and not entry.lost]
        result.assistant_text = " ".join(entry.text for entry in answers if entry.text)
        result.total_s = time.perf_counter() - self.started
        return result
