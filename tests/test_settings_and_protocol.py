"""Settings payloads and client-event builders validate against the openai types; parsing is robust."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from conformance import assert_valid_client_event

from voicecli.realtime import (
    AzureRealtimeExecutionSettings,
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


@pytest.mark.parametrize(
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
def test_session_update_payload_is_a_valid_client_event(settings: RealtimeSettings) -> None:
    payload = settings.to_session_payload()
    assert_valid_client_event(payload)
    assert payload["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}


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
