"""`conversation.item.truncate` while a reply is still streaming, over a real WebRTC call.

As `test_server_truncate.py` for WebSocket: a server paced like the service, the reply's audio
heard over RTP, and the client interrupting it in either order. Over WebRTC the truncate is checked
against the audio the server produced (it may be ahead of what the RTP track has played out).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_server_truncate import ITEM_CLOSED, LONG, truncate
from test_webrtc_calls import Wire, next_event, openai_client

from voicecli.realtime import ListenEvents, RealtimeAudioEvent, RealtimeClient, RealtimeSettings, SendEvents, protocol
from voicecli.server import LocalServer

pytestmark = pytest.mark.timeout(30)

CANCEL = protocol.simple_event(SendEvents.RESPONSE_CANCEL)
SERVER_EVENTS = {"conversation.item.truncated", *ITEM_CLOSED, "response.done", "error"}


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    async with LocalServer() as running:  # paced like the service
        yield running


async def reply_heard(client: RealtimeClient, wire: Wire, min_ms: int = 300) -> tuple[str, int]:
    """Ask for the long reply and listen until `min_ms` of its audio came over RTP: its item id
    and the milliseconds heard."""
    await client.send(protocol.user_text_item(LONG))
    await client.send(protocol.simple_event(SendEvents.RESPONSE_CREATE))
    added = await next_event(client, wire, ListenEvents.RESPONSE_OUTPUT_ITEM_ADDED)
    assert added.service_event is not None
    heard_ms = 0
    async with asyncio.timeout(10):
        async for event in client.receive():
            wire.observe(event)
            if isinstance(event, RealtimeAudioEvent):
                heard_ms += len(event.audio.data) * 1000 // 24_000
                if heard_ms >= min_ms:
                    break
    return added.service_event["item"]["id"], heard_ms


def since(wire: Wire, start: int) -> list[dict[str, Any]]:
    """The server events about the item and the response after `start` (not the playout's)."""
    events = [e.service_event for e in wire.received[start:] if e.service_event is not None]
    return [event for event in events if event["type"] in SERVER_EVENTS]


async def test_truncate_then_cancel_over_webrtc(server: LocalServer) -> None:
    client = openai_client(server)
    wire = Wire(client)
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        item_id, _ = await reply_heard(client, wire)
        start = len(wire.received)
        await client.send(truncate(item_id, 200))
        await client.send(CANCEL)
        # The client delivers response.done once the audio already on the RTP track has played out
        # (no output_audio_buffer.clear here), in real time: seconds on a loaded machine.
        await next_event(client, wire, ListenEvents.RESPONSE_DONE, timeout=20.0)
        await client.send({"type": "conversation.item.retrieve", "item_id": item_id})
        retrieved = await next_event(client, wire, "conversation.item.retrieved")
    events = since(wire, start)
    assert [event["type"] for event in events] == ["conversation.item.truncated", *ITEM_CLOSED, "response.done"]
    assert events[-1]["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert retrieved.service_event is not None
    content = retrieved.service_event["item"]["content"][0]
    assert len(base64.b64decode(content["audio"])) == 200 * 48 and content["transcript"] is None
    wire.check()


async def test_cancel_then_truncate_over_webrtc(server: LocalServer) -> None:
    client = openai_client(server)
    wire = Wire(client)
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        item_id, heard_ms = await reply_heard(client, wire)
        start = len(wire.received)
        await client.send(CANCEL)
        await client.send(truncate(item_id, heard_ms))
        await next_event(client, wire, "conversation.item.truncated")
    events = since(wire, start)
    kinds = [event["type"] for event in events]
    assert kinds[-2:] == ["response.done", "conversation.item.truncated"] and "error" not in kinds, kinds
    assert events[-1]["audio_end_ms"] == heard_ms
    wire.check()
