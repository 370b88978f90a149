"""GPT-Live against the local server: turns, delegation, barge-in, mute, and every event checked both
ways against `openai.types.live`. Over real loopback WebSockets, but for the text turn, hosted delegation,
mute and the refusal of invalid client events, which run against a server session in memory
(`support.session_transport`, `support.server_session.LivePeer`): the Azure route's turn, the client
delegation's turn and the SDK's own connection keep them end to end over the socket."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import orjson
import pytest
from support.server_session import live_peer
from support.servers import WEATHER_SCRIPT
from support.session_transport import LiveSessionTransport, in_tones  # noqa: F401  (in_tones: a fixture)

from voicecli.realtime import (
    AzureLiveWebsocket,
    Continuity,
    ContinuityEvents,
    OpenAILiveWebsocket,
    RealtimeAudioEvent,
    RealtimeClient,
    RealtimeConnectionError,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
    TextContent,
    tool,
)
from voicecli.realtime.live_client import LiveClient
from voicecli.realtime.live_ws import LiveWebsocketClient
from voicecli.server import LocalServer, synth
from voicecli.server.brains import ScriptedBrain
from voicecli.server.live.session import LiveServerSession
from voicecli.server.live.validation import validate_live_client_event, validate_live_server_event
from voicecli.server.session.pacing import Pacing
from voicecli.server.validation import ProtocolViolation

WAIT_S = 30.0  # a guard against hanging on a loaded machine, never a timing assert
FRAME = 480  # 20 ms at 24 kHz
ALLOWED_TO_SEND = {
    "session.start",
    "session.input_audio.append",
    "session.input_audio.mute",
    "session.input_audio.unmute",
    "session.instructions.append",
    "session.commentary.append",
}
"""What a client-delegation session ever needs to send: no response.*, nothing that cancels or truncates."""


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny and 21 degrees in {city}"


@pytest.fixture
async def scripted_server() -> AsyncIterator[LocalServer]:
    async with LocalServer(brain="scripted", script=WEATHER_SCRIPT) as server:
        yield server


@pytest.fixture
async def slow_server() -> AsyncIterator[LocalServer]:
    """Replies stream in real time: a reply is still arriving when the user talks over it."""
    async with LocalServer(brain="scripted", script=WEATHER_SCRIPT, pacing=Pacing(0.0, 1.0)) as server:
        yield server


class MemoryLiveClient(LiveClient):
    """A GPT-Live client bound in memory to a session (of `lifetime_s`) of an unpaced weather-script
    server; its delegate is never asked (the tests that use it delegate nothing)."""

    def __init__(self, lifetime_s: float = 3600.0, **kwargs: Any) -> None:
        self.server = LiveSessionTransport(ScriptedBrain.from_toml(WEATHER_SCRIPT), lifetime_s=lifetime_s)
        super().__init__(transport=self.server, sdk_client=self._no_sdk, **kwargs)

    @property
    def model(self) -> str:
        return "gpt-live-1"

    @staticmethod
    def _no_sdk() -> Any:
        raise AssertionError("the in-memory client has no HTTP endpoint")


def checked(client: LiveClient) -> list[dict[str, Any]]:
    """Every client event `client` sends, each checked against `ClientEvent` as it goes out."""
    sent: list[dict[str, Any]] = []

    def check(payload: dict[str, Any]) -> None:
        validate_live_client_event(payload)
        assert payload["type"] in ALLOWED_TO_SEND, payload["type"]
        sent.append(payload)

    client.observe_sent(check)
    return sent


def openai_client(server: LocalServer, **kwargs: Any) -> OpenAILiveWebsocket:
    return OpenAILiveWebsocket(api_key="sk-test", base_url=server.http_url + "/v1", **kwargs)


async def until(client: RealtimeClient, done: Callable[[RealtimeEvent], bool]) -> list[RealtimeEvent]:
    """Events received until `done` holds for one (included)."""
    events: list[RealtimeEvent] = []
    async with asyncio.timeout(WAIT_S):
        async for event in client.receive():
            events.append(event)
            if done(event):
                return events
    raise AssertionError(f"the session ended first: {[e.service_type for e in events]}")


def said(words: str) -> Callable[[RealtimeEvent], bool]:
    def check(event: RealtimeEvent) -> bool:
        return (
            isinstance(event, RealtimeTextEvent)
            and event.text.source == "assistant_transcript"
            and words in (event.text.text)
        )

    return check


async def speak_into(client: LiveWebsocketClient, pcm: np.ndarray, silence_ms: int = 900) -> None:
    """Microphone frames: the speech, then silence (the session clock runs only on what is sent)."""
    frames = np.concatenate((pcm, np.zeros(24 * silence_ms, np.int16)))
    for start in range(0, frames.size, FRAME):
        await client.send_audio(frames[start : start + FRAME])


@pytest.mark.usefixtures("in_tones")
async def test_text_turn_is_answered_by_the_model_with_voice_and_transcript() -> None:
    client = MemoryLiveClient()
    sent = checked(client)
    async with client:
        await client.send(RealtimeTextEvent(text=TextContent(text="Hello, who are you?", source="user_text")))
        events = await until(client, said("Ask me about the weather"))
        spoken = any(isinstance(event, RealtimeAudioEvent) for event in events) or await _audio_follows(client)
    assert spoken  # the transcript comes first; with the server's pacing the audio follows it
    assert [payload["type"] for payload in sent] == ["session.start", "session.instructions.append"]
    assert sent[0]["session"]["model"] == "gpt-live-1"


async def _audio_follows(client: RealtimeClient) -> bool:
    events = await until(client, lambda event: isinstance(event, RealtimeAudioEvent))
    return bool(events)


async def test_spoken_turn_is_heard_by_the_servers_vad_and_answered() -> None:
    async with LocalServer(brain="echo") as server:
        client = openai_client(server)
        checked(client)
        async with client:
            await speak_into(client, synth.speak("hello there").copy())
            events = await until(client, said("I heard"))
    user = [e for e in events if isinstance(e, RealtimeTextEvent) and e.text.source == "user_transcript"]
    assert user, "the user's words were shown"


async def test_delegated_tool_call_runs_our_tool_and_the_model_speaks_its_result(scripted_server: LocalServer) -> None:
    client = openai_client(scripted_server, tools=[get_weather])
    sent = checked(client)
    async with client:
        await client.send(RealtimeTextEvent(text=TextContent(text="What is the weather like?", source="user_text")))
        events = await until(client, said("Here is the weather in Paris"))
    kinds = [event.service_type for event in events]
    assert "session.delegation.created" in kinds
    (call,) = [event.function_call for event in events if isinstance(event, RealtimeFunctionCallEvent)]
    (result,) = [event.function_result for event in events if isinstance(event, RealtimeFunctionResultEvent)]
    assert (call.name, result.result) == ("get_weather", "sunny and 21 degrees in Paris")
    (commentary,) = [payload for payload in sent if payload["type"] == "session.commentary.append"]
    assert commentary["content"] == result.result and commentary["delegation_id"].startswith("deleg_")
    assert "sunny and 21 degrees in Paris" in str(events[-1].text.text)  # type: ignore[attr-defined]


@pytest.mark.usefixtures("in_tones")
async def test_hosted_delegation_is_a_setting_sent_at_startup_runs_nothing_here_and_is_shown_like_tool_calls() -> None:
    hosted = {"type": "responses", "responses": {"model": "gpt-5-mini", "tools": [{"type": "web_search"}]}}
    client = MemoryLiveClient(tools=[get_weather], delegation=hosted)  # the backend answers: no HTTP delegate
    sent = checked(client)
    async with client:
        await client.send(RealtimeTextEvent(text=TextContent(text="What is the weather like?", source="user_text")))
        events = await until(client, said("Here is the weather in Paris"))
        if not any(
            isinstance(e, RealtimeFunctionResultEvent) and e.function_result.name == "responses" for e in events
        ):
            events += await until(client, lambda e: isinstance(e, RealtimeFunctionResultEvent))  # the stream's end
    assert sent[0]["session"]["delegation"] == hosted
    assert "session.commentary.append" not in [payload["type"] for payload in sent]  # the backend answers, not us
    calls = [event.function_call.name for event in events if isinstance(event, RealtimeFunctionCallEvent)]
    assert calls == ["responses", "get_weather"]  # the delegation, and the call the backend made
    results = {
        e.function_result.name: e.function_result.result for e in events if isinstance(e, RealtimeFunctionResultEvent)
    }
    assert results["get_weather"] == "completed"  # the backend's call, reported; our tool never ran
    assert "the local server does not run hosted tools" in results["responses"]  # the backend's answer


async def test_interruption_stops_playback_only_and_the_model_stops_when_the_user_talks(
    slow_server: LocalServer,
) -> None:
    played: list[int] = []
    client = openai_client(slow_server, audio_output_callback=lambda pcm: played.append(len(pcm)))
    sent = checked(client)
    full_reply = synth.speak("Hello! Ask me about the weather.").size
    async with client:
        await client.send(RealtimeTextEvent(text=TextContent(text="Hello", source="user_text")))
        await until(client, lambda event: isinstance(event, RealtimeAudioEvent))
        await speak_into(client, synth.speak("Hello there").copy())  # over the reply: the model stops by itself
        events = await until(client, lambda event: event.service_type == "input_audio_buffer.speech_started")
        before = len(sent)
        assert await client.interrupt([("the reply's item", 100)], cancel=True) == []
        assert len(sent) == before  # the protocol has no cancel or truncate: nothing went out
    started = events[-1].service_event or {}
    assert started["type"] == "input_audio_buffer.speech_started"
    assert started["source"] == "live_input_transcript"
    assert str(started["item_id"]).endswith("_user_1")  # the first turn the user spoke (typed text has none)
    assert sum(played) < full_reply, "the model kept talking over the user"
    assert {payload["type"] for payload in sent} <= ALLOWED_TO_SEND


@pytest.mark.usefixtures("in_tones")
async def test_mute_sends_silence_and_the_server_acknowledges() -> None:
    client = MemoryLiveClient()
    sent = checked(client)
    async with client:
        await client.mute(True)
        await until(client, lambda event: event.service_type == "session.input_audio.muted")
        await client.send_audio(np.full(FRAME, 12000, np.int16))
        await client.mute(False)
        await until(client, lambda event: event.service_type == "session.input_audio.unmuted")
    (append,) = [payload for payload in sent if payload["type"] == "session.input_audio.append"]
    assert not np.frombuffer(base64.b64decode(append["audio"]), "<i2").any()


async def test_a_muted_session_hears_silence_whatever_the_client_sends() -> None:
    events: list[dict[str, Any]] = []

    async def send(event: dict[str, Any]) -> None:
        validate_live_server_event(event)
        events.append(event)

    from voicecli.server.brains import EchoBrain

    session = LiveServerSession(send, brain=EchoBrain())
    await session.handle({"type": "session.start", "session": {"model": "gpt-live-1"}})
    await session.handle({"type": "session.input_audio.mute"})
    loud = np.full(24 * 2000, 12000, np.int16)
    audio = base64.b64encode(np.concatenate((loud, np.zeros(24 * 1000, np.int16))).tobytes()).decode()
    await session.handle({"type": "session.input_audio.append", "audio": audio})
    assert session.clock_ms == 3000  # the clock ran on
    assert [event["usage"]["seconds"] for event in events if event["type"] == "session.usage.updated"] == [3.0]
    assert not session._tasks, "a muted microphone started a turn"
    await session.stop()


async def test_azure_route_and_the_same_api(scripted_server: LocalServer) -> None:
    client = AzureLiveWebsocket(endpoint=scripted_server.http_url, api_key="azure-key", deployment_name="gpt-live-1")
    checked(client)
    async with client:
        await client.send(RealtimeTextEvent(text=TextContent(text="Hello", source="user_text")))
        await until(client, said("Ask me about the weather"))
    assert client.route.url == scripted_server.ws_base_url.removesuffix("/v1") + "/openai/v1/live/sessions"


async def test_every_server_event_of_a_delegated_turn_conforms(scripted_server: LocalServer) -> None:
    """Over the SDK's own connection: each frame the server sends is a valid `ServerEvent`."""
    from openai import AsyncOpenAI

    sdk = AsyncOpenAI(api_key="k", base_url=scripted_server.http_url + "/v1")
    seen: set[str] = set()
    async with asyncio.timeout(WAIT_S), sdk.live.connect() as connection:
        for event in (
            {"type": "session.start", "session": {"model": "gpt-live-1", "delegation": {"type": "client"}}},
            {"type": "session.instructions.append", "content": "The user typed: weather?", "delegation_id": None},
        ):
            validate_live_client_event(event)
            await connection.send_raw(orjson.dumps(event))
        while "session.closed" not in seen:
            frame = orjson.loads(await connection.recv_bytes())
            validate_live_server_event(frame)
            seen.add(frame["type"])
            if frame["type"] == "session.delegation.created":
                answer = {"type": "session.commentary.append", "content": "sunny", "delegation_id": None}
                answer["delegation_id"] = frame["delegation"]["id"]
                await connection.send_raw(orjson.dumps(answer))
            if frame["type"] == "session.output_transcript.delta" and "sunny" in frame["delta"]:
                await connection.send_raw(
                    orjson.dumps({"type": "session.thinking.append", "content": "x", "delegation_id": None})
                )
                await connection.send_raw(orjson.dumps({"type": "session.close"}))
    assert {"session.started", "session.delegation.created", "session.commentary.appended"} <= seen
    assert {"session.thinking.appended", "session.output_audio.delta", "session.closed"} <= seen


@pytest.mark.parametrize(
    ("event", "code", "param"),
    [
        ({"type": "session.instructions.append", "content": "x", "delegation_id": None}, "session_not_started", None),
        (
            {
                "type": "session.start",
                "session": {
                    "model": "gpt-live-1",
                    "audio": {"format": {"type": "audio/pcm", "rate": 24000, "bits": 16}},
                },
            },
            "unknown_parameter",
            "session.audio.format.bits",
        ),
        ({"type": "response.cancel"}, "invalid_value", "type"),
        (
            {"type": "conversation.item.truncate", "item_id": "x", "content_index": 0, "audio_end_ms": 1},
            "invalid_value",
            "type",
        ),
    ],
)
async def test_invalid_client_events_get_the_protocols_error_and_the_session_goes_on(
    event: dict[str, Any], code: str, param: str | None
) -> None:
    async with live_peer(ScriptedBrain.from_toml(WEATHER_SCRIPT)) as peer:
        await peer.send_raw(orjson.dumps(event))
        error = await peer.recv()
        assert (error["type"], error["error"]["code"], error["error"].get("param")) == ("error", code, param)
        await peer.send({"type": "session.start", "session": {"model": "gpt-live-1"}})
        assert (await peer.recv())["type"] == "session.started"


def test_validation_refuses_unknown_fields_at_any_depth() -> None:
    delegation = {"type": "responses", "responses": {"model": "gpt-5", "tools": [{"type": "web_search", "x": 1}]}}
    with pytest.raises(ProtocolViolation) as refused:
        validate_live_client_event(
            {"type": "session.start", "session": {"model": "gpt-live-1", "delegation": delegation}}
        )
    assert refused.value.param == "session.delegation.responses.tools[0].x"
    with pytest.raises(ProtocolViolation):
        validate_live_server_event({"type": "session.output_audio.delta", "delta": "", "event_id": "e"})


async def test_a_missing_key_is_refused_like_the_service_does(scripted_server: LocalServer) -> None:
    import websockets

    url = scripted_server.ws_base_url + "/live/sessions"
    async with asyncio.timeout(WAIT_S), websockets.connect(url) as socket:
        error = orjson.loads(await socket.recv())
        assert error["error"]["code"] == "invalid_api_key"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 3000


async def test_live_sessions_count_towards_the_servers_session_limit() -> None:
    """A GPT-Live session holds a socket like a Realtime one: beyond `max_sessions` the client is refused (HTTP 429)."""
    async with LocalServer(brain="echo", max_sessions=1) as server, openai_client(server):
        with pytest.raises(RealtimeConnectionError, match="HTTP 429"):
            async with openai_client(server):
                pass


async def test_a_dropped_connection_is_followed_by_a_session_carrying_the_conversation(
    scripted_server: LocalServer,
) -> None:
    continuity = Continuity(delays_s=(0.0, 0.2, 0.5), attempt_timeout_s=WAIT_S)
    client = openai_client(scripted_server, continuity=continuity)
    sent = checked(client)
    async with client:
        await client.send(RealtimeTextEvent(text=TextContent(text="Who are you?", source="user_text")))
        await until(client, said("I am a scripted assistant"))  # the script's first fallback
        for socket in list(scripted_server.config.sockets):
            await socket.close(code=1012, message=b"service restart")  # reconnectable, as the service's restarts
        events = await until(client, lambda event: event.service_type == ContinuityEvents.RECONNECTED)
        await client.send(RealtimeTextEvent(text=TextContent(text="Tell me more", source="user_text")))
        await until(client, said("I can only talk about the weather"))  # its second: the new session knows the first
    kinds = [event.service_type for event in events]
    assert ContinuityEvents.RECONNECTING in kinds and "session.started" in kinds
    starts = [payload["session"] for payload in sent if payload["type"] == "session.start"]
    assert len(starts) == 2 and "input" not in starts[0]
    carried = [(item["role"], item["content"][0]["text"]) for item in starts[1]["input"]]
    assert carried[:2] == [
        ("user", "Who are you?"),
        ("assistant", "I am a scripted assistant. Ask me about the weather."),
    ]
    assert carried[-1][0] == "developer"


async def test_a_session_ends_at_its_limit_with_session_closed_expired() -> None:
    async with LocalServer(brain="echo", max_session_s=0.5) as server:
        client = openai_client(server)
        async with client:
            events = await until(client, lambda event: event.service_type == "session.closed")
            assert (events[-1].service_event or {})["reason"] == "expired"
            (lost,) = [event async for event in client.receive()]  # then the connection ends
    assert lost.error.fatal  # type: ignore[attr-defined]
