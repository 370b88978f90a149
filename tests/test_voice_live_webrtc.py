"""Azure Voice Live over WebRTC: the client against the local server's `/voice-live/realtime/calls`
route. The call is signalled on the WebSocket (`rtc.call.sdp.create` / `.created`, checked by the
strict models written from the JavaScript reference), every other event is checked against the
`azure-ai-voicelive` SDK's models both ways, and the audio travels as RTP both ways."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import numpy as np
import orjson
import pytest
import soundfile
from aiortc import RTCPeerConnection
from pydantic import ValidationError
from support.voice_live import Wire

from voicecli.config import load_config
from voicecli.conversation.exchange import exchange
from voicecli.conversation.providers import build_client
from voicecli.realtime import (
    AudioContent,
    Continuity,
    ContinuityEvents,
    ListenEvents,
    RealtimeAudioEvent,
    RealtimeSettings,
    SendEvents,
    TurnDetection,
)
from voicecli.realtime.errors import RealtimeConnectionError
from voicecli.realtime.voice_live import VoiceLiveOptions
from voicecli.realtime.voice_live_calls import SDP_CREATE, SDP_CREATED
from voicecli.realtime.voice_live_webrtc import VoiceLiveWebRTC
from voicecli.realtime.webrtc_ice import loopback_candidates, no_stun
from voicecli.server import LocalServer, Pacing
from voicecli.server.brains import DEFAULT_SCRIPT
from voicecli.server.faults import Faults
from voicecli.server.session.pacing import UNPACED
from voicecli.server.synth import speak
from voicecli.server.voicelive import webrtc_route
from voicecli.server.voicelive.conformance import check_server_event
from voicecli.server.voicelive.rtc_signaling import check_sdp_create, check_sdp_created
from voicecli.ui.config_view import azure_route

ENDPOINT = "https://example.services.ai.azure.com"
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
    assert wire.of_type(ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE)  # the events still say when the audio was all made


async def test_a_spoken_turn_goes_in_and_comes_back_over_rtp(server: LocalServer) -> None:
    client = voice_live(server)
    wire = Wire(client)
    async with client(settings=RealtimeSettings(push_to_talk=True, input_transcription_model="local")):
        audio = np.asarray(speak("What is the weather like?"))
        result = await exchange(client, audio=audio, observer=wire)
    assert not result.failed and not result.errors
    assert not [event for event in wire.sent if event["type"] == SendEvents.INPUT_AUDIO_BUFFER_APPEND]  # all as RTP
    assert wire.of_type(ListenEvents.INPUT_AUDIO_BUFFER_COMMITTED)
    assert "weather" in result.assistant_text.lower()
    assert len(result.audio) > 24_000 // 2


async def test_a_tool_call(server: LocalServer) -> None:
    client = voice_live(server, tools=[get_weather])
    wire = Wire(client)
    async with client():
        result = await exchange(client, text="What is the weather like?", observer=wire)
    assert not result.failed and not result.errors
    assert [call.name for call in result.tool_calls] == ["get_weather"]
    assert result.assistant_text.endswith("Here is the weather in Paris: sunny in Paris")
    assert len([e for e in wire.sent if (e.get("item") or {}).get("type") == "function_call_output"]) == 1


async def test_an_interruption_clears_the_reply_audio_and_cancels(server: LocalServer) -> None:
    delivered: list[float] = []  # when each chunk of reply audio reached the audio callback

    async def play(audio: Any) -> None:
        delivered.append(time.monotonic())

    client = voice_live(server, audio_output_callback=play)
    wire = Wire(client)
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        await client.send({"type": "conversation.item.create", "item": _user_text("What is the weather like?")})
        await client.send({"type": SendEvents.RESPONSE_CREATE})
        cleared_at = None
        async for event in client.receive():
            wire(event)
            if event.service_type == ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA and cleared_at is None:
                await asyncio.sleep(0.3)  # some audio played: the user talks over it
                truncates = await client.interrupt([], cancel=True)
                cleared_at = time.monotonic()
                assert truncates == []
            if wire.of_type(ListenEvents.RESPONSE_DONE) and wire.of_type(ListenEvents.OUTPUT_AUDIO_BUFFER_CLEARED):
                break
        await asyncio.sleep(0.5)  # frames of the cut reply still in flight are not delivered
    sent = [event["type"] for event in wire.sent]
    assert SendEvents.OUTPUT_AUDIO_BUFFER_CLEAR in sent and "conversation.item.truncate" not in sent  # the service cuts
    [done] = wire.of_type(ListenEvents.RESPONSE_DONE)
    assert done["response"]["status"] == "cancelled"
    assert cleared_at is not None and delivered and not [at for at in delivered if at > cleared_at]


async def test_speech_over_rtp_interrupts_the_reply(server: LocalServer) -> None:
    client = voice_live(server)
    wire = Wire(client)
    vad = TurnDetection(type="semantic_vad", create_response=False, interrupt_response=True, silence_duration_ms=200)
    seen: list[str] = []
    async with client(settings=RealtimeSettings(turn_detection=vad)):
        await client.send({"type": "conversation.item.create", "item": _user_text("What is the weather like?")})
        await client.send({"type": SendEvents.RESPONSE_CREATE})
        async with asyncio.timeout(30):
            async for event in client.receive():
                wire(event)
                seen.append(str(event.service_type))
                if event.service_type == ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA and seen.count(seen[-1]) == 1:
                    await client.send(RealtimeAudioEvent(audio=AudioContent(data=np.asarray(speak("Stop.")))))
                if ListenEvents.OUTPUT_AUDIO_BUFFER_CLEARED in seen and ListenEvents.RESPONSE_DONE in seen:
                    break
    sent = [event["type"] for event in wire.sent]
    assert SendEvents.INPUT_AUDIO_BUFFER_APPEND not in sent  # the speech went as RTP
    assert seen.index(ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STARTED) < seen.index(
        ListenEvents.OUTPUT_AUDIO_BUFFER_CLEARED
    )
    [done] = wire.of_type(ListenEvents.RESPONSE_DONE)
    print(seen, done["response"]["status"])


async def test_a_dropped_connection_reconnects_with_a_new_call_and_the_conversation_goes_on() -> None:
    faults = Faults(drop_after_events=24, connections=1)  # the first connection drops in its second answer
    async with LocalServer(brain="echo", pacing=UNPACED, faults=faults) as server:
        client = voice_live(server, continuity=Continuity(delays_s=(0.0, 0.2, 0.5)))
        wire = Wire(client)
        call_ids: list[str | None] = []
        async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
            call_ids.append(client.rtc_call_id)
            answers = [await exchange(client, text=f"question {n}", timeout_s=20, observer=wire) for n in range(3)]
            call_ids.append(client.rtc_call_id)
    assert [answer.assistant_text for answer in answers] == [f"You said: question {n}" for n in range(3)]
    assert all(answer.failed is None and not answer.errors for answer in answers)
    [reconnected] = [e.service_event for e in wire.received if e.service_type == ContinuityEvents.RECONNECTED]
    assert reconnected is not None and reconnected["cause"] == "drop"
    assert call_ids[0] != call_ids[1]  # a new call on the new WebSocket
    replayed = [e["item"] for e in wire.sent if e["type"] == "conversation.item.create"]
    assistant = [item for item in replayed if item.get("role") == "assistant"]
    assert assistant and assistant[0]["content"][0] == {"type": "text", "text": "You said: question 0"}


async def test_the_signaling_is_checked_both_ways_and_refusals_leave_the_socket_waiting(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    offers: list[dict[str, Any]] = []

    def recorded(event: Any) -> None:
        offers.append(event)
        check_sdp_create(event)

    monkeypatch.setattr(webrtc_route, "check_sdp_create", recorded)
    async with voice_live(server)(settings=AZURE_VOICE) as client:  # the client's own offer, as the route got it
        assert client.rtc_call_id is not None
    [client_offer] = offers
    assert set(client_offer) == {"type", "sdp_offer", "session"} and client_offer["type"] == SDP_CREATE
    assert client_offer["session"]["voice"] == {"name": "en-US-AvaNeural", "type": "azure-standard"}  # Voice Live's

    url = server.http_url.replace("http", "ws") + "/voice-live/realtime/calls?api-version=2026-01-01-preview&model=m"
    pc = RTCPeerConnection(no_stun())
    pc.addTransceiver("audio")
    with loopback_candidates():
        await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    refused = [
        ({"type": "session.update", "session": {"instructions": "hi"}}, "invalid_event", "type"),  # not before the call
        ({"type": SDP_CREATE, "sdp_offer": offer, "bogus": 1}, "unknown_parameter", "bogus"),  # the strict model
        ({"type": SDP_CREATE, "sdp_offer": 7}, "invalid_value", "sdp_offer"),
        (
            {"type": SDP_CREATE, "sdp_offer": offer, "session": {"type": "realtime"}},
            "unknown_parameter",
            "session.type",
        ),
        ({"type": SDP_CREATE, "sdp_offer": "v=0 nothing"}, "invalid_offer", "sdp_offer"),
    ]
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url, headers={"api-key": "k"}) as ws:
            for event, code, param in refused:
                await ws.send_str(orjson.dumps(event).decode())
                error = orjson.loads((await ws.receive(timeout=15)).data)
                check_server_event(error)
                assert (error["type"], error["error"]["code"], error["error"]["param"]) == ("error", code, param)
            await ws.send_str(orjson.dumps({"type": SDP_CREATE, "sdp_offer": offer, "event_id": "e1"}).decode())
            created = orjson.loads((await ws.receive(timeout=15)).data)
            check_sdp_created(created)  # strict: exactly the fields of the JavaScript reference
            session_created = orjson.loads((await ws.receive(timeout=15)).data)
            check_server_event(session_created)
    finally:
        await pc.close()
    assert created["type"] == SDP_CREATED and created["rtc_call_id"].startswith("rtc")
    assert created["sdp_answer"].startswith("v=0") and "127.0.0.1" in created["sdp_answer"]
    assert session_created["type"] == "session.created"  # the session starts once the call is answered
    with pytest.raises(ValidationError):
        check_sdp_created({**created, "extra": 1})


async def test_a_wrong_key_is_one_connection_error_and_nothing_stays_open() -> None:
    async with LocalServer(brain="echo", accepted_key="the-right-key") as server:
        client = voice_live(server)
        with pytest.raises(RealtimeConnectionError, match="key") as refused:
            await client.create_session()
        assert "\n" not in str(refused.value)
        assert client.webrtc.peer_connection is None and client.webrtc.audio_track is None


async def test_an_unreachable_service_is_one_connection_error() -> None:
    client = VoiceLiveWebRTC(endpoint="http://127.0.0.1:9", api_key="k", deployment_name="gpt-realtime")
    with pytest.raises(RealtimeConnectionError, match="cannot reach") as refused:
        await client.create_session()
    assert "\n" not in str(refused.value) and client.webrtc.peer_connection is None


def _azure_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'provider = "azure"\n[azure]\nendpoint = "{ENDPOINT}"\ndeployment = "gpt-realtime"\n'
        f'service = "voice-live"\n{extra}',
        encoding="utf-8",
    )
    return path


def test_webrtc_with_voice_live_signals_its_call_on_the_preview_calls_path(tmp_path: Path) -> None:
    config = load_config(_azure_config(tmp_path))
    config.transport = "webrtc"
    client = build_client(config)
    assert isinstance(client, VoiceLiveWebRTC)
    assert client.url == (
        "wss://example.services.ai.azure.com/voice-live/realtime/calls?api-version=2026-01-01-preview&model=gpt-realtime"
    )
    assert azure_route(config).url == client.url  # what `voicecli config show` prints
    config.azure.voice_live_api_version = "2026-06-01-preview"  # another version chosen: it is kept
    assert build_client(config).url.endswith("api-version=2026-06-01-preview&model=gpt-realtime")  # type: ignore[attr-defined]


def _user_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def test_voicecli_talk_over_voice_live_webrtc_against_a_served_local_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "VOICECLI_"))}
    env = {**env, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "AZURE_OPENAI_API_KEY": "local-key"}
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        serve = subprocess.Popen(
            [sys.executable, "-m", "voicecli", "serve", "--port", "0", "--brain", "echo"],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base = _wait_for(r"ws://(127\.0\.0\.1:\d+)/v1/realtime", log)
        config = tmp_path / "config.toml"
        config.write_text(
            f'provider = "azure"\n[azure]\nendpoint = "http://{base}"\ndeployment = "gpt-realtime"\n'
            'service = "voice-live"\nvoice_type = "azure-standard"\n',
            encoding="utf-8",
        )
        reply = tmp_path / "out.wav"
        talk = ["-m", "voicecli", "talk", "-c", str(config), "--transport", "webrtc", "--text", "hi", "-o", str(reply)]
        done = subprocess.run(
            [sys.executable, *talk], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert "Assistant: You said: hi" in done.stdout
        _wait_for(r"/voice-live/realtime/calls model=gpt-realtime", log)  # the connection's line, once it ended
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=15)
    audio, rate = soundfile.read(reply, dtype="int16")
    assert rate == 24_000 and 0.5 < len(audio) / rate < 3.0  # the reply's voice, as it came over RTP
    assert np.abs(audio).max() > 1000


def _wait_for(pattern: str, log: Path, timeout_s: float = 30.0) -> str:
    """The first group (or the match) of `pattern` in the growing `log` (a guard against a hang)."""
    deadline = time.monotonic() + timeout_s
    while (found := re.search(pattern, log.read_text())) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"no {pattern!r} within {timeout_s} s in: {log.read_text()}")
        time.sleep(0.05)
    return found.group(1) if found.groups() else found.group(0)
