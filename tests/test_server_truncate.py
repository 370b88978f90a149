"""`conversation.item.truncate` while a reply is still streaming, against a server session in memory.

The session is paced like the service (first audio after half a second, then four times faster than
real time) on a virtual clock, so the reply is in flight when the client interrupts it, in either
order: truncate then `response.cancel` (the Agents SDK, the reference clients) or cancel then
truncate (voicecli, pipecat without server VAD); how much of it went out is set by the test, not by
the machine's load. The same over a socket: `test_webrtc_truncate.py` (WebRTC) and the truncate the
clients of `test_client_transports.py` send.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from support.server_session import SessionPeer, session_peer
from support.session_transport import in_tones  # noqa: F401  (a fixture)
from support.virtual_pacing import PacingClock, VirtualPacing
from test_server_ws import user_text

from voicecli.server import LocalServer

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("in_tones")]  # the reply's sound is not the point

LONG = "please repeat this rather long sentence so that the reply keeps talking for a while " * 3
ITEM_CLOSED = [
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "conversation.item.done",
]


@pytest.fixture
def clock() -> PacingClock:
    return PacingClock()


@pytest.fixture
async def peer(clock: PacingClock) -> AsyncIterator[SessionPeer]:
    async with session_peer(LocalServer(pacing=VirtualPacing(clock=clock)).config) as connected:
        await connected.expect("session.created")
        yield connected


async def reply_streaming(peer: SessionPeer, clock: PacingClock, min_ms: int = 300) -> tuple[str, int]:
    """Ask for the long reply, let `min_ms` of its audio and the next 100 ms become due (the first
    audio after 0.5 s, then 100 ms every 25 ms), and read until `min_ms` of it has arrived: its item
    id and the milliseconds received (the server may have produced 100 ms more by now)."""
    await peer.send(user_text(LONG))
    await peer.send({"type": "response.create"})
    await clock.advance(0.5 + min_ms / 1000 / 4 + 0.01)
    received_ms, item_id = 0, ""
    while received_ms < min_ms:
        event = await peer.recv()
        if event["type"] == "response.output_audio.delta":
            item_id = event["item_id"]
            received_ms += len(base64.b64decode(event["delta"])) // 48
    return item_id, received_ms


def truncate(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    return {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": audio_end_ms}


async def after(peer: SessionPeer, kind: str) -> list[dict[str, Any]]:
    """The events up to `kind` that are not audio still in flight when the client acted."""
    in_flight = {"response.output_audio.delta", "response.output_audio_transcript.delta"}
    return [event for event in await peer.until(kind) if event["type"] not in in_flight]


async def retrieved_audio(peer: SessionPeer, item_id: str) -> tuple[int, dict[str, Any]]:
    await peer.send({"type": "conversation.item.retrieve", "item_id": item_id})
    item = (await peer.expect("conversation.item.retrieved"))["item"]
    return len(base64.b64decode(item["content"][0]["audio"])) // 48, item


async def test_truncate_then_cancel_while_streaming(peer: SessionPeer, clock: PacingClock) -> None:
    item_id, _ = await reply_streaming(peer, clock)
    await peer.send(truncate(item_id, 200))
    await peer.send({"type": "response.cancel"})
    events = await after(peer, "response.done")
    kinds = [event["type"] for event in events]
    # As the service answers it: the cut, then that item's audio ends at once; the response goes on
    # until the client cancels it.
    assert kinds == ["conversation.item.truncated", *ITEM_CLOSED, "response.done"], kinds
    truncated, item_done, done = events[0], events[4], events[-1]
    assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, 200)
    assert item_done["item"]["status"] == "incomplete"
    assert item_done["item"]["content"][0]["transcript"] is None  # unheard text leaves the context
    assert done["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    audio_ms, item = await retrieved_audio(peer, item_id)
    assert audio_ms == 200 and item["content"][0]["transcript"] is None


async def test_truncate_alone_stops_the_items_audio_but_not_the_response(peer: SessionPeer, clock: PacingClock) -> None:
    item_id, _ = await reply_streaming(peer, clock)
    await peer.send(truncate(item_id, 200))
    events = await after(peer, "conversation.item.done")
    assert [event["type"] for event in events] == ["conversation.item.truncated", *ITEM_CLOSED]
    await clock.advance(1.0)  # generation goes on: four more seconds of the reply are due, none of it to send
    audio_ms, _ = await retrieved_audio(peer, item_id)
    assert audio_ms == 200
    await peer.send({"type": "response.cancel"})  # the model was still generating: the response is active
    events = await peer.until("response.done")
    assert "error" not in [event["type"] for event in events]
    assert "response.output_audio.delta" not in [event["type"] for event in events]
    assert events[-1]["response"]["status"] == "cancelled"


async def test_cancel_then_truncate_while_streaming(peer: SessionPeer, clock: PacingClock) -> None:
    item_id, received_ms = await reply_streaming(peer, clock)
    await peer.send({"type": "response.cancel"})
    await peer.send(truncate(item_id, received_ms))
    events = await after(peer, "conversation.item.truncated")
    kinds = [event["type"] for event in events]
    assert kinds[-2:] == ["response.done", "conversation.item.truncated"], kinds
    assert "error" not in kinds
    assert events[-2]["response"]["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    audio_ms, _ = await retrieved_audio(peer, item_id)
    assert audio_ms == received_ms


async def test_truncate_past_the_audio_produced_so_far_is_refused_and_the_reply_goes_on(
    peer: SessionPeer, clock: PacingClock
) -> None:
    item_id, received_ms = await reply_streaming(peer, clock)
    await peer.send(truncate(item_id, 60_000))
    events = await peer.until("error")
    error = events[-1]["error"]
    produced_ms = int(error["message"].split("Audio content of ")[1].split("ms")[0])
    assert error["message"] == f"Audio content of {produced_ms}ms is already shorter than 60000ms"
    assert error["code"] == "invalid_value" and error["param"] == "audio_end_ms"
    assert received_ms <= produced_ms <= 400  # at most what was due when the truncate came, not the whole reply
    await clock.advance(0.025)  # the next 100 ms are due
    more = await peer.until("response.output_audio.delta")  # not stopped: the reply streams on
    assert more[-1]["item_id"] == item_id


async def test_truncate_before_any_audio_is_refused_like_the_service(peer: SessionPeer) -> None:
    """An item whose audio has not started is no model audio message yet (the service: "Only model
    output audio messages can be truncated", `unsupported_content_type`). The clock stays at 0: the
    first audio is never due."""
    await peer.send(user_text("hello"))
    await peer.send({"type": "response.create"})
    part = (await peer.until("response.content_part.added"))[-1]
    await peer.send(truncate(part["item_id"], 0))
    error = (await peer.expect("error"))["error"]
    await peer.send({"type": "response.cancel"})
    done = (await peer.until("response.done"))[-1]
    assert error["message"] == "Only model output audio messages can be truncated"
    assert error["code"] == "unsupported_content_type"
    assert done["response"]["output"][0]["content"][0]["transcript"] == ""  # nothing was said or cut
