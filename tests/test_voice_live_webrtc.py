"""Azure Voice Live over WebRTC: the client against the local server's `/voice-live/realtime/calls`
route. The call is signalled on the WebSocket (`rtc.call.sdp.create` / `.created`, checked by the
strict models written from the JavaScript reference), every other event is checked against the
`azure-ai-voicelive` SDK's models both ways, and the audio travels as RTP both ways."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import numpy as np
import pytest

from voicecli.conversation.exchange import exchange
from voicecli.realtime import (
    Continuity,
    ContinuityEvents,
    ListenEvents,
    RealtimeEvent,
    RealtimeSettings,
    SendEvents,
    TurnDetection,
)
from voicecli.realtime.voice_live import VoiceLiveOptions
from voicecli.realtime.voice_live_webrtc import SDP_CREATE, SDP_CREATED, VoiceLiveWebRTC
from voicecli.server import LocalServer, Pacing
from voicecli.server.brains import DEFAULT_SCRIPT
from voicecli.server.faults import Faults
from voicecli.server.session.pacing import UNPACED
from voicecli.server.synth import speak
from voicecli.server.voicelive.conformance import check_client_event, check_server_event
from voicecli.server.voicelive.rtc_signaling import check_sdp_create, check_sdp_created

AZURE_VOICE = RealtimeSettings(voice="en-US-AvaNeural", turn_detection=TurnDetection(type="semantic_vad"))


def get_weather(city: Annotated[str, "The city name"]) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    server = LocalServer(brain="scripted", script=DEFAULT_SCRIPT, pacing=Pacing(speed=2.0))
    await server.start()
    yield server
    await server.stop()


def voice_live(server: LocalServer, **options: Any) -> VoiceLiveWebRTC:
    return VoiceLiveWebRTC(
        endpoint=server.http_url,
        api_key="local-key",
        deployment_name="gpt-realtime",
        options=VoiceLiveOptions(voice_type="azure-standard"),
        **options,
    )


class Wire:
    """Both directions of one session, each event checked as it passes: the signaling by the strict
    models, the rest by the SDK's."""

    def __init__(self, client: VoiceLiveWebRTC) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[RealtimeEvent] = []
        client.observe_sent(self._sent)

    def _sent(self, payload: dict[str, Any]) -> None:
        check_client_event(payload)
        self.sent.append(payload)

    def __call__(self, event: RealtimeEvent) -> None:
        if event.service_event is not None and event.service_type not in set(ContinuityEvents):
            check_server_event(event.service_event)
        self.received.append(event)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [event.service_event or {} for event in self.received if event.service_type == event_type]


async def test_a_text_turn_with_the_reply_audio_over_rtp(server: LocalServer) -> None:
    client = voice_live(server)
    wire = Wire(client)
    async with client(settings=AZURE_VOICE):
        assert client.rtc_call_id is not None and client.rtc_call_id.startswith("rtc")
        result = await exchange(client, text="Hello, who are you?", observer=wire)
    assert not result.failed and not result.errors
    assert result.assistant_text == "Hello! Ask me about the weather."
    assert len(result.audio) > 24_000 // 2  # the reply's voice, decoded from RTP
    audio = [event for event in wire.received if event.service_type == ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA]
    assert audio and all(event.service_event is None for event in audio)  # from the RTP track, not from events
    [update, *_] = [event for event in wire.sent if event["type"] == "session.update"]
    assert update["session"]["voice"] == {"name": "en-US-AvaNeural", "type": "azure-standard"}
    shown = wire.of_type(ListenEvents.SESSION_UPDATED)[-1]["session"]
    assert shown["turn_detection"]["type"] == "azure_semantic_vad"
