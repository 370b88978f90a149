"""The real client against the real local server: a text turn end to end over loopback for every
transport (each route's handshake, URL and key), and the client's rules in memory, where the socket
is not what is tested: each provider's own client and WebSocket transport over an in-memory
connection to a server session (`support.memory_wire`), or the plain client on one
(`support.session_transport`).

Each test bounds its waits; the client's outgoing traffic is checked against the `openai` types.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from support.conformance import assert_valid_client_event
from support.memory_wire import MemoryRoute, memory_client_factory
from support.servers import TRANSPORTS, WEATHER_SCRIPT, ClientFactory, client_factory, wire_shape
from support.session_transport import (  # noqa: F401  (in_tones: a fixture)
    echo_client,
    in_tones,
    replies_in_tones,
    weather_client,
)

from voicecli.conversation.exchange import exchange
from voicecli.realtime import (
    ListenEvents,
    RealtimeAudioEvent,
    RealtimeClient,
    RealtimeEvent,
    RealtimeSettings,
    RealtimeTextEvent,
    SendEvents,
    protocol,
)
from voicecli.server import DEFAULT_PACING, UNPACED, LocalRealtime, LocalServer
from voicecli.server.brains import EchoBrain, ScriptedBrain

pytestmark = pytest.mark.timeout(30)


def record_sent(client: RealtimeClient) -> list[dict[str, Any]]:
    """Keep a copy of every payload the client sends."""
    sent: list[dict[str, Any]] = []
    client.observe_sent(sent.append)
    return sent


RULE_TRANSPORTS = ["openai_ws", "azure_ga", "azure_preview", "memory"]
"""For rules that are not a route's, all in memory: each provider's own client and WebSocket transport
over an in-memory connection (`support.memory_wire`: the preview route's beta shape included), and
the plain client on a server session (`memory`). The turns above prove each route's socket."""


async def _rule_clients(transport: str, brain: str) -> AsyncIterator[ClientFactory]:
    """Clients of `transport` to a session of an unpaced server with `brain`, in memory."""
    with replies_in_tones():
        if transport == "memory":
            yield echo_client if brain == "echo" else weather_client
            return
        route = MemoryRoute(EchoBrain() if brain == "echo" else ScriptedBrain.from_toml(WEATHER_SCRIPT))
        try:
            yield memory_client_factory(transport, route)
        finally:
            await route.close()


@pytest.fixture
async def echo_clients(transport: str) -> AsyncIterator[ClientFactory]:
    async for factory in _rule_clients(transport, "echo"):
        yield factory


@pytest.fixture
async def weather_clients(transport: str) -> AsyncIterator[ClientFactory]:
    async for factory in _rule_clients(transport, "scripted"):
        yield factory


def tone(seconds: float, frequency: float = 300.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(24_000 * seconds)) / 24_000
    return (np.sin(2 * np.pi * frequency * t) * level * 32767).astype(np.int16)


async def next_event(client: RealtimeClient, service_type: str, timeout: float = 5.0) -> RealtimeEvent:
    async with asyncio.timeout(timeout):
        async for event in client.receive():
            if event.service_type == service_type:
                return event
    raise AssertionError(f"the session ended before {service_type}")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_text_turn_gets_streamed_text_and_audio(transport: str, echo_server: LocalServer) -> None:
    client = client_factory(transport, echo_server)()
    sent = record_sent(client)
    async with client(settings=RealtimeSettings(voice="alloy", instructions="be brief", push_to_talk=True)):
        updated = (await next_event(client, ListenEvents.SESSION_UPDATED)).service_event["session"]
        voice = updated["voice"] if wire_shape(transport) == "beta" else updated["audio"]["output"]["voice"]
        assert voice == "alloy"
        result = await exchange(client, text="hello there", timeout_s=10)
    assert result.failed is None, result.failed
    assert "hello there" in result.assistant_text
    assert len(result.audio) > 24_000 * 0.3, "expected at least 300 ms of reply audio"
    assert np.abs(result.audio).max() > 1000, "the reply audio is silent"
    assert result.errors == []
    assert not client.connected
    for payload in sent:
        assert_valid_client_event(payload, wire_shape(transport))


@pytest.mark.timeout(60)  # the recognisers' load, then a recognition the exchange alone gives 30 s
@pytest.mark.usefixtures("in_tones")
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_audio_turn_push_to_talk(transport: str) -> None:
    """End to end on the embedded server (`local`); each other provider's client in memory, over its
    own WebSocket transport (the text turns above prove their sockets)."""
    route = MemoryRoute(hears=True)
    if transport == "local":
        client: RealtimeClient = LocalRealtime(brain="echo", pacing=UNPACED)
    else:
        client = memory_client_factory(transport, route)()
    sent = record_sent(client)
    try:
        async with client(settings=RealtimeSettings(push_to_talk=True)):
            result = await exchange(client, audio=tone(1.2), timeout_s=30)  # recognised first: slow on a loaded machine
    finally:
        await route.close()
    assert result.failed is None, result.failed
    assert "1.2 seconds" in result.assistant_text
    assert len(result.audio) > 0
    for payload in sent:
        assert_valid_client_event(payload, wire_shape(transport))


@pytest.mark.usefixtures("in_tones")
@pytest.mark.parametrize("transport", ["memory", "azure_preview"])
async def test_text_only_modality_sends_no_audio(transport: str) -> None:
    """In memory, in the GA shape and in the preview route's beta shape (`modalities`)."""
    route = MemoryRoute()
    client = echo_client() if transport == "memory" else memory_client_factory(transport, route)()
    try:
        async with client(settings=RealtimeSettings(output_modalities=["text"], push_to_talk=True)):
            result = await exchange(client, text="just text", timeout_s=10)
    finally:
        await route.close()
    assert "just text" in result.assistant_text
    assert len(result.audio) == 0


@pytest.mark.usefixtures("in_tones")
async def test_server_vad_detects_speech_and_answers_by_itself() -> None:
    client = echo_client(hears=True)
    async with client(settings=RealtimeSettings()):
        await next_event(client, ListenEvents.SESSION_UPDATED)
        speech = np.concatenate([np.zeros(4800, np.int16), tone(1.0), np.zeros(24_000, np.int16)])
        for start in range(0, len(speech), 480):
            await client.send(RealtimeAudioEvent(audio=_audio(speech[start : start + 480])))
        seen: list[str] = []
        text = ""
        async with asyncio.timeout(10):
            async for event in client.receive():
                seen.append(str(event.service_type))
                if isinstance(event, RealtimeTextEvent):
                    text += event.text.text
                if event.service_type == ListenEvents.RESPONSE_DONE:
                    break
    assert (
        seen.index(ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STARTED)
        < seen.index(ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STOPPED)
        < seen.index(ListenEvents.RESPONSE_CREATED)
    )
    assert "seconds of audio" in text


def _audio(pcm: np.ndarray) -> Any:
    from voicecli.realtime import AudioContent

    return AudioContent(data=pcm)


@pytest.mark.parametrize("transport", RULE_TRANSPORTS)
async def test_function_call_round_trip(transport: str, weather_clients: ClientFactory) -> None:
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        calls.append(city)
        return f"sunny and 21 degrees in {city}"

    client = weather_clients(tools=[get_weather])
    sent = record_sent(client)
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        result = await exchange(client, text="What is the weather like?", timeout_s=10)
    assert result.failed is None, result.failed
    assert calls == ["Paris"]
    assert [c.name for c in result.tool_calls] == ["get_weather"]
    assert [r.result for r in result.tool_results] == ["sunny and 21 degrees in Paris"]
    assert "sunny and 21 degrees in Paris" in result.assistant_text
    kinds = [p["type"] for p in sent]
    assert kinds.count("response.create") == 2, "one for the user turn, exactly one after the tool output"
    outputs = [
        p for p in sent if p["type"] == "conversation.item.create" and p["item"]["type"] == "function_call_output"
    ]
    assert len(outputs) == 1 and outputs[0]["item"]["call_id"] == result.tool_calls[0].call_id
    for payload in sent:
        assert_valid_client_event(payload, wire_shape(transport))


@pytest.mark.usefixtures("in_tones")
async def test_failing_tool_reports_error_to_model_and_session_goes_on() -> None:
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        raise ConnectionError("weather service down")

    client = weather_client(tools=[get_weather])
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        result = await exchange(client, text="weather please", timeout_s=10)
        assert result.tool_results[0].is_error
        assert "weather service down" in result.assistant_text
        again = await exchange(client, text="hello", timeout_s=10)
    assert again.failed is None and "Hello" in again.assistant_text


@pytest.mark.parametrize("transport", RULE_TRANSPORTS)
async def test_update_session_mid_conversation(transport: str, echo_clients: ClientFactory) -> None:
    client = echo_clients()
    async with client(settings=RealtimeSettings(voice="alloy", push_to_talk=True)):
        await next_event(client, ListenEvents.SESSION_UPDATED)
        first = await exchange(client, text="first", timeout_s=10)
        await client.update_session(
            RealtimeSettings(instructions="now in Italian", output_modalities=["text"], push_to_talk=True)
        )
        updated = await next_event(client, ListenEvents.SESSION_UPDATED)
        second = await exchange(client, text="second", timeout_s=10)
    session = updated.service_event["session"]
    assert session["instructions"] == "now in Italian"
    modalities = session["modalities"] if wire_shape(transport) == "beta" else session["output_modalities"]
    assert modalities == ["text"]
    assert len(first.audio) > 0 and len(second.audio) == 0, "the new modality took effect"
    assert "second" in second.assistant_text


@pytest.mark.usefixtures("in_tones")
async def test_service_refusal_is_an_error_event_and_session_goes_on() -> None:
    client = echo_client()
    async with client(settings=RealtimeSettings(voice="alloy", push_to_talk=True)):
        await exchange(client, text="first", timeout_s=10)
        await client.update_session(RealtimeSettings(voice="shimmer", push_to_talk=True))
        error = await next_event(client, ListenEvents.ERROR)
        after = await exchange(client, text="still here", timeout_s=10)
    assert error.error.code == "cannot_update_voice" and not error.error.fatal
    assert "still here" in after.assistant_text


@pytest.mark.parametrize("transport", RULE_TRANSPORTS)
async def test_delete_session_closes_and_ends_receive(transport: str, echo_clients: ClientFactory) -> None:
    client = echo_clients()
    await client.create_session(RealtimeSettings())
    await next_event(client, ListenEvents.SESSION_UPDATED)
    await client.delete_session()
    async with asyncio.timeout(5):
        remaining = [event async for event in client.receive()]
    assert all(e.event_type != "error" for e in remaining)
    assert not client.connected
    await client.delete_session()  # a second close is harmless


@pytest.mark.usefixtures("in_tones")
async def test_audio_output_callback_gets_each_chunk_before_the_event() -> None:
    chunks: list[np.ndarray] = []
    order: list[tuple[int, int]] = []

    client = echo_client()
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        await exchange(client, text="warm up", timeout_s=10)

        async def play(pcm: np.ndarray) -> None:
            chunks.append(pcm)

        await client.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "callback"}]},
            }
        )
        await client.send({"type": "response.create"})
        async with asyncio.timeout(10):
            async for event in client.receive(audio_output_callback=play):
                if isinstance(event, RealtimeAudioEvent):
                    order.append((len(chunks), len(order) + 1))
                    assert event.audio.data is chunks[len(order) - 1]
                if event.service_type == ListenEvents.RESPONSE_DONE:
                    break
    assert order and all(seen >= index for seen, index in order)
    assert all(c.dtype == np.int16 for c in chunks)


@pytest.mark.usefixtures("in_tones")
async def test_sync_callback_in_constructor() -> None:
    received: list[int] = []
    client = echo_client(audio_output_callback=lambda pcm: received.append(len(pcm)))
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        result = await exchange(client, text="count me", timeout_s=10)
    assert sum(received) == len(result.audio) > 0


@pytest.mark.usefixtures("in_tones")
async def test_create_response_true_makes_the_model_speak_first() -> None:
    client = echo_client()
    async with client(settings=RealtimeSettings(), create_response=True):
        created = await next_event(client, ListenEvents.RESPONSE_CREATED)
        await next_event(client, ListenEvents.RESPONSE_DONE)
    assert created.service_event["response"]["id"].startswith("resp_")


@pytest.mark.usefixtures("in_tones")
@pytest.mark.parametrize("transport", ["openai_ws", "azure_preview"])
async def test_barge_in_cancel_and_truncate_conversation(transport: str) -> None:
    """In memory, paced like the service so that the reply is still in flight when it is cancelled."""
    route = MemoryRoute(pacing=DEFAULT_PACING)
    client = memory_client_factory(transport, route)()
    sent = record_sent(client)
    long_text = "please repeat this rather long sentence so that the reply has many chunks of audio " * 3
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        await client.send(protocol.user_text_item(long_text))
        await client.send(protocol.simple_event(SendEvents.RESPONSE_CREATE))
        audio_item = await next_event(client, ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA)
        await client.send(protocol.simple_event(SendEvents.RESPONSE_CANCEL))
        done = await next_event(client, ListenEvents.RESPONSE_DONE)
        item_id = audio_item.service_event["item_id"]
        await client.send(protocol.truncate_item(item_id, 40))
        truncated = await next_event(client, ListenEvents.CONVERSATION_ITEM_TRUNCATED)
        await client.send(protocol.truncate_item(item_id, 600_000))
        past_end = await next_event(client, ListenEvents.ERROR)
    await route.close()
    assert done.service_event["response"]["status"] == "cancelled"
    assert truncated.service_event["audio_end_ms"] == 40
    assert not past_end.error.fatal and "shorter than" in past_end.error.message
    for payload in sent:
        assert_valid_client_event(payload, wire_shape(transport))
