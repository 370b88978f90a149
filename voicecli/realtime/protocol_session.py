"""The Realtime protocol's rules as a sans-I/O object: events and intents in, actions out.

`RealtimeProtocolSession` never awaits, sleeps or reads a clock: the client feeds it each event that
arrived (`received`), each tool that finished (`tool_finished`) and each thing its caller wants
(`send_audio`, `commit_turn`, `interrupt`, ...), and carries out the actions it returns in order:
`Play` (the audio callback, before anything else), `Deliver` (to `receive()`), `Send` (a client
event), `StreamAudio` (microphone audio over the transport's media path), `RunTool`, `Ready`.
So the rules (when a session is ready, which errors end it, when tool outputs are answered with
one `response.create`, what an interruption sends on each transport) are tested by feeding events,
without a socket. Another protocol with other turn rules is another class with the same methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np

from voicecli.realtime import protocol
from voicecli.realtime.events import (
    AudioContent,
    FunctionCallContent,
    FunctionResultContent,
    McpApprovalContent,
    McpToolsContent,
    RealtimeAudioEvent,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeMcpApprovalEvent,
    RealtimeMcpToolsEvent,
)
from voicecli.realtime.protocol import ListenEvents, SendEvents

__all__ = [
    "Action",
    "AskApproval",
    "Completed",
    "Deliver",
    "Play",
    "Ready",
    "RealtimeProtocolSession",
    "RunTool",
    "Send",
    "SessionState",
    "StreamAudio",
]


class SessionState(StrEnum):
    """Where one session stands; a client that replaces its session starts a new one in CONNECTING."""

    CONNECTING = "connecting"
    """Opened (or opening); waiting for `session.created`."""
    OPEN = "open"
    """The service created the session: events flow both ways."""
    CLOSED = "closed"
    """Ended: by the caller, a fatal error, or a lost connection."""


@dataclass(frozen=True, slots=True)
class Play:
    """Hand this reply audio to the audio callback (it names its item), before delivering the event."""

    audio: AudioContent


@dataclass(frozen=True, slots=True)
class Deliver:
    """Put this event on the `receive()` stream."""

    event: RealtimeEvent


@dataclass(frozen=True, slots=True)
class Send:
    """Send this client event to the service."""

    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StreamAudio:
    """Send this microphone audio over the transport's media path (WebRTC's RTP track)."""

    pcm: np.ndarray


@dataclass(frozen=True, slots=True)
class RunTool:
    """Run this function call; report its result with `tool_finished`."""

    call: FunctionCallContent


@dataclass(frozen=True, slots=True)
class AskApproval:
    """Ask whether the service may call a hosted MCP server's tool; report the answer with `approval_answered`."""

    request: McpApprovalContent


@dataclass(frozen=True, slots=True)
class Completed:
    """A response completed: the session works (a later drop gets all its reconnect tries again)."""

    response_id: str


@dataclass(frozen=True, slots=True)
class Ready:
    """The service created the session (`expires_at` in Unix seconds, when it says)."""

    session_id: str | None
    expires_at: float | None


Action = Play | Deliver | Send | StreamAudio | RunTool | AskApproval | Ready | Completed


@dataclass(slots=True)
class _ResponseCalls:
    """The tool calls one response asked for, and whether the response is done (and how)."""

    outstanding: set[str] = field(default_factory=set)
    done: bool = False
    completed: bool = False


class RealtimeProtocolSession:
    """One OpenAI Realtime session's rules (GA names; the parser maps beta names to them).

    `media_audio` is true where microphone audio and the reply's playback travel as media
    (WebRTC): audio is streamed rather than appended, and an interruption clears the service's
    output buffer instead of truncating (the service truncates what it played itself).
    """

    def __init__(self, *, auto_invoke_tools: bool = True, media_audio: bool = False, continuity: bool = False) -> None:
        self.auto_invoke_tools = auto_invoke_tools
        self.media_audio = media_audio
        self.continuity = continuity
        self.state = SessionState.CONNECTING
        self.session_id: str | None = None
        self.last_fatal_error: str | None = None
        """The message of the last fatal `error` event (what a close that follows it is about)."""
        self.rolling_over = False
        """The caller is replacing this session before it expires: its `session_expired` is not news."""
        self._function_names: dict[str, str] = {}  # function-call item id → function name
        self._calls: dict[str, _ResponseCalls] = {}  # response id → its tool calls
        self._replayed_items: set[str] = set()
        self._mcp_lists: dict[str, McpToolsContent] = {}  # mcp_list_tools item id → its server and tools
        self._mcp_done: set[str] = set()  # those items the service finished
        self._mcp_failed: dict[str, bool] = {}  # item id → whether listing failed, once the service said

    # --- what arrived -----------------------------------------------------------------------

    def received(self, event: RealtimeEvent) -> list[Action]:
        """The actions one event from the service (or the transport's media path) calls for."""
        if isinstance(event, RealtimeAudioEvent):
            return [Play(event.audio), Deliver(event)]
        if self._is_replay_echo(event):
            return []
        self._name_function_call(event)
        listed = self._mcp_list(event)
        if isinstance(event, RealtimeErrorEvent) and event.error.code == "session_expired" and self.continuity:
            if self.rolling_over:
                return []  # the old session expiring while the caller replaces it
            event.error.fatal = False  # the caller rolls over to a new session
        actions: list[Action] = [Deliver(event)]
        if listed is not None:
            actions.append(Deliver(listed))
        if event.service_type == ListenEvents.SESSION_CREATED and event.service_event:
            actions.append(self._created(event.service_event))
        elif isinstance(event, RealtimeErrorEvent) and event.error.fatal:
            self.last_fatal_error = event.error.message
        elif isinstance(event, RealtimeFunctionCallEvent) and self.auto_invoke_tools:
            call = event.function_call
            self._calls.setdefault(call.response_id or "", _ResponseCalls()).outstanding.add(call.call_id)
            actions.append(RunTool(call))
        elif isinstance(event, RealtimeMcpApprovalEvent) and self.auto_invoke_tools and event.approval.approved is None:
            request = event.approval
            self._calls.setdefault(request.response_id or "", _ResponseCalls()).outstanding.add(
                request.approval_request_id
            )
            actions.append(AskApproval(request))
        elif event.service_type == ListenEvents.RESPONSE_DONE and event.service_event:
            actions.extend(self._response_done(event.service_event))
        return actions

    def tool_finished(self, result: FunctionResultContent) -> list[Action]:
        """A tool returned (or failed: `result` holds the error text for the model)."""
        actions: list[Action] = [
            Deliver(RealtimeFunctionResultEvent(service_type="function_result", function_result=result)),
            Send(protocol.function_output_item(result.call_id, result.result)),
        ]
        for response_id, calls in list(self._calls.items()):
            if result.call_id in calls.outstanding:
                calls.outstanding.discard(result.call_id)
                actions.extend(self._answer_when_all_done(response_id, calls))
                break
        return actions

    def approval_answered(self, request: McpApprovalContent, approved: bool) -> list[Action]:
        """The user's answer to a hosted MCP server's approval request: the service gets it as an
        `mcp_approval_response` item, and one `response.create` once the response's calls are all answered."""
        answered = replace(request, approved=approved)
        actions: list[Action] = [
            Deliver(RealtimeMcpApprovalEvent(service_type="mcp_approval_response", approval=answered)),
            Send(protocol.mcp_approval_item(request.approval_request_id, approved)),
        ]
        calls = self._calls.get(request.response_id or "")
        if calls is not None and request.approval_request_id in calls.outstanding:
            calls.outstanding.discard(request.approval_request_id)
            actions.extend(self._answer_when_all_done(request.response_id or "", calls))
        return actions

    @property
    def tools_running(self) -> bool:
        """Some response's tool calls have not all reported back."""
        return any(calls.outstanding for calls in self._calls.values())

    def replaying(self, item_ids: set[str]) -> None:
        """Items the caller replays into a new session: their echoes are not news to the listener."""
        self._replayed_items = set(item_ids)

    def reopening(self) -> None:
        """The caller replaces the connection (reconnect, rollover): a new session is on its way,
        and the old one's tool calls answer nothing there."""
        self.state = SessionState.CONNECTING
        self._calls.clear()

    def closed(self) -> None:
        self.state = SessionState.CLOSED

    # --- what the caller wants ----------------------------------------------------------------

    def send_audio(self, pcm: np.ndarray) -> list[Action]:
        """Microphone audio: streamed as media (WebRTC) or appended to the input buffer."""
        if self.media_audio:
            return [StreamAudio(pcm)]
        return [Send(protocol.append_audio(pcm))]

    def clear_turn(self) -> list[Action]:
        """Drop the audio sent since the last commit."""
        return [Send(protocol.simple_event(SendEvents.INPUT_AUDIO_BUFFER_CLEAR))]

    def commit_turn(self) -> list[Action]:
        """The user finished a push-to-talk turn: commit what was sent and ask for the answer."""
        return [
            Send(protocol.simple_event(SendEvents.INPUT_AUDIO_BUFFER_COMMIT)),
            Send(protocol.simple_event(SendEvents.RESPONSE_CREATE)),
        ]

    def interrupt(self, heard: list[tuple[str, int]], *, cancel: bool) -> list[Action]:
        """The listener interrupted the reply: `heard` holds (item id, `audio_end_ms`) for each
        reply item to cut at what was heard; `cancel` stops the response in flight (a key press;
        the service's own VAD cancels by itself). Over media the service played the audio, so it
        gets `output_audio_buffer.clear` and truncates by itself."""
        actions: list[Action] = []
        if cancel:
            actions.append(Send(protocol.simple_event(SendEvents.RESPONSE_CANCEL)))
        if self.media_audio:
            actions.append(Send(protocol.simple_event(SendEvents.OUTPUT_AUDIO_BUFFER_CLEAR)))
            return actions
        actions.extend(Send(protocol.truncate_item(item_id, end_ms)) for item_id, end_ms in heard)
        return actions

    # --- the rules ----------------------------------------------------------------------------

    def _created(self, payload: dict[str, Any]) -> Ready:
        raw = payload.get("session")
        session: dict[str, Any] = raw if isinstance(raw, dict) else {}
        self.state = SessionState.OPEN
        self.session_id = session.get("id") if isinstance(session.get("id"), str) else None
        expires_at = session.get("expires_at")
        expiry = float(expires_at) if isinstance(expires_at, int | float) and expires_at > 0 else None
        return Ready(self.session_id, expiry)

    def _response_done(self, payload: dict[str, Any]) -> list[Action]:
        raw = payload.get("response")
        response: dict[str, Any] = raw if isinstance(raw, dict) else {}
        response_id = str(response.get("id") or "")
        completed = response.get("status") == "completed"
        actions: list[Action] = [Completed(response_id)] if completed else []
        calls = self._calls.get(response_id)
        if calls is None:
            return actions
        calls.done = True
        calls.completed = completed
        return actions + self._answer_when_all_done(response_id, calls)

    def _answer_when_all_done(self, response_id: str, calls: _ResponseCalls) -> list[Action]:
        """One `response.create` once a completed response's calls all have their outputs; none
        for a response that was cancelled or cut short (the user moved on)."""
        if not calls.done or calls.outstanding:
            return []
        del self._calls[response_id]
        if not calls.completed:
            return []
        return [Send(protocol.simple_event(SendEvents.RESPONSE_CREATE))]

    def _name_function_call(self, event: RealtimeEvent) -> None:
        """Beta-shaped `response.function_call_arguments.done` events carry no `name`: take it from
        the `response.output_item.added` that opened the call's item."""
        if isinstance(event, RealtimeFunctionCallEvent):
            name = self._function_names.pop(event.function_call.item_id or "", "")
            event.function_call.name = event.function_call.name or name
        elif event.service_type == ListenEvents.RESPONSE_OUTPUT_ITEM_ADDED and event.service_event:
            item = event.service_event.get("item") or {}
            if item.get("type") == "function_call" and item.get("id"):
                self._function_names[item["id"]] = str(item.get("name") or "")

    def _mcp_list(self, event: RealtimeEvent) -> RealtimeMcpToolsEvent | None:
        """A hosted server's tool list, once its item is done and the service said whether the listing
        worked (`mcp_list_tools.completed` / `.failed` name only the item), whichever came last."""
        payload = event.service_event or {}
        item = payload.get("item") or {}
        if event.service_type in _ITEM_EVENTS and item.get("type") == "mcp_list_tools" and item.get("id"):
            item_id = str(item["id"])
            names = [str(tool.get("name")) for tool in item.get("tools") or () if isinstance(tool, dict)]
            self._mcp_lists[item_id] = McpToolsContent(str(item.get("server_label") or ""), names, item_id)
            if event.service_type == ListenEvents.CONVERSATION_ITEM_DONE:
                self._mcp_done.add(item_id)
        elif event.service_type in (ListenEvents.MCP_LIST_TOOLS_COMPLETED, ListenEvents.MCP_LIST_TOOLS_FAILED):
            item_id = str(payload.get("item_id") or "")
            self._mcp_failed[item_id] = event.service_type == ListenEvents.MCP_LIST_TOOLS_FAILED
        else:
            return None
        if item_id not in self._mcp_done or item_id not in self._mcp_failed or item_id not in self._mcp_lists:
            return None
        self._mcp_done.discard(item_id)
        content = self._mcp_lists.pop(item_id)
        content.failed = self._mcp_failed.pop(item_id)
        return RealtimeMcpToolsEvent(
            service_type=f"mcp_list_tools.{'failed' if content.failed else 'completed'}", mcp_tools=content
        )

    def _is_replay_echo(self, event: RealtimeEvent) -> bool:
        if not self._replayed_items or event.service_type not in _ITEM_EVENTS:
            return False
        return ((event.service_event or {}).get("item") or {}).get("id") in self._replayed_items


_ITEM_EVENTS = frozenset(
    {ListenEvents.CONVERSATION_ITEM_ADDED, ListenEvents.CONVERSATION_ITEM_DONE, ListenEvents.CONVERSATION_ITEM_CREATED}
)
