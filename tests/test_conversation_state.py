"""The one conversation state, fed events directly (no socket, no sound, a virtual clock): the status
it decides for the screen, the reply items it counts for barge-in, the latency it feeds."""

from __future__ import annotations

from typing import Any

import numpy as np

from voicecli.conversation.state import ConversationState
from voicecli.realtime import (
    AudioContent,
    FunctionCallContent,
    FunctionResultContent,
    RealtimeAudioEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
    TextContent,
)
from voicecli.records.latency import LatencyTracker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def service(event_type: str, **fields: Any) -> RealtimeEvent:
    return RealtimeEvent(service_type=event_type, service_event={"type": event_type, **fields})


def audio(item_id: str | None = "a1", samples: int = 2400) -> AudioContent:
    return AudioContent(data=np.zeros(samples, dtype=np.int16), item_id=item_id)


def fed(state: ConversationState, *events: RealtimeEvent) -> list[str]:
    statuses = []
    for event in events:
        state.handle(event)
        statuses.append(state.status)
    return statuses


def test_a_spoken_turn_goes_listening_speaking_and_back_once_the_player_ran_dry() -> None:
    state = ConversationState()
    assert state.status == "connecting"
    assert fed(
        state,
        service("session.updated", session={}),
        service("input_audio_buffer.speech_started", item_id="u1"),
        service("input_audio_buffer.speech_stopped", item_id="u1"),
        service("response.created", response={"id": "r1"}),
        RealtimeAudioEvent(audio=audio()),
        service("response.done", response={"id": "r1", "status": "completed"}),
    ) == ["listening", "user_speaking", "thinking", "thinking", "speaking", "speaking"]
    state.played_out()
    assert state.status == "speaking", "nothing was played: the events alone do not say it was heard"
    reply = state.reply_for(audio())
    assert reply is not None
    state.played(reply, 2400)
    state.played_out()
    assert state.status == "listening"


def test_the_player_running_dry_is_not_the_end_while_the_response_goes_on_or_the_user_speaks() -> None:
    state = ConversationState()
    fed(state, service("session.created", session={}), service("response.created", response={}))
    reply = state.reply_for(audio())
    assert reply is not None
    state.played(reply, 2400)
    state.handle(RealtimeAudioEvent(audio=audio()))
    state.played_out()  # a gap in the stream: more is on its way
    assert state.status == "speaking"
    fed(state, service("input_audio_buffer.speech_started"), service("response.done", response={}))
    state.played_out()
    assert state.status == "user_speaking"


def test_the_users_speech_outranks_late_model_events_and_a_text_reply_returns_to_listening() -> None:
    state = ConversationState()
    words = RealtimeTextEvent(text=TextContent(text="late", item_id="a1"))
    assert (
        fed(state, service("input_audio_buffer.speech_started"), RealtimeAudioEvent(audio=audio()), words)
        == ["user_speaking"] * 3
    )
    assert fed(
        state,
        service("input_audio_buffer.committed", item_id="u1"),
        service("response.created", response={}),
        words,
        service("response.done", response={}),
    ) == ["thinking", "thinking", "speaking", "listening"]


def test_tools_run_then_the_model_thinks_again() -> None:
    state = ConversationState()
    call = RealtimeFunctionCallEvent(function_call=FunctionCallContent("t", "{}", "c1"))
    other = RealtimeFunctionCallEvent(function_call=FunctionCallContent("t", "{}", "c2"))
    assert fed(
        state,
        service("response.created", response={}),
        call,
        other,
        service("response.done", response={"status": "completed"}),
        RealtimeFunctionResultEvent(function_result=FunctionResultContent("t", "c1", "ok")),
        RealtimeFunctionResultEvent(function_result=FunctionResultContent("t", "c2", "ok")),
    ) == ["thinking", "tool_running", "tool_running", "tool_running", "tool_running", "thinking"]


def test_push_to_talk_and_a_drop_in_the_middle_of_a_turn() -> None:
    state = ConversationState()
    fed(state, service("session.created", session={}))
    state.talk_pressed()
    assert (state.status, state.talking, state.user_speaking) == ("user_speaking", True, True)
    state.talk_ending()
    assert state.status == "thinking" and state.talking, "the microphone's last audio is still on its way"
    state.talk_released(answered=False, at=0.0)
    assert (state.status, state.talking) == ("listening", False)
    state.talk_pressed()
    fed(state, service("connection.reconnecting", attempt=1, attempts=5))
    assert (state.status, state.talking, state.user_speaking) == ("reconnecting", False, False)
    fed(state, service("connection.reconnected", cause="rollover"))
    assert state.status == "reconnecting", "a rollover is meant to go unnoticed"
    fed(state, service("connection.reconnected", cause="drop"))
    assert state.status == "reconnected"


def test_reply_items_are_counted_once_and_a_cut_off_item_takes_no_more_audio() -> None:
    state = ConversationState()
    fed(state, service("response.created", response={}))
    for item_id, samples in (("a1", 2400), ("a1", 2400), ("a2", 1200)):
        reply = state.reply_for(audio(item_id, samples))
        assert reply is not None
        state.played(reply, samples)
    state.handle(service("response.output_audio.done", item_id="a1"))
    assert [(r.key, r.received_ms, r.audio_done) for r in state.replies.values()] == [
        ("a1", 200.0, True),
        ("a2", 50.0, False),
    ]
    assert [reply.key for reply in state.cut_off()] == ["a1", "a2"]
    assert state.reply_for(audio("a2")) is None and not state.speaking
    assert state.cut_off() == []


def test_audio_without_an_item_is_kept_apart_per_response() -> None:
    state = ConversationState()
    fed(state, service("response.created", response={}))
    first = state.reply_for(audio(None))
    fed(state, service("response.created", response={}))
    second = state.reply_for(audio(None))
    assert first is not None and second is not None and first.key != second.key


def test_the_latency_of_a_turn_counts_from_the_last_word_to_the_first_audio_and_its_sound() -> None:
    clock = Clock()
    tracker = LatencyTracker(clock=clock)
    state = ConversationState(tracker)
    fed(state, service("input_audio_buffer.speech_stopped", item_id="u1"), service("response.created", response={}))
    clock.now += 0.4
    reply = state.reply_for(audio())
    assert reply is not None
    state.played(reply, 2400, audible_at=clock.now + 0.1)  # played before its event is delivered
    state.handle(RealtimeAudioEvent(audio=audio()))
    turn = tracker.current
    assert turn is not None
    assert round(turn.first_audio_ms or 0) == 400 and round(turn.first_audible_ms or 0) == 500


def test_a_push_to_talk_turn_waits_for_its_answer_from_the_second_press() -> None:
    tracker = LatencyTracker(clock=Clock())
    state = ConversationState(tracker)
    state.talk_pressed()
    state.talk_released(answered=False, at=101.0)
    assert tracker.current is None, "a turn too short to send is no turn"
    state.talk_pressed()
    state.talk_released(answered=True, at=103.5)
    assert tracker.current is not None and tracker.current.speech_end == 103.5
