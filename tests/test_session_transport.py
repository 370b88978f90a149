"""The in-memory transport of the tests (`support.session_transport`): it ends a connection as the
server's routes do, so a test on it can neither hang nor pass over a server bug."""

from __future__ import annotations

import asyncio

import pytest
from support.session_transport import LiveSessionTransport, RealtimeSessionTransport, echo_client, in_tones  # noqa: F401

from voicecli.realtime import RealtimeConnectionError, RealtimeErrorEvent, RealtimeEvent, RealtimeSettings
from voicecli.realtime.live_client import LiveClient
from voicecli.server.brains import EchoBrain

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("in_tones")]


async def rest(client: object) -> list[RealtimeEvent]:
    async with asyncio.timeout(10):
        return [event async for event in client.receive()]  # type: ignore[attr-defined]


async def test_a_failed_response_task_ends_the_connection_with_the_servers_error() -> None:
    client = echo_client()
    await client.create_session(RealtimeSettings(push_to_talk=True))
    transport = client.transport_layer
    assert isinstance(transport, RealtimeSessionTransport)
    transport.server_failed(RuntimeError("a bug in the brain"))  # what a failed response task reports
    events = await rest(client)
    await client.delete_session()
    errors = [event for event in events if isinstance(event, RealtimeErrorEvent)]
    assert errors and errors[-1].error.fatal and "a bug in the brain" in errors[-1].error.message
    assert isinstance(transport.crash, RuntimeError)


async def test_a_closed_connection_refuses_to_send() -> None:
    client = echo_client()
    await client.create_session(RealtimeSettings(push_to_talk=True))
    transport = client.transport_layer
    await client.delete_session()
    with pytest.raises(RealtimeConnectionError):
        await transport.send({"type": "response.create"})


class _Live(LiveClient):
    def __init__(self) -> None:
        super().__init__(transport=LiveSessionTransport(EchoBrain()), sdk_client=lambda: None)  # type: ignore[arg-type,return-value]

    @property
    def model(self) -> str:
        return "gpt-live-1"


async def test_a_live_session_closed_by_the_client_ends_the_connection_as_the_route_does() -> None:
    client = _Live()
    await client.create_session(RealtimeSettings())
    await client._transmit({"type": "session.close"})
    events = await rest(client)
    await client.delete_session()
    assert "session.closed" in [event.service_type for event in events]
    assert isinstance(events[-1], RealtimeErrorEvent) and "close code 1000" in events[-1].error.message
