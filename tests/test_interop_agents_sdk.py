"""Interoperability: the OpenAI Agents SDK for Python (`agents.realtime`), a client not written here,
holds a conversation with the local server over a real loopback WebSocket.

Each check asserts both sides: what the SDK got (its events, its tool run) and what the server
holds afterwards (its conversation items, the function output, the truncated audio). The server's
sessions are caught as they are made, so the assertions read the server's own state.
`scripts/interop.sh` runs the same four checks against `voicecli serve` with this SDK and the
JavaScript Agents SDK.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from support.system_tools import require_module, require_program

from voicecli.server import LocalServer
from voicecli.server.session.conversation import BYTES_PER_MS, Item
from voicecli.server.session.pacing import DEFAULT_PACING, UNPACED
from voicecli.server.session.session import ServerSession
from voicecli.server.synth import speak

if TYPE_CHECKING:
    from agents.realtime import RealtimePlaybackTracker, RealtimeSession

# The SDK is imported where a test uses it, not here: its import takes seconds (it brings MCP and
# more), and every test worker collects this module.
require_module("agents.realtime", "the dev extra: pip install -e '.[dev]'")  # CI must have it

BRAIN = Path(__file__).resolve().parents[1] / "scripts" / "interop" / "brain.toml"
WAIT_S = 20.0
"""Generous: recognition and the SDK's tool run on a loaded 2-core machine."""


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny and 21 degrees in {city}"


@dataclass
class Peer:
    """One SDK session against the server, with what each side saw."""

    session: RealtimeSession
    tracker: RealtimePlaybackTracker
    server_sessions: list[ServerSession]
    received: list[dict[str, Any]] = field(default_factory=list)
    """Every server event the SDK received, in order, as it parsed it off the socket."""
    tools_run: list[str] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> None:
        """Take in the SDK's session events until cancelled."""
        async for event in self.session:
            if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                self.received.append(event.data.data)
                self._arrived.set()
            elif event.type == "tool_end":
                self.tools_run.append(event.tool.name)

    async def wait_for(self, matches: Callable[[dict[str, Any]], bool], what: str, nth: int = 0) -> dict[str, Any]:
        """The `nth` (from 0) received event that `matches`, counting from the start of the session."""
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while True:
            found = [event for event in self.received if matches(event)]
            if len(found) > nth:
                return found[nth]
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                kinds = [event["type"] for event in self.received if "delta" not in event["type"]]
                raise AssertionError(f"the SDK never received {what}; it got {kinds}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.received if event["type"] == kind]

    @property
    def server_items(self) -> list[Item]:
        """The server's conversation, as the server holds it."""
        (server_session,) = self.server_sessions
        return list(server_session.conversation)


@asynccontextmanager
async def sdk_peer(*, push_to_talk: bool = False, paced: bool = False) -> AsyncIterator[Peer]:
    """The Agents SDK connected to a scripted local server through its `url` setting (loopback only);
    `paced` replies stream like the service's (a reply is in flight for seconds), the rest unpaced."""
    from agents import function_tool
    from agents.realtime import RealtimeAgent, RealtimePlaybackTracker, RealtimeRunner, RealtimeSessionModelSettings

    server = LocalServer(brain="scripted", script=BRAIN, pacing=DEFAULT_PACING if paced else UNPACED)
    server_sessions: list[ServerSession] = []
    make_session = server.config.new_session

    def recording_new_session(*args: Any, **kwargs: Any) -> ServerSession:
        server_sessions.append(make_session(*args, **kwargs))
        return server_sessions[-1]

    server.config.new_session = recording_new_session  # type: ignore[method-assign]
    agent = RealtimeAgent(name="interop", instructions="Be brief.", tools=[function_tool(get_weather)])
    settings: RealtimeSessionModelSettings = {"turn_detection": None} if push_to_talk else {}
    tracker = RealtimePlaybackTracker()
    async with server:
        runner = RealtimeRunner(agent, config={"model_settings": settings})
        session = await runner.run(
            model_config={
                "url": f"{server.ws_base_url}/realtime?model=gpt-realtime",
                "api_key": "sk-interop",
                "playback_tracker": tracker,
            }
        )
        async with session:
            peer = Peer(session, tracker, server_sessions)
            reader = asyncio.create_task(peer.read())
            try:
                await peer.wait_for(_is("session.updated"), "session.updated")
                yield peer
                refused = [event["error"] for event in peer.of_type("error")]
                assert not refused, f"the server refused what the SDK sent: {refused}"
            finally:
                reader.cancel()


def _is(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event["type"] == kind


def _transcripts(peer: Peer) -> list[str]:
    return [event["transcript"] for event in peer.of_type("response.output_audio_transcript.done")]


def _audio_ms(peer: Peer, item_id: str) -> int:
    pcm = sum(
        len(base64.b64decode(event["delta"]))
        for event in peer.of_type("response.output_audio.delta")
        if event["item_id"] == item_id
    )
    return pcm // BYTES_PER_MS


async def test_a_typed_turn_gets_the_scripted_spoken_reply() -> None:
    async with sdk_peer() as peer:
        await peer.session.send_message("Hello there")
        done = await peer.wait_for(_is("response.done"), "the reply's response.done")

        assert done["response"]["status"] == "completed"
        assert _transcripts(peer) == ["Hello from the local server."]
        (reply_item,) = [item for item in done["response"]["output"] if item["type"] == "message"]
        assert _audio_ms(peer, reply_item["id"]) > 500  # real speech came with the transcript
        user, reply = peer.server_items
        assert user.data["content"] == [{"type": "input_text", "text": "Hello there"}]
        assert reply.id == reply_item["id"] and reply.audio_ms() == _audio_ms(peer, reply.id)


async def test_a_spoken_turn_is_heard_by_the_servers_vad_and_answered_in_speech() -> None:
    require_program("espeak-ng", "a spoken question")
    question = speak("Can you hear me?")
    silence = np.zeros(24_000, dtype=np.int16)  # a second of quiet ends the turn for the server's VAD
    async with sdk_peer() as peer:
        await peer.session.send_audio(np.concatenate([question, silence]).tobytes())
        done = await peer.wait_for(_is("response.done"), "the reply's response.done")

        assert _transcripts(peer) == ["Yes, I hear you."]
        heard = await peer.wait_for(_is("conversation.item.input_audio_transcription.completed"), "the transcription")
        assert "hear me" in heard["transcript"].lower()
        user = next(item for item in peer.server_items if item.data.get("role") == "user")
        assert user.id == heard["item_id"]
        assert abs(user.audio_ms() - len(question) / 24) < 600  # the speech, give or take VAD padding
        (reply_item,) = done["response"]["output"]
        assert _audio_ms(peer, reply_item["id"]) > 500


async def test_the_sdk_runs_the_scripted_tool_call_and_the_server_answers_its_output() -> None:
    async with sdk_peer() as peer:
        await peer.session.send_message("What is the weather like?")
        await peer.wait_for(_is("response.done"), "the answer after the tool's output", nth=1)

        assert peer.tools_run == ["get_weather"]
        call = next(item.data for item in peer.server_items if item.data["type"] == "function_call")
        output = next(item.data for item in peer.server_items if item.data["type"] == "function_call_output")
        assert (call["name"], call["arguments"]) == ("get_weather", '{"city":"Paris"}')
        assert output["call_id"] == call["call_id"]
        assert output["output"] == "sunny and 21 degrees in Paris"
        assert _transcripts(peer)[-1] == "The weather tool says: sunny and 21 degrees in Paris"


async def test_an_interruption_after_the_reply_arrived_truncates_it_at_what_was_played() -> None:
    """Playback lags generation: the whole reply is in, the listener has heard 600 ms of it."""
    async with sdk_peer() as peer:
        await peer.session.send_message("Tell me a story")
        done = await peer.wait_for(_is("response.done"), "the story's response.done")
        (story,) = done["response"]["output"]
        peer.tracker.on_play_ms(story["id"], 0, 600)
        await peer.session.interrupt()
        truncated = await peer.wait_for(_is("conversation.item.truncated"), "the truncation")

        assert (truncated["item_id"], truncated["audio_end_ms"]) == (story["id"], 600)
        assert not peer.of_type("error")
        item = next(item for item in peer.server_items if item.id == story["id"])
        assert item.audio_ms() == 600
        assert item.data["content"][0]["transcript"] is None  # the service forgets the unheard words


@pytest.mark.parametrize("push_to_talk", [False, True], ids=["vad-truncate-only", "push-to-talk-truncate-then-cancel"])
async def test_an_interruption_while_the_reply_streams_stops_it_at_what_was_played(push_to_talk: bool) -> None:
    """With server VAD the SDK sends only the truncate (the service cancels on speech); push-to-talk,
    it sends the truncate, then `response.cancel`."""
    async with sdk_peer(push_to_talk=push_to_talk, paced=True) as peer:
        await peer.session.send_message("Tell me a story")
        first = await peer.wait_for(_is("response.output_audio.delta"), "the story's first audio")
        await peer.wait_for(_is("response.output_audio.delta"), "more of the story", nth=4)
        peer.tracker.on_play_ms(first["item_id"], 0, 300)
        await peer.session.interrupt()
        truncated = await peer.wait_for(
            lambda e: e["type"] in ("conversation.item.truncated", "error"), "the truncation"
        )
        await peer.wait_for(_is("response.done"), "the story's response.done")

        assert truncated["type"] == "conversation.item.truncated", truncated
        assert truncated["audio_end_ms"] == 300
        assert not peer.of_type("error")
        after = peer.received[peer.received.index(truncated) :]
        assert not [e for e in after if e["type"] == "response.output_audio.delta"], "audio after the truncate"
        item = next(item for item in peer.server_items if item.id == first["item_id"])
        assert item.audio_ms() == 300


async def test_a_spoken_barge_in_while_the_reply_streams_cuts_it_and_is_answered() -> None:
    """The person talks over the reply: the server's VAD hears it and cancels the reply (interrupt_response),
    the SDK truncates the reply at what was played, and the new turn is answered."""
    require_program("espeak-ng", "a spoken barge-in")
    barge_in = np.concatenate([speak("Can you hear me?"), np.zeros(24_000, dtype=np.int16)])
    async with sdk_peer(paced=True) as peer:
        await peer.session.send_message("Tell me a story")
        first = await peer.wait_for(_is("response.output_audio.delta"), "the story's first audio")
        await peer.wait_for(_is("response.output_audio.delta"), "more of the story", nth=4)
        peer.tracker.on_play_ms(first["item_id"], 0, 300)
        await peer.session.send_audio(barge_in.tobytes())
        story_done = await peer.wait_for(_is("response.done"), "the story's response.done")
        truncated = await peer.wait_for(_is("conversation.item.truncated"), "the truncation")
        await peer.wait_for(_is("response.done"), "the answer to the barge-in", nth=1)

        assert story_done["response"]["status"] == "cancelled"
        assert story_done["response"]["status_details"]["reason"] == "turn_detected"
        assert (truncated["item_id"], truncated["audio_end_ms"]) == (first["item_id"], 300)
        story = next(item for item in peer.server_items if item.id == first["item_id"])
        assert story.audio_ms() == 300
        assert _transcripts(peer)[-1] == "Yes, I hear you."
