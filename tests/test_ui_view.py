"""The live screen's state and rendering: every state, tools, errors, latency, cropping, no markup injection.

The view renders a `ConversationState` (the entries it builds, the status it decides); `Driven` feeds
the two as `talk` does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from rich.console import Console

from voicecli.audio.echo import EchoStatus
from voicecli.config import AppConfig
from voicecli.conversation.state import ConversationState
from voicecli.realtime.events import (
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
from voicecli.records.latency import LatencyTracker
from voicecli.ui.view import ConversationView, SessionInfo, State

INFO = SessionInfo(provider="openai", transport="websocket", model="gpt-realtime", voice="marin")


class Driven:
    """A view fed as the conversation feeds it: each event to the state, then the view, then the state's status."""

    def __init__(self, info: SessionInfo = INFO, tracker: LatencyTracker | None = None) -> None:
        self.conversation = ConversationState(tracker)
        self.view = ConversationView(info, self.conversation)

    def handle(self, event: RealtimeEvent) -> None:
        self.conversation.handle(event)
        self.view.handle(event)
        self.view.set_state(self.conversation.status)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.view, name)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def service(event_type: str, **fields: Any) -> RealtimeEvent:
    return RealtimeEvent(service_type=event_type, service_event={"type": event_type, **fields})


def audio(item_id: str = "a1") -> RealtimeAudioEvent:
    return RealtimeAudioEvent(audio=AudioContent(data=np.zeros(2400, dtype=np.int16), item_id=item_id))


def assistant(text: str, item_id: str = "a1") -> RealtimeTextEvent:
    return RealtimeTextEvent(text=TextContent(text=text, item_id=item_id))


def user(text: str, item_id: str = "u1") -> RealtimeTextEvent:
    return RealtimeTextEvent(text=TextContent(text=text, source="user_transcript", item_id=item_id, final=True))


def screen(view: Driven | ConversationView, height: int = 25) -> str:
    console = Console(record=True, width=100, height=height, color_system=None)
    console.print(view.render())
    return console.export_text()


def feed(view: Driven, *events: RealtimeEvent) -> None:
    for event in events:
        view.handle(event)


def status(text: str) -> str:
    return text.rstrip("\n").splitlines()[-1]


def test_starts_connecting_then_listening_with_session_facts() -> None:
    view = Driven()
    assert "connecting" in status(screen(view))
    view.handle(service("session.created", session={}))
    line = status(screen(view))
    assert "● listening" in line
    assert "openai · websocket · gpt-realtime · voice marin" in line


@pytest.mark.parametrize(
    ("state", "label"),
    [
        ("listening", "● listening"),
        ("user_speaking", "● you are speaking"),
        ("thinking", "● thinking…"),
        ("speaking", "● speaking"),
        ("tool_running", "● running a tool"),
    ],
)
def test_every_state_has_its_label(state: State, label: str) -> None:
    view = Driven()
    view.set_state(state)
    assert label in status(screen(view))


def test_events_drive_the_state_through_a_turn() -> None:
    view = Driven()
    states = []
    for event in [
        service("session.updated", session={}),
        service("input_audio_buffer.speech_started", item_id="u1"),
        service("input_audio_buffer.speech_stopped", item_id="u1"),
        service("response.created", response={"id": "r1"}),
        audio(),
        service("response.done", response={"id": "r1", "status": "completed"}),
    ]:
        view.handle(event)
        states.append(view.state)
    assert states == ["listening", "user_speaking", "thinking", "thinking", "speaking", "speaking"]
    view.set_state("listening")  # the player reports that everything was played
    assert view.state == "listening"


def test_a_text_only_response_returns_to_listening_when_done() -> None:
    view = Driven()
    feed(view, service("response.created", response={}), assistant("Hi"), service("response.done", response={}))
    assert view.state == "listening"


def test_the_users_speech_outranks_late_model_events() -> None:
    view = Driven()
    feed(view, service("input_audio_buffer.speech_started", item_id="u2"), audio(), assistant("late"))
    assert view.state == "user_speaking"


def test_microphone_meter_scales_with_level() -> None:
    view = Driven()
    assert "mic ░░░░░░░░░░░░" in status(screen(view))
    view.set_level(-30.0)
    assert "mic ██████░░░░░░  -30 dB" in status(screen(view))
    view.set_level(0.0)
    assert "mic ████████████    0 dB" in status(screen(view))
    view.set_level(-90.0)
    assert "mic ░░░░░░░░░░░░  -90 dB" in status(screen(view))


def test_mute_replaces_the_meter() -> None:
    view = Driven()
    view.set_level(-10.0)
    view.set_muted(True)
    line = status(screen(view))
    assert "MUTED" in line
    assert "█" not in line
    view.set_muted(False)
    assert "MUTED" not in status(screen(view))


def test_user_speech_is_placed_before_the_reply_even_when_transcribed_later() -> None:
    view = Driven()
    feed(
        view,
        service("input_audio_buffer.speech_started", item_id="u1"),
        service("input_audio_buffer.speech_stopped", item_id="u1"),
        service("input_audio_buffer.committed", item_id="u1"),
        assistant("Paris is sunny."),
        user("What's the weather in Paris?"),
    )
    lines = [line.strip() for line in screen(view).splitlines()]
    assert lines[0] == "You What's the weather in Paris?"
    assert lines[1].startswith("Assistant Paris is sunny.")


def test_user_turn_placeholders() -> None:
    view = Driven()
    view.handle(service("input_audio_buffer.speech_started", item_id="u1"))
    assert "You (speaking…)" in screen(view)
    view.handle(service("input_audio_buffer.speech_stopped", item_id="u1"))
    assert "You (speech)" in screen(view)
    view.handle(service("conversation.item.input_audio_transcription.delta", item_id="u1", delta="Hello the"))
    assert "You Hello the" in screen(view)
    view.handle(service("conversation.item.input_audio_transcription.failed", item_id="u2", error={}))
    assert "transcription failed" in screen(view)


def test_assistant_text_streams_with_a_cursor_and_final_transcript_wins() -> None:
    view = Driven()
    feed(view, service("response.created", response={}), audio(), assistant("Hel"), assistant("lo"))
    assert "Assistant Hello ▌" in screen(view)
    feed(
        view,
        service("response.output_audio_transcript.done", item_id="a1", transcript="Hello there."),
        service("response.done", response={"status": "completed"}),
    )
    text = screen(view)
    assert "Assistant Hello there." in text
    assert "▌" not in text


def test_audio_without_transcript_shows_a_placeholder() -> None:
    view = Driven()
    view.handle(audio())
    assert "Assistant (audio)" in screen(view)


def test_barge_in_marks_the_reply_interrupted() -> None:
    view = Driven()
    feed(view, audio("a1"), assistant("A long answer", "a1"), service("conversation.item.truncated", item_id="a1"))
    assert "A long answer  [interrupted]" in screen(view)


def test_tool_call_shows_arguments_then_result_and_duration() -> None:
    view = Driven()
    call = FunctionCallContent(name="get_weather", arguments='{"city":"Paris"}', call_id="c1")
    view.handle(RealtimeFunctionCallEvent(function_call=call))
    text = screen(view)
    assert 'tool get_weather {"city": "Paris"}' in text
    assert "↳ running…" in text
    assert view.state == "tool_running"
    result = FunctionResultContent(name="get_weather", call_id="c1", result="Sunny, 21 °C", duration_s=0.0123)
    view.handle(RealtimeFunctionResultEvent(function_result=result))
    assert "↳ Sunny, 21 °C  (12 ms)" in screen(view)
    assert view.state == "thinking"


def test_failed_tool_and_long_results_are_cut_to_one_line() -> None:
    view = Driven()
    view.handle(RealtimeFunctionCallEvent(function_call=FunctionCallContent("dump", "{}", "c1")))
    long = "word\n" * 200
    view.handle(
        RealtimeFunctionResultEvent(function_result=FunctionResultContent("dump", "c1", long, True, duration_s=1.5))
    )
    lines = screen(view).splitlines()
    assert "↳ failed after 1500 ms: word word" in lines[1]
    rule = next(number for number, line in enumerate(lines) if line.startswith("─"))
    assert rule <= 4  # cut to 160 characters, newlines folded: a few screen lines at most
    assert lines[rule - 1].rstrip().endswith("…")


def test_a_response_with_a_tool_call_does_not_return_to_listening() -> None:
    view = Driven()
    feed(
        view,
        service("response.created", response={}),
        RealtimeFunctionCallEvent(function_call=FunctionCallContent("t", "{}", "c1")),
        service("response.done", response={"status": "completed"}),
    )
    assert view.state == "tool_running"


def test_errors_appear_in_place_and_markup_is_not_interpreted() -> None:
    view = Driven()
    feed(view, assistant("Use [bold]x[/bold] literally"))
    view.handle(RealtimeErrorEvent(error=ErrorContent(message="Rate [red]limit[/red] reached", code="rate_limit")))
    view.handle(service("response.done", response={"status": "failed", "status_details": {"error": {"message": "x"}}}))
    text = screen(view)
    assert "Use [bold]x[/bold] literally" in text
    assert "error Rate [red]limit[/red] reached [rate_limit]" in text
    assert text.count("error ") == 2
    assert "● " in status(text)  # the status line is still the last line


def test_latency_is_shown_once_per_turn() -> None:
    clock = Clock()
    tracker = LatencyTracker(clock=clock)
    view = Driven(tracker=tracker)
    feed(view, service("input_audio_buffer.speech_stopped", item_id="u1"))
    clock.now += 0.25
    feed(
        view,
        RealtimeFunctionCallEvent(function_call=FunctionCallContent("t", "{}", "c1")),
        RealtimeFunctionResultEvent(function_result=FunctionResultContent("t", "c1", "ok", duration_s=0.04)),
        audio("a1"),
    )
    tracker.audible(clock.now + 0.1)
    feed(view, assistant("Done.", "a1"), assistant("Second item.", "a2"))
    text = screen(view)
    assert "first audio 250 ms · heard after 350 ms · tools 40 ms" in text
    assert text.count("first audio") == 1


def test_only_the_newest_lines_fit_and_the_status_line_stays() -> None:
    view = Driven()
    for number in range(40):
        view.handle(user(f"message number {number}", item_id=f"u{number}"))
    lines = screen(view, height=12).rstrip("\n").splitlines()
    assert len(lines) == 11
    assert "message number 39" in lines[-3]
    assert "message number 31" in lines[0]
    assert "connecting" in lines[-1]


def test_transcript_holds_the_whole_conversation() -> None:
    view = Driven()
    for number in range(40):
        view.handle(user(f"message number {number}", item_id=f"u{number}"))
    console = Console(record=True, width=100, color_system=None)
    console.print(view.render_transcript())
    text = console.export_text()
    assert "message number 0" in text
    assert "message number 39" in text
    assert "connecting" not in text


def test_session_info_from_config() -> None:
    config = AppConfig()
    assert SessionInfo.from_config(config) == SessionInfo("local", "websocket", "auto brain", "alloy")  # no client yet
    config.provider, config.azure.deployment = "azure", "my-rt"
    assert SessionInfo.from_config(config).model == "my-rt"
    config.provider = "openai"
    assert SessionInfo.from_config(config).model == "gpt-realtime"


def test_a_drop_shows_each_reconnect_try_then_reconnected_and_a_rollover_shows_nothing() -> None:
    view = Driven()
    view.handle(service("session.created"))
    view.handle(service("connection.reconnecting", attempt=2, attempts=6, reason="close code 1006"))
    assert "reconnecting (2/6)…" in screen(view)
    view.handle(service("connection.reconnected", cause="drop", replayed_items=3, asked_again=False))
    assert "● reconnected" in screen(view)
    view.handle(service("input_audio_buffer.speech_started", item_id="u1"))
    view.handle(service("connection.reconnected", cause="rollover", replayed_items=5, asked_again=False))
    assert view.state == "user_speaking"  # a rollover is meant to go unnoticed


def test_the_status_line_shows_the_echo_mode_and_a_weak_canceller_in_red() -> None:
    view = Driven(SessionInfo("local", "websocket", "echo brain", "alloy"))
    view.set_echo(EchoStatus("auto", "aec", 38.0))
    console = Console(record=True, width=120, color_system="truecolor")
    console.print(view.status_line())
    assert "echo auto: aec 38 dB" in console.export_text()
    view.set_echo(EchoStatus("aec", "aec", 4.0))
    console.print(view.status_line())
    assert "\x1b[1;31mecho aec 4 dB" in console.export_text(styles=True)  # bold red


def test_the_revision_moves_only_when_what_is_shown_changes() -> None:
    view = Driven()
    view.set_level(-50.0)
    view.set_echo(EchoStatus("aec", "aec", 38.2))
    view.set_state("listening")
    steady = view.revision
    view.set_level(-51.5)  # a noise floor wandering by a dB or two: the meter stays
    view.set_level(-float("inf"))
    view.set_level(-float("inf"))
    silent = view.revision
    assert silent == steady + 1  # silence is news once
    view.set_echo(EchoStatus("aec", "aec", 37.9))  # still "38 dB" on screen
    view.set_state("listening")
    view.set_muted(False)
    assert view.revision == silent
    view.set_level(-20.0)
    view.set_echo(EchoStatus("aec", "aec", 4.0))
    view.set_muted(True)
    view.handle(assistant("hello"))  # new words, and the status turns to speaking
    assert view.revision == silent + 5
