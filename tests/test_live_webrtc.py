"""GPT-Live over WebRTC against the local server (aiortc on both ends, ICE on 127.0.0.1): turns,
delegation, barge-in, mute, a dropped call with continuity, and every event checked both ways
against `openai.types.live` (the data channel's events and the `POST …/live/sessions` body and answer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import orjson
import pytest
from aiohttp import web
from support.app_requests import post, started
from support.memory_peer import use_memory_peers
from support.servers import WEATHER_SCRIPT
from support.session_transport import in_tones  # noqa: F401 (a fixture)
from test_live_server import WAIT_S, get_weather, said, until

from voicecli.realtime import (
    Continuity,
    ContinuityEvents,
    RealtimeAudioEvent,
    RealtimeConnectionError,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
    TextContent,
)
from voicecli.realtime.live_protocol import typed_text
from voicecli.realtime.live_webrtc import AzureLiveWebRTC, LiveWebRTCClient, OpenAILiveWebRTC
from voicecli.server import Faults, LocalServer, synth
from voicecli.server.app import ServerConfig, create_app
from voicecli.server.brains import load_brain
from voicecli.server.live.validation import validate_live_client_event, validate_live_server_event
from voicecli.server.live.webrtc_route import LIVE_CALLS_KEY
from voicecli.server.session.pacing import Pacing

pytestmark = pytest.mark.timeout(90)

ALLOWED_OVER_WEBRTC = {
    "session.input_audio.mute",
    "session.input_audio.unmute",
    "session.instructions.append",
    "session.commentary.append",
}
"""What a WebRTC client ever sends on the data channel: no session.start (the request started the
session), no audio append (the microphone is media), nothing that creates, cancels or truncates."""


@pytest.fixture
async def scripted_server() -> AsyncIterator[LocalServer]:
    async with LocalServer(brain="scripted", script=WEATHER_SCRIPT) as server:
        yield server


def openai_client(server: LocalServer, **kwargs: Any) -> OpenAILiveWebRTC:
    return OpenAILiveWebRTC(api_key="sk-test", base_url=server.http_url + "/v1", **kwargs)


def checked(client: LiveWebRTCClient) -> tuple[list[dict[str, Any]], list[str]]:
    """What `client` sends (each checked against `ClientEvent`) and receives (each raw message checked
    against `ServerEvent` as the data channel delivers it)."""
    sent: list[dict[str, Any]] = []
    received: list[str] = []

    def check_sent(payload: dict[str, Any]) -> None:
        validate_live_client_event(payload)
        assert payload["type"] in ALLOWED_OVER_WEBRTC, payload["type"]
        sent.append(payload)

    parse = client.webrtc._parse

    def check_received(message: str | bytes) -> RealtimeEvent:
        raw = orjson.loads(message)
        validate_live_server_event(raw)
        received.append(raw["type"])
        return parse(message)

    client.observe_sent(check_sent)
    client.webrtc._parse = check_received  # type: ignore[method-assign]
    return sent, received


def live_calls(server: LocalServer) -> list[Any]:
    """The server's GPT-Live calls in progress."""
    runner = server._runner
    assert runner is not None
    return list(runner.app[LIVE_CALLS_KEY].values())


async def speak_into(client: LiveWebRTCClient, pcm: np.ndarray, silence_ms: int = 900) -> None:
    """Microphone audio into the call's track (it goes out in real time, as a microphone's would)."""
    frames = np.concatenate((pcm, np.zeros(24 * silence_ms, np.int16)))
    for start in range(0, frames.size, 480):
        await client.send_audio(frames[start : start + 480])


async def test_text_turn_over_webrtc_is_spoken_as_media_and_nothing_but_an_append_is_sent(
    scripted_server: LocalServer,
) -> None:
    played: list[int] = []
    client = openai_client(scripted_server, audio_output_callback=lambda pcm: played.append(len(pcm)))
    sent, received = checked(client)
    async with client:
        assert client.session_id == client.webrtc.session_id  # the request's session is the channel's
        await client.send(RealtimeTextEvent(text=TextContent(text="Hello, who are you?", source="user_text")))
        await until(client, said("Ask me about the weather"))
        await until(client, lambda event: isinstance(event, RealtimeAudioEvent))
    assert sum(played) > 0
    assert [payload["type"] for payload in sent] == ["session.instructions.append"]
    assert received[0] == "session.started" and "session.output_audio.delta" not in received  # audio is media


async def test_spoken_turn_over_the_microphone_track_is_heard_and_answered() -> None:
    async with LocalServer(brain="echo") as server:
        client = openai_client(server)
        checked(client)
        async with client:
            await speak_into(client, synth.speak("hello there").copy())
            events = await until(client, said("I heard"))
    assert any(isinstance(e, RealtimeTextEvent) and e.text.source == "user_transcript" for e in events)


async def test_delegated_tool_call_over_webrtc_runs_our_tool_and_the_result_is_spoken(
    scripted_server: LocalServer,
) -> None:
    client = openai_client(scripted_server, tools=[get_weather])
    sent, received = checked(client)
    async with client:
        await client.send(RealtimeTextEvent(text=TextContent(text="What is the weather like?", source="user_text")))
        events = await until(client, said("Here is the weather in Paris"))
    (call,) = [event.function_call for event in events if isinstance(event, RealtimeFunctionCallEvent)]
    (result,) = [event.function_result for event in events if isinstance(event, RealtimeFunctionResultEvent)]
    assert (call.name, result.result) == ("get_weather", "sunny and 21 degrees in Paris")
    (commentary,) = [payload for payload in sent if payload["type"] == "session.commentary.append"]
    assert commentary["content"] == result.result
    assert {"session.delegation.created", "session.commentary.appended"} <= set(received)


async def test_interruption_over_webrtc_stops_playback_only_and_the_model_stops_when_the_user_talks() -> None:
    played: list[int] = []
    async with LocalServer(brain="scripted", script=WEATHER_SCRIPT, pacing=Pacing(0.0, 1.0)) as server:
        client = openai_client(server, audio_output_callback=lambda pcm: played.append(len(pcm)))
        items: list[str] = []
        client.audio_item_callback = lambda audio: items.append(audio.item_id or "")
        sent, _ = checked(client)
        full_reply = synth.speak("Hello! Ask me about the weather.").size
        async with client:
            await client.send(RealtimeTextEvent(text=TextContent(text="Hello", source="user_text")))
            await until(client, lambda event: isinstance(event, RealtimeAudioEvent))
            await speak_into(client, synth.speak("Hello there").copy())  # over the reply: the model stops
            await until(client, lambda event: event.service_type == "input_audio_buffer.speech_started")
            before = len(sent)
            assert await client.interrupt([(items[-1], 100)], cancel=True) == []
            assert len(sent) == before  # nothing went out: the protocol has no cancel or truncate
    assert sum(played) < full_reply, "the model kept talking over the user"
    assert {payload["type"] for payload in sent} <= ALLOWED_OVER_WEBRTC


async def test_mute_over_webrtc_makes_the_model_hear_silence_while_the_clock_runs(
    scripted_server: LocalServer,
) -> None:
    client = openai_client(scripted_server)
    sent, received = checked(client)
    async with client:
        await client.mute(True)
        await until(client, lambda event: event.service_type == "session.input_audio.muted")
        await speak_into(client, synth.speak("What is the weather like?").copy())  # muted: the model hears silence
        await until(client, lambda event: event.service_type == "session.usage.updated")
        await client.mute(False)
        await until(client, lambda event: event.service_type == "session.input_audio.unmuted")
    assert [payload["type"] for payload in sent] == ["session.input_audio.mute", "session.input_audio.unmute"]
    assert "session.input_transcript.delta" not in received and "session.delegation.created" not in received


@pytest.mark.usefixtures("in_tones")  # the reply's sound is not what this checks: no espeak-ng
async def test_azure_route_over_webrtc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Azure's route against the scripted server in memory (`support.memory_peer`): the real routes
    and call session, the data channel linked in memory; the media path is the other tests'."""
    app = create_app(
        ServerConfig(brain=load_brain("scripted", WEATHER_SCRIPT), faults=Faults(), accepted_key="azure-key")
    )
    use_memory_peers(monkeypatch, signaling=await started(app))
    client = AzureLiveWebRTC(endpoint="http://127.0.0.1:8765", api_key="azure-key", deployment_name="gpt-live-1")
    checked(client)
    async with client:
        await client.send(RealtimeTextEvent(text=TextContent(text="Hello", source="user_text")))
        await until(client, said("Ask me about the weather"))
        (call,) = app[LIVE_CALLS_KEY].values()
        assert client.session_id == call.id
    async with asyncio.timeout(WAIT_S):
        await call.closed.wait()  # the client hung up: the call ends
    assert client.route.url == "http://127.0.0.1:8765/openai/v1/live/sessions"
    wrong = AzureLiveWebRTC(endpoint="http://127.0.0.1:8765", api_key="another-key", deployment_name="gpt-live-1")
    with pytest.raises(RealtimeConnectionError, match="HTTP 401"):
        await wrong.create_session()


async def test_a_dropped_call_is_followed_by_a_new_call_carrying_the_conversation(
    scripted_server: LocalServer,
) -> None:
    client = openai_client(scripted_server, continuity=Continuity(delays_s=(0.0, 0.2, 0.5), attempt_timeout_s=WAIT_S))
    checked(client)
    async with client:
        await client.send(RealtimeTextEvent(text=TextContent(text="Who are you?", source="user_text")))
        await until(client, said("I am a scripted assistant"))  # the script's first fallback
        first = client.session_id
        for call in live_calls(scripted_server):
            await call.close("dropped by the test")  # the client sees its data channel close
        await until(client, lambda event: event.service_type == ContinuityEvents.RECONNECTED)
        await client.send(RealtimeTextEvent(text=TextContent(text="Tell me more", source="user_text")))
        await until(client, said("I can only talk about the weather"))  # its second: the new session knows the first
        assert client.session_id != first


@pytest.fixture
def app() -> web.Application:
    """The local server's app, reached without a socket (`support.app_requests`): the request's checks."""
    return create_app(ServerConfig(brain=load_brain("scripted", WEATHER_SCRIPT), faults=Faults()))


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (
            {"session": {"model": "gpt-live-1", "audio": {"output": {"voice": "marin", "x": 1}}}},
            "unknown_parameter",
            "session.audio.output.x",
        ),
        (
            {"session": {"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm", "rate": 24000}}}},
            "unknown_parameter",
            "session.audio.format",
        ),
        ({"session": {"instructions": "hi"}}, "missing_required_parameter", "session.model"),
        (
            {"session": {"model": "gpt-live-1"}, "transport": {"type": "websocket", "sdp": "v=0"}},
            "invalid_value",
            "transport.type",
        ),
        (
            {"session": {"model": "gpt-live-1"}, "transport": {"type": "webrtc", "sdp": "hello"}},
            "invalid_offer",
            "transport.sdp",
        ),
    ],
)
async def test_a_bad_session_request_is_refused_with_the_services_json_error(
    app: web.Application, body: dict[str, Any], code: str, param: str
) -> None:
    body = {"transport": {"type": "webrtc", "sdp": "v=0\r\nm=application 9"}, **body}
    reply = await post(app, "/v1/live/sessions", json=body, headers={"Authorization": "Bearer k"})
    error = reply.json()["error"]
    assert (reply.status, error["code"], error["param"]) == (400, code, param)
    assert app[LIVE_CALLS_KEY] == {}


async def test_a_missing_key_is_refused_with_401(app: web.Application) -> None:
    body = {"session": {"model": "gpt-live-1"}, "transport": {"type": "webrtc", "sdp": "v=0"}}
    reply = await post(app, "/v1/live/sessions", json=body)
    assert reply.status == 401 and reply.json()["error"]["code"] == "invalid_api_key"


class SpokenOnATrack:
    """The `SpeechOut` of a call's audio track, keeping nothing: the session speaks as over WebRTC."""

    async def say(self, utterance: str, pcm: bytes) -> None:
        pass

    def said(self, utterance: str) -> None:
        pass

    def cut(self) -> None:
        pass


@pytest.mark.usefixtures("in_tones")  # the reply's sound is not what this checks: no espeak-ng
async def test_forbidden_events_on_the_data_channel_get_the_protocols_error_and_the_session_goes_on() -> None:
    """What a call does with each data channel message (`handle_client_frame` on its session, which
    speaks on a track), without the channel: the wire is the other tests' real calls."""
    from voicecli.server.live.route import handle_client_frame
    from voicecli.server.live.session import LiveServerSession

    events: list[dict[str, Any]] = []
    answered = asyncio.Event()

    async def send(event: dict[str, Any]) -> None:
        validate_live_server_event(event)
        events.append(event)
        if "Ask me about the weather" in "".join(e.get("delta", "") for e in events if "transcript" in e["type"]):
            answered.set()

    session = LiveServerSession(send, brain=load_brain("scripted", WEATHER_SCRIPT), speech_out=SpokenOnATrack())
    await session.start({"model": "gpt-live-1"})  # as the request started it
    codes = []
    for event in (
        {"type": "session.start", "session": {"model": "gpt-live-1"}},  # the request started it already
        {"type": "session.input_audio.append", "audio": ""},  # WebSocket-only: the microphone is media
        {"type": "response.cancel"},  # not a GPT-Live client event at all
    ):
        before = len(events)
        await handle_client_frame(session, orjson.dumps(event), send, what="message")
        codes += [reply["error"]["code"] for reply in events[before:] if reply["type"] == "error"]
    assert codes == ["session_already_started", "unsupported_event", "invalid_value"]
    assert not session.closed, "the call reads its channel on while its session is open"
    hello = typed_text("Hello")  # what the client sends for a typed turn
    validate_live_client_event(hello)
    assert hello["type"] in ALLOWED_OVER_WEBRTC
    await handle_client_frame(session, orjson.dumps(hello), send, what="message")
    async with asyncio.timeout(WAIT_S):
        await answered.wait()
    await session.stop()


async def test_the_server_cuts_the_calls_voice_when_the_user_starts_to_speak() -> None:
    """What the model has not said yet is dropped from the call's audio track at the user's first syllable."""
    from voicecli.server.brains import EchoBrain
    from voicecli.server.live.session import LiveServerSession

    events: list[dict[str, Any]] = []
    cuts: list[str] = []

    class Track:
        async def say(self, utterance: str, pcm: bytes) -> None:
            pass

        def said(self, utterance: str) -> None:
            pass

        def cut(self) -> None:
            cuts.append("cut")

    async def send(event: dict[str, Any]) -> None:
        validate_live_server_event(event)
        events.append(event)

    session = LiveServerSession(send, brain=EchoBrain(), speech_out=Track())
    await session.start({"model": "gpt-live-1"})
    assert "format" not in events[0]["session"]["audio"]  # WebRTC negotiates its media format
    await session.append_pcm(np.full(24 * 600, 12000, np.int16))
    assert cuts == ["cut"]
    await session.stop()
