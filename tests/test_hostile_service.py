"""The client against a hostile realtime service on 127.0.0.1 (issue 24, client cases): what a
connection does (closes, close reasons, oversized frames) over a real socket; a reply that never
ends and a session whose configuration fails, which no connection is part of, against the test as
the service (`MemoryTransport`)."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from support.hostile_service import audio_delta, events_until, hostile_service, response_started, session_created
from websockets.asyncio.server import ServerConnection

from voicecli.conversation import exchange as exchange_module
from voicecli.realtime import (
    Continuity,
    MemoryTransport,
    OpenAIRealtimeWebsocket,
    RealtimeAudioEvent,
    RealtimeClient,
    RealtimeConnectionError,
    RealtimeErrorEvent,
    RealtimeSettings,
)
from voicecli.realtime import transport as transport_module
from voicecli.realtime.safe_text import REDACTED
from voicecli.realtime.websocket import MAX_MESSAGE_BYTES

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(("code", "reason"), [(1001, "going away for maintenance"), (1013, "try again later")])
async def test_a_close_while_the_session_opens_is_reported_at_once_and_nothing_runs_on(code: int, reason: str) -> None:
    async def close_at_once(connection: ServerConnection) -> None:
        await connection.close(code, reason)

    async with hostile_service(close_at_once) as service:
        client = OpenAIRealtimeWebsocket(
            api_key="sk-test-0123456789",
            websocket_base_url=service.ws_base_url,
            continuity=Continuity.with_tries(6),
            connect_timeout_s=5,
        )
        with pytest.raises(RealtimeConnectionError) as refused:
            await client.create_session(RealtimeSettings())
        assert f"close code {code}" in str(refused.value) and reason in str(refused.value)
        assert "no answer" not in str(refused.value)
        assert len(client._background) == 0  # no reconnecting, no rollover: nothing after the failure
        await asyncio.sleep(0.3)
        assert service.connections == 1


async def test_a_close_reason_quoting_the_key_never_shows_it() -> None:
    key = "gw-key-0123456789abcdef"

    async def quote_the_key(connection: ServerConnection) -> None:
        await connection.send(session_created())
        await events_until(connection, "session.update")
        await connection.close(4001, f"key {key} is not allowed here")

    async with hostile_service(quote_the_key) as service:
        client = OpenAIRealtimeWebsocket(api_key=key, websocket_base_url=service.ws_base_url, connect_timeout_s=5)
        errors = []
        async with client(settings=RealtimeSettings()):
            async for event in client.receive():
                errors.append(getattr(event, "error", None))
    messages = [error.message for error in errors if error is not None]
    assert messages and all(key not in message for message in messages)
    assert any(REDACTED in message for message in messages)


async def test_a_message_beyond_the_limit_ends_the_session_with_one_clear_error() -> None:
    async def flood(connection: ServerConnection) -> None:
        await connection.send(session_created())
        await events_until(connection, "session.update")
        await connection.send(audio_delta(MAX_MESSAGE_BYTES // 2))  # base64: two thirds bigger than the limit
        await connection.wait_closed()

    async with hostile_service(flood) as service:
        client = OpenAIRealtimeWebsocket(api_key="sk-test-0123456789", websocket_base_url=service.ws_base_url)
        async with client(settings=RealtimeSettings()):
            events = [event async for event in client.receive()]
    assert not any(isinstance(event, RealtimeAudioEvent) for event in events)
    [error] = [event for event in events if isinstance(event, RealtimeErrorEvent)]
    assert "larger than the 16 MiB limit, close code 1009" in error.error.message


async def test_a_reply_that_never_ends_is_cut_at_the_turns_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exchange_module, "MAX_TURN_AUDIO_S", 1)
    service = MemoryTransport()
    client = RealtimeClient(transport=service)
    async with client(settings=RealtimeSettings()):
        turn = asyncio.create_task(exchange_module.exchange(client, text="hi", timeout_s=20))
        async with asyncio.timeout(10):  # a guard against hanging
            while "response.create" not in service.sent_types():
                await asyncio.sleep(0)
        for frame in response_started():
            await service.arrive(orjson.loads(frame))
        for _ in range(30):  # 3 s of audio, and no response.done
            await service.arrive(orjson.loads(audio_delta(2400)))
        async with asyncio.timeout(10):
            result = await turn
    assert result.failed == "the reply went on beyond 1 s of audio; stopped there"
    assert len(result.audio) <= 24_000 + 2400


async def test_a_session_that_fails_while_being_configured_leaves_nothing_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service opens a session that expires in an hour (the client plans a rollover), then the
    session's configuration fails: a client rule with no connection in it, so the service is the test."""
    created = orjson.loads(session_created())
    created["session"]["expires_at"] = int(time.time()) + 3600
    monkeypatch.setattr(transport_module, "SESSION_CREATED", created)  # what a MemoryTransport opens with

    async def refused(**_: object) -> None:
        raise RealtimeConnectionError("the realtime connection ended (closed, close code 4002)")

    service = MemoryTransport()
    client = RealtimeClient(transport=service, continuity=Continuity.with_tries(3))
    monkeypatch.setattr(client, "update_session", refused)
    with pytest.raises(RealtimeConnectionError, match="close code 4002"):
        await client.create_session(RealtimeSettings())
    assert service.opens == 1
    assert len(client._background) == 0  # the planned rollover went with the failed session
