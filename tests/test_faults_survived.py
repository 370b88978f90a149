"""Faults a new user ran into, each of which used to end a session or print a traceback.

Each test breaks one thing the way it broke in the field and checks what the user sees now: the
session goes on (or the command says one line and exits 2).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
import pytest
from support.servers import client_factory
from support.session_transport import in_tones, weather_client  # noqa: F401  (in_tones: a fixture)

from voicecli.conversation.exchange import exchange
from voicecli.realtime import (
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeSettings,
    SendEvents,
    ToolRegistry,
    protocol,
)
from voicecli.realtime.webrtc_playback import RemotePlayback
from voicecli.server import UNPACED, Faults, LocalServer

pytestmark = pytest.mark.timeout(60)


# --- misshapen server events ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        (b'{"type": "error", "error": "boom"}', "malformed error event: 'boom'"),
        (b'{"type": "response.output_audio_transcript.delta", "delta": 7}', "delta is int, not text"),
        (b'{"type": "response.done", "response": "done"}', "response is str, not an object"),
        (b'{"type": "conversation.item.added", "item": ["x"]}', "item is list, not an object"),
    ],
)
def test_a_misshapen_event_becomes_one_non_fatal_error(frame: bytes, says: str) -> None:
    event = protocol.parse_server_message(frame)
    assert isinstance(event, RealtimeErrorEvent) and not event.error.fatal
    assert event.error.code == "malformed_event" and says in event.error.message


def test_webrtc_playback_ignores_events_missing_their_fields() -> None:
    playback = RemotePlayback()
    for payload in ({"type": "output_audio_buffer.started"}, {"type": "output_audio_buffer.stopped"}):
        playback.on_server_event(RealtimeEvent(service_type=payload["type"], service_event=payload))
    part = {"type": "response.content_part.added", "part": {"type": "audio"}}  # no response_id, no item_id
    playback.on_server_event(RealtimeEvent(service_type=part["type"], service_event=part))
    assert playback.admit(np.full(480, 1000, dtype=np.int16)) is None  # no response is playing


@pytest.mark.parametrize("transport", ["openai_ws", "webrtc"])
async def test_misshapen_events_from_the_server_leave_the_session_running(transport: str) -> None:
    async with LocalServer(brain="echo", pacing=UNPACED, faults=Faults(misshapen_after_events=2)) as server:
        client = _client(transport, server)
        async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
            result = await exchange(client, text="still there?", timeout_s=20)
            again = await exchange(client, text="and now?", timeout_s=20)
    assert [(error.code, error.fatal) for error in result.errors] == [("malformed_event", False)] * 2
    assert (result.assistant_text, again.assistant_text) == ("You said: still there?", "You said: and now?")


# --- tools ------------------------------------------------------------------------------------------


def _circular() -> dict[str, Any]:
    value: dict[str, Any] = {"city": "Paris"}
    value["self"] = value
    return value


@pytest.mark.usefixtures("in_tones")
async def test_a_tool_value_json_cannot_encode_still_reaches_the_model() -> None:
    """Against a server session in memory: the rule is the client's (a tool round trip over each socket
    is test_client_transports')."""

    def get_weather(city: str) -> Any:
        """Get the weather."""
        return {("sunny", city): 21}  # a tuple key: json.dumps refuses it

    client = weather_client(tools=[get_weather])
    async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
        result = await exchange(client, text="what is the weather?", timeout_s=20)
    [outcome] = result.tool_results
    assert not outcome.is_error and outcome.result == "{('sunny', 'Paris'): 21}"
    assert result.failed is None and "{('sunny', 'Paris'): 21}" in result.assistant_text


async def test_a_circular_tool_value_is_sent_as_text() -> None:
    registry = ToolRegistry([_circular])
    outcome = await registry.invoke("_circular", "{}", "c1")
    assert not outcome.is_error and outcome.result.startswith("{'city': 'Paris', 'self': {...}}")


async def test_a_timed_out_blocking_tool_does_not_hold_the_shared_executor() -> None:
    """The embedded server synthesises speech in the loop's default executor; here it has one thread."""
    release = threading.Event()

    def stuck() -> str:
        """Never returns on its own."""
        release.wait()
        return "late"

    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=1))
    try:
        outcome = await ToolRegistry([stuck], timeout_s=0.2).invoke("stuck", "{}", "c1")
        assert outcome.is_error and "did not finish within 0.2 s" in outcome.result
        async with asyncio.timeout(10):  # a guard against hanging: with the tool in it, this never ran
            assert await asyncio.to_thread(lambda: "the executor is free") == "the executor is free"
    finally:
        release.set()


# --- bad input on the command line --------------------------------------------------------------


def voicecli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicecli", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_json_events_to_an_unwritable_path_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "none.toml").write_text("")
    done = voicecli(
        "talk", "--config", "none.toml", "--text", "hi", "--json-events", "missing/dir/events.jsonl", cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "voicecli: error: cannot write the event log missing/dir/events.jsonl: No such file or directory"
    ]


BAD_SCRIPTS = {
    "missing": (None, "cannot read the script: No such file or directory"),
    "not TOML": ("[[turn]\nreply = 'x'\n", "not a valid TOML script"),
    "no turns": ("title = 'nothing'\n", "a script needs at least one [[turn]]"),
}


@pytest.mark.parametrize("command", ["talk", "serve"])
@pytest.mark.parametrize("problem", list(BAD_SCRIPTS))
def test_a_missing_or_bad_script_is_one_line_and_exit_2(command: str, problem: str, tmp_path: Path) -> None:
    text, says = BAD_SCRIPTS[problem]
    script = tmp_path / "script.toml"
    if text is not None:
        script.write_text(text)
    (tmp_path / "none.toml").write_text("")
    if command == "talk":
        args = ["talk", "--config", "none.toml", "--text", "hi", "--brain", "scripted", "--script", "script.toml"]
    else:
        args = ["serve", "--port", "0", "--brain", "scripted", "--script", "script.toml"]
    done = voicecli(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    if command == "serve" and problem == "missing":
        says = "no such script file"  # serve checks the path first
    assert line.startswith("voicecli: error: script.toml") and says in line


# --- WebRTC push-to-talk ------------------------------------------------------------------------


async def test_webrtc_push_to_talk_clears_the_buffer_once_per_turn_not_per_chunk() -> None:
    async with LocalServer(brain="echo", pacing=UNPACED) as server:
        client = _client("webrtc", server)
        sent: list[str] = []
        client.observe_sent(lambda payload: sent.append(payload["type"]))
        tone = (np.sin(np.arange(480) * 2 * np.pi * 440 / 24_000) * 8000).astype(np.int16)  # 20 ms
        async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
            for _ in range(40):  # 0.8 s, at the pace a microphone delivers it
                await client.send(protocol.append_audio(tone))
                await asyncio.sleep(0.02)
            await client.send(protocol.simple_event(SendEvents.INPUT_AUDIO_BUFFER_COMMIT))
            result = await exchange(client, timeout_s=20)
    assert sent.count("input_audio_buffer.clear") == 1
    heard_s = float(result.assistant_text.split()[2])
    assert heard_s >= 0.8, result.assistant_text  # the whole turn, not its last fragment


# --- doubled slashes ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1//realtime/client_secrets", "//openai/v1/realtime/client_secrets"])
async def test_a_doubled_slash_in_a_webrtc_path_is_accepted(path: str) -> None:
    async with LocalServer(brain="echo", pacing=UNPACED) as server, aiohttp.ClientSession() as http:
        async with http.post(server.http_url + path, json={}, headers={"Authorization": "Bearer sk-test"}) as reply:
            assert reply.status == 200 and (await reply.json())["value"].startswith("ek_")
        async with http.post(
            server.http_url + "/v1//realtime//calls", data="nonsense", headers={"Authorization": "Bearer sk-test"}
        ) as reply:
            assert reply.status == 400  # the route answered (not 404): the offer itself is refused


@pytest.mark.parametrize(("path", "shape"), [("/v1//realtime", "ga"), ("/openai//realtime", "beta")])
async def test_a_doubled_slash_in_a_websocket_path_is_accepted(path: str, shape: str) -> None:
    async with LocalServer(brain="echo", pacing=UNPACED) as server, aiohttp.ClientSession() as http:
        query = "?model=gpt-realtime" if shape == "ga" else "?api-version=2025-04-01-preview&deployment=gpt-realtime"
        async with http.ws_connect(server.http_url + path + query, headers={"api-key": "k"}) as ws:
            created = orjson.loads((await ws.receive()).data)
            await ws.send_str(orjson.dumps({"type": "session.update", "session": {"type": "realtime"}}).decode())
            answer = orjson.loads((await ws.receive()).data)
    assert created["type"] == "session.created"
    # the beta shape has no session.type: the preview route refuses it, as the service does
    assert answer["type"] == ("session.updated" if shape == "ga" else "error")


async def test_a_webrtc_client_with_doubled_slashes_in_its_base_url_holds_a_call() -> None:
    async with LocalServer(brain="echo", pacing=UNPACED) as server:
        client = _client("webrtc", server, base_path="//v1")
        async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
            result = await exchange(client, text="hello", timeout_s=20)
    assert result.assistant_text == "You said: hello" and client.call_location is not None
    assert "//" not in client.call_location


def _client(transport: str, server: LocalServer, base_path: str = "/v1") -> Any:
    if transport == "webrtc":
        from voicecli.realtime import OpenAIRealtimeWebRTC

        return OpenAIRealtimeWebRTC(api_key="sk-test", base_url=server.http_url + base_path)
    return client_factory(transport, server)()
