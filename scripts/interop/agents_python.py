"""The Python Agents SDK (`openai-agents`, `agents.realtime`) against a running local realtime server:
a typed turn, a spoken turn, a tool call and an interruption, each in a session of its own.
Run by scripts/interop.sh:

    .venv/bin/python scripts/interop/agents_python.py ws://127.0.0.1:PORT/v1/realtime?model=NAME SPEECH.pcm

What the server holds is asked over the same socket (`conversation.item.retrieve`); the suite's
tests/test_interop_agents_sdk.py reads the server's state directly instead. One line per check,
"<client> <check>: PASS|FAIL|KNOWN - detail" (KNOWN: fails for a defect already filed, named);
exit code 1 on any FAIL.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimePlaybackTracker, RealtimeRunner, RealtimeSession
from agents.realtime.model_inputs import RealtimeModelSendRawMessage

CLIENT = f"openai-agents {version('openai-agents')}"
WAIT_S = 20.0
BYTES_PER_MS = 48  # pcm16, 24 kHz, mono
PLAYED_MS = 400
"""How much of the story the listener has heard when interrupting (told to the SDK's playback tracker)."""

Event = dict[str, Any]


class CheckFailed(Exception):
    pass


class Known(Exception):
    """The check failed for a defect already filed."""


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny and 21 degrees in {city}"


class Peer:
    """One SDK session: every server event it received, every client event it sent, the tools it ran."""

    def __init__(self, session: RealtimeSession, tracker: RealtimePlaybackTracker) -> None:
        self.session = session
        self.tracker = tracker
        self.received: list[Event] = []
        self.tools_run: list[str] = []
        self._arrived = asyncio.Event()

    async def read(self) -> None:
        async for event in self.session:
            if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                self.received.append(event.data.data)
                self._arrived.set()
            elif event.type == "tool_end":
                self.tools_run.append(event.tool.name)

    async def wait_for(self, matches: Callable[[Event], bool], what: str, nth: int = 0) -> Event:
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while True:
            found = [event for event in self.received if matches(event)]
            if len(found) > nth:
                return found[nth]
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                kinds = [event["type"] for event in self.received if "delta" not in event["type"]]
                raise CheckFailed(f"never received {what}; got {', '.join(kinds)}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def server_item(self, item_id: str) -> Event:
        """The item as the server holds it."""
        await self.session.model.send_event(
            RealtimeModelSendRawMessage(
                message={"type": "conversation.item.retrieve", "other_data": {"item_id": item_id}}
            )
        )
        retrieved = await self.wait_for(
            lambda e: e["type"] == "conversation.item.retrieved" and e["item"]["id"] == item_id, f"item {item_id}"
        )
        return retrieved["item"]

    def of_type(self, kind: str) -> list[Event]:
        return [event for event in self.received if event["type"] == kind]

    def transcripts(self) -> list[str]:
        return [event["transcript"] for event in self.of_type("response.output_audio_transcript.done")]

    def audio_ms(self, item_id: str) -> int:
        deltas = [e["delta"] for e in self.of_type("response.output_audio.delta") if e["item_id"] == item_id]
        return sum(len(base64.b64decode(delta)) for delta in deltas) // BYTES_PER_MS

    def errors(self) -> list[str]:
        return [f"{e['error'].get('code')}: {e['error'].get('message')}" for e in self.of_type("error")]


def is_(kind: str) -> Callable[[Event], bool]:
    return lambda event: event["type"] == kind


def held_audio_ms(item: Event, index: int = 0) -> int:
    return len(base64.b64decode(item["content"][index].get("audio") or "")) // BYTES_PER_MS


def expect(condition: bool, detail: str) -> None:
    if not condition:
        raise CheckFailed(detail)


async def typed_turn(peer: Peer) -> str:
    await peer.session.send_message("Hello there")
    done = await peer.wait_for(is_("response.done"), "response.done")
    said = peer.transcripts()
    expect(said == ["Hello from the local server."], f"reply transcripts {said}")
    reply = next(item for item in done["response"]["output"] if item["type"] == "message")
    user_id = next(e["item"]["id"] for e in peer.of_type("conversation.item.added") if e["item"].get("role") == "user")
    user = await peer.server_item(user_id)
    expect(user["content"][0].get("text") == "Hello there", f"server holds user content {user['content']}")
    held = await peer.server_item(reply["id"])
    expect(held_audio_ms(held) == peer.audio_ms(reply["id"]) > 500, "server and client disagree on the reply audio")
    audio_ms = peer.audio_ms(reply["id"])
    return f'reply "{said[0]}" with {audio_ms} ms of audio; server holds the typed text and the same audio'


async def spoken_turn(peer: Peer, speech: bytes) -> str:
    audio = speech + bytes(24_000 * 2)  # a second of silence ends the turn for the server's VAD
    for start in range(0, len(audio), 4800):  # 100 ms chunks
        await peer.session.send_audio(audio[start : start + 4800])
    done = await peer.wait_for(is_("response.done"), "response.done")
    heard = await peer.wait_for(is_("conversation.item.input_audio_transcription.completed"), "the transcription")
    expect("hear me" in heard["transcript"].lower(), f'server heard "{heard["transcript"]}"')
    said = peer.transcripts()
    expect(said[-1:] == ["Yes, I hear you."], f"reply transcripts {said}")
    reply = done["response"]["output"][0]
    user_ms = held_audio_ms(await peer.server_item(heard["item_id"]))
    speech_ms = len(speech) // BYTES_PER_MS
    expect(abs(user_ms - speech_ms) < 600, f"server holds {user_ms} ms of user audio for {speech_ms} ms of speech")
    return (
        f'server VAD took {user_ms} ms (speech {speech_ms} ms), heard "{heard["transcript"]}", '
        f'replied "{said[-1]}" with {peer.audio_ms(reply["id"])} ms of audio'
    )


async def tool_call(peer: Peer) -> str:
    await peer.session.send_message("What is the weather like?")
    await peer.wait_for(is_("response.done"), "the answer after the tool output", nth=1)
    expect(peer.tools_run == ["get_weather"], f"tools run {peer.tools_run}")
    call = next(e["item"] for e in peer.of_type("response.output_item.done") if e["item"]["type"] == "function_call")
    expect(call["arguments"] == '{"city":"Paris"}', f"call arguments {call['arguments']}")
    added = peer.of_type("conversation.item.added")
    output_id = next(e["item"]["id"] for e in added if e["item"]["type"] == "function_call_output")
    output = await peer.server_item(output_id)
    expect(output["call_id"] == call["call_id"], f"output for {output['call_id']}, call {call['call_id']}")
    expect(output["output"] == "sunny and 21 degrees in Paris", f"server holds output {output['output']!r}")
    said = peer.transcripts()[-1]
    expect(said == "The weather tool says: sunny and 21 degrees in Paris", f'final reply "{said}"')
    return f'SDK ran get_weather({call["arguments"]}); server holds its output for {call["call_id"]}; reply "{said}"'


async def interruption(peer: Peer) -> str:
    await peer.session.send_message("Tell me a story")
    first = await peer.wait_for(is_("response.output_audio.delta"), "the story audio")
    await peer.wait_for(is_("response.output_audio.delta"), "more of the story", nth=4)
    streaming = not peer.of_type("response.done")
    peer.tracker.on_play_ms(first["item_id"], 0, PLAYED_MS)
    await peer.session.interrupt()
    answer = await peer.wait_for(lambda e: e["type"] in ("conversation.item.truncated", "error"), "the truncation")
    when = "while the reply streamed" if streaming else "after the whole reply had arrived"
    if answer["type"] == "error" and "is already shorter than" in answer["error"]["message"]:
        raise Known(
            f"issue 22 item 2 (truncate while streaming): truncate {when}; server answered "
            f"{answer['error']['code']}: {answer['error']['message']}"
        )
    expect(answer["type"] == "conversation.item.truncated", f"server answered {answer}")
    await peer.wait_for(is_("response.done"), "the end of the interrupted reply")
    after = peer.received[peer.received.index(answer) :]
    late = [e for e in after if e["type"] == "response.output_audio.delta" and e["item_id"] == first["item_id"]]
    expect(not late, f"{len(late)} audio deltas of the item after its truncation")
    held = held_audio_ms(await peer.server_item(first["item_id"]))
    expect(
        held == answer["audio_end_ms"] == PLAYED_MS, f"server holds {held} ms, truncated at {answer['audio_end_ms']}"
    )
    detail = f"truncate {when}, at {PLAYED_MS} ms of {peer.audio_ms(first['item_id'])} ms; server holds {held} ms"
    if not streaming:
        raise Known(f"issue 22 item 3 (server not paced: the streaming path was not exercised): {detail}")
    return detail


async def run_check(url: str, check: Callable[[Peer], Awaitable[str]]) -> str:
    agent = RealtimeAgent(name="interop", instructions="Be brief.", tools=[get_weather])
    tracker = RealtimePlaybackTracker()
    session = await RealtimeRunner(agent).run(
        model_config={"url": url, "api_key": "sk-interop", "playback_tracker": tracker}
    )
    async with session:
        peer = Peer(session, tracker)
        reader = asyncio.create_task(peer.read())
        try:
            await peer.wait_for(is_("session.updated"), "session.updated")
            detail = await check(peer)
            expect(not peer.errors(), f"server errors: {'; '.join(peer.errors())}")
            return f"PASS - {detail}"
        except Known as known:
            return f"KNOWN - {known}"
        except CheckFailed as failed:
            errors = peer.errors()
            extra = f"; server errors: {'; '.join(errors)}" if errors and not str(failed).startswith("server") else ""
            return f"FAIL - {failed}{extra}"
        finally:
            reader.cancel()


async def main(url: str, speech: bytes) -> int:
    checks: list[tuple[str, Callable[[Peer], Awaitable[str]]]] = [
        ("text turn", typed_turn),
        ("spoken turn", lambda peer: spoken_turn(peer, speech)),
        ("tool call", tool_call),
        ("interruption", interruption),
    ]
    failed = 0
    for name, check in checks:
        try:
            line = await run_check(url, check)
        except Exception as exc:  # the SDK itself gave up: that is the finding
            line = f"FAIL - {type(exc).__name__}: {exc}"
        failed += line.startswith("FAIL")
        print(f"{CLIENT} {name}: {line}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[1].startswith("ws://127.0.0.1:"):
        sys.exit("usage: agents_python.py ws://127.0.0.1:PORT/v1/realtime?model=NAME SPEECH.pcm")
    sys.exit(asyncio.run(main(sys.argv[1], Path(sys.argv[2]).read_bytes())))
