"""GPT-Live's turn rules as a sans-I/O object, with the same actions and intents as the Realtime one.

The model decides when to speak and when to stop; a client cannot create, cancel or truncate a
response. So, where `RealtimeProtocolSession` sends events, this one mostly does not:
- `interrupt` sends nothing: the caller stops its own playback, and the next stretch of the
  model's speech gets a new name so late audio of the old one is told apart;
- the microphone keeps streaming (the session clock runs only on its frames): while muted, it
  streams silence rather than nothing;
- push-to-talk starts muted; the key pressed unmutes (`clear_turn`), released mutes (`commit_turn`);
- a client delegation (`session.delegation.created`) becomes a `RunTool` of the `DELEGATE_TOOL`
  call, with the conversation so far as its arguments; the caller's delegate runs its own tools
  and its result goes back as commentary for that delegation, which the model speaks;
- a hosted delegation (`responses`) runs nothing here, but is shown like a tool call: the delegation
  as a `HOSTED_TOOL` call, each tool call in the Responses stream it relays (`response.event`) as a
  call and its result, and the backend's answer as the delegation's result.
The user starting to speak while the model's reply plays (the first fragment of their transcript
after model audio) is delivered as `input_audio_buffer.speech_started`, so a caller's one
barge-in policy serves both protocols.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np

from voicecli.realtime.events import (
    FunctionCallContent,
    FunctionResultContent,
    RealtimeAudioEvent,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
)
from voicecli.realtime.live_protocol import LiveEvents, append_audio, context_append, simple, typed_text
from voicecli.realtime.protocol import ListenEvents
from voicecli.realtime.protocol_session import (
    Action,
    Deliver,
    Play,
    Ready,
    RunTool,
    Send,
    SessionState,
    StreamAudio,
)

__all__ = ["DELEGATE_TOOL", "HOSTED_TOOL", "LiveProtocolSession"]

DELEGATE_TOOL = "delegate"
"""The name of the `RunTool` call a client delegation becomes; its arguments hold the transcript."""
HOSTED_TOOL = "responses"
"""The name a hosted (Responses) delegation is shown under, as a tool call."""
_FINISHED = ("response.completed", "response.failed", "response.incomplete")
_SESSION_TAGS = itertools.count(1)
"""Each session's item ids carry a tag of their own: GPT-Live names no items, and the ids a session
makes up must not repeat after a reconnect or rollover (a reply cut off before it would silence
the next one of the same id)."""


class LiveProtocolSession:
    """One GPT-Live session's rules. `media_audio` is true over WebRTC (audio as media)."""

    def __init__(self, *, auto_invoke_tools: bool = True, media_audio: bool = False, continuity: bool = False) -> None:
        self.auto_invoke_tools = auto_invoke_tools
        self.media_audio = media_audio
        self.continuity = continuity
        self.state = SessionState.CONNECTING
        self.session_id: str | None = None
        self.last_fatal_error: str | None = None
        self.rolling_over = False
        self.muted = False
        self.transcript: list[tuple[str, str]] = []
        """(role, words) in the order the protocol streamed them; fragments of one speaker joined."""
        self._delegations: set[str] = set()
        self._hosted: dict[str, str] = {}  # hosted delegations in flight → the backend's answer so far
        self._tag = f"live_s{next(_SESSION_TAGS)}"
        self._stretch = 0
        self._user_turns = 0
        self._model_audible = False  # model audio arrived since the user last spoke

    # --- what arrived -----------------------------------------------------------------------

    def received(self, event: RealtimeEvent) -> list[Action]:
        if isinstance(event, RealtimeAudioEvent):
            event.audio.item_id = f"{self._tag}_{self._stretch}"
            self._model_audible = True
            return [Play(event.audio), Deliver(event)]
        actions: list[Action] = []
        payload = event.service_event or {}
        if isinstance(event, RealtimeTextEvent):
            user = event.text.source == "user_transcript"
            new_turn = user and (not self.transcript or self.transcript[-1][0] != "user")
            if new_turn:
                self._user_turns += 1
            turn = f"{self._tag}_user_{self._user_turns}"
            if user and self._model_audible:
                actions.append(Deliver(_speech_started(turn)))  # the user talks over the reply
            if new_turn:
                self._stretch += 1  # the model's next words are a new reply
            # a reply's words and audio name the same item; a user's fragments and speech start name their turn
            event.text.item_id = turn if user else f"{self._tag}_{self._stretch}"
            self._note("user" if user else "assistant", event.text.text)
        actions.append(Deliver(event))
        if event.service_type == LiveEvents.SESSION_STARTED:
            actions.append(self._started(payload))
        elif event.service_type == LiveEvents.SESSION_CLOSED:
            self.state = SessionState.CLOSED
        elif isinstance(event, RealtimeErrorEvent) and event.error.fatal:
            self.last_fatal_error = event.error.message
        elif event.service_type == LiveEvents.DELEGATION_CREATED:
            actions.extend(self._delegated(payload))
        elif event.service_type == LiveEvents.RESPONSE_EVENT:
            actions.extend(self._hosted_work(payload))
        return actions

    def tool_finished(self, result: FunctionResultContent) -> list[Action]:
        """The delegate finished (or failed: `result` holds the error text): commentary for the model.
        (The delegate reports the tools it ran itself, as function call and result events.)"""
        if result.call_id not in self._delegations:
            return []
        self._delegations.discard(result.call_id)
        return [Send(context_append(LiveEvents.COMMENTARY_APPEND, result.result, result.call_id))]

    @property
    def tools_running(self) -> bool:
        """A delegation is being worked on, by our delegate or a hosted backend."""
        return bool(self._delegations or self._hosted)

    def replaying(self, item_ids: set[str]) -> None:
        """GPT-Live has no items to replay; kept so a client's session switch can call it."""

    def reopening(self) -> None:
        self.state = SessionState.CONNECTING
        self._delegations.clear()
        self._hosted.clear()

    def closed(self) -> None:
        self.state = SessionState.CLOSED

    # --- what the caller wants ----------------------------------------------------------------

    def send_audio(self, pcm: np.ndarray) -> list[Action]:
        """Microphone audio; silence of the same length while muted (the clock must keep running)."""
        if self.muted:
            pcm = np.zeros_like(pcm)
        if self.media_audio:
            return [StreamAudio(pcm)]
        return [Send(append_audio(pcm))]

    def type_text(self, text: str) -> list[Action]:
        """Words the user typed: instructions saying so (GPT-Live takes no user text), and part of
        the conversation a delegate reads."""
        self._note("user", text)
        return [Send(typed_text(text))]

    def mute(self, muted: bool) -> list[Action]:
        """Mute or unmute the microphone for the model (the service then hears silence)."""
        if muted == self.muted:
            return []
        self.muted = muted
        return [Send(simple(LiveEvents.INPUT_AUDIO_MUTE if muted else LiveEvents.INPUT_AUDIO_UNMUTE))]

    def clear_turn(self) -> list[Action]:
        """Push-to-talk: the key pressed (muted, as push-to-talk sessions start) lets the model hear the
        microphone; pressed again too soon to count as a turn, it mutes it again (the model heard
        that moment anyway: GPT-Live cannot take audio back)."""
        return self.mute(not self.muted)

    def commit_turn(self) -> list[Action]:
        """Push-to-talk released: the model hears silence again (and decides to answer by itself)."""
        return self.mute(True)

    def interrupt(self, heard: list[tuple[str, int]], *, cancel: bool) -> list[Action]:
        """The listener cut the reply off. Nothing is sent (the protocol has no cancel or truncate):
        the caller stops its playback, and later audio counts as a new stretch of speech."""
        self._stretch += 1
        self._model_audible = False
        return []

    # --- the rules ----------------------------------------------------------------------------

    def _started(self, payload: dict[str, Any]) -> Ready:
        session: dict[str, Any] = payload["session"] if isinstance(payload.get("session"), dict) else {}
        self.state = SessionState.OPEN
        self.session_id = session.get("id") if isinstance(session.get("id"), str) else None
        expires_at = session.get("expires_at")
        expiry = float(expires_at) if isinstance(expires_at, int | float) and expires_at > 0 else None
        return Ready(self.session_id, expiry)

    def _delegated(self, payload: dict[str, Any]) -> list[Action]:
        delegation: dict[str, Any] = payload["delegation"] if isinstance(payload.get("delegation"), dict) else {}
        delegation_id = delegation.get("id")
        if delegation.get("target") == "responses" and isinstance(delegation_id, str):
            self._hosted[delegation_id] = ""
            return [_shown_call(HOSTED_TOOL, "{}", delegation_id)]
        if delegation.get("target") != "client" or not isinstance(delegation_id, str) or not self.auto_invoke_tools:
            return []
        self._delegations.add(delegation_id)
        arguments = json.dumps({"transcript": [list(turn) for turn in self.transcript]})
        return [RunTool(FunctionCallContent(name=DELEGATE_TOOL, arguments=arguments, call_id=delegation_id))]

    def _hosted_work(self, payload: dict[str, Any]) -> list[Action]:
        """One event of a hosted backend's Responses stream: its tool calls and its end, shown."""
        delegation_id, nested = payload.get("delegation_id"), payload.get("event")
        if not isinstance(delegation_id, str) or delegation_id not in self._hosted or not isinstance(nested, dict):
            return []
        kind, item = nested.get("type"), nested.get("item")
        if kind == "response.output_item.done" and isinstance(item, dict) and str(item.get("type")).endswith("_call"):
            name = str(item.get("name") or str(item["type"]).removesuffix("_call"))
            call_id = str(item.get("call_id") or item.get("id") or delegation_id)
            arguments = item["arguments"] if isinstance(item.get("arguments"), str) else "{}"
            return [
                _shown_call(name, arguments, call_id),
                _shown_result(name, call_id, str(item.get("status") or "done")),
            ]
        if kind == "response.output_text.done" and isinstance(nested.get("text"), str):
            self._hosted[delegation_id] += nested["text"]
        elif kind in _FINISHED:
            answer = self._hosted.pop(delegation_id) or str(kind).removeprefix("response.")
            return [_shown_result(HOSTED_TOOL, delegation_id, answer, is_error=kind == "response.failed")]
        return []

    def _note(self, role: str, words: str) -> None:
        if self.transcript and self.transcript[-1][0] == role:
            self.transcript[-1] = (role, self.transcript[-1][1] + words)
        else:
            self.transcript.append((role, words))
        if role == "user":
            self._model_audible = False


def _speech_started(turn: str) -> RealtimeEvent:
    kind = ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STARTED
    payload = {"type": kind.value, "item_id": turn, "source": "live_input_transcript"}
    return RealtimeEvent(service_type=kind, service_event=payload)


def _shown_call(name: str, arguments: str, call_id: str) -> Deliver:
    call = FunctionCallContent(name=name, arguments=arguments, call_id=call_id)
    return Deliver(RealtimeFunctionCallEvent(service_type="hosted.function_call", function_call=call))


def _shown_result(name: str, call_id: str, result: str, *, is_error: bool = False) -> Deliver:
    outcome = FunctionResultContent(name=name, call_id=call_id, result=result, is_error=is_error)
    return Deliver(RealtimeFunctionResultEvent(service_type="hosted.function_result", function_result=outcome))
