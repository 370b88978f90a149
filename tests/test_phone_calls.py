"""Twenty calls at once through one bridge; the broken ones break nothing but themselves.

Every call speaks in real time into its own realtime session on the local server, whose scripted
model looks the weather up with the call's `get_weather` tool and says what it returned. Three
calls are broken on purpose: one sends malformed frames between its audio, one has a tool that
raises, one loses its realtime connection. All the others must be answered as if alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web
from support.live import until
from support.phone import CONNECT_TIMEOUT_S, SimulatedAcsCall, speech

from voicecli.config import AppConfig
from voicecli.conversation.providers import session_settings
from voicecli.phone.app import create_phone_app
from voicecli.phone.calls import CallRecord
from voicecli.phone.service import PhoneService
from voicecli.realtime import OpenAIRealtimeWebsocket, RealtimeClient
from voicecli.realtime.functions import ToolFunction, tool
from voicecli.server import UNPACED, Faults, LocalServer

pytestmark = pytest.mark.timeout(300)

CALLS = 20
WEATHER_SCRIPT = """
[[turn]]
reply = "Let me look that up."
after_tool = "The weather in Paris: {output}"
[[turn.call]]
name = "get_weather"
arguments = { city = "Paris" }
"""


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@tool(name="get_weather")
def broken_get_weather(city: str) -> str:
    """The weather in a city."""
    raise RuntimeError("the weather service is down")


@pytest.fixture
async def bridge_url(tmp_path: Path) -> AsyncIterator[tuple[str, PhoneService]]:
    script = tmp_path / "weather.toml"
    script.write_text(WEATHER_SCRIPT)
    async with (
        LocalServer(brain="scripted", script=script, pacing=UNPACED) as model,
        LocalServer(brain="scripted", script=script, pacing=UNPACED, faults=Faults(drop_after_events=4)) as dropping,
    ):

        def client_factory(record: CallRecord, tools: list[ToolFunction]) -> RealtimeClient:
            server = dropping if record.call_id == "dropped" else model
            weather = broken_get_weather if record.call_id == "bad-tool" else get_weather
            return OpenAIRealtimeWebsocket(
                api_key="sk-test",
                websocket_base_url=server.ws_base_url,
                tools=[*tools, weather],
                connect_timeout_s=CONNECT_TIMEOUT_S,
            )

        service = PhoneService(client_factory=client_factory, settings=session_settings(AppConfig()), greet=False)
        runner = web.AppRunner(create_phone_app(service), shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}", service
        await runner.cleanup()


async def one_call(base: str, call_id: str, words: np.ndarray, service: PhoneService) -> CallRecord:
    try:
        return await speak_and_hear_the_answer(base, call_id, words, service)
    except AssertionError as failure:  # say how the bridge saw the call
        record = service.registry.get(call_id)
        failure.add_note(f"{call_id}: {record.state}, {record.reason!r}" if record else f"{call_id}: no record")
        raise


async def speak_and_hear_the_answer(base: str, call_id: str, words: np.ndarray, service: PhoneService) -> CallRecord:
    async with SimulatedAcsCall(f"{base}/ws/{call_id}") as call:
        if call_id == "malformed":
            await call.send_raw("{broken")
            await call.send_raw('{"kind": "AudioData", "audioData": {"data": 42}}')
        await call.stream(words[: len(words) // 2])
        if call_id == "malformed":
            await call.send_raw(b"\xff\xfe")
        await call.stream(words[len(words) // 2 :])
        record = service.registry.open(call_id)
        if call_id == "dropped":
            await call.silence_until(call.closed.is_set, "the end of the call whose realtime session dropped", 60)
            return record
        await call.silence_until(lambda: "The weather in Paris" in record.last_words, "the answer", timeout=120)
        assert call.loud_audio_after(), f"{call_id}: the answer was heard"
        assert record.active, f"{call_id}: still in progress until the caller hangs up"
    return record


async def test_twenty_concurrent_calls_are_independent(bridge_url: tuple[str, PhoneService], tmp_path: Path) -> None:
    base, service = bridge_url
    words = speech(tmp_path, "What is the weather like in Paris today?")
    names = ["malformed", "bad-tool", "dropped", *(f"call-{n}" for n in range(CALLS - 3))]
    finished = await asyncio.gather(*(one_call(base, name, words, service) for name in names))
    records = dict(zip(names, finished, strict=True))

    await until(lambda: service.calls_in_progress == 0, "every call to be over", timeout=60)
    for name in names[3:]:
        record = records[name]
        assert (record.state, record.reason) == ("ended", "the caller hung up"), name
        assert record.last_words == "assistant: The weather in Paris: sunny in Paris", name
        assert record.malformed_frames == 0, name
    assert records["malformed"].malformed_frames == 3
    assert records["malformed"].last_words == "assistant: The weather in Paris: sunny in Paris"
    assert records["bad-tool"].last_words.startswith("assistant: The weather in Paris: Error: get_weather failed:")
    assert "the weather service is down" in records["bad-tool"].last_words
    assert records["bad-tool"].state == "ended"
    assert records["dropped"].state == "failed"
    assert records["dropped"].reason.startswith("realtime session failed")
