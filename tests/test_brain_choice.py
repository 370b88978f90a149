"""`brain = "auto"`: a chat model running on this machine answers when there is one, else an honest echo.

The chat endpoint is written here: a small OpenAI-compatible server on loopback (in a thread of its
own, since the probe at start is a blocking call), listing one model and streaming a fixed answer.
The probe's ports are pointed at it, or at a port nothing listens on.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from support.server_session import session_peer
from test_server_ws import openai_peer, user_text

from voicecli.config.app_config import AppConfig, LocalConfig
from voicecli.conversation.providers import build_client
from voicecli.server import UNPACED, LocalServer, brain_choice
from voicecli.server.brains import HOW_TO_ANSWER, EchoBrain, load_brain
from voicecli.server.chat_brain import ChatBrain
from voicecli.server.config import ServerConfig
from voicecli.server.faults import Faults
from voicecli.ui.view import SessionInfo

pytestmark = pytest.mark.timeout(30)


class ChatEndpoint(BaseHTTPRequestHandler):
    """Lists `tiny-test-model`; answers every chat completion with "Berlin." in two streamed pieces."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        self.seen.append({"path": self.path, "authorization": self.headers.get("Authorization")})
        if self.path != "/v1/models":
            self.send_error(404)
            return
        self._reply("application/json", json.dumps({"object": "list", "data": [{"id": "tiny-test-model"}]}))

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append({"path": self.path, "authorization": self.headers.get("Authorization"), "body": body})
        pieces = [{"choices": [{"delta": {"content": text}}]} for text in ("Ber", "lin.")]
        stream = "".join(f"data: {json.dumps(piece)}\n\n" for piece in pieces) + "data: [DONE]\n\n"
        self._reply("text/event-stream", stream)

    def _reply(self, kind: str, text: str) -> None:
        data = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def chat_endpoint() -> Iterator[int]:
    ChatEndpoint.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends: nothing listens there


async def test_auto_uses_the_chat_model_found_on_loopback(
    chat_endpoint: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    servers = (("Nothing", closed_port()), ("Test chat", chat_endpoint))
    monkeypatch.setattr(brain_choice, "LOCAL_CHAT_SERVERS", servers)
    monkeypatch.setenv("TEST_CHAT_KEY", "sk-local-test")
    with caplog.at_level("INFO", logger="voicecli.server.brains"):
        brain = load_brain("auto", chat_api_key_env="TEST_CHAT_KEY")
        async with LocalServer(brain=brain) as server, openai_peer(server) as peer:
            await peer.expect("session.created")
            await peer.send(user_text("What is the capital of Germany?"))
            await peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            events = await peer.until("response.done")
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Berlin."
    models, chat = ChatEndpoint.seen
    assert models == {"path": "/v1/models", "authorization": "Bearer sk-local-test"}
    assert chat["path"] == "/v1/chat/completions" and chat["authorization"] == "Bearer sk-local-test"
    assert chat["body"]["model"] == "tiny-test-model"
    assert chat["body"]["messages"][-1] == {"role": "user", "content": "What is the capital of Germany?"}
    said = [record.getMessage() for record in caplog.records]
    assert (
        f"brain: Test chat's model tiny-test-model at http://127.0.0.1:{chat_endpoint}/v1 (found on loopback)" in said
    )
    assert "sk-local-test" not in caplog.text


async def test_auto_without_a_chat_model_is_an_echo_that_says_how_to_get_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing answers the probe (a port nobody listens on is probed in the live screen's test); the
    echo it chooses talks to a client as a session of the server does."""
    probed: list[int] = []
    monkeypatch.setattr(brain_choice, "LOCAL_CHAT_SERVERS", (("Nothing", 9),))
    monkeypatch.setattr(brain_choice, "_probe", lambda name, port, key: probed.append(port))  # None: no answer
    brain = load_brain("auto")
    assert probed == [9]
    assert isinstance(brain, EchoBrain) and brain.label == "echo brain (no local chat model found)"
    async with session_peer(ServerConfig(brain=brain, faults=Faults(), pacing=UNPACED)) as peer:
        await peer.expect("session.created")
        replies = []
        for text in ("hello", "and again"):
            await peer.send(user_text(text))
            await peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
            replies.append((await peer.until("response.done"))[-1]["response"]["output"][0]["content"][0]["text"])
    assert replies == [f"You said: hello. I am only an echo: {HOW_TO_ANSWER}.", "You said: and again"]
    assert "--chat-url" in HOW_TO_ANSWER and "--provider openai or azure" in HOW_TO_ANSWER


def test_a_chat_url_wins_over_the_probe_and_a_named_key_variable_must_be_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(brain_choice, "find_local_chat", lambda key: pytest.fail("probed despite a chat URL"))
    brain = load_brain("auto", chat_url="http://127.0.0.1:9/v1", chat_model="m")
    assert isinstance(brain, ChatBrain) and brain.endpoint == "http://127.0.0.1:9/v1/chat/completions"
    monkeypatch.delenv("UNSET_CHAT_KEY", raising=False)
    with pytest.raises(ValueError, match="names UNSET_CHAT_KEY, which is not set"):
        load_brain("auto", chat_api_key_env="UNSET_CHAT_KEY")


def test_a_server_on_a_chat_port_that_lists_no_model_is_not_used(
    chat_endpoint: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ChatEndpoint, "do_GET", lambda self: self._reply("application/json", '{"data": []}'))
    monkeypatch.setattr(brain_choice, "LOCAL_CHAT_SERVERS", (("Test chat", chat_endpoint),))
    assert brain_choice.find_local_chat() is None


def test_the_live_screen_names_the_brain_auto_chose(chat_endpoint: int, monkeypatch: pytest.MonkeyPatch) -> None:
    config = AppConfig(provider="local", local=LocalConfig(brain="auto"))
    monkeypatch.setattr(brain_choice, "LOCAL_CHAT_SERVERS", (("Test chat", chat_endpoint),))
    chosen = SessionInfo.from_config(config, build_client(config)).model
    assert chosen == f"chat: Test chat's tiny-test-model at http://127.0.0.1:{chat_endpoint}/v1"
    monkeypatch.setattr(brain_choice, "LOCAL_CHAT_SERVERS", (("Nothing", closed_port()),))
    assert SessionInfo.from_config(config, build_client(config)).model == "echo brain (no local chat model found)"
    configured = AppConfig(provider="local", local=LocalConfig(brain="chat", chat_url="http://127.0.0.1:9/v1"))
    assert SessionInfo.from_config(configured, build_client(configured)).model == "chat: http://127.0.0.1:9/v1"
