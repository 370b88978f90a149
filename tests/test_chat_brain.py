"""The `chat` brain against a chat completions server written here: real HTTP on loopback, streamed SSE.

The stand-in speaks the part of the OpenAI chat completions API the brain uses (`stream: true`,
`tools`, `tool_calls` deltas), records each request, and lets a test hold the stream open, so the
tests can see that speech starts before the chat model has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import orjson
import pytest
from aiohttp import web

from voicecli.conversation.exchange import exchange
from voicecli.realtime import RealtimeAudioEvent, RealtimeEvent, RealtimeSettings
from voicecli.server import LocalRealtime

Chunk = dict[str, Any] | asyncio.Event  # an Event: wait for it before going on with the stream


class ChatServer:
    """A minimal chat completions endpoint; `answer(request)` gives each reply's stream chunks."""

    def __init__(self, answer: Callable[[dict[str, Any]], list[Chunk]]) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.url = ""

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in self.answer(body):
            if isinstance(chunk, asyncio.Event):
                await chunk.wait()
                continue
            await response.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def text_chunk(text: str) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}


def call_chunk(index: int, *, call_id: str = "", name: str = "", arguments: str = "") -> dict[str, Any]:
    function = {"name": name, "arguments": arguments} if name else {"arguments": arguments}
    call: dict[str, Any] = {"index": index, "function": function}
    if call_id:
        call.update(id=call_id, type="function")
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}


@contextlib.asynccontextmanager
async def serving(chat: ChatServer) -> AsyncIterator[ChatServer]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat.completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    chat.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    try:
        yield chat
    finally:
        await runner.cleanup()


async def test_the_reply_is_streamed_into_speech_before_the_chat_model_has_finished() -> None:
    first_audio = asyncio.Event()
    chat = ChatServer(lambda _: [text_chunk("Paris is "), text_chunk("in France. "), first_audio, text_chunk("Bye.")])
    async with serving(chat) as server:
        client = LocalRealtime(brain="chat", chat_url=server.url, chat_model="tiny-llm")
        settings = RealtimeSettings(instructions="Be brief.", push_to_talk=True)

        def observe(event: RealtimeEvent) -> None:
            if isinstance(event, RealtimeAudioEvent):
                first_audio.set()  # only now does the stand-in send the rest: a reply spoken in one piece hangs

        async with client(settings=settings):
            result = await exchange(client, text="Where is Paris?", timeout_s=30, observer=observe)
    assert result.failed is None
    assert result.assistant_text == "Paris is in France. Bye."
    assert np.abs(result.audio).max() > 1000  # real speech, both sentences of it
    (request,) = chat.requests
    assert (request["model"], request["stream"]) == ("tiny-llm", True)
    assert request["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where is Paris?"},
    ]


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is sunny in {city}."


def weather_answers(request: dict[str, Any]) -> list[Chunk]:
    """The model: asks for get_weather (arguments in pieces), then answers from the tool's output."""
    last = request["messages"][-1]
    if last["role"] == "tool":
        return [text_chunk("Good news: "), text_chunk(last["content"])]
    return [
        call_chunk(0, call_id="call_abc", name="get_weather"),
        call_chunk(0, arguments='{"ci'),
        call_chunk(0, arguments='ty": "Paris"}'),
    ]


async def test_a_tool_call_goes_round_trip_through_the_chat_model() -> None:
    async with serving(ChatServer(weather_answers)) as server:
        client = LocalRealtime(brain="chat", chat_url=server.url, tools=[get_weather])
        async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
            result = await exchange(client, text="How is the weather in Paris?", timeout_s=30)
        requests = server.requests
    assert result.failed is None
    assert [(call.name, json.loads(call.arguments)) for call in result.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert [outcome.result for outcome in result.tool_results] == ["It is sunny in Paris."]
    assert result.assistant_text.strip() == "Good news: It is sunny in Paris."
    first, second = requests
    (tool,) = first["tools"]
    assert tool["type"] == "function" and tool["function"]["name"] == "get_weather"
    assert tool["function"]["parameters"]["properties"]["city"]["type"] == "string"
    assistant, answered = second["messages"][-2:]
    assert assistant["role"] == "assistant"
    assert [call["function"] for call in assistant["tool_calls"]] == [
        {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    ]
    assert answered == {
        "role": "tool",
        "tool_call_id": assistant["tool_calls"][0]["id"],
        "content": result.tool_results[0].result,
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(60)
def test_an_unreachable_chat_model_is_one_line_and_exit_code_1() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    result = subprocess.run(
        [sys.executable, "-m", "voicecli", "talk", "--brain", "chat", "--chat-url", url, "--text", "hello"],
        capture_output=True,
        text=True,
        timeout=45,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line == "voicecli: error: the chat model is unreachable (Connection refused)"  # no address: see below


async def test_the_client_is_not_told_the_chat_models_address(caplog: pytest.LogCaptureFixture) -> None:
    """The server may listen off loopback: its clients learn why the chat model failed, never where it is."""
    port = closed_port()
    client = LocalRealtime(brain="chat", chat_url=f"http://127.0.0.1:{port}/v1")
    with caplog.at_level("INFO", logger="voicecli.server"):
        async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
            result = await exchange(client, text="hello", timeout_s=30)
    assert result.failed == "the chat model is unreachable (Connection refused)"
    assert f"127.0.0.1:{port}/v1/chat/completions is unreachable" in caplog.text  # the operator's log has it
