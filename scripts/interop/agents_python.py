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
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import version

import checks
from agents import function_tool
from agents.realtime import RealtimeAgent, RealtimePlaybackTracker, RealtimeRunner, RealtimeSession
from agents.realtime.model_inputs import RealtimeModelSendRawMessage
from checks import CheckFailed, Event, EventLog, Known, expect, held_audio_ms, is_

CLIENT = f"openai-agents {version('openai-agents')}"
PLAYED_MS = 400
"""How much of the story the listener has heard when interrupting (told to the SDK's playback tracker)."""


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny and 21 degrees in {city}"


class Peer(EventLog):
    """One SDK session: every server event it received, the tools it ran."""

    def __init__(self, session: RealtimeSession, tracker: RealtimePlaybackTracker) -> None:
        super().__init__()
        self.session = session
        self.tracker = tracker
        self.tools_run: list[str] = []

    async def read(self) -> None:
        async for event in self.session:
            if event.type == "raw_model_event" and event.data.type == "raw_server_event":
                self.add(event.data.data)
            elif event.type == "tool_end":
                self.tools_run.append(event.tool.name)

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


async def typed_turn(peer: Peer) -> str:
    await peer.session.send_message("Hello there")
    said, reply_id = await checks.typed_reply(peer)
    await checks.server_holds_typed_turn(peer, reply_id)
    audio_ms = peer.audio_ms(reply_id)
    return f'reply "{said}" with {audio_ms} ms of audio; server holds the typed text and the same audio'


async def spoken_turn(peer: Peer, speech: bytes) -> str:
    audio = speech + bytes(24_000 * 2)  # a second of silence ends the turn for the server's VAD
    for start in range(0, len(audio), 4800):  # 100 ms chunks
        await peer.session.send_audio(audio[start : start + 4800])
    return await checks.spoken_reply(peer, speech)


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
            expect(not peer.server_errors(), f"server errors: {'; '.join(peer.server_errors())}")
            return f"PASS - {detail}"
        except Known as known:
            return f"KNOWN - {known}"
        except CheckFailed as failed:
            errors = peer.server_errors()
            extra = f"; server errors: {'; '.join(errors)}" if errors and not str(failed).startswith("server") else ""
            return f"FAIL - {failed}{extra}"
        finally:
            reader.cancel()


async def main(url: str, speech: bytes) -> int:
    suite: list[tuple[str, Callable[[Peer], Awaitable[str]]]] = [
        ("text turn", typed_turn),
        ("spoken turn", lambda peer: spoken_turn(peer, speech)),
        ("tool call", tool_call),
        ("interruption", interruption),
    ]
    return await checks.report(CLIENT, suite, lambda check: run_check(url, check))


if __name__ == "__main__":
    url, speech = checks.arguments("agents_python.py ws://127.0.0.1:PORT/v1/realtime?model=NAME SPEECH.pcm")
    sys.exit(asyncio.run(main(url, speech)))
