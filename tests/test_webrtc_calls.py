"""WebRTC end to end over loopback: aiortc on both sides, the real client against the local server.

One server serves the module's real calls (each test opens its own call). Reply audio really
travels as Opus RTP; everything on the data channel is checked against the `openai` types. What
only the signaling and the data channel's dialect decide (a tool call, the settings minted into the
key, Azure's route) runs against the same server in memory (`local_server_in_memory`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from aiohttp import web
from support.app_requests import started
from support.conformance import assert_valid_client_event
from support.memory_peer import use_memory_peers
from support.servers import WEATHER_SCRIPT

from voicecli.conversation.exchange import exchange
from voicecli.realtime import (
    AudioContent,
    AzureRealtimeWebRTC,
    ListenEvents,
    OpenAIRealtimeWebRTC,
    RealtimeAudioEvent,
    RealtimeClient,
    RealtimeConnectionError,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionResultEvent,
    RealtimeSettings,
    SendEvents,
    TurnDetection,
    protocol,
)
from voicecli.server import UNPACED, Faults, LocalServer, synth
from voicecli.server.app import ServerConfig, create_app
from voicecli.server.brains import load_brain
from voicecli.server.validation import validate_server_event
from voicecli.server.webrtc.routes import RTC_KEY

pytestmark = [pytest.mark.timeout(30), pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def echo_rtc() -> AsyncIterator[LocalServer]:
    async with LocalServer(brain="echo") as server:
        yield server


IN_MEMORY = "http://127.0.0.1:8765/v1"
"""Where a client with a server in memory (`local_server_in_memory`) believes the service is."""


def openai_client(server: LocalServer, **kwargs: Any) -> OpenAIRealtimeWebRTC:
    return OpenAIRealtimeWebRTC(api_key="sk-test", base_url=server.http_url + "/v1", **kwargs)


class Wire:
    """Everything a client sent and received, each payload checked against the `openai` types."""

    def __init__(self, client: RealtimeClient) -> None:
        self.sent: list[dict[str, Any]] = []
        self.received: list[RealtimeEvent] = []
        client.observe_sent(self.sent.append)

    def observe(self, event: RealtimeEvent) -> None:
        self.received.append(event)

    def types(self) -> list[str]:
        return [str(event.service_type) for event in self.received]

    def check(self) -> None:
        for payload in self.sent:
            assert_valid_client_event(payload)
        for event in self.received:
            if not isinstance(event, RealtimeAudioEvent | RealtimeFunctionResultEvent):
                assert event.service_event is not None, event
                validate_server_event(event.service_event)
        assert "response.output_audio.delta" not in [e.get("type") for e in self.service_events()]

    def service_events(self) -> list[dict[str, Any]]:
        return [event.service_event for event in self.received if event.service_event is not None]


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0


def tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(24_000 * seconds)) / 24_000
    return (np.sin(2 * np.pi * 300 * t) * level * 32767).astype(np.int16)


async def next_event(client: RealtimeClient, wire: Wire, service_type: str, timeout: float = 5.0) -> RealtimeEvent:
    async with asyncio.timeout(timeout):
        async for event in client.receive():
            wire.observe(event)
            if event.service_type == service_type:
                return event
    raise AssertionError(f"the session ended before {service_type}")


async def drain(client: RealtimeClient, wire: Wire, seconds: float) -> None:
    """Collect whatever arrives during `seconds`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for event in client.receive():
                wire.observe(event)


async def test_text_turn_over_the_data_channel(echo_rtc: LocalServer) -> None:
    client = openai_client(echo_rtc)
    wire = Wire(client)
    async with client(settings=RealtimeSettings(output_modalities=["text"], push_to_talk=True)):
        result = await exchange(client, text="hello there", timeout_s=10, observer=wire.observe)
        assert client.call_location is not None and "/v1/realtime/calls/rtc_" in client.call_location
        pc = client.webrtc.peer_connection
        assert pc is not None
        offer, answer = pc.localDescription.sdp, pc.remoteDescription.sdp
    assert result.failed is None, result.failed
    assert result.assistant_text == "You said: hello there"
    assert len(result.audio) == 0
    assert wire.types()[:2] == ["session.created", "session.updated"]
    wire.check()  # how long the data channel takes to open: benchmarks/bench_realtime.py (session setup)
    for sdp in (offer, answer):  # both peers offered loopback only: no packet left this machine
        candidates = [line for line in sdp.splitlines() if line.startswith("a=candidate")]
        assert candidates and all(" 127.0.0.1 " in line for line in candidates), sdp


async def test_audio_reply_arrives_over_rtp(echo_rtc: LocalServer) -> None:
    heard: list[np.ndarray] = []
    client = openai_client(echo_rtc, audio_output_callback=heard.append)
    wire = Wire(client)
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        result = await exchange(client, text="the quick brown fox", timeout_s=15, observer=wire.observe)
    assert result.failed is None, result.failed
    expected = synth.speak(result.assistant_text)
    reply = result.audio
    assert abs(len(reply) - len(expected)) < 0.25 * 24_000, (len(reply), len(expected))
    assert 0.7 < rms(reply) / rms(expected) < 1.4
    assert np.array_equal(np.concatenate(heard), reply), "the callback saw every chunk the events carried"
    kinds = wire.types()
    assert kinds.index("output_audio_buffer.started") < kinds.index("response.done")
    last_audio = max(i for i, event in enumerate(wire.received) if isinstance(event, RealtimeAudioEvent))
    assert last_audio < kinds.index("response.done"), "all of the reply's audio comes before response.done"
    item_ids = {event.audio.item_id for event in wire.received if isinstance(event, RealtimeAudioEvent)}
    assert item_ids == {wire.service_events()[kinds.index("response.output_item.added")]["item"]["id"]}
    wire.check()
    print(f"first audio after {result.first_audio_s * 1000:.0f} ms")


async def test_microphone_audio_goes_over_rtp(echo_rtc: LocalServer) -> None:
    client = openai_client(echo_rtc)
    wire = Wire(client)
    async with client(settings=RealtimeSettings(output_modalities=["text"], push_to_talk=True)):
        result = await exchange(client, audio=tone(1.0), timeout_s=10, observer=wire.observe)
    assert result.failed is None, result.failed
    heard_s = float(result.assistant_text.split()[2])  # "I heard 1.6 seconds of audio."
    assert 1.0 <= heard_s < 3.0, result.assistant_text
    assert SendEvents.INPUT_AUDIO_BUFFER_APPEND not in [p["type"] for p in wire.sent], "audio went over RTP"
    wire.check()


async def local_server_in_memory(
    monkeypatch: pytest.MonkeyPatch, brain: str = "echo", **config: Any
) -> web.Application:
    """The local server's app as the service of every WebRTC client from now on, reached in memory
    (`support.memory_peer`): the real routes and call sessions, the data channel linked in memory."""
    script = WEATHER_SCRIPT if brain == "scripted" else None
    app = create_app(ServerConfig(brain=load_brain(brain, script), faults=Faults(), pacing=UNPACED, **config))
    use_memory_peers(monkeypatch, signaling=app)
    return await started(app)


async def every_call_ended(app: web.Application) -> None:
    """The server's calls end once their client hung up (bounded: the test's own timeout is longer)."""
    async with asyncio.timeout(5):
        for call in list(app[RTC_KEY].active.values()):
            await call.closed.wait()
    assert not app[RTC_KEY].active


async def test_function_call_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tool call's dialect on the data channel, against the scripted server's call in memory."""
    app = await local_server_in_memory(monkeypatch, brain="scripted")
    cities: list[str] = []

    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        cities.append(city)
        return f"sunny and 21 degrees in {city}"

    client = OpenAIRealtimeWebRTC(api_key="sk-test", base_url=IN_MEMORY, tools=[get_weather])
    wire = Wire(client)
    async with client(settings=RealtimeSettings(output_modalities=["text"], push_to_talk=True)):
        result = await exchange(client, text="What is the weather like?", timeout_s=10, observer=wire.observe)
    await every_call_ended(app)
    assert result.failed is None, result.failed
    assert cities == ["Paris"]
    assert [call.name for call in result.tool_calls] == ["get_weather"]
    assert "sunny and 21 degrees in Paris" in result.assistant_text
    assert [p["type"] for p in wire.sent].count("response.create") == 2
    wire.check()


async def test_barge_in_clears_the_reply_audio(echo_rtc: LocalServer) -> None:
    client = openai_client(echo_rtc)
    wire = Wire(client)
    long_text = "please repeat this rather long sentence so that the reply keeps talking for a while"
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        await client.send(protocol.user_text_item(long_text))
        await client.send(protocol.simple_event(SendEvents.RESPONSE_CREATE))
        await next_event(client, wire, ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA)
        await client.send(protocol.simple_event(SendEvents.RESPONSE_CANCEL))
        await client.send(protocol.simple_event(SendEvents.OUTPUT_AUDIO_BUFFER_CLEAR))
        cleared = await next_event(client, wire, ListenEvents.OUTPUT_AUDIO_BUFFER_CLEARED)
        cleared_at = len(wire.received)
        await drain(client, wire, 0.5)  # frames still in flight must not be delivered
        after_clear = wire.received[cleared_at:]
        again = await exchange(client, text="ok", timeout_s=10, observer=wire.observe)
    assert cleared.service_event is not None and cleared.service_event["response_id"].startswith("resp_")
    assert ListenEvents.RESPONSE_DONE in wire.types()
    assert not any(isinstance(event, RealtimeAudioEvent) for event in after_clear)
    assert ListenEvents.OUTPUT_AUDIO_BUFFER_STOPPED not in wire.types()[:cleared_at]
    played = sum(len(event.audio.data) for event in wire.received[:cleared_at] if isinstance(event, RealtimeAudioEvent))
    assert played < 0.5 * len(synth.speak("You said: " + long_text))
    # The next reply is that reply alone: the server dropped the rest of the first one (judged by the
    # audio, not by how soon it came, which only says how busy the machine was).
    expected = len(synth.speak("You said: ok"))
    assert again.failed is None and abs(len(again.audio) - expected) < 0.25 * 24_000, (len(again.audio), expected)
    wire.check()


async def test_speech_interrupts_the_reply(echo_rtc: LocalServer) -> None:
    client = openai_client(echo_rtc)
    wire = Wire(client)
    vad = TurnDetection(create_response=False, interrupt_response=True, silence_duration_ms=200)
    async with client(settings=RealtimeSettings(turn_detection=vad)):
        await client.send(protocol.user_text_item("tell me something long enough to be interrupted, please"))
        await client.send(protocol.simple_event(SendEvents.RESPONSE_CREATE))
        await next_event(client, wire, ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA)
        await client.send(RealtimeAudioEvent(audio=AudioContent(data=tone(0.6))))
        await next_event(client, wire, ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STARTED)
        await next_event(client, wire, ListenEvents.OUTPUT_AUDIO_BUFFER_CLEARED)
    wire.check()


async def test_azure_route_with_api_key_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """Azure's route against the server in memory: its key in an `api-key` header (the only key the
    server takes; another gets HTTP 401), the deployment as the model, calls under `/openai/v1`."""
    app = await local_server_in_memory(monkeypatch, accepted_key="azure-key")
    client = AzureRealtimeWebRTC(endpoint="http://127.0.0.1:8765", api_key="azure-key", deployment_name="my-deployment")
    wire = Wire(client)
    async with client(settings=RealtimeSettings(output_modalities=["text"], push_to_talk=True)):
        created = await next_event(client, wire, ListenEvents.SESSION_CREATED)
        result = await exchange(client, text="hi azure", timeout_s=10, observer=wire.observe)
    await every_call_ended(app)
    assert created.service_event is not None and created.service_event["session"]["model"] == "my-deployment"
    assert result.assistant_text == "You said: hi azure"
    assert client.call_location is not None and client.call_location.startswith("/openai/v1/realtime/calls/rtc_")
    wire.check()
    wrong = AzureRealtimeWebRTC(endpoint="http://127.0.0.1:8765", api_key="another-key", deployment_name="d")
    with pytest.raises(RealtimeConnectionError, match="HTTP 401"):
        await wrong.create_session()


async def test_session_settings_travel_with_the_ephemeral_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """From the client's settings to the minted key to the call's `session.created`, in memory."""
    app = await local_server_in_memory(monkeypatch)
    client = OpenAIRealtimeWebRTC(api_key="sk-test", base_url=IN_MEMORY, model="gpt-realtime-mini")
    wire = Wire(client)
    settings = RealtimeSettings(instructions="be terse", voice="shimmer", output_modalities=["text"])
    async with client(settings=settings):
        created = await next_event(client, wire, ListenEvents.SESSION_CREATED)
        await next_event(client, wire, ListenEvents.SESSION_UPDATED)
    await every_call_ended(app)
    assert wire.types() == ["session.created", "session.updated"], "the minted session needs no update"
    session = created.service_event["session"]  # type: ignore[index]
    assert (session["model"], session["instructions"], session["audio"]["output"]["voice"]) == (
        "gpt-realtime-mini",
        "be terse",
        "shimmer",
    )
    assert not any(isinstance(event, RealtimeErrorEvent) for event in wire.received)
    wire.check()
