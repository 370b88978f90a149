"""Settings payloads and client-event builders validate against the openai types; parsing is robust."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from support.conformance import assert_valid_client_event

from voicecli.realtime import (
    AzureRealtimeExecutionSettings,
    AzureRealtimeWebsocket,
    ListenEvents,
    RealtimeAudioEvent,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeSettings,
    RealtimeTextEvent,
    SendEvents,
    TurnDetection,
    protocol,
)
from voicecli.realtime.preview_shape import to_preview
from voicecli.server.preview_route import to_ga_client_event

SETTINGS_VARIANTS = pytest.mark.parametrize(
    "settings",
    [
        RealtimeSettings(),
        AzureRealtimeExecutionSettings(voice="alloy"),
        RealtimeSettings(
            instructions="be brief",
            voice="shimmer",
            output_modalities=["text"],
            turn_detection=TurnDetection(threshold=0.4, prefix_padding_ms=200, silence_duration_ms=400),
            input_transcription_model="gpt-4o-transcribe",
            input_transcription_language="it",
            noise_reduction="near_field",
            speed=1.1,
            tool_choice="auto",
            max_output_tokens=512,
            tools=[{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}}],
        ),
        RealtimeSettings(turn_detection=TurnDetection(type="semantic_vad", eagerness="high")),
        RealtimeSettings(push_to_talk=True),
    ],
)


@SETTINGS_VARIANTS
def test_session_update_payload_is_a_valid_client_event(settings: RealtimeSettings) -> None:
    payload = settings.to_session_payload()
    assert_valid_client_event(payload)
    assert payload["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}


@SETTINGS_VARIANTS
def test_preview_route_session_update_is_beta_shaped_and_means_the_same(settings: RealtimeSettings) -> None:
    ga = settings.to_session_payload()
    beta = to_preview(ga)
    assert_valid_client_event(beta, "beta")
    with pytest.raises(AssertionError, match=r"unknown_parameter at session\.type"):
        assert_valid_client_event(ga, "beta")
    assert beta["session"]["input_audio_format"] == beta["session"]["output_audio_format"] == "pcm16"
    assert beta["session"].get("voice") == settings.voice
    # What the local server reads back from the beta shape is the GA session the client meant.
    assert to_ga_client_event(beta) == ga


def test_preview_route_rewrites_response_settings_and_assistant_content() -> None:
    response = {
        "type": "response.create",
        "response": {
            "output_modalities": ["audio"],
            "audio": {"output": {"voice": "shimmer", "format": {"type": "audio/pcm", "rate": 24000}}},
            "max_output_tokens": 200,
            "input": [
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "earlier"}]}
            ],
        },
    }
    assert_valid_client_event(response)
    beta = to_preview(response)
    assert_valid_client_event(beta, "beta")
    assert beta["response"] == {
        "modalities": ["audio", "text"],
        "voice": "shimmer",
        "output_audio_format": "pcm16",
        "max_response_output_tokens": 200,
        "input": [{"type": "message", "role": "assistant", "content": [{"type": "text", "text": "earlier"}]}],
    }
    assert to_preview(protocol.append_audio(np.zeros(480, np.int16)))["type"] == "input_audio_buffer.append"


def test_push_to_talk_turns_server_detection_off_explicitly() -> None:
    payload = RealtimeSettings(push_to_talk=True).to_session_payload()
    assert payload["session"]["audio"]["input"]["turn_detection"] is None


def test_client_event_builders_are_valid() -> None:
    pcm = np.arange(-100, 100, dtype=np.int16)
    for payload in (
        protocol.append_audio(pcm),
        protocol.user_text_item("hello"),
        protocol.function_output_item("call_1", '{"ok": true}'),
        protocol.truncate_item("item_1", 1200),
        *(
            protocol.simple_event(e)
            for e in (
                SendEvents.INPUT_AUDIO_BUFFER_COMMIT,
                SendEvents.RESPONSE_CREATE,
                SendEvents.RESPONSE_CANCEL,
                SendEvents.INPUT_AUDIO_BUFFER_CLEAR,
            )
        ),
    ):
        assert_valid_client_event(payload)
    assert np.array_equal(protocol.base64_to_pcm(protocol.append_audio(pcm)["audio"]), pcm)


def test_audio_delta_parses_to_int16_and_beta_alias_maps_to_ga_name() -> None:
    pcm = np.array([0, 1, -1, 32767, -32768], dtype=np.int16)
    raw = protocol.encode({"type": "response.audio.delta", "delta": protocol.pcm_to_base64(pcm), "item_id": "i"})
    event = protocol.parse_server_message(raw)
    assert isinstance(event, RealtimeAudioEvent)
    assert event.event_type == "audio"
    assert event.service_type == ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA
    assert event.audio.data.dtype == np.int16 and np.array_equal(event.audio.data, pcm)


def test_text_user_transcript_and_function_call_parse() -> None:
    text = protocol.parse_server_message(
        b'{"type":"response.output_audio_transcript.delta","delta":"Hi","item_id":"a"}'
    )
    assert isinstance(text, RealtimeTextEvent) and text.text.text == "Hi" and text.event_type == "text"
    user = protocol.parse_server_message(
        b'{"type":"conversation.item.input_audio_transcription.completed","item_id":"u","content_index":0,'
        b'"transcript":"hello"}'
    )
    assert isinstance(user, RealtimeTextEvent) and user.text.source == "user_transcript"
    call = protocol.parse_server_message(
        b'{"type":"response.function_call_arguments.done","name":"f","arguments":"{}","call_id":"c","item_id":"i",'
        b'"response_id":"r","output_index":0,"event_id":"e"}'
    )
    assert isinstance(call, RealtimeFunctionCallEvent) and call.function_call.call_id == "c"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1,2]",
        b'{"no_type": 1}',
        b'{"type":"response.output_audio.delta","delta":"!!notbase64"}',
        b'{"type":"response.output_audio.delta"}',
    ],
)
def test_malformed_frames_become_error_events(raw: bytes) -> None:
    event = protocol.parse_server_message(raw)
    assert isinstance(event, RealtimeErrorEvent)
    assert event.error.code == "malformed_event" and not event.error.fatal


def test_unknown_event_type_passes_through_as_service_event() -> None:
    event = protocol.parse_server_message(b'{"type":"some.future.event","x":1}')
    assert type(event) is RealtimeEvent and event.service_type == "some.future.event"
    assert event.service_event == {"type": "some.future.event", "x": 1}


def test_error_event_is_fatal_only_for_session_ending_codes() -> None:
    fatal = protocol.parse_server_message(
        b'{"type":"error","error":{"type":"invalid_request_error","code":"invalid_api_key","message":"bad key"}}'
    )
    minor = protocol.parse_server_message(
        b'{"type":"error","error":{"type":"invalid_request_error",'
        b'"code":"input_audio_buffer_commit_empty","message":"too short"}}'
    )
    assert isinstance(fatal, RealtimeErrorEvent) and fatal.error.fatal
    assert isinstance(minor, RealtimeErrorEvent) and not minor.error.fatal and minor.error.message == "too short"


def test_base64_strictness() -> None:
    assert base64.b64encode(b"\x01\x00").decode() == protocol.pcm_to_base64(np.array([1], dtype=np.int16))


def test_azure_route_comes_from_azure_openai_api_version_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_OPENAI_API_VERSION", raising=False)
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")  # exported for chat completions
    endpoint = {"endpoint": "https://res.openai.azure.com", "api_key": "k", "deployment_name": "dep"}
    ga = AzureRealtimeWebsocket(**endpoint)
    assert not ga.uses_preview_route
    assert str(ga.route) == "GA route: wss://res.openai.azure.com/openai/v1/realtime?model=dep"
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2025-04-01-preview")
    preview = AzureRealtimeWebsocket(**endpoint)
    assert preview.uses_preview_route
    assert str(preview.route) == (
        "preview route (beta shape): "
        "wss://res.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=dep"
    )
