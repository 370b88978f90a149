"""gpt-realtime-2.x on the Realtime protocol, against the local server: reasoning effort, responses of
several output items (preambles) shown in order and cut item by item, parallel tool calls answered
with one `response.create`. The rules run against a server session in memory
(`support.session_transport`, unpaced); the barge-in, paced, over the embedded server's socket."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import pytest
from openai.types.realtime import SessionUpdateEvent
from rich.console import Console
from support.conversation_stubs import Microphone, RealTimeSpeaker, Screen
from support.live import until
from support.session_transport import RealtimeSessionTransport, echo_client, in_tones  # noqa: F401  (a fixture)

from voicecli.config import load_config
from voicecli.conversation.exchange import exchange, send_user_turn
from voicecli.conversation.live import Conversation
from voicecli.conversation.providers import session_settings
from voicecli.conversation.state import ConversationState
from voicecli.realtime import ListenEvents, RealtimeClient, RealtimeEvent, RealtimeSettings, SendEvents
from voicecli.server import LocalRealtime, Pacing
from voicecli.server.brains import ScriptedBrain
from voicecli.ui.view import ConversationView, SessionInfo

PREAMBLE = "Let me think about that for a moment."
STORY = (
    "Once upon a time there was a little voice assistant that loved to talk for a very long time "
    "about everything and nothing at all, and it never stopped talking until somebody interrupted it."
)
SCRIPT = f"""
[[turn]]
when_contains = "story"
preamble = "{PREAMBLE}"
reply = "{STORY}"

[[turn]]
when_contains = "compare"
preamble = "Checking both cities."
after_tool = "Here they are: {{output}}"

[[turn.call]]
name = "get_weather"
arguments = {{ city = "Paris" }}

[[turn.call]]
name = "get_weather"
arguments = {{ city = "Oslo" }}
"""


def get_weather(city: Annotated[str, "The city name"]) -> str:
    """The weather in a city."""
    return f"sunny in {city}" if city == "Paris" else f"snow in {city}"


def scripted_client(script: Path, **kwargs: Any) -> RealtimeClient:
    """A client bound in memory to an unpaced session of a server following `script`."""
    return RealtimeClient(transport=RealtimeSessionTransport.of(ScriptedBrain.from_toml(script)), **kwargs)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "script.toml"
    path.write_text(SCRIPT, encoding="utf-8")
    return path


def test_reasoning_effort_goes_into_the_session_as_the_service_names_it(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[session]\nreasoning_effort = "low"\n', encoding="utf-8")
    settings = session_settings(load_config(path))
    payload = RealtimeSettings(reasoning_effort="low", parallel_tool_calls=True).to_session_payload()
    SessionUpdateEvent.model_validate(payload)
    assert payload["session"]["reasoning"] == {"effort": "low"}
    assert payload["session"]["parallel_tool_calls"] is True
    assert settings.to_session_payload()["session"]["reasoning"] == {"effort": "low"}
    assert "reasoning" not in session_settings(load_config(None)).to_session_payload()["session"]


@pytest.mark.usefixtures("in_tones")
async def test_the_local_server_takes_the_reasoning_effort() -> None:
    client = echo_client()
    seen: list[RealtimeEvent] = []
    async with client():
        await client.update_session(RealtimeSettings(reasoning_effort="high"))
        result = await exchange(client, text="hello", observer=seen.append)
    assert not result.failed and not result.errors
    updated = [e.service_event or {} for e in seen if e.service_type == ListenEvents.SESSION_UPDATED]
    assert updated[-1]["session"]["reasoning"] == {"effort": "high"}  # taken, and valid as the service's


@pytest.mark.usefixtures("in_tones")
async def test_a_response_of_several_items_is_shown_in_order(script: Path) -> None:
    client = scripted_client(script)
    conversation = ConversationState()
    view = ConversationView(SessionInfo("local", "websocket", "scripted brain", "alloy"), conversation)
    done: list[dict[str, Any]] = []

    def observe(event: RealtimeEvent) -> None:
        conversation.handle(event)
        if event.service_type == ListenEvents.RESPONSE_DONE:
            done.append(event.service_event or {})

    async with client():
        result = await exchange(client, text="Tell me a story", observer=observe)
    assert not result.failed
    output = done[0]["response"]["output"]
    assert [item["type"] for item in output] == ["message", "message"]
    transcripts = [item["content"][0]["transcript"] for item in output]
    assert transcripts == [PREAMBLE, STORY]
    console = Console(width=300, record=True, color_system=None)
    console.print(view.render_transcript())
    shown = " ".join(console.export_text().split())
    assert PREAMBLE in shown and STORY in shown
    assert shown.index(PREAMBLE) < shown.index(STORY)


@pytest.mark.usefixtures("in_tones")
async def test_parallel_tool_calls_are_answered_with_one_response_create(script: Path) -> None:
    client = scripted_client(script, tools=[get_weather])
    sent: list[dict[str, Any]] = []
    client.observe_sent(sent.append)
    async with client():
        result = await exchange(client, text="Compare the weather", timeout_s=30)
    assert not result.failed
    assert len({call.call_id for call in result.tool_calls}) == 2  # two calls in the one response
    kinds = [
        (event["type"], (event.get("item") or {}).get("type"))
        for event in sent
        if event["type"] in (SendEvents.CONVERSATION_ITEM_CREATE, SendEvents.RESPONSE_CREATE)
    ]
    assert kinds == [
        ("conversation.item.create", "message"),  # the user's turn
        ("response.create", None),
        ("conversation.item.create", "function_call_output"),
        ("conversation.item.create", "function_call_output"),
        ("response.create", None),  # one, after both outputs
    ]
    assert "sunny in Paris" in result.assistant_text and "snow in Oslo" in result.assistant_text


# --- barge-in in the second item of a response ------------------------------------------------------------


async def test_a_barge_in_during_the_second_item_truncates_that_item_at_what_was_heard(script: Path) -> None:
    client = LocalRealtime(brain="scripted", script=script, pacing=Pacing(speed=2.0))
    speaker, screen = RealTimeSpeaker(), Screen()
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        conversation = Conversation(client, Microphone(), speaker, screen, push_to_talk=True)  # type: ignore[arg-type]
        running = asyncio.create_task(conversation.run())
        await send_user_turn(client, text="Tell me a story")

        def second_item() -> str | None:
            added = [e["item"]["id"] for e in screen.seen(ListenEvents.RESPONSE_OUTPUT_ITEM_ADDED)]
            return added[1] if len(added) > 1 else None

        await until(lambda: second_item() is not None, "the second item of the response", timeout=30)
        first, second = [e["item"]["id"] for e in screen.seen(ListenEvents.RESPONSE_OUTPUT_ITEM_ADDED)][:2]
        await until(lambda: speaker.heard_ms(second) >= 500, "half a second of the second item heard", timeout=30)
        await conversation.toggle_talk()  # the key: the user talks over the assistant
        await until(lambda: bool(screen.seen(ListenEvents.CONVERSATION_ITEM_TRUNCATED)), "the truncation")
        conversation.stop()
        await asyncio.wait_for(running, timeout=10)
    [barge_in] = conversation.barge_ins
    [(item_id, audio_end_ms)] = barge_in.truncates  # the preamble was heard to its end: not cut
    assert item_id == second
    assert audio_end_ms == round(speaker.heard_ms(second))
    assert 500 <= audio_end_ms < speaker.items[second] / 24
    assert speaker.heard_ms(first) == speaker.items[first] / 24
    [truncated] = screen.seen(ListenEvents.CONVERSATION_ITEM_TRUNCATED)
    assert (truncated["item_id"], truncated["audio_end_ms"]) == (second, audio_end_ms)
    assert not screen.seen(ListenEvents.ERROR)
