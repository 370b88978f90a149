"""The one barge-in policy, on a fake speaker and on the phone's playout, with a virtual clock and an
in-memory client: flush, what was heard per item, then the client's `interrupt` (no socket, no sound).
The last test runs a whole phone bridge on an in-memory transport."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import numpy as np
from support.phone import MemoryMediaSocket

from voicecli.conversation.interruption import BargeInPolicy
from voicecli.phone.bridge import CallBridge
from voicecli.phone.calls import CallRecord, CallRegistry
from voicecli.phone.playout import CallPlayout
from voicecli.realtime import AudioContent, RealtimeClient, RealtimeEvent, RealtimeSettings, protocol
from voicecli.realtime.transport import MemoryTransport

MS = 24  # samples per millisecond at 24 kHz


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeSpeaker:
    """An `AudioSink` that plays each item at real time on the virtual clock, one after the other."""

    latency = 0.0

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.items: dict[str, tuple[float, int]] = {}  # key: (start, samples)
        self.end = clock.now
        self.flushes: list[float] = []
        self.gain = 1.0

    @property
    def is_playing(self) -> bool:
        return self.end > self.clock.now

    @property
    def buffered_ms(self) -> float:
        return max(0.0, self.end - self.clock.now) * 1000

    def add_audio(self, audio: np.ndarray, item_id: str | None = None) -> None:
        start, samples = self.items.get(item_id or "", (max(self.end, self.clock.now), 0))
        self.items[item_id or ""] = (start, samples + len(audio))
        self.end = max(self.end, self.clock.now) + len(audio) / 24_000

    def finish(self) -> None:
        pass

    def flush(self, fade_ms: float = 8.0) -> None:
        self.flushes.append(self.clock.now)
        self.items = {
            key: (start, min(samples, round((self.clock.now - start) * 24_000)))
            for key, (start, samples) in self.items.items()
        }
        self.end = self.clock.now

    def duck(self, gain: float) -> None:
        self.gain = gain

    def heard_ms(self, item_id: str) -> float:
        start, samples = self.items.get(item_id, (0.0, 0))
        return max(0.0, min((self.clock.now - start) * 1000, samples / MS))


class FakeSocket:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def send_str(self, data: str, compress: int | None = None) -> None:
        self.frames.append(json.loads(data))

    def kinds(self) -> list[str]:
        return [str(frame.get("kind") or frame.get("Kind")) for frame in self.frames]


def event(service_type: str, **fields: Any) -> RealtimeEvent:
    return RealtimeEvent(service_type=service_type, service_event={"type": service_type, **fields})


def chunk(item_id: str | None, ms: int) -> AudioContent:
    return AudioContent(data=np.ones(ms * MS, dtype=np.int16), item_id=item_id)


async def open_client(*, media_audio: bool = False) -> tuple[RealtimeClient, MemoryTransport]:
    service = MemoryTransport(media_audio=media_audio)
    client = RealtimeClient(transport=service)
    await client.create_session()
    return client, service


def play(policy: BargeInPolicy, audio: AudioContent) -> bool:
    reply = policy.reply_for(audio)
    if reply is None:
        return False
    policy.play(reply, audio)
    return True


# --- talk's speaker ---------------------------------------------------------------------------


async def test_speech_over_the_reply_flushes_then_truncates_at_what_was_heard() -> None:
    clock = Clock()
    speaker = FakeSpeaker(clock)
    policy = BargeInPolicy(speaker, clock=clock)
    client, service = await open_client()
    policy.state.handle(event("response.created"))
    play(policy, chunk("item_a", 2000))
    clock.now += 0.75
    barge_in = await policy.interrupt(client, "vad")
    await client.delete_session()
    assert barge_in is not None and speaker.flushes == [clock.now]
    assert barge_in.truncates == [("item_a", 750)]
    assert service.sent_types()[-1] == "conversation.item.truncate"
    assert "response.cancel" not in service.sent_types()  # the service's VAD cancels by itself
    assert not play(policy, chunk("item_a", 20)), "a late chunk of the item cut off is dropped"


async def test_a_key_cancels_the_response_and_cuts_every_item_heard_in_part() -> None:
    clock = Clock()
    speaker = FakeSpeaker(clock)
    policy = BargeInPolicy(speaker, clock=clock)
    client, service = await open_client()
    policy.state.handle(event("response.created"))
    play(policy, chunk("item_a", 500))
    policy.state.handle(event("response.output_audio.done", item_id="item_a"))
    play(policy, chunk("item_b", 1000))
    clock.now += 0.8  # item_a heard whole, item_b for 300 ms
    barge_in = await policy.interrupt(client, "key")
    await client.delete_session()
    assert barge_in is not None and barge_in.truncates == [("item_b", 300)]
    assert service.sent_types()[-2:] == ["response.cancel", "conversation.item.truncate"]


async def test_nothing_playing_and_no_response_means_no_interruption() -> None:
    clock = Clock()
    policy = BargeInPolicy(FakeSpeaker(clock), clock=clock)
    client, service = await open_client()
    policy.state.handle(event("response.created"))
    play(policy, chunk("item_a", 100))
    policy.state.handle(event("response.done", response={"status": "completed"}))
    clock.now += 1.0  # played out
    assert await policy.interrupt(client, "vad") is None
    assert await policy.interrupt(client, "key") is None
    await client.delete_session()
    assert "conversation.item.truncate" not in service.sent_types()


async def test_a_key_cancels_a_response_still_thinking() -> None:
    clock = Clock()
    policy = BargeInPolicy(FakeSpeaker(clock), clock=clock)
    client, service = await open_client()
    policy.state.handle(event("response.created"))
    assert await policy.interrupt(client, "vad") is None  # the service's VAD cancels it by itself
    assert await policy.interrupt(client, "key") is not None
    await client.delete_session()
    assert service.sent_types()[-1] == "response.cancel"


async def test_over_media_the_service_buffer_is_cleared_instead_of_truncating() -> None:
    clock = Clock()
    policy = BargeInPolicy(FakeSpeaker(clock), clock=clock)
    client, service = await open_client(media_audio=True)
    policy.state.handle(event("response.created"))
    play(policy, chunk("item_a", 2000))
    clock.now += 0.5
    barge_in = await policy.interrupt(client, "vad")
    await client.delete_session()
    assert barge_in is not None and barge_in.truncates == []
    assert service.sent_types()[-1] == "output_audio_buffer.clear"


# --- the phone call's playout -----------------------------------------------------------------


async def test_the_phone_playout_stops_acs_first_then_truncates_at_what_the_caller_heard() -> None:
    clock = Clock()
    socket = FakeSocket()
    playout = CallPlayout(socket, clock=clock)
    policy = BargeInPolicy(playout, clock=clock)
    client, _ = await open_client()
    order: list[str] = []
    client.observe_sent(lambda payload: order.append(payload["type"]))
    policy.state.handle(event("response.created"))
    for _ in range(10):  # 2 s sent at once, faster than real time
        play(policy, chunk("item_a", 200))
    await playout.drain()
    clock.now += 1.2

    async def stop_first() -> None:
        await playout.drain()
        order.append("StopAudio")

    barge_in = await policy.interrupt(client, "vad", flushed=stop_first)
    await client.delete_session()
    assert barge_in is not None and barge_in.truncates == [("item_a", 1200)]
    assert socket.kinds() == ["AudioData"] * 10 + ["StopAudio"]
    assert order.index("StopAudio") < order.index("conversation.item.truncate")
    assert not playout.is_playing and round(playout.heard_ms("item_a")) == 1200
    clock.now += 1.0
    assert round(playout.heard_ms("item_a")) == 1200, "what was heard is frozen at the stop"


async def test_the_phone_playout_drops_audio_not_yet_sent_at_a_stop() -> None:
    clock = Clock()
    socket = FakeSocket()
    playout = CallPlayout(socket, clock=clock)
    policy = BargeInPolicy(playout, clock=clock)
    client, _ = await open_client()
    policy.state.handle(event("response.created"))
    play(policy, chunk("item_a", 200))
    await playout.drain()
    play(policy, chunk("item_a", 200))  # queued, not yet sent when the caller speaks
    await policy.interrupt(client, "vad", flushed=playout.drain)
    await client.delete_session()
    assert socket.kinds() == ["AudioData", "StopAudio"]


async def test_the_phone_playout_plays_items_one_after_the_other_and_a_new_reply_after_a_stop() -> None:
    clock = Clock()
    socket = FakeSocket()
    playout = CallPlayout(socket, clock=clock)
    policy = BargeInPolicy(playout, clock=clock)
    client, _ = await open_client()
    policy.state.handle(event("response.created"))
    play(policy, chunk("item_a", 500))
    policy.state.handle(event("response.output_audio.done", item_id="item_a"))
    play(policy, chunk("item_b", 500))
    clock.now += 0.7
    assert round(playout.heard_ms("item_a")) == 500 and round(playout.heard_ms("item_b")) == 200
    cut = policy.cut("vad")
    assert cut is not None and cut.heard == [("item_b", 200)]  # item_a was heard whole, all of it
    assert policy.cut("vad") is None, "nothing sent since the stop: nothing to stop"
    policy.state.handle(event("response.created"))
    assert play(policy, chunk("item_c", 100)) and playout.is_playing
    await client.delete_session()


# --- the phone bridge, end to end in memory ---------------------------------------------------


def wire(event_type: str, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "event_id": f"event_{event_type}", **fields}


async def test_the_phone_bridge_truncates_a_reply_still_streaming_even_when_all_that_was_sent_was_heard() -> None:
    """The model streams a reply slower than the caller hears it (a slow network): when the caller
    speaks, all 100 ms sent were heard, but the item goes on at the service. Truncated at 100 ms, the
    model forgets the words the caller never heard; the bridge used to send no truncate then (only an
    item heard in part was cut), and the model believed the whole reply was heard."""
    service = MemoryTransport()
    socket = MemoryMediaSocket()
    bridge = CallBridge(
        CallRecord("call-slow"),
        CallRegistry(),
        socket,
        lambda _, tools: RealtimeClient(transport=service, tools=tools),
        settings=RealtimeSettings(),
        greet=False,
    )
    call = asyncio.create_task(bridge.run())
    while "session.update" not in service.sent_types():
        await asyncio.sleep(0)
    await service.arrive(wire("response.created", response={"id": "resp_1", "status": "in_progress", "output": []}))
    await service.arrive(
        wire(
            "response.output_audio.delta",
            response_id="resp_1",
            item_id="item_a",
            output_index=0,
            content_index=0,
            delta=protocol.pcm_to_base64(np.full(100 * MS, 1000, dtype=np.int16)),
        )
    )
    await asyncio.sleep(0.15)  # the caller heard all of it; the rest of the item is still on its way
    await service.arrive(wire("input_audio_buffer.speech_started", audio_start_ms=0, item_id="user_b"))
    await socket.close()
    await call
    assert [frame["kind"] for frame in socket.frames] == ["AudioData", "StopAudio"]
    truncates = [(p["item_id"], p["audio_end_ms"]) for p in service.sent if p["type"] == "conversation.item.truncate"]
    assert truncates == [("item_a", 100)]
    heard = bridge.client.heard_ms  # what a replay after a drop (or a rollover's wait) goes by, as in talk
    assert heard is not None and round(heard("item_a") or 0) == 100 and heard("an item never played") is None
