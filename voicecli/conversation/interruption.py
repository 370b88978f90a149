"""One barge-in policy for every playback: the speaker in `talk` and a phone call's playout.

An interruption is the same whatever noticed it (the service's VAD, the push-to-talk key, the local
judge of `local_barge_in`) and wherever the reply plays: flush the `AudioSink`, read how much of each
reply item the listener heard, and tell the client (`interrupt`), which says it as its protocol and
transport need (a truncate per item, a clear of the service's buffer, or nothing at all). Chunks of
an item cut off that arrive late are dropped.

`BargeInPolicy` is sans-I/O: it plays the reply chunks on the sink and reads the conversation's
state (`ConversationState`: the reply items and whether a response is under way), decides on a
trigger, and calls only the (synchronous) sink; time comes from the clock it is given.
`interrupt()` adds the one await, the client's, so talk and the phone bridge share it as it is.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from voicecli.conversation.audio_ports import AudioSink
from voicecli.conversation.state import ConversationState, ReplyItem
from voicecli.realtime import AudioContent, RealtimeClient, RealtimeConnectionError

__all__ = ["BargeIn", "BargeInPolicy", "BargeInSource", "truncate_end_ms"]

BargeInSource = Literal["vad", "key", "local"]


@dataclass(slots=True)
class BargeIn:
    """What one interruption did, for the event history of tests and benchmarks."""

    source: BargeInSource
    at: float  # the policy's clock when the trigger was handled
    flushed_at: float  # right after the sink was flushed
    truncates: list[tuple[str, int]] = field(default_factory=list)  # (item_id, audio_end_ms) sent


@dataclass(slots=True, frozen=True)
class Cut:
    """What the policy decided at one interruption: what to tell the service."""

    barge_in: BargeIn
    heard: list[tuple[str, int]]  # (item id, audio_end_ms) per item heard in part
    cancel: bool  # also cancel the response in flight


def truncate_end_ms(heard_ms: float, received_ms: float, *, complete: bool) -> int | None:
    """`audio_end_ms` for `conversation.item.truncate`, or None when no truncate should be sent.

    Whole milliseconds, never past the audio received (the service counts whole ms of the item's
    audio and refuses a truncate beyond it). None when nothing was heard, or when the item had all
    its audio and played completely (nothing to cut).
    """
    limit = math.floor(received_ms)
    end = min(round(heard_ms), limit)
    if end <= 0 or (complete and end >= limit):
        return None
    return end


class BargeInPolicy:
    """Plays reply chunks on `sink` and cuts them off when told to; see the module doc."""

    def __init__(
        self, sink: AudioSink, state: ConversationState | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.sink = sink
        self.state = state or ConversationState()
        self.clock = clock
        self.barge_ins: list[BargeIn] = []

    def reply_for(self, audio: AudioContent) -> ReplyItem | None:
        """The item a reply chunk belongs to, or None when it was cut off (a late chunk: drop it)."""
        return self.state.reply_for(audio)

    def play(self, reply: ReplyItem, audio: AudioContent, *, audible_at: float | None = None) -> None:
        """Hand the chunk to the sink and count it for its item."""
        self.sink.add_audio(audio.data, reply.key)
        self.state.played(reply, len(audio.data), audible_at=audible_at)

    def heard_ms(self, item_id: str) -> float | None:
        """How much of an item the listener heard (None: not an item played here), for the continuity replay."""
        return self.sink.heard_ms(item_id) if item_id in self.state.replies else None

    # --- the decision -------------------------------------------------------------------------

    def cut(self, source: BargeInSource) -> Cut | None:
        """Stop the reply now: flush the sink and say what to tell the service; None when nothing plays.

        A response still thinking (no audio yet) is the service's VAD's to cancel, unless a key was
        pressed: the key cancels it too. Only a key or a local decision cancels the response in flight
        (server VAD cancels it by itself, unless the session left interrupting to voicecli).
        """
        state = self.state
        pending = any(not reply.interrupted and reply.received_samples for reply in state.replies.values())
        if not self.sink.is_playing and not (state.response_active and (pending or source == "key")):
            return None
        barge_in = BargeIn(source, self.clock(), 0.0)
        self.sink.flush()
        barge_in.flushed_at = self.clock()
        heard: list[tuple[str, int]] = []
        for reply in state.cut_off():
            end = truncate_end_ms(self.sink.heard_ms(reply.key), reply.received_ms, complete=reply.audio_done)
            if end is not None and reply.item_id is not None:
                heard.append((reply.item_id, end))
        self.barge_ins.append(barge_in)
        return Cut(barge_in, heard, cancel=source != "vad" and state.response_active)

    async def interrupt(
        self, client: RealtimeClient, source: BargeInSource, *, flushed: Callable[[], Awaitable[None]] | None = None
    ) -> BargeIn | None:
        """`cut`, then `flushed()` (a sink that sends its stop, e.g. the phone's `StopAudio`, does it
        first), then tell the service through the client (a lost connection is the receiver's to report)."""
        cut = self.cut(source)
        if cut is None:
            return None
        if flushed is not None:
            await flushed()
        with contextlib.suppress(RealtimeConnectionError):
            cut.barge_in.truncates = await client.interrupt(cut.heard, cancel=cut.cancel)
        return cut.barge_in
