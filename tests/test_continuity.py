"""Session continuity in the library: the replayed history, reconnect after a drop, rollover.

The replay is checked where it matters, on the server: the local server logs (at DEBUG) each item
a client creates in a session, so a new session's log lines say what it was told.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.memory_wire import MemoryRoute, memory_client_factory
from support.servers import client_factory
from support.session_transport import echo_client, in_tones, replies_in_tones  # noqa: F401  (in_tones: a fixture)
from support.virtual_clock import VirtualClock

from voicecli.config import load_config
from voicecli.conversation.exchange import TurnResult, exchange
from voicecli.conversation.providers import session_continuity
from voicecli.realtime import (
    Continuity,
    ContinuityEvents,
    RealtimeClient,
    RealtimeEvent,
    RealtimeSettings,
    SendEvents,
    protocol,
)
from voicecli.realtime.continuity import CONTINUATION_NOTE, USER_PLACEHOLDER, History
from voicecli.realtime.events import AudioContent, RealtimeTextEvent, TextContent
from voicecli.server import UNPACED, Faults, LocalServer

pytestmark = pytest.mark.timeout(60)

FAST = Continuity(delays_s=(0.0, 0.2, 0.5))


def received(service_type: str, **payload: Any) -> RealtimeEvent:
    return RealtimeEvent(service_type=service_type, service_event={"type": service_type, **payload})


def assistant_reply(history: History, item_id: str, text: str, audio_ms: int) -> None:
    history.on_received(received("response.created", response={"id": f"resp_{item_id}"}))
    history.on_received(
        received("response.output_item.added", item={"id": item_id, "type": "message", "role": "assistant"})
    )
    history.on_received(RealtimeTextEvent(text=TextContent(text=text, item_id=item_id)))
    samples = np.zeros(24 * audio_ms, dtype=np.int16)
    history.received.add(AudioContent(data=samples, item_id=item_id))  # the client counts it at `Play`
    history.on_received(received("response.done", response={"id": f"resp_{item_id}", "status": "completed"}))


def replayed(history: History, heard: Any = None) -> list[tuple[str, str]]:
    """(role or type, text or call id) of each replayed item, in order."""
    out = []
    for event in history.replay(heard):
        assert event["type"] == "conversation.item.create"
        item = event["item"]
        if item["type"] == "message":
            out.append((item["role"], item["content"][0]["text"]))
        else:
            out.append((item["type"], item["call_id"]))
    return out


# --- the history and its replay (pure) ----------------------------------------------------------


def test_the_replay_holds_transcripts_placeholders_heard_replies_and_tool_calls_then_the_note() -> None:
    history = History()
    history.on_received(received("input_audio_buffer.committed", item_id="u1"))
    history.on_received(
        RealtimeTextEvent(
            text=TextContent(text="what is the weather", source="user_transcript", item_id="u1", final=True)
        )
    )
    assistant_reply(history, "a1", "Let me check that for you now.", audio_ms=1000)
    history.on_received(
        received(
            "response.output_item.done",
            item={"id": "f1", "type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        )
    )
    history.on_sent(
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        }
    )
    history.on_received(received("input_audio_buffer.committed", item_id="u2"))  # never transcribed
    assistant_reply(history, "a2", "It is sunny in Paris today and tomorrow too.", audio_ms=2000)
    history.on_sent({"type": "conversation.item.truncate", "item_id": "a2", "content_index": 0, "audio_end_ms": 1000})

    assert replayed(history) == [
        ("user", "what is the weather"),
        ("assistant", "Let me check that for you now."),
        ("function_call", "c1"),
        ("function_call_output", "c1"),
        ("user", USER_PLACEHOLDER),
        ("assistant", "It is sunny in Paris…"),  # half of it was heard: the words before the cut
        ("system", CONTINUATION_NOTE),
    ]
    assert not history.unanswered


def test_a_reply_still_playing_is_replayed_whole() -> None:
    """A drop does not stop the player: the listener goes on to hear the reply to its end."""
    history = History()
    assistant_reply(history, "a1", "Once upon a time there was a voice.", audio_ms=4000)
    assert replayed(history, lambda item_id: 1500.0)[0] == ("assistant", "Once upon a time there was a voice.")
    assert not history.played_out(lambda item_id: 1500.0)  # a rollover still waits for it to end


def test_what_the_player_says_was_heard_cuts_a_stopped_reply_and_nothing_heard_leaves_it_out() -> None:
    """Over WebRTC the client stops playback with `output_audio_buffer.clear` (no truncate): the
    reply was heard up to where the player stopped."""
    history = History()
    history.on_sent(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "tell me a story"}]},
        }
    )
    assistant_reply(history, "a1", "Once upon a time there was a voice.", audio_ms=4000)
    history.on_sent({"type": "output_audio_buffer.clear"})
    assert replayed(history, lambda item_id: 1500.0)[1] == ("assistant", "Once upon a…")
    assert replayed(history, lambda item_id: 0.0) == [("user", "tell me a story"), ("system", CONTINUATION_NOTE)]
    assert replayed(history, lambda item_id: None)[1] == ("assistant", "Once upon a time there was a voice.")


def test_a_call_without_its_output_is_not_replayed_and_a_cut_off_response_is_unanswered() -> None:
    history = History()
    history.on_sent(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        }
    )
    history.on_received(received("response.created", response={"id": "r1"}))
    history.on_received(
        received(
            "response.output_item.done",
            item={"id": "f1", "type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        )
    )
    assert history.cut_off() == "r1"
    assert history.unanswered
    assert replayed(history) == [("user", "weather?"), ("system", CONTINUATION_NOTE)]


def test_a_long_history_is_bounded_oldest_first_and_the_note_says_so() -> None:
    history = History(Continuity(max_items=5))
    for number in range(8):
        history.on_sent(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": f"turn {number}"}],
                },
            }
        )
    items = replayed(history)
    assert [text for _, text in items[:-1]] == ["turn 4", "turn 5", "turn 6", "turn 7"]
    assert items[-1][0] == "system" and "4 older items of the conversation were left out" in items[-1][1]
    assert len(history) <= 10  # what is kept is bounded too, however long the conversation


# --- reconnect and rollover against the local server --------------------------------------------


def server_items(caplog: pytest.LogCaptureFixture, session_id: str | None) -> list[str]:
    """What the server logged for each item created in that session: "message/user: 'text'"…"""
    prefix = f"session {session_id}: item "
    return [
        record.getMessage().removeprefix(prefix).split(" ", 1)[1]
        for record in caplog.records
        if record.getMessage().startswith(prefix)
    ]


def continuity_events(events: list[RealtimeEvent], kind: ContinuityEvents) -> list[dict[str, Any]]:
    return [event.service_event or {} for event in events if event.service_type == kind]


async def three_turns(client: RealtimeClient) -> tuple[list[RealtimeEvent], list[TurnResult], str | None]:
    """Three text turns; the events seen, the answers, and the session the last one ran on."""
    events: list[RealtimeEvent] = []
    async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
        answers = [
            await exchange(client, text=f"{which} question", timeout_s=20, observer=events.append)
            for which in ("first", "second", "third")
        ]
        return events, answers, client.session_id


@pytest.mark.parametrize("transport", ["memory", "azure_preview", "webrtc"])
async def test_a_dropped_connection_reconnects_replays_and_the_next_turn_is_answered(
    transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    """In memory (the drop cut as the server's fault cuts a socket): the plain client on a server
    session, and Azure's preview client over its WebSocket transport in the beta shape; end to end
    over WebRTC."""
    caplog.set_level(logging.DEBUG, logger="voicecli.server")
    # The first connection drops in the middle of its second answer; later ones behave.
    if transport == "memory":
        with replies_in_tones():
            client = on_virtual_time(echo_client(drop_after_events=24, continuity=FAST))
            events, answers, new_session = await three_turns(client)
    elif transport == "azure_preview":
        route = MemoryRoute(faults=Faults(drop_after_events=24, connections=1))
        with replies_in_tones():
            client = on_virtual_time(memory_client_factory(transport, route)(continuity=FAST))
            events, answers, new_session = await three_turns(client)
        await route.close()
    else:
        faults = Faults(drop_after_events=24, connections=1)
        async with LocalServer(brain="echo", pacing=UNPACED, faults=faults) as server:
            events, answers, new_session = await three_turns(make_client(transport, server))
    first, second, third = answers
    assert (first.failed, second.failed, third.failed) == (None, None, None)
    assert [first.assistant_text, second.assistant_text, third.assistant_text] == [
        "You said: first question",
        "You said: second question",  # asked again on the new session, the cut-off part dropped
        "You said: third question",
    ]
    assert continuity_events(events, ContinuityEvents.RECONNECTING)[0]["attempt"] == 1
    [reconnected] = continuity_events(events, ContinuityEvents.RECONNECTED)
    assert reconnected["cause"] == "drop" and reconnected["asked_again"]
    told = server_items(caplog, new_session)
    assert told[:2] == ["message/user: 'first question'", "message/assistant: 'You said: first question'"]
    assert told[2] == "message/user: 'second question'"
    assert told[-2].startswith("message/system: 'The conversation above continues")
    assert told[-1] == "message/user: 'third question'"  # a new turn, after the replay


async def test_session_rollover_before_expiry_answers_every_turn_without_a_drop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The service's 60-minute limit in small: sessions of 4 s during a 10 s conversation, on a
    virtual clock that the server's session lifetime runs on too (it would expire a session the
    client failed to replace), in memory through the WebSocket transport."""
    caplog.set_level(logging.DEBUG, logger="voicecli.server")
    clock = VirtualClock()
    route = MemoryRoute(max_session_s=4, clock=clock)
    client = on_virtual_time(memory_client_factory("openai_ws", route)(continuity=FAST), clock)
    events: list[RealtimeEvent] = []
    sessions: list[str | None] = []
    answers = []
    async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
        until = clock.time() + 10
        while clock.time() < until:
            answers.append(await exchange(client, text=f"turn {len(answers)}", timeout_s=10, observer=events.append))
            if client.session_id not in sessions:
                sessions.append(client.session_id)
            await clock.advance(0.25)
            await switched(client, events)
    await route.close()
    assert [answer.assistant_text for answer in answers] == [f"You said: turn {n}" for n in range(len(answers))]
    assert all(answer.failed is None and not answer.errors for answer in answers)  # no session_expired seen
    rollovers = continuity_events(events, ContinuityEvents.RECONNECTED)
    assert len(rollovers) >= 2 and {r["cause"] for r in rollovers} == {"rollover"}
    assert continuity_events(events, ContinuityEvents.RECONNECTING) == []  # never a drop
    last = sessions[-1]
    told = server_items(caplog, last)
    earlier = [f"message/user: 'turn {n}'" for n in range(len(answers))]
    assert [line for line in told if line.startswith("message/user")][:3] == earlier[
        :3
    ]  # the whole story, oldest first


@pytest.mark.usefixtures("in_tones")
async def test_without_continuity_a_drop_still_ends_the_session() -> None:
    """In memory: the connection ends without a close frame (test_client_failures cuts a real one)."""
    route = MemoryRoute(faults=Faults(drop_after_events=3))
    client = memory_client_factory("openai_ws", route)()
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        result = await exchange(client, text="hello", timeout_s=10)
    await route.close()
    assert result.failed is not None and "close code 1006" in result.failed
    assert route.config.connections == 1


def on_virtual_time(client: RealtimeClient, clock: VirtualClock | None = None) -> RealtimeClient:
    """The client's continuity timed on a virtual clock: the rollover planned for each session
    waits on it (and fires only when the test moves it), not on a real timer."""
    assert client.supervisor is not None
    client.supervisor.clock = clock or VirtualClock()
    return client


async def switched(client: RealtimeClient, events: list[RealtimeEvent]) -> None:
    """When the clock's move set a rollover going, wait (bounded) until the new session holds the history."""
    assert client.supervisor is not None
    if client.supervisor.switching is None:
        return
    async with asyncio.timeout(10):
        async for event in client.receive():
            events.append(event)
            if event.service_type == ContinuityEvents.RECONNECTED:
                return
    raise AssertionError("the session ended during the rollover")


def make_client(transport: str, server: LocalServer) -> RealtimeClient:
    if transport == "webrtc":
        from voicecli.realtime import OpenAIRealtimeWebRTC

        return OpenAIRealtimeWebRTC(api_key="sk-test", base_url=server.http_url + "/v1", continuity=FAST)
    return client_factory(transport, server)(continuity=FAST)


async def next_event(client: RealtimeClient, kind: str) -> RealtimeEvent:
    async with asyncio.timeout(20):
        async for event in client.receive():
            if event.service_type == kind:
                return event
    raise AssertionError(f"the session ended before {kind}")


async def test_audio_captured_while_disconnected_joins_no_turn() -> None:
    tone = (np.sin(np.arange(2400) * 2 * np.pi * 300 / 24_000) * 8000).astype(np.int16)  # 100 ms
    server = LocalServer(brain="echo", pacing=UNPACED)
    await server.start()
    port = server.port
    client = client_factory("openai_ws", server)(continuity=Continuity(delays_s=(0.0, 0.5, 1.0, 2.0, 4.0)))
    try:
        async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
            for _ in range(5):  # half a turn, then the server goes away
                await client.send(protocol.append_audio(tone))
            await server.stop()
            await next_event(client, ContinuityEvents.RECONNECTING)
            for _ in range(10):  # the microphone keeps delivering while nobody listens: no error
                await client.send(protocol.append_audio(tone))
            server = LocalServer(brain="echo", pacing=UNPACED, port=port)
            await server.start()
            await next_event(client, ContinuityEvents.RECONNECTED)
            for _ in range(3):
                await client.send(protocol.append_audio(tone))
            await client.send(protocol.simple_event(SendEvents.INPUT_AUDIO_BUFFER_COMMIT))
            result = await exchange(client, timeout_s=20)
    finally:
        await server.stop()
    assert result.assistant_text.startswith("I heard 0.3 seconds of audio")  # only what the new session was sent


async def test_a_server_error_instead_of_a_response_is_survived_and_the_turn_answered() -> None:
    """Azure has ended sessions with a generic `server_error` (then close 1011); the local server
    does it on request, here in memory through the WebSocket transport."""
    faults = Faults(server_error_on_response=2, rate_limits_on_response=True, connections=1)
    route = MemoryRoute(faults=faults)
    client = on_virtual_time(memory_client_factory("openai_ws", route)(continuity=FAST))
    async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
        first = await exchange(client, text="one", timeout_s=20)
        second = await exchange(client, text="two", timeout_s=20)
    await route.close()
    assert [first.assistant_text, second.assistant_text] == ["You said: one", "You said: two"]
    assert [(error.code, error.fatal) for error in second.errors] == [("server_error", False)]
    assert route.config.connections == 2


async def test_the_server_ends_a_session_at_its_lifetime_as_the_service_does() -> None:
    async with LocalServer(brain="echo", pacing=UNPACED, max_session_s=1) as server:
        client = client_factory("openai_ws", server)()
        events: list[RealtimeEvent] = []
        async with client(settings=RealtimeSettings(push_to_talk=True)):
            async with asyncio.timeout(20):
                events = [event async for event in client.receive()]
    created = next(event for event in events if event.service_type == "session.created")
    assert isinstance((created.service_event or {})["session"]["expires_at"], int)
    errors = [event.error for event in events if event.event_type == "error"]
    assert [error.code for error in errors] == ["session_expired", "connection_closed"]
    assert errors[0].message == "Your session hit the maximum duration of 1 second."
    assert "close code 1001" in errors[1].message and errors[1].message.endswith(errors[0].message)


async def test_with_push_to_talk_no_rollover_comes_while_someone_is_talking() -> None:
    """On a virtual clock, in memory through the WebSocket transport."""
    tone = (np.sin(np.arange(2400) * 2 * np.pi * 300 / 24_000) * 8000).astype(np.int16)  # 100 ms
    early = Continuity(delays_s=(0.0,), rollover_lead_s=59.5, rollover_share=1.0)  # due 0.5 s in, of 60
    clock = VirtualClock()
    route = MemoryRoute(max_session_s=60, hears=True, clock=clock)
    client = on_virtual_time(memory_client_factory("openai_ws", route)(continuity=early), clock)
    async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
        first_session = client.session_id
        for _ in range(15):  # 1.5 s of talking, past the moment the rollover is due…
            await client.send(protocol.append_audio(tone))
            await clock.advance(0.1)
        still = client.session_id
        await client.send(protocol.simple_event(SendEvents.INPUT_AUDIO_BUFFER_COMMIT))
        result = await exchange(client, timeout_s=20)
        await clock.advance(0.1)  # the next look for a quiet moment
        await next_event(client, ContinuityEvents.RECONNECTED)  # …which comes once the turn is answered
        after = client.session_id
    await route.close()
    assert still == first_session != after
    assert result.assistant_text.startswith("I heard 1.5 seconds of audio")  # the whole turn, in one session


async def test_the_embedded_server_rolls_over_with_its_own_session_lifetime() -> None:
    """`[local] max_session_s`: the embedded provider's sessions end too, and the client rolls over."""
    from voicecli.server import LocalRealtime

    early = Continuity(delays_s=(0.0,), rollover_lead_s=2.5, rollover_share=1.0)  # due 0.5 s in, of 3
    client = LocalRealtime(brain="echo", pacing=UNPACED, max_session_s=3, continuity=early)
    async with client(settings=RealtimeSettings(push_to_talk=True, output_modalities=["text"])):
        first = await exchange(client, text="before", timeout_s=20)
        created = (await next_event(client, ContinuityEvents.RECONNECTED)).service_event or {}
        second = await exchange(client, text="after", timeout_s=20)
    assert created["cause"] == "rollover" and created["replayed_items"] == 3
    assert (first.assistant_text, second.assistant_text) == ("You said: before", "You said: after")


def test_each_reconnect_try_may_take_as_long_as_the_configured_connect_timeout(tmp_path: Path) -> None:
    """A link slow enough to need a longer `connect_timeout_s` at the start needs it after a drop too."""
    (tmp_path / "empty.toml").write_text("")
    config = load_config(tmp_path / "empty.toml", overrides={"connect_timeout_s": 42.0, "session.reconnect_tries": 3})
    policy = session_continuity(config)
    assert policy is not None and policy.attempts == 3 and policy.attempt_timeout_s == 42.0
