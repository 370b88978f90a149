"""Azure Voice Live: the client against the local server's `/voice-live/realtime` route, every event
checked against the `azure-ai-voicelive` SDK's models both ways. What the route's shape does (the
tool call, the interruption, the refusals) runs against a server session in memory, driven as the
route drives it (`VoiceLiveSessionTransport`, `session_peer(..., voice_live=True)`); what the
connection does (the key's header, the Entra ID token, a dropped socket) and the turns that speak
or listen for real keep the socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytest
from support.conversation_stubs import Microphone, RealTimeSpeaker, Screen
from support.live import until
from support.server_session import session_peer
from support.session_transport import VoiceLiveSessionTransport, in_tones  # noqa: F401  (in_tones: a fixture)
from support.virtual_pacing import PacingClock, VirtualPacing
from support.voice_live import Wire

from voicecli.config import load_config
from voicecli.conversation.exchange import exchange
from voicecli.conversation.live import Conversation
from voicecli.conversation.providers import build_client, client_echo_mode
from voicecli.realtime import (
    Continuity,
    ContinuityEvents,
    ListenEvents,
    RealtimeClient,
    RealtimeSettings,
    SendEvents,
    TurnDetection,
)
from voicecli.realtime.voice_live import VoiceLiveOptions, VoiceLiveWebsocket
from voicecli.server import LocalServer, Pacing, app
from voicecli.server.brains import DEFAULT_SCRIPT, ScriptedBrain
from voicecli.server.faults import Faults
from voicecli.server.session.pacing import UNPACED
from voicecli.server.synth import speak
from voicecli.server.validation import ProtocolViolation
from voicecli.server.voicelive.conformance import check_server_event
from voicecli.ui.config_view import azure_route

LONG_REPLY = (
    "Once upon a time there was a little voice assistant that loved to talk for a very long time "
    "about everything and nothing at all, and it never stopped talking until somebody interrupted it."
)
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


@pytest.fixture
def headers(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """The HTTP headers of each WebSocket upgrade the local server receives (lower-case names)."""
    seen: list[dict[str, str]] = []
    checked = app.key_refusal

    def key_refusal(request: Any, config: Any) -> str | None:
        seen.append({key.lower(): value for key, value in request.headers.items()})
        return checked(request, config)

    monkeypatch.setattr(app, "key_refusal", key_refusal)
    return seen


def voice_live(server: LocalServer, **options: Any) -> VoiceLiveWebsocket:
    return VoiceLiveWebsocket(
        endpoint=server.http_url,
        api_key="local-key",
        deployment_name="gpt-realtime",
        options=VoiceLiveOptions(voice_type="azure-standard"),
        **options,
    )


@pytest.mark.usefixtures("in_tones")
async def test_a_text_turn_with_azure_session_settings() -> None:
    brain = ScriptedBrain.from_toml(DEFAULT_SCRIPT)
    client = RealtimeClient(
        transport=VoiceLiveSessionTransport.of(brain, options=VoiceLiveOptions(voice_type="azure-standard"))
    )
    wire = Wire(client)
    async with client(settings=AZURE_VOICE):
        await client.update_session()
        result = await exchange(client, text="Hello, who are you?", observer=wire)
    assert not result.failed and not result.errors
    assert result.assistant_text == "Hello! Ask me about the weather."
    assert len(result.audio) > 24_000 // 2
    [update, *_] = [event for event in wire.sent if event["type"] == "session.update"]
    session = update["session"]
    assert "type" not in session and "audio" not in session  # the beta shape Voice Live speaks
    assert session["voice"] == {"name": "en-US-AvaNeural", "type": "azure-standard"}
    assert session["turn_detection"]["type"] == "azure_semantic_vad"
    assert session["turn_detection"]["remove_filler_words"] is True
    assert session["input_audio_noise_reduction"] == {"type": "azure_deep_noise_suppression"}
    assert session["input_audio_echo_cancellation"] == {"type": "server_echo_cancellation"}
    shown = wire.of_type(ListenEvents.SESSION_UPDATED)[-1]["session"]  # as the service shows them back
    assert shown["voice"] == session["voice"] and shown["turn_detection"] == session["turn_detection"]
    assert shown["input_audio_echo_cancellation"] == {"type": "server_echo_cancellation"}
    assert [e.service_type for e in wire.received].count("response.audio.delta") == 0  # aliased to GA names
    assert wire.of_type(ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA)


async def test_a_key_goes_in_the_api_key_header(server: LocalServer, headers: list[dict[str, str]]) -> None:
    client = voice_live(server)
    async with client():
        result = await exchange(client, text="Hello there")
    assert not result.failed
    [sent_headers] = headers
    assert sent_headers["api-key"] == "local-key" and "authorization" not in sent_headers  # the key, as Azure wants it


async def test_a_spoken_turn(server: LocalServer) -> None:
    client = voice_live(server)
    wire = Wire(client)
    async with client(settings=RealtimeSettings(push_to_talk=True, input_transcription_model="local")):
        audio = np.asarray(speak("What is the weather like?"))
        result = await exchange(client, audio=audio, observer=wire)
    assert not result.failed and not result.errors
    assert wire.of_type(ListenEvents.INPUT_AUDIO_BUFFER_COMMITTED)
    assert "weather" in result.assistant_text.lower()


@pytest.mark.usefixtures("in_tones")
async def test_a_tool_call() -> None:
    transport = VoiceLiveSessionTransport.of(ScriptedBrain.from_toml(DEFAULT_SCRIPT))
    client = RealtimeClient(transport=transport, tools=[get_weather])
    wire = Wire(client)
    async with client():
        result = await exchange(client, text="What is the weather like?", observer=wire)
    assert not result.failed and not result.errors
    assert [call.name for call in result.tool_calls] == ["get_weather"]
    assert result.assistant_text.endswith("Here is the weather in Paris: sunny in Paris")
    outputs = [e for e in wire.sent if (e.get("item") or {}).get("type") == "function_call_output"]
    assert len(outputs) == 1


@pytest.mark.usefixtures("in_tones")
async def test_an_interruption_truncates_what_was_heard_and_cancels() -> None:
    """The reply paced on a virtual clock: 300 ms of it due, the rest in flight when the user talks."""
    clock = PacingClock()
    transport = VoiceLiveSessionTransport.of(ScriptedBrain.from_toml(DEFAULT_SCRIPT), VirtualPacing(clock=clock))
    client = RealtimeClient(transport=transport)
    wire = Wire(client)
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        await client.send({"type": "conversation.item.create", "item": _user_text("What is the weather like?")})
        await client.send({"type": SendEvents.RESPONSE_CREATE})
        await clock.advance(0.5 + 0.3 / 4 + 0.01)  # the first 300 ms of audio are due
        item_id, heard = None, 0
        async for event in client.receive():
            wire(event)
            if event.service_type == ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA and item_id is None:
                heard += 1
                if heard == 3:  # some audio arrived: the user talks over it
                    item_id = (event.service_event or {}).get("item_id")
                    truncates = await client.interrupt([(str(item_id), 200)], cancel=True)
                    assert truncates == [(item_id, 200)]
            if wire.of_type(ListenEvents.RESPONSE_DONE) and wire.of_type(ListenEvents.CONVERSATION_ITEM_TRUNCATED):
                break
    [truncated] = wire.of_type(ListenEvents.CONVERSATION_ITEM_TRUNCATED)
    assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, 200)
    [done] = wire.of_type(ListenEvents.RESPONSE_DONE)
    assert done["response"]["status"] == "cancelled"


async def test_the_route_refuses_what_voice_live_does_not_know() -> None:
    config = LocalServer(brain="scripted", script=DEFAULT_SCRIPT, pacing=UNPACED).config
    async with session_peer(config, voice_live=True) as peer:  # each event checked against the SDK's models
        created = await peer.recv()
        ga_update = {"type": "session.update", "session": {"type": "realtime", "instructions": "hi"}}
        await peer.send(ga_update)
        error = await peer.recv()
        await peer.send({"type": "no.such.event"})
        unknown = await peer.recv()
    assert created["type"] == "session.created" and created["session"]["model"] == "gpt-realtime"
    assert error["type"] == "error" and error["error"]["code"] == "unknown_parameter"
    assert error["error"]["param"] == "session.type"
    assert unknown["error"]["code"] == "invalid_event"


@pytest.mark.parametrize(
    ("event", "param"),
    [
        ({"type": "response.audio.delta", "delta": "", "item_id": "i", "bogus": 1}, "bogus"),
        ({"type": "session.updated", "session": {"audio": {}}}, "session.audio"),  # a GA-shaped session
    ],
)
def test_server_events_outside_the_sdk_models_are_caught(event: dict[str, Any], param: str) -> None:
    with pytest.raises(ProtocolViolation) as caught:
        check_server_event(event)
    assert caught.value.param == param


def test_voice_live_is_chosen_in_the_azure_section_and_the_echo_canceller_steps_aside(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        'provider = "azure"\n[azure]\nendpoint = "https://example.services.ai.azure.com"\ndeployment = "gpt-realtime"\n'
        'service = "voice-live"\nvoice_type = "azure-standard"\n',
        encoding="utf-8",
    )
    config = load_config(path)
    client = build_client(config)
    assert isinstance(client, VoiceLiveWebsocket)
    assert client.url == (
        "wss://example.services.ai.azure.com/voice-live/realtime?api-version=2025-10-01&model=gpt-realtime"
    )
    assert client.options == VoiceLiveOptions(voice_type="azure-standard")
    assert azure_route(config).url == client.url  # what `voicecli config show` prints
    assert client_echo_mode(config) == "off"  # the service cancels the echo: the client does not
    path.write_text(path.read_text() + "server_echo_cancellation = false\n", encoding="utf-8")
    assert client_echo_mode(load_config(path)) == "auto"


def _user_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


async def test_a_dropped_connection_reconnects_and_the_conversation_goes_on() -> None:
    faults = Faults(drop_after_events=24, connections=1)  # the first connection drops in its second answer
    async with LocalServer(brain="echo", pacing=UNPACED, faults=faults) as server:
        client = voice_live(server, continuity=Continuity(delays_s=(0.0, 0.2, 0.5)))
        wire = Wire(client)
        async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
            answers = [await exchange(client, text=f"question {n}", timeout_s=20, observer=wire) for n in range(3)]
    assert [answer.assistant_text for answer in answers] == [f"You said: question {n}" for n in range(3)]
    assert all(answer.failed is None and not answer.errors for answer in answers)
    [reconnected] = [e.service_event for e in wire.received if e.service_type == ContinuityEvents.RECONNECTED]
    assert reconnected is not None and reconnected["cause"] == "drop"
    replayed = [e["item"] for e in wire.sent if e["type"] == "conversation.item.create"]
    assistant = [item for item in replayed if item.get("role") == "assistant"]
    assert assistant and assistant[0]["content"][0] == {"type": "text", "text": "You said: question 0"}  # beta shape


async def test_without_a_key_an_entra_id_token_is_the_bearer(
    server: LocalServer, headers: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def token() -> str:
        return "entra-token"

    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    client = VoiceLiveWebsocket(endpoint=server.http_url, deployment_name="gpt-realtime", token_provider=token)
    async with client():
        result = await exchange(client, text="Hello there")
    assert not result.failed
    [sent] = headers
    assert sent["authorization"] == "Bearer entra-token" and "api-key" not in sent


async def test_speaking_over_the_reply_cuts_it_where_it_was_heard(tmp_path: Path) -> None:
    script = tmp_path / "story.toml"
    script.write_text(f'[[turn]]\nreply = "{LONG_REPLY}"\n', encoding="utf-8")
    microphone, speaker, screen = Microphone(), RealTimeSpeaker(), Screen()
    async with LocalServer(brain="scripted", script=script, pacing=Pacing(speed=2.0)) as server:
        client = voice_live(server)
        wire = Wire(client)
        async with client(settings=AZURE_VOICE):
            conversation = Conversation(client, microphone, speaker, screen)  # type: ignore[arg-type]
            running = asyncio.create_task(conversation.run())
            microphone.say(np.asarray(speak("Tell me a story, please.")))
            await until(lambda: bool(screen.seen(ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA)), "the reply", timeout=30)
            item_id = screen.seen(ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA)[0]["item_id"]
            await until(lambda: speaker.heard_ms(item_id) >= 1000, "a second of the reply heard", timeout=30)
            microphone.say(np.asarray(speak("Wait, stop there.")))
            await until(
                lambda: bool(screen.seen(ListenEvents.CONVERSATION_ITEM_TRUNCATED)), "the truncation", timeout=30
            )
            conversation.stop()
            await asyncio.wait_for(running, timeout=10)
    [barge_in] = conversation.barge_ins
    assert barge_in.source == "vad"
    [(truncated_item, audio_end_ms)] = barge_in.truncates
    assert truncated_item == item_id and audio_end_ms == round(speaker.heard_ms(item_id))
    assert 1000 <= audio_end_ms < speaker.items[item_id] / 24
    [truncated] = screen.seen(ListenEvents.CONVERSATION_ITEM_TRUNCATED)
    assert truncated["audio_end_ms"] == audio_end_ms
    assert [event["type"] for event in wire.sent].count("conversation.item.truncate") == 1  # checked by the Wire
