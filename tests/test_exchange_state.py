"""File mode's turn reads the one conversation state (no socket): the state marks a response a drop
cut off as `lost`, and the turn, on top of it, keeps the reply's audio with its assistant turn and
caps what one turn may collect."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from voicecli.commands.demo.results import Timeline
from voicecli.conversation import exchange as exchange_module
from voicecli.conversation.exchange import TurnCollector, TurnResult
from voicecli.conversation.state import ConversationState
from voicecli.realtime import (
    AudioContent,
    ErrorContent,
    FunctionCallContent,
    FunctionResultContent,
    RealtimeAudioEvent,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
    TextContent,
)
from voicecli.realtime.continuity import INTERRUPTED_REASON
from voicecli.ui.entries import AssistantTurn


def service(service_type: str, **payload: Any) -> RealtimeEvent:
    return RealtimeEvent(service_type=service_type, service_event={"type": service_type, **payload})


def words(text: str, item_id: str) -> RealtimeTextEvent:
    return RealtimeTextEvent(text=TextContent(text=text, item_id=item_id))


def sound(item_id: str, samples: int, value: int = 1) -> RealtimeAudioEvent:
    return RealtimeAudioEvent(audio=AudioContent(data=np.full(samples, value, np.int16), item_id=item_id))


def done(status: str = "completed", **extra: Any) -> RealtimeEvent:
    return service("response.done", response={"status": status, "output": [], **extra})


LOST = done("incomplete", status_details={"type": "incomplete", "reason": INTERRUPTED_REASON})


def run(turn: TurnCollector, *events: RealtimeEvent) -> list[bool]:
    return [turn.collect(event) for event in events]


def test_a_response_a_drop_cut_off_is_replaced_by_the_answer_asked_again() -> None:
    state = ConversationState()
    turn = TurnCollector(TurnResult(user_text="hi"), state)
    over = run(
        turn,
        service("response.created", response={"id": "r1"}),
        words("Half an ans", "item_a"),
        sound("item_a", 240, 1),
        LOST,
        service("connection.reconnected", cause="drop", asked_again=True),
        service("response.created", response={"id": "r2"}),
        words("The whole answer.", "item_b"),
        sound("item_b", 480, 2),
        done(),
    )
    assert over == [False] * 8 + [True]  # the cut-off response does not end the turn
    result = turn.finish()
    assert result.assistant_text == "The whole answer."
    assert result.audio.tolist() == [2] * 480 and result.received_audio.tolist() == [2] * 480
    assert [len(chunk) for chunk in result.cut_off_chunks] == [240]
    cut = [entry for entry in state.entries if isinstance(entry, AssistantTurn)]
    assert [(entry.text, entry.lost) for entry in cut] == [("Half an ans", True), ("The whole answer.", False)]


def test_when_no_new_session_comes_the_cut_off_reply_is_all_the_user_gets() -> None:
    turn = TurnCollector(TurnResult(), ConversationState())
    run(turn, service("response.created", response={"id": "r1"}), sound("item_a", 240, 3), LOST)
    turn.result.failed = "the session ended before the answer was complete"
    result = turn.finish()
    assert result.assistant_text == "" and len(result.audio) == 0
    assert result.received_audio.tolist() == [3] * 240


def test_a_response_cut_off_before_any_output_does_not_end_the_turn() -> None:
    turn = TurnCollector(TurnResult(), ConversationState())
    assert run(turn, service("response.created", response={"id": "r1"}), LOST) == [False, False]


def test_the_responses_of_a_turn_run_together_as_sentences_and_only_this_turn_counts() -> None:
    state = ConversationState()
    first = TurnCollector(TurnResult(), state)
    run(first, service("response.created", response={"id": "r0"}), words("Earlier.", "item_0"), done())
    assert first.finish().assistant_text == "Earlier."
    turn = TurnCollector(TurnResult(), state)  # the same conversation: the next turn reads only its own
    call = FunctionCallContent(name="weather", arguments="{}", call_id="call_1")
    over = run(
        turn,
        RealtimeTextEvent(text=TextContent(text="Weather in Paris?", item_id="user_1", source="user_transcript")),
        service("response.created", response={"id": "r1"}),
        words("Let me check.", "item_a"),
        RealtimeFunctionCallEvent(function_call=call),
        done(output=[{"type": "function_call"}]),
        service("response.created", response={"id": "r2"}),
        words("It is sunny.", "item_b"),
        done(),
    )
    assert over[-1] and not any(over[:-1])  # asking for a tool does not end the turn
    result = turn.finish()
    assert (result.user_text, result.assistant_text) == ("Weather in Paris?", "Let me check. It is sunny.")
    assert [tool.name for tool in result.tool_calls] == ["weather"]


def test_a_reply_that_streams_beyond_the_turns_audio_cap_ends_the_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exchange_module, "MAX_TURN_AUDIO_S", 0.02)  # 480 samples
    turn = TurnCollector(TurnResult(), ConversationState())
    assert run(turn, sound("item_a", 240), sound("item_a", 240), sound("item_a", 240)) == [False, False, True]
    assert turn.result.failed is not None and "beyond 0.02 s of audio" in turn.result.failed


def test_the_demo_timeline_reads_the_turns_entries_each_response_apart() -> None:
    state = ConversationState()
    turn = TurnCollector(TurnResult(), state)
    call = FunctionCallContent(name="weather", arguments="{}", call_id="call_1")
    run(
        turn,
        service("response.created", response={"id": "r1"}),
        words("Let me check.", "item_a"),
        RealtimeFunctionCallEvent(function_call=call),
        RealtimeFunctionResultEvent(
            function_result=FunctionResultContent(call_id="call_1", name="weather", result="sunny")
        ),
        done(output=[{"type": "function_call"}]),
        RealtimeErrorEvent(error=ErrorContent(message="rate limited", code="rate_limit")),
        service("response.created", response={"id": "r2"}),
        done("failed", status_details={"error": {"message": "the brain failed", "code": "server_error"}}),
    )
    timeline = Timeline(state.entries[turn.first_entry :])
    assert [(entry.kind, entry.text) for entry in timeline.entries] == [
        ("assistant", "Let me check."),
        ("tool_call", "weather({})"),
        ("tool_result", "weather returned: sunny"),
        ("error", "rate limited [rate_limit]"),  # the failed response is the turn's `failed`, not an entry
    ]
    assert timeline.reply == "Let me check."
