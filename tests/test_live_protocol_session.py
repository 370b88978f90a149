"""GPT-Live's turn rules, fed events directly: no socket, no server, no clock."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from voicecli.config import AppConfig
from voicecli.realtime.events import FunctionResultContent, RealtimeTextEvent
from voicecli.realtime.live_protocol import choose_protocol, parse_live_message
from voicecli.realtime.live_session import DELEGATE_TOOL, LiveProtocolSession
from voicecli.realtime.protocol_session import Action, Deliver, Play, Ready, RunTool, Send, SessionState, StreamAudio
from voicecli.server.live.validation import validate_live_client_event

AUDIO = {"type": "session.output_audio.delta", "delta": "AAABAAIA"}  # three samples


def arrive(session: LiveProtocolSession, payload: dict[str, Any]) -> list[Action]:
    """What the session makes of one wire event, parsed as the transport parses it."""
    return session.received(parse_live_message(json.dumps(payload)))


def sends(actions: list[Action]) -> list[dict[str, Any]]:
    """The client events among `actions`, each checked against `openai.types.live.ClientEvent`."""
    payloads = [action.payload for action in actions if isinstance(action, Send)]
    for payload in payloads:
        validate_live_client_event(payload)
    return payloads


def transcript(kind: str, words: str) -> dict[str, Any]:
    return {"type": f"session.{kind}_transcript.delta", "event_id": "e", "delta": words, "start_ms": 0, "end_ms": 0}


def delegation(target: str = "client", delegation_id: str = "deleg_1") -> dict[str, Any]:
    return {
        "type": "session.delegation.created",
        "event_id": "e",
        "offset_ms": 1200,
        "delegation": {"id": delegation_id, "target": target, "type": "delegation"},
    }


def test_session_started_makes_the_session_ready_with_its_id_and_expiry() -> None:
    session = LiveProtocolSession()
    started = {
        "type": "session.started",
        "event_id": "e",
        "session": {"id": "sess_1", "expires_at": 1_900_000_000, "model": "gpt-live-1", "status": "active"},
    }
    actions = arrive(session, started)
    assert actions[-1] == Ready("sess_1", 1_900_000_000.0)
    assert session.state is SessionState.OPEN


def test_reply_audio_is_played_before_it_is_delivered_and_named_by_its_stretch() -> None:
    session = LiveProtocolSession()
    play, deliver = arrive(session, AUDIO)
    assert isinstance(play, Play) and isinstance(deliver, Deliver)
    assert play.audio.data.tolist() == [0, 1, 2]
    first = play.audio.item_id
    assert session.interrupt([(first or "", 40)], cancel=True) == []  # nothing the protocol forbids is sent
    (again, _) = arrive(session, AUDIO)
    assert isinstance(again, Play) and again.audio.item_id != first  # late audio of the old stretch is told apart


def test_a_new_session_after_a_reconnect_names_its_replies_apart_from_the_old_sessions() -> None:
    """A reply cut off before a drop stays marked as cut off; the next session's first reply must not
    share its id, or its audio would be dropped as the old reply's late audio."""
    before, after = LiveProtocolSession(), LiveProtocolSession()
    (old, _) = arrive(before, AUDIO)
    (new, _) = arrive(after, AUDIO)
    assert isinstance(old, Play) and isinstance(new, Play)
    assert old.audio.item_id != new.audio.item_id


def test_the_user_speaking_over_the_reply_is_a_speech_start_for_the_barge_in_policy() -> None:
    session = LiveProtocolSession()
    arrive(session, AUDIO)
    actions = arrive(session, transcript("input", "stop"))
    kinds = [action.event.service_type for action in actions if isinstance(action, Deliver)]
    assert kinds == ["input_audio_buffer.speech_started", "session.input_transcript.delta"]
    # the next fragment of the same turn is not a new interruption
    assert len(arrive(session, transcript("input", " please"))) == 1


def test_user_words_without_a_reply_playing_interrupt_nothing() -> None:
    actions = arrive(LiveProtocolSession(), transcript("input", "hello"))
    assert len(actions) == 1 and isinstance(actions[0].event, RealtimeTextEvent)  # type: ignore[union-attr]


def test_microphone_streams_silence_while_muted_and_mute_is_sent_once() -> None:
    session = LiveProtocolSession()
    loud = np.full(480, 9000, dtype=np.int16)
    assert [p["type"] for p in sends(session.mute(True))] == ["session.input_audio.mute"]
    assert session.mute(True) == []
    (append,) = sends(session.send_audio(loud))
    assert append["type"] == "session.input_audio.append"
    assert set(np.frombuffer(__import__("base64").b64decode(append["audio"]), "<i2")) == {0}
    assert [p["type"] for p in sends(session.mute(False))] == ["session.input_audio.unmute"]


def test_media_audio_is_streamed_not_appended() -> None:
    (action,) = LiveProtocolSession(media_audio=True).send_audio(np.ones(480, np.int16))
    assert isinstance(action, StreamAudio)


def test_push_to_talk_is_unmute_on_press_and_mute_on_release_or_on_a_press_too_short() -> None:
    session = LiveProtocolSession()
    session.mute(True)  # push-to-talk sessions start muted
    assert [p["type"] for p in sends(session.clear_turn())] == ["session.input_audio.unmute"]
    assert [p["type"] for p in sends(session.commit_turn())] == ["session.input_audio.mute"]
    sends(session.clear_turn())
    assert [p["type"] for p in sends(session.clear_turn())] == ["session.input_audio.mute"]  # released too soon
    assert session.commit_turn() == []


def test_client_delegation_runs_the_delegate_with_the_conversation_and_answers_with_commentary() -> None:
    session = LiveProtocolSession()
    sends(session.type_text("What is the weather?"))
    arrive(session, transcript("output", "Let me check."))
    actions = arrive(session, delegation())
    (run,) = [action for action in actions if isinstance(action, RunTool)]
    assert run.call.name == DELEGATE_TOOL and run.call.call_id == "deleg_1"
    assert json.loads(run.call.arguments)["transcript"] == [
        ["user", "What is the weather?"],
        ["assistant", "Let me check."],
    ]
    assert session.tools_running
    result = FunctionResultContent(name=DELEGATE_TOOL, call_id="deleg_1", result="sunny")
    (commentary,) = sends(session.tool_finished(result))
    assert commentary == {"type": "session.commentary.append", "content": "sunny", "delegation_id": "deleg_1"}
    assert not session.tools_running
    assert session.tool_finished(result) == []  # answered once


@pytest.mark.parametrize("target", ["responses", "decisions"])
def test_hosted_delegations_run_nothing_here(target: str) -> None:
    actions = arrive(LiveProtocolSession(), delegation(target))
    assert not any(isinstance(action, RunTool) for action in actions)


def test_without_auto_invoke_a_delegation_is_only_delivered() -> None:
    actions = arrive(LiveProtocolSession(auto_invoke_tools=False), delegation())
    assert [type(action) for action in actions] == [Deliver]


def test_a_bad_key_is_fatal_and_remembered() -> None:
    session = LiveProtocolSession()
    error = {"type": "error", "event_id": "e", "error": {"type": "x", "code": "invalid_api_key", "message": "bad"}}
    (deliver,) = arrive(session, error)
    assert deliver.event.error.fatal and session.last_fatal_error == "bad"  # type: ignore[union-attr]


def test_a_malformed_event_becomes_an_error_event_not_an_exception() -> None:
    event = parse_live_message(b'{"type": "session.output_audio.delta", "delta": 3}')
    assert event.service_type == "malformed"


@pytest.mark.parametrize(
    ("model", "setting", "expected"),
    [
        ("gpt-live-1", None, "live"),
        ("gpt-live-1.1", "auto", "live"),
        ("gpt-realtime", None, "realtime"),
        ("gpt-realtime", "live", "live"),
        ("gpt-live-1", "realtime", "realtime"),
        (None, None, "realtime"),
    ],
)
def test_protocol_is_chosen_by_model_name_or_by_the_setting(
    model: str | None, setting: str | None, expected: str
) -> None:
    assert choose_protocol(model, setting) == expected


@pytest.mark.parametrize(
    ("provider", "model", "protocol", "class_name"),
    [
        ("openai", "gpt-live-1", "auto", "OpenAILiveWebsocket"),
        ("openai", "gpt-live-1", "webrtc", "OpenAILiveWebRTC"),
        ("azure", "gpt-live-1", "webrtc", "AzureLiveWebRTC"),
        ("local", "", "webrtc", "LocalLiveWebRTC"),
        ("openai", "gpt-realtime", "auto", "OpenAIRealtimeWebsocket"),
        ("openai", "gpt-realtime", "live", "OpenAILiveWebsocket"),
        ("azure", "gpt-live-1", "auto", "AzureLiveWebsocket"),
        ("azure", "my-deployment", "live", "AzureLiveWebsocket"),
        ("local", "", "live", "LocalLive"),
        ("local", "", "auto", "LocalRealtime"),
    ],
)
def test_the_application_builds_the_client_of_the_chosen_protocol(
    provider: str, model: str, protocol: str, class_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voicecli.conversation.providers import _client_class

    transport = "webrtc" if protocol == "webrtc" else "websocket"
    protocol = "live" if protocol == "webrtc" else protocol  # those cases: GPT-Live over WebRTC
    config = AppConfig(provider=provider, protocol=protocol, transport=transport)  # type: ignore[arg-type]
    config.openai.model = model
    config.azure.deployment = model
    assert _client_class(config).__name__ == class_name


def test_the_carried_conversation_keeps_the_newest_turns_within_the_protocols_caps() -> None:
    from voicecli.realtime.live_protocol import MAX_INPUT_CHARS, MAX_INPUT_MESSAGES, carried_input

    many = [("user" if n % 2 else "assistant", f"turn {n}") for n in range(300)]
    carried = carried_input(many)
    assert len(carried) == MAX_INPUT_MESSAGES
    assert carried[-2]["content"][0]["text"] == "turn 299" and carried[-1]["role"] == "developer"
    long = [("user", "a" * (MAX_INPUT_CHARS // 2))] * 3 + [("assistant", "  "), ("user", "last")]
    kept = [item["content"][0]["text"] for item in carried_input(long)]
    assert kept[0] == "a" * (MAX_INPUT_CHARS // 2) and kept[1] == "last" and len(kept) == 3  # oldest left out
    validate_live_client_event({"type": "session.start", "session": {"model": "gpt-live-1", "input": carried}})


def test_the_screen_shows_each_gpt_live_reply_apart_and_leaves_connecting_when_the_session_starts() -> None:
    from voicecli.conversation.state import ConversationState
    from voicecli.ui.view import ConversationView, SessionInfo

    conversation = ConversationState()
    view = ConversationView(
        SessionInfo(provider="openai", transport="websocket", model="gpt-live-1", voice="marin"), conversation
    )
    session = LiveProtocolSession()
    started = {"type": "session.started", "event_id": "e", "session": {"id": "s", "expires_at": 1, "model": "m"}}
    script = [started, transcript("output", "Hello."), AUDIO, transcript("input", "Hi"), transcript("output", "Yes?")]
    for payload in script:
        for action in arrive(session, payload):
            if isinstance(action, Deliver):
                conversation.handle(action.event)
                view.handle(action.event)
        if payload is started:
            assert conversation.status == "listening"
    texts = [getattr(entry, "text", None) for entry in view.entries]
    assert texts == ["Hello.", "Hi", "Yes?"]  # two replies, the user between them


def test_hosted_work_is_shown_like_tool_calls_and_counts_as_running_until_the_backend_finishes() -> None:
    from voicecli.realtime import RealtimeFunctionCallEvent, RealtimeFunctionResultEvent
    from voicecli.server.live.validation import validate_live_server_event

    session = LiveProtocolSession()

    def relayed(event: dict[str, Any]) -> list[Any]:
        payload = {"type": "response.event", "event_id": "e", "delegation_id": "deleg_1", "event": event}
        validate_live_server_event(payload)
        return [a.event for a in arrive(session, payload) if isinstance(a, Deliver)][1:]  # after the raw event

    shown = [a.event for a in arrive(session, delegation("responses")) if isinstance(a, Deliver)][1:]
    assert [(e.function_call.name, e.function_call.call_id) for e in shown] == [("responses", "deleg_1")]
    assert session.tools_running
    item = {"type": "web_search_call", "id": "ws_1", "status": "completed"}
    shown = relayed({"type": "response.output_item.done", "output_index": 0, "item": item})
    assert isinstance(shown[0], RealtimeFunctionCallEvent) and shown[0].function_call.name == "web_search"
    assert isinstance(shown[1], RealtimeFunctionResultEvent) and shown[1].function_result.result == "completed"
    assert relayed({"type": "response.output_text.done", "text": "It is sunny."}) == []
    (done,) = relayed({"type": "response.completed", "response": {"id": "resp_1"}})
    assert (done.function_result.name, done.function_result.result) == ("responses", "It is sunny.")
    assert not session.tools_running
