"""The Realtime protocol's rules, fed events directly: no socket, no server, no clock."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
import pytest

from voicecli.realtime import Continuity, RealtimeClient, protocol
from voicecli.realtime.events import FunctionResultContent, RealtimeErrorEvent, RealtimeFunctionCallEvent
from voicecli.realtime.protocol_session import (
    Action,
    Deliver,
    Play,
    Ready,
    RealtimeProtocolSession,
    RunTool,
    Send,
    SessionState,
    StreamAudio,
)
from voicecli.realtime.tasks import BackgroundTasks
from voicecli.realtime.transport import MemoryTransport


def arrive(session: RealtimeProtocolSession, payload: dict[str, Any]) -> list[Action]:
    """What the session makes of one wire event, parsed as the transports parse it."""
    return session.received(protocol.parse_server_event(payload))


def sent(actions: list[Action]) -> list[str]:
    return [action.payload["type"] for action in actions if isinstance(action, Send)]


def call(call_id: str, response_id: str = "resp_1", name: str = "get_weather") -> dict[str, Any]:
    return {
        "type": "response.function_call_arguments.done",
        "event_id": f"event_{call_id}",
        "response_id": response_id,
        "item_id": f"item_{call_id}",
        "output_index": 0,
        "call_id": call_id,
        "name": name,
        "arguments": "{}",
    }


def done(response_id: str = "resp_1", status: str = "completed") -> dict[str, Any]:
    return {"type": "response.done", "event_id": "event_done", "response": {"id": response_id, "status": status}}


def result(call_id: str) -> FunctionResultContent:
    return FunctionResultContent(name="get_weather", call_id=call_id, result="sunny")


def test_reply_audio_is_played_before_it_is_delivered() -> None:
    session = RealtimeProtocolSession()
    pcm = np.arange(240, dtype=np.int16)
    actions = arrive(
        session,
        {
            "type": "response.output_audio.delta",
            "event_id": "e",
            "response_id": "r",
            "item_id": "item_a",
            "output_index": 0,
            "content_index": 0,
            "delta": protocol.pcm_to_base64(pcm),
        },
    )
    assert [type(action) for action in actions] == [Play, Deliver]
    assert isinstance(actions[0], Play)
    assert actions[0].audio.item_id == "item_a"
    assert np.array_equal(actions[0].audio.data, pcm)


def test_session_created_opens_the_session_and_says_when_it_expires() -> None:
    session = RealtimeProtocolSession()
    assert session.state is SessionState.CONNECTING
    actions = arrive(
        session, {"type": "session.created", "event_id": "e", "session": {"id": "sess_1", "expires_at": 1_900_000_000}}
    )
    assert actions[1:] == [Ready("sess_1", 1_900_000_000.0)]
    assert session.state is SessionState.OPEN and session.session_id == "sess_1"


def test_one_response_create_after_every_call_of_a_completed_response_has_its_output() -> None:
    session = RealtimeProtocolSession()
    first, second = arrive(session, call("call_1")), arrive(session, call("call_2"))
    assert [type(action) for action in first] == [Deliver, RunTool]
    assert isinstance(second[1], RunTool) and second[1].call.call_id == "call_2"
    assert sent(arrive(session, done())) == []  # two calls still running
    assert session.tools_running
    assert sent(session.tool_finished(result("call_1"))) == ["conversation.item.create"]
    assert sent(session.tool_finished(result("call_2"))) == ["conversation.item.create", "response.create"]
    assert not session.tools_running


def test_tools_that_finish_before_the_response_is_done_are_answered_at_response_done() -> None:
    session = RealtimeProtocolSession()
    arrive(session, call("call_1"))
    finished = session.tool_finished(result("call_1"))
    assert [type(action) for action in finished] == [Deliver, Send]
    assert sent(arrive(session, done())) == ["response.create"]
    assert sent(arrive(session, done())) == []  # answered once


@pytest.mark.parametrize("status", ["cancelled", "incomplete", "failed"])
def test_a_response_that_did_not_complete_is_not_answered(status: str) -> None:
    session = RealtimeProtocolSession()
    arrive(session, call("call_1"))
    arrive(session, done(status=status))
    assert sent(session.tool_finished(result("call_1"))) == ["conversation.item.create"]


def test_without_auto_invoke_calls_are_only_delivered() -> None:
    session = RealtimeProtocolSession(auto_invoke_tools=False)
    assert [type(action) for action in arrive(session, call("call_1"))] == [Deliver]


def test_a_beta_call_without_a_name_takes_it_from_the_item_that_opened_it() -> None:
    session = RealtimeProtocolSession()
    arrive(
        session,
        {
            "type": "response.output_item.added",
            "event_id": "e",
            "response_id": "resp_1",
            "output_index": 0,
            "item": {"id": "item_call_1", "type": "function_call", "name": "get_weather", "call_id": "call_1"},
        },
    )
    beta = {key: value for key, value in call("call_1").items() if key != "name"}
    event = arrive(session, beta)[0]
    assert isinstance(event, Deliver) and isinstance(event.event, RealtimeFunctionCallEvent)
    assert event.event.function_call.name == "get_weather"


def expired() -> dict[str, Any]:
    return {
        "type": "error",
        "event_id": "e",
        "error": {
            "type": "invalid_request_error",
            "code": "session_expired",
            "message": "Your session hit the maximum duration of 60 minutes.",
        },
    }


def test_session_expired_ends_a_session_without_continuity() -> None:
    session = RealtimeProtocolSession()
    (delivered,) = arrive(session, expired())
    assert isinstance(delivered, Deliver) and isinstance(delivered.event, RealtimeErrorEvent)
    assert delivered.event.error.fatal
    assert session.last_fatal_error == "Your session hit the maximum duration of 60 minutes."


def test_with_continuity_session_expired_is_news_only_until_the_rollover_begins() -> None:
    session = RealtimeProtocolSession(continuity=True)
    (delivered,) = arrive(session, expired())
    assert isinstance(delivered, Deliver) and isinstance(delivered.event, RealtimeErrorEvent)
    assert not delivered.event.error.fatal and session.last_fatal_error is None
    session.rolling_over = True
    assert arrive(session, expired()) == []


def test_a_new_session_echoing_replayed_items_is_not_news() -> None:
    session = RealtimeProtocolSession(continuity=True)
    session.reopening()
    session.replaying({"item_old"})
    added = {
        "type": "conversation.item.added",
        "event_id": "e",
        "previous_item_id": None,
        "item": {"id": "item_old", "type": "message", "role": "user", "content": []},
    }
    assert arrive(session, added) == []
    added["item"] = {**added["item"], "id": "item_new"}
    assert len(arrive(session, added)) == 1


def test_reopening_forgets_the_old_sessions_tool_calls() -> None:
    session = RealtimeProtocolSession(continuity=True)
    arrive(session, call("call_1"))
    session.reopening()
    assert session.state is SessionState.CONNECTING and not session.tools_running
    assert sent(session.tool_finished(result("call_1"))) == ["conversation.item.create"]
    assert sent(arrive(session, done())) == []


def test_microphone_audio_is_appended_over_a_socket_and_streamed_over_media() -> None:
    pcm = np.zeros(480, dtype=np.int16)
    assert sent(RealtimeProtocolSession().send_audio(pcm)) == ["input_audio_buffer.append"]
    (streamed,) = RealtimeProtocolSession(media_audio=True).send_audio(pcm)
    assert isinstance(streamed, StreamAudio) and streamed.pcm is pcm


def test_an_interruption_truncates_what_was_heard_or_clears_the_media_buffer() -> None:
    heard = [("item_a", 1200), ("item_b", 300)]
    socket = RealtimeProtocolSession().interrupt(heard, cancel=True)
    assert sent(socket) == ["response.cancel", "conversation.item.truncate", "conversation.item.truncate"]
    assert [action.payload.get("audio_end_ms") for action in socket if isinstance(action, Send)][1:] == [1200, 300]
    media = RealtimeProtocolSession(media_audio=True).interrupt(heard, cancel=False)
    assert sent(media) == ["output_audio_buffer.clear"]


def test_a_push_to_talk_turn_is_committed_then_answered() -> None:
    assert sent(RealtimeProtocolSession().commit_turn()) == ["input_audio_buffer.commit", "response.create"]


# --- the client carrying out the session's actions (in memory) ----------------------------------


async def test_the_client_replays_an_interrupted_reply_cut_to_what_was_heard() -> None:
    """The history counts the reply audio the client received: a reply truncated at half its audio
    is replayed as the words before the cut (before, audio never reached the history, so every
    reply was replayed whole)."""
    service = MemoryTransport()
    client = RealtimeClient(transport=service, continuity=True)
    async with client():
        await service.arrive(
            {
                "type": "response.output_item.added",
                "event_id": "e1",
                "response_id": "resp_1",
                "output_index": 0,
                "item": {"id": "item_a", "type": "message", "role": "assistant", "content": []},
            }
        )
        text = "It is sunny in Paris today and tomorrow too."
        await service.arrive(
            {
                "type": "response.output_audio_transcript.delta",
                "event_id": "e2",
                "response_id": "resp_1",
                "item_id": "item_a",
                "output_index": 0,
                "content_index": 0,
                "delta": text,
            }
        )
        for index in range(10):  # 1 s of reply audio
            await service.arrive(
                {
                    "type": "response.output_audio.delta",
                    "event_id": f"a{index}",
                    "response_id": "resp_1",
                    "item_id": "item_a",
                    "output_index": 0,
                    "content_index": 0,
                    "delta": protocol.pcm_to_base64(np.zeros(2400, dtype=np.int16)),
                }
            )
        await client.send(protocol.truncate_item("item_a", 500))
        assert client.history is not None
        replayed = [event["item"] for event in client.history.replay()]
    assert replayed[0]["content"][0]["text"] == "It is sunny in Paris…"


async def test_the_client_runs_the_tools_of_a_response_and_answers_once() -> None:
    async def get_weather() -> str:
        """Weather."""
        return "sunny"

    service = MemoryTransport()
    client = RealtimeClient(transport=service, tools=[get_weather])
    async with client():
        await service.arrive(call("call_1"))
        await service.arrive(call("call_2"))
        await service.arrive(done())
        for _ in range(100):
            if service.sent_types().count("response.create") == 1:
                break
            await asyncio.sleep(0.001)  # the tools run as tasks on this loop: let them finish
    outputs = [payload["item"]["call_id"] for payload in service.sent if payload["type"] == "conversation.item.create"]
    assert sorted(outputs) == ["call_1", "call_2"]
    assert service.sent_types()[-1] == "response.create" and service.sent_types().count("response.create") == 1


async def test_a_reconnect_that_fails_in_an_unexpected_way_still_ends_receive_with_the_reason() -> None:
    async def broken_after_the_first() -> None:
        if service.opens > 1:
            raise ValueError("the transport broke")  # an error no transport was expected to raise

    service = MemoryTransport(on_open=broken_after_the_first)
    client = RealtimeClient(transport=service, continuity=Continuity(delays_s=(0.0, 0.0)))
    events = []
    async with client():
        service.drop("the connection dropped")
        async with asyncio.timeout(5):
            events = [event async for event in client.receive()]
    errors = [event for event in events if isinstance(event, RealtimeErrorEvent)]
    assert [error.error.fatal for error in errors] == [True]
    assert "2 tries to reconnect failed (the last: the transport broke)" in errors[0].error.message


async def test_a_background_task_that_fails_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise ValueError("lost in the background")

    tasks = BackgroundTasks()
    with caplog.at_level(logging.ERROR, logger="voicecli.realtime.tasks"):
        task = tasks.spawn(fails())
        await asyncio.wait([task])
        await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert "lost in the background" in caplog.text and len(tasks) == 0


async def test_the_audio_item_callback_gets_each_chunk_with_its_item_and_the_seed_callback_the_samples() -> None:
    """Playback learns a chunk's item from the chunk itself (it was a side attribute of the client,
    `audio_item_id`, that a callback had to read at the right moment); the seed's callback is unchanged."""
    service = MemoryTransport()
    seed: list[np.ndarray] = []
    typed: list[tuple[str | None, int]] = []
    client = RealtimeClient(transport=service, audio_output_callback=seed.append)
    client.audio_item_callback = lambda audio: typed.append((audio.item_id, len(audio.data)))
    async with client():
        for item_id, samples in (("item_a", 240), ("item_b", 480)):
            await service.arrive(
                {
                    "type": "response.output_audio.delta",
                    "event_id": f"delta_{item_id}",
                    "response_id": "resp_1",
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": protocol.pcm_to_base64(np.ones(samples, dtype=np.int16)),
                }
            )
    assert typed == [("item_a", 240), ("item_b", 480)]
    assert [chunk.dtype for chunk in seed] == [np.dtype(np.int16)] * 2
    assert [len(chunk) for chunk in seed] == [240, 480]
    assert not hasattr(client, "audio_item_id")
