"""Played-position clock: how much of a response item the listener has actually heard.

Barge-in truncates the model's item at ``audio_end_ms``; that must be what came out of the speaker,
not what was received or queued. Samples handed to the device still sit in its buffer for the
output latency, so those are subtracted until enough later frames have gone out behind them.
Once an item is flushed its played audio is final (everything up to the cut, fade included, is
already on its way out), so that total is the answer at once; truncate needs it right then.
The player's callback updates ``PlayoutCounters``; everything else here is pure arithmetic.
"""

import time
from dataclasses import dataclass

from voicecli.realtime.events import SAMPLE_RATE


@dataclass(slots=True)
class ItemSpan:
    """Where one item's audio sits in the ring stream, and how much of it arrived (at 24 kHz)."""

    start: int
    end: int
    received_samples: int = 0
    flushed: bool = False  # cut by a flush: nothing past ``end`` will ever play


@dataclass(frozen=True, slots=True)
class PlayoutSnapshot:
    """A consistent view of the callback's counters."""

    consumed: int  # ring samples handed to the device so far (ring read position)
    device_frames: int  # all frames handed to the device, silence included
    last_data_frame: int  # device_frames value right after the most recent ring sample
    block_dac_time: float | None = None  # when the newest block's first frame is heard (PortAudio clock)
    block_frames: int = 0  # that block's length


class PlayoutCounters:
    """Counters written by the PortAudio callback, read from the event loop without tearing.

    A sequence number (odd while an update is in progress) lets the reader retry instead of taking
    a lock in the callback.
    """

    def __init__(self) -> None:
        self._seq = 0
        self._consumed = 0
        self._device_frames = 0
        self._last_data_frame = 0
        self._block_dac_time: float | None = None
        self._block_frames = 0

    def advance(self, data_frames: int, total_frames: int, dac_time: float | None = None) -> None:
        """Record one callback block: ``data_frames`` ring samples followed by silence up to ``total_frames``,
        its first frame heard at ``dac_time`` (PortAudio's stream clock) when the device says."""
        self._seq += 1
        if data_frames:
            self._consumed += data_frames
            self._last_data_frame = self._device_frames + data_frames
        self._device_frames += total_frames
        self._block_dac_time, self._block_frames = dac_time, total_frames
        self._seq += 1

    def snapshot(self) -> PlayoutSnapshot:
        """Read all three counters as of one moment between callback updates."""
        while True:
            seq = self._seq
            snap = PlayoutSnapshot(
                self._consumed, self._device_frames, self._last_data_frame, self._block_dac_time, self._block_frames
            )
            if seq % 2 == 0 and seq == self._seq:
                return snap
            time.sleep(0)  # yield the GIL so the callback thread can finish its update


def frames_in_device(snap: PlayoutSnapshot, now: float | None, rate: int, latency_frames: int) -> int:
    """Frames handed to the device but not yet heard at stream time ``now``.

    From the newest block's DAC time when the device reports one (it follows the device's real
    buffering, which grows on a busy machine after an underrun), else the stream's nominal latency.
    """
    if snap.block_dac_time is None or now is None or snap.block_dac_time <= 0:
        return latency_frames
    unheard_of_block = snap.block_frames - (now - snap.block_dac_time) * rate
    return max(0, min(round(unheard_of_block), snap.device_frames))


def heard_frames(span: ItemSpan, snap: PlayoutSnapshot, latency_frames: int) -> int:
    """Frames of ``span`` that have reached the listener's ears (for a flushed span: ever will)."""
    length = span.end - span.start
    if span.flushed:
        return length
    handed = min(max(snap.consumed - span.start, 0), length)
    # Frames that went out after this item's last handed frame push it through the device buffer.
    behind = snap.device_frames - snap.last_data_frame + max(snap.consumed - span.end, 0)
    in_device = max(latency_frames - behind, 0)
    return max(handed - in_device, 0)


def heard_ms(span: ItemSpan, snap: PlayoutSnapshot, latency_frames: int, device_rate: int) -> float:
    """Milliseconds of the item the listener has heard, never more than the audio received for it."""
    received_ms = span.received_samples * 1000.0 / SAMPLE_RATE
    return min(heard_frames(span, snap, latency_frames) * 1000.0 / device_rate, received_ms)
