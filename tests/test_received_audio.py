"""Reply audio per item is counted once, by the client at each chunk; the continuity replay and the
application's reply items read that count (each used to keep its own)."""

from __future__ import annotations

import numpy as np

from voicecli.conversation.state import ConversationState
from voicecli.realtime import RealtimeClient, protocol
from voicecli.realtime.events import AudioContent
from voicecli.realtime.received import ReceivedAudio
from voicecli.realtime.transport import MemoryTransport


def test_the_count_is_per_item_skips_chunks_without_one_and_forgets_the_oldest() -> None:
    received = ReceivedAudio(max_items=2)
    for item_id, samples in (("a", 240), ("b", 480), ("a", 240), (None, 999)):
        received.add(AudioContent(data=np.zeros(samples, np.int16), item_id=item_id))
    assert (received.samples("a"), received.samples("b"), received.ms("a")) == (480, 480, 20.0)
    received.add(AudioContent(data=np.zeros(24, np.int16), item_id="c"))
    assert (received.samples("b"), received.samples("a"), received.samples("c")) == (0, 480, 24)  # "b" was oldest


def delta(item_id: str, samples: int) -> dict[str, object]:
    return {
        "type": "response.output_audio.delta",
        "event_id": f"delta_{item_id}_{samples}",
        "response_id": "resp_1",
        "item_id": item_id,
        "output_index": 0,
        "content_index": 0,
        "delta": protocol.pcm_to_base64(np.ones(samples, dtype=np.int16)),
    }


async def test_the_client_counts_each_chunk_once_and_the_replay_history_reads_that_count() -> None:
    service = MemoryTransport()
    client = RealtimeClient(transport=service, continuity=True)
    async with client():
        await service.arrive(
            {
                "type": "response.output_item.added",
                "item": {"id": "item_a", "type": "message", "role": "assistant"},
            }
        )
        for samples in (2400, 2400):
            await service.arrive(delta("item_a", samples))
        await service.arrive(delta("item_b", 480))
        assert client.received_audio.samples("item_a") == 4800
        assert client.received_audio.samples("item_b") == 480
        assert client.supervisor is not None
        assert client.supervisor.history.received is client.received_audio  # one count, read by both
        await client.send({"type": "conversation.item.truncate", "item_id": "item_a", "audio_end_ms": 50})
        assert client.supervisor.history.played_out(None) is False  # heard 50 of the 200 ms received


def test_the_conversation_states_reply_items_read_the_clients_count_and_count_only_what_it_cannot() -> None:
    received = ReceivedAudio()
    state = ConversationState(received=received)
    named = AudioContent(data=np.zeros(480, np.int16), item_id="item_a")
    unnamed = AudioContent(data=np.zeros(240, np.int16), item_id=None)
    for chunk in (named, unnamed, named):
        received.add(chunk)  # the client, at `Play`, before the application's callback
        reply = state.reply_for(chunk)
        assert reply is not None
        state.played(reply, len(chunk.data))
    assert state.replies["item_a"].received_samples == 960  # once, not twice
    assert state.replies["response-0"].received_samples == 240  # no id: the client cannot count it, the state does
    assert [reply.key for reply in state.cut_off()] == ["item_a", "response-0"]
