"""The conversation as a list of entries (user turns, assistant turns, tool calls, notices), built once
from the events: what the live screen shows and leaves in the scrollback.

A part of `ConversationState`, which feeds it each event once (after the latency tracker, so an
assistant turn carries the numbers of the turn it answers); the view only renders the entries.
"""

from __future__ import annotations

from typing import Any

from voicecli.realtime import (
    ListenEvents,
    RealtimeAudioEvent,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeMcpCallEvent,
    RealtimeMcpToolsEvent,
    RealtimeTextEvent,
    RealtimeWordEvent,
)
from voicecli.realtime.continuity import INTERRUPTED_REASON
from voicecli.realtime.word_timestamps import heard_text
from voicecli.records.latency import LatencyTracker, TurnLatency
from voicecli.ui.entries import AssistantTurn, Entry, Notice, ToolCallEntry, UserTurn
from voicecli.ui.plain import hosted_tools_line

__all__ = ["Transcript"]


class Transcript:
    """The entries of the conversation so far; `handle` only appends entries or fills them in, so a
    screen's thread may read them while the event loop writes."""

    def __init__(self, latency: LatencyTracker | None = None) -> None:
        self.entries: list[Entry] = []
        self._latency = latency
        self._last_latency: TurnLatency | None = None
        self._users: dict[str, UserTurn] = {}
        self._assistants: dict[str, AssistantTurn] = {}
        self._current_assistant: AssistantTurn | None = None
        self._open_assistants: list[AssistantTurn] = []
        self._calls: dict[str, ToolCallEntry] = {}
        self.response_lost = False
        """The last response was cut off by a dropped connection (its turns are marked `lost`)."""
        self.playing: AssistantTurn | None = None
        """The assistant turn the last reply audio belongs to (file mode keeps its chunks with it)."""

    def handle(self, event: RealtimeEvent) -> None:
        """Update the entries from one event of `receive()`."""
        payload = event.service_event or {}
        match event:
            case RealtimeAudioEvent():
                self.playing = self._assistant(event.audio.item_id)
                self.playing.audio = True
            case RealtimeTextEvent() if event.text.source in ("user_transcript", "user_text"):
                user = self._user(event.text.item_id)
                user.text, user.final, user.speaking = event.text.text, True, False
                user.typed = event.text.source == "user_text"
            case RealtimeTextEvent():
                self._assistant(event.text.item_id).text += event.text.text
            case RealtimeFunctionCallEvent():
                call = event.function_call
                self._calls[call.call_id] = ToolCallEntry(call.name, call.arguments, call.call_id)
                self.entries.append(self._calls[call.call_id])
                self._current_assistant = None
            case RealtimeFunctionResultEvent():
                self._tool_finished(event)
            case RealtimeWordEvent():
                self._assistant(event.word.item_id).words.append(event.word)
            case RealtimeMcpCallEvent():  # the service called a hosted MCP server: shown as the tool call it is
                mcp = event.mcp_call
                hosted = ToolCallEntry(f"{mcp.server_label}.{mcp.name}", mcp.arguments, mcp.item_id)
                hosted.result, hosted.is_error = (mcp.error, True) if mcp.error else (mcp.output or "", False)
                self.entries.append(hosted)
                self._current_assistant = None
            case RealtimeMcpToolsEvent():
                self.entries.append(Notice(hosted_tools_line(event), "mcp" if event.mcp_tools.failed else "mcp_tools"))
            case RealtimeErrorEvent():
                self.entries.append(Notice(event.error.message, event.error.code, event.error.fatal, error=True))
            case RealtimeEvent(service_type=service_type):
                self._service_event(str(service_type), payload)

    def _service_event(self, service_type: str, payload: dict[str, Any]) -> None:
        item_id = payload.get("item_id")
        match service_type:
            case ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STARTED:
                self._user(item_id)
            case ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STOPPED | ListenEvents.INPUT_AUDIO_BUFFER_COMMITTED:
                self._user(item_id).speaking = False
            case ListenEvents.INPUT_AUDIO_TRANSCRIPTION_DELTA:
                self._user(item_id).text += str(payload.get("delta", ""))
            case ListenEvents.INPUT_AUDIO_TRANSCRIPTION_FAILED:
                self._user(item_id).failed = True
            case ListenEvents.RESPONSE_OUTPUT_AUDIO_TRANSCRIPT_DONE | ListenEvents.RESPONSE_OUTPUT_TEXT_DONE:
                final = payload.get("transcript", payload.get("text"))
                if isinstance(final, str):
                    self._assistant(item_id).text = final
            case ListenEvents.CONVERSATION_ITEM_TRUNCATED if item_id in self._assistants:
                turn = self._assistants[item_id]
                turn.interrupted = True
                end_ms = payload.get("audio_end_ms")
                if turn.words and isinstance(end_ms, int):
                    turn.heard = heard_text(turn.words, end_ms)
            case ListenEvents.RESPONSE_DONE:
                self._response_done(payload.get("response") or {})

    def _user(self, item_id: str | None) -> UserTurn:
        if item_id is not None and item_id in self._users:
            return self._users[item_id]
        turn = UserTurn(item_id)
        if item_id is not None:
            self._users[item_id] = turn
        self.entries.append(turn)
        return turn

    def _assistant(self, item_id: str | None) -> AssistantTurn:
        if item_id is not None and item_id in self._assistants:
            return self._assistants[item_id]
        current = self._current_assistant
        if current is not None and (item_id is None or current.item_id is None):
            if item_id is not None:  # the first event that names the item
                current.item_id = item_id
                self._assistants[item_id] = current
            return current
        latency = self._latency.current if self._latency is not None else None
        if latency is self._last_latency:  # show a turn's numbers once, on its first answer
            latency = None
        else:
            self._last_latency = latency
        turn = AssistantTurn(item_id, latency)
        if item_id is not None:
            self._assistants[item_id] = turn
        self._current_assistant = turn
        self._open_assistants.append(turn)
        self.entries.append(turn)
        return turn

    def _tool_finished(self, event: RealtimeFunctionResultEvent) -> None:
        outcome = event.function_result
        call = self._calls.get(outcome.call_id)
        if call is None:
            call = ToolCallEntry(outcome.name, "", outcome.call_id)
            self.entries.append(call)
        call.result, call.is_error, call.duration_s = outcome.result, outcome.is_error, outcome.duration_s

    def _response_done(self, response: dict[str, Any]) -> None:
        details = response.get("status_details") or {}
        self.response_lost = details.get("reason") == INTERRUPTED_REASON  # the client's `response.done` at a drop
        for turn in self._open_assistants:
            turn.done = True
            turn.lost = self.response_lost
        self._open_assistants.clear()
        self._current_assistant = None
        if response.get("status") == "failed":
            error = details.get("error") or {}
            self.entries.append(Notice(str(error.get("message") or "the response failed"), error.get("code")))
