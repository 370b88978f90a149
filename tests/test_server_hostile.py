"""The local server against hostile clients and operators' slips: every limit answered in the service's
shape, no slot or memory held by a client's choice, no internal address told, a clean end on SIGTERM."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import numpy as np
import orjson
import pytest

from voicecli.server import LocalServer, synth
from voicecli.server.brains import Brain, EchoBrain, Reply
from voicecli.server.session.conversation import BYTES_PER_MS
from voicecli.server.session.pacing import UNPACED
from voicecli.server.session.reply_budget import MODEL_MAX_OUTPUT_TOKENS, ReplyBudget
from voicecli.server.session.session import ServerSession
from voicecli.server.validation import MAX_STRING_CHARS

pytestmark = pytest.mark.timeout(60)


def voicecli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voicecli", *args], capture_output=True, text=True, timeout=45)


# --- off loopback, a key is required ------------------------------------------------------------


def test_serve_off_loopback_without_a_key_refuses_to_start() -> None:
    """192.0.2.1 (a documentation address, on no interface) rather than 0.0.0.0: should the check
    ever go, binding fails instead of this test opening a server to the network."""
    done = voicecli(
        "serve", "--host", "192.0.2.1", "--port", "0", "--brain", "chat", "--chat-url", "http://127.0.0.1:9/v1"
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("voicecli: error: listening on 192.0.2.1 lets other machines in") and "--api-key" in line


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.20"])
def test_a_server_off_loopback_needs_a_key(host: str) -> None:
    with pytest.raises(ValueError, match="--api-key"):
        LocalServer(host=host)
    LocalServer(host=host, accepted_key="k")  # built, never started: tests listen on loopback only


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_a_server_on_loopback_accepts_any_key(host: str) -> None:
    assert LocalServer(host=host).config.accepted_key is None


# --- SIGTERM ends `serve` as Ctrl-C does --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def connected(url: str, http: aiohttp.ClientSession, key: str) -> aiohttp.ClientWebSocketResponse:
    """A WebSocket session with the server at `url`, once `serve` listens (it takes a second to start)."""
    for _ in range(200):
        try:
            return await http.ws_connect(url, headers={"Authorization": f"Bearer {key}"})
        except aiohttp.ClientConnectorError:
            await asyncio.sleep(0.1)
    raise AssertionError("voicecli serve did not start listening")


async def test_sigterm_closes_sessions_with_1001_and_exits_0() -> None:
    """Also: the key clients must present comes from the environment, out of the process list."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "voicecli", "serve", "--port", str(port)),
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "VOICECLI_SERVE_API_KEY": "the-key"},
    )
    try:
        async with aiohttp.ClientSession() as http:
            url = f"ws://127.0.0.1:{port}/v1/realtime?model=m"
            ws = await connected(url, http, "the-key")
            assert (await ws.receive_json())["type"] == "session.created"
            wrong = await connected(url, http, "sk-another")
            assert (await wrong.receive_json())["error"]["code"] == "invalid_api_key"
            process.send_signal(signal.SIGTERM)
            closing = await asyncio.wait_for(ws.receive(), 20)
            assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1001, closing
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr and b"stopped on SIGTERM" in stderr


# --- events nested too deeply -------------------------------------------------------------------


class Recorder:
    """A session driven directly, without sockets, and the events it sends; replies unpaced (these
    tests are about bounds, not timing)."""

    def __init__(self, brain: Brain | None = None) -> None:
        self.events: list[dict] = []
        self.session = ServerSession(self.send, brain=brain or EchoBrain(), pacing=UNPACED)

    async def send(self, event: dict) -> None:
        self.events.append(event)

    async def handle(self, event: dict) -> None:
        await self.session.handle(event)

    async def response_done(self, timeout: float = 30) -> dict:
        async with asyncio.timeout(timeout):
            while not any(event["type"] == "response.done" for event in self.events):
                await asyncio.sleep(0.01)
        return next(event["response"] for event in self.events if event["type"] == "response.done")

    def of_type(self, kind: str) -> list[dict]:
        return [event for event in self.events if event["type"] == kind]


def tool_nested(levels: int) -> bytes:
    parameters: dict = {"type": "object"}
    for _ in range(levels):
        parameters = {"type": "object", "properties": {"a": parameters}}
    tool = {"type": "function", "name": "deep", "parameters": parameters}
    event = {"type": "session.update", "session": {"type": "realtime", "tools": [tool]}}
    return json.dumps(event).encode()  # orjson refuses to write such depth; the client need not use it


async def test_tool_parameters_nested_900_levels_get_the_services_error() -> None:
    recorder = Recorder()
    await recorder.session.handle_raw(tool_nested(450))  # 900 levels of objects
    [error] = recorder.events
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["code"] == "invalid_value"
    assert error["error"]["param"].startswith("session.tools[0].parameters.properties.a.properties.a")
    await recorder.session.handle_raw(tool_nested(20))  # the session goes on; a real schema's depth passes
    assert recorder.events[-1]["type"] == "session.updated"
    assert orjson.loads(orjson.dumps(recorder.events[-1]))["session"]["tools"][0]["name"] == "deep"


# --- bounded text and synthesis ------------------------------------------------------------------


@pytest.fixture
def synthesized(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of each text synthesized; a text long enough to need gigabytes is refused before
    synthesis (so that a server without bounds fails this test instead of exhausting the machine)."""
    lengths: list[int] = []
    real = synth.speak

    def speak(text: str) -> np.ndarray:
        lengths.append(len(text))
        if len(text) > 5000:
            raise MemoryError(f"asked to synthesize {len(text)} characters at once")
        return real(text)

    monkeypatch.setattr(synth, "speak", speak)
    return lengths


def user_text(text: str) -> dict:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


def spoken_ms(recorder: Recorder) -> int:
    return sum(len(base64.b64decode(event["delta"])) for event in recorder.of_type("response.output_audio.delta")) // (
        BYTES_PER_MS
    )


async def test_a_200000_character_message_is_answered_in_bounded_pieces(synthesized: list[int]) -> None:
    recorder = Recorder()
    await recorder.handle(user_text("word " * 40_000))
    await recorder.handle({"type": "response.create"})
    response = await recorder.response_done()
    assert response["status"] == "incomplete", response["status_details"]
    assert response["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    assert synthesized and max(synthesized) <= 400
    [done] = recorder.of_type("response.output_audio_transcript.done")
    assert len(done["transcript"]) == ReplyBudget({"output_modalities": ["audio"]}).chars
    assert 0 < spoken_ms(recorder) < 10 * 60_000


async def test_a_10_mb_tool_output_is_read_back_within_max_output_tokens(synthesized: list[int]) -> None:
    recorder = Recorder()
    call = {"type": "function_call", "call_id": "call_1", "name": "dump", "arguments": "{}"}
    await recorder.handle({"type": "conversation.item.create", "item": call})
    output = {"type": "function_call_output", "call_id": "call_1", "output": "x" * 10_000_000}
    await recorder.handle({"type": "conversation.item.create", "item": output})
    await recorder.handle({"type": "response.create", "response": {"max_output_tokens": 100}})
    response = await recorder.response_done()
    assert response["status"] == "incomplete"
    assert synthesized and max(synthesized) <= 400
    [done] = recorder.of_type("response.output_audio_transcript.done")
    assert done["transcript"] == ("The tool answered: " + "x" * 100)[:40]  # 100 tokens, ~0.4 spoken characters each
    assert spoken_ms(recorder) > 0


async def test_text_longer_than_the_services_limit_gets_its_error() -> None:
    recorder = Recorder()
    await recorder.session.handle_raw(orjson.dumps(user_text("x" * (MAX_STRING_CHARS + 1))))
    [error] = recorder.of_type("error")
    assert error["error"]["code"] == "string_above_max_length"
    assert error["error"]["param"] == "item.content[0].text"
    assert error["error"]["message"] == (
        "Invalid 'item.content[0].text': string too long. Expected a string with maximum length 10485760, "
        "but got a string with length 10485761 instead."
    )
    assert not recorder.of_type("conversation.item.added")


class EndlessStream:
    """A chat model that never stops talking; `closed` once the server hung up on it."""

    def __init__(self) -> None:
        self.calls = ()
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[str]:
        try:
            while True:
                yield "and so on "
                await asyncio.sleep(0)
        finally:
            self.closed = True


class EndlessBrain:
    phrases = ()

    def __init__(self) -> None:
        self.stream = EndlessStream()

    async def reply(self, items: object, config: object) -> Reply:
        return Reply(stream=self.stream)


async def test_a_reply_that_never_ends_is_cut_at_max_output_tokens() -> None:
    brain = EndlessBrain()
    recorder = Recorder(brain)
    await recorder.handle(user_text("hello"))
    await recorder.handle({"type": "response.create", "response": {"output_modalities": ["text"]}})
    response = await recorder.response_done()
    assert response["status"] == "incomplete"
    [done] = recorder.of_type("response.output_text.done")
    assert len(done["text"]) == MODEL_MAX_OUTPUT_TOKENS * 4
    assert brain.stream.closed  # the request to the model ends with the reply


# --- bounded input audio and sessions -------------------------------------------------------------


def pcm(seconds: float, level: int) -> bytes:
    return np.full(int(seconds * 24_000), level, dtype="<i2").tobytes()


async def test_loud_audio_that_never_ends_a_turn_is_held_in_a_bounded_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import voicecli.server.session.input_audio as input_audio_module

    monkeypatch.setattr(input_audio_module, "_MAX_UNCOMMITTED_MS", 300)
    recorder = Recorder()
    await recorder.session.start()
    for _ in range(20):  # 2 s of speech by server VAD (on by default), in 100 ms appends
        await recorder.session.append_audio(pcm(0.1, 8000))
    assert recorder.of_type("input_audio_buffer.speech_started")
    for _ in range(10):  # then silence ends the turn
        await recorder.session.append_audio(pcm(0.1, 0))
    [committed] = recorder.of_type("input_audio_buffer.committed")
    assert recorder.session.conversation.get(committed["item_id"]).audio_ms() <= 300


UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


async def test_sessions_beyond_the_limit_get_429_and_a_closed_one_frees_its_place() -> None:
    async with LocalServer(max_sessions=2) as server, aiohttp.ClientSession() as http:
        url = f"{server.ws_base_url}/realtime?model=m"
        headers = {"Authorization": "Bearer sk-test"}
        first = await http.ws_connect(url, headers=headers)
        second = await http.ws_connect(url, headers=headers)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, headers=headers)
        assert refused.value.status == 429
        async with http.get(url, headers={**headers, **UPGRADE}) as response:  # to read the refusal's body
            body = await response.json()
        assert response.status == 429 and body["error"]["code"] == "too_many_sessions"
        assert body["error"]["type"] == "invalid_request_error"
        await first.close()
        async with asyncio.timeout(10):
            while len(server.config.sockets) > 1:
                await asyncio.sleep(0.01)
        third = await http.ws_connect(url, headers=headers)
        assert (await third.receive_json())["type"] == "session.created"
        await second.close()
        await third.close()


async def test_committed_turns_hold_a_bounded_amount_of_audio(monkeypatch: pytest.MonkeyPatch) -> None:
    import voicecli.server.session.conversation as conversation_module

    monkeypatch.setattr(conversation_module, "MAX_AUDIO_BYTES", 500 * BYTES_PER_MS)
    recorder = Recorder()
    await recorder.handle(
        {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}}
    )
    for _ in range(5):  # push-to-talk turns of 300 ms, committed one after another
        await recorder.session.append_audio(pcm(0.3, 1000))
        await recorder.handle({"type": "input_audio_buffer.commit"})
    held = [item.audio_ms() for item in recorder.session.conversation]
    assert len(held) == 5 and held[-1] == 300  # every turn is there, the latest with its audio
    assert sum(held) <= 500
