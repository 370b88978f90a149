"""The client composed from an in-memory transport: continuity's supervisor swaps the transport's
connection after a drop, and the media path is chosen by the transport, without a socket."""

from __future__ import annotations

import asyncio

import numpy as np

from voicecli.realtime import Continuity, ContinuityEvents, RealtimeClient, RealtimeSettings, protocol
from voicecli.realtime.events import RealtimeErrorEvent, RealtimeEvent
from voicecli.realtime.transport import MemoryTransport


async def events_until(client: RealtimeClient, kind: str) -> list[RealtimeEvent]:
    seen: list[RealtimeEvent] = []
    async with asyncio.timeout(5):
        async for event in client.receive():
            seen.append(event)
            if event.service_type == kind:
                return seen
    raise AssertionError(f"receive() ended before {kind}")


async def test_a_drop_reopens_the_same_transport_and_replays_the_conversation() -> None:
    service = MemoryTransport()
    client = RealtimeClient(transport=service, continuity=Continuity(delays_s=(0.0,)))
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        await client.send(protocol.user_text_item("hello there"))
        sent_before = len(service.sent)
        service.drop()
        events = await events_until(client, ContinuityEvents.RECONNECTED)
        assert client.connected
    kinds = [event.service_type for event in events]
    assert kinds == ["session.created", ContinuityEvents.RECONNECTING, "session.created", ContinuityEvents.RECONNECTED]
    assert service.opens == 2
    again = service.sent[sent_before:]
    assert again[0]["type"] == "session.update"
    replayed = [payload["item"] for payload in again if payload["type"] == "conversation.item.create"]
    assert any(part.get("text") == "hello there" for item in replayed for part in item.get("content", []))


async def test_a_drop_without_continuity_ends_receive_with_the_reason() -> None:
    service = MemoryTransport()
    client = RealtimeClient(transport=service)
    async with client():
        service.drop("the service went away")
        async with asyncio.timeout(5):
            events = [event async for event in client.receive()]
        assert not client.connected
    lost = events[-1]
    assert isinstance(lost, RealtimeErrorEvent) and lost.error.fatal
    assert lost.error.message == "the service went away"


async def test_microphone_audio_takes_the_transports_media_path_when_it_has_one() -> None:
    pcm = np.arange(480, dtype=np.int16)
    media, appended = MemoryTransport(media_audio=True), MemoryTransport()
    for service in (media, appended):
        client = RealtimeClient(transport=service)
        async with client():
            await client.send_audio(pcm)
            assert client.transport == "memory" and client.media_audio == service.media_audio
    assert len(media.streamed) == 1 and np.array_equal(media.streamed[0], pcm)
    assert "input_audio_buffer.append" not in media.sent_types()
    assert appended.streamed == [] and appended.sent_types()[-1] == "input_audio_buffer.append"
