"""The local server against hostile clients and operators' slips: every limit answered in the service's
shape, no slot or memory held by a client's choice, no internal address told, a clean end on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys

import aiohttp
import orjson
import pytest

from voicecli.server import LocalServer
from voicecli.server.brains import EchoBrain
from voicecli.server.session.session import ServerSession

pytestmark = pytest.mark.timeout(60)


def voicecli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voicecli", *args], capture_output=True, text=True, timeout=45)


# --- off loopback, a key is required ------------------------------------------------------------


def test_serve_off_loopback_without_a_key_refuses_to_start() -> None:
    done = voicecli(
        "serve", "--host", "0.0.0.0", "--port", "0", "--brain", "chat", "--chat-url", "http://127.0.0.1:9/v1"
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("voicecli: error: listening on 0.0.0.0 lets other machines in") and "--api-key" in line


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


async def connected(url: str, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    """A WebSocket session with the server at `url`, once `serve` listens (it takes a second to start)."""
    for _ in range(200):
        try:
            return await http.ws_connect(url, headers={"Authorization": "Bearer sk-test"})
        except aiohttp.ClientConnectorError:
            await asyncio.sleep(0.1)
    raise AssertionError("voicecli serve did not start listening")


async def test_sigterm_closes_sessions_with_1001_and_exits_0() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "voicecli", "serve", "--port", str(port), stderr=asyncio.subprocess.PIPE
    )
    try:
        async with aiohttp.ClientSession() as http:
            ws = await connected(f"ws://127.0.0.1:{port}/v1/realtime?model=m", http)
            assert (await ws.receive_json())["type"] == "session.created"
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
    """A session driven directly, without sockets, and the events it sends."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.session = ServerSession(self.send, brain=EchoBrain())

    async def send(self, event: dict) -> None:
        self.events.append(event)


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
