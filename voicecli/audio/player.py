"""Low-latency playback of the model's 24 kHz voice, with instant flush (and duck) for barge-in.

The PortAudio callback only copies from a preallocated ring buffer; resampling to the device rate
and all bookkeeping happen on the caller's side (the event loop), so the audio thread never waits
on Python work. Every block handed to the device is also copied, with its DAC time, into
`monitor`: the far-end reference for echo cancellation and the source of `--record`'s played.wav.
Each response item's place in the ring is remembered, so ``heard_ms`` can tell how much of it
actually reached the listener (for ``conversation.item.truncate``).
"""

from collections import OrderedDict
from typing import Any, Protocol

import numpy as np

from voicecli.audio.clock import ItemSpan, PlayoutCounters, PlayoutSnapshot, frames_in_device, heard_ms
from voicecli.audio.devices import find_device
from voicecli.audio.frames import FrameRing
from voicecli.audio.portaudio import BLOCK_MS, open_stream
from voicecli.audio.resample import StreamResampler
from voicecli.audio.ringbuffer import RingBuffer
from voicecli.realtime.events import SAMPLE_RATE

RING_SECONDS = 120  # a long answer arrives faster than real time; never drop it for lack of room
MAX_TRACKED_ITEMS = 32
MONITOR_FRAMES = 200  # two seconds of what was handed to the device, for the capture's echo handling
DUCK_RAMP_MS = 2.0
"""A duck goes down within this (the person is talking: get out of the way now; 2 ms does not click
at -20 dB); coming back up ramps across a whole block."""


class HasAudio(Protocol):
    """An audio event: ``data`` is 24 kHz mono int16 PCM."""

    data: np.ndarray


class Player:
    """Plays 24 kHz int16 audio on an output device at its native rate.

    Use from one thread (the event loop): ``add_audio``, ``flush`` and ``heard_ms`` are not
    thread-safe against each other, only against the audio callback.
    """

    def __init__(self, device: int | str | None = None, sample_rate: int | None = None) -> None:
        info = find_device(device, "output")
        self.device = info
        self.sample_rate = sample_rate or info.default_samplerate
        self._ring = RingBuffer(self.sample_rate * RING_SECONDS)
        self.monitor = FrameRing(self.sample_rate * BLOCK_MS // 1000, MONITOR_FRAMES)
        self._resampler = StreamResampler(SAMPLE_RATE, self.sample_rate)
        self._counters = PlayoutCounters()
        self._items: OrderedDict[str, ItemSpan] = OrderedDict()
        self._current: str | None = None
        self._fades: dict[int, np.ndarray] = {}
        self._gain = self._target_gain = 1.0  # the callback ramps from one to the other over a block
        self.underruns = 0
        self._stream: Any = None
        self._channels = 1
        self._latency_frames = 0

    @property
    def overflows(self) -> int:
        """Writes that did not fit in the ring buffer (their excess was dropped)."""
        return self._ring.overflows

    @property
    def latency(self) -> float:
        """Output latency PortAudio reports for the open stream, in seconds."""
        return self._latency_frames / self.sample_rate

    @property
    def buffered_ms(self) -> float:
        """Audio waiting in the ring buffer (not yet handed to the device)."""
        return self._ring.fill * 1000.0 / self.sample_rate

    @property
    def is_playing(self) -> bool:
        """True while audio is queued or still coming out of the device's buffer."""
        if self._ring.fill:
            return True
        snap = self._counters.snapshot()
        return snap.consumed > 0 and snap.device_frames - snap.last_data_frame < self._in_device(snap)

    def start(self) -> None:
        """Open and start the output stream (it plays silence until audio is added)."""
        if self._stream is not None:
            return
        self._stream = open_stream(
            "output", self.device.index, self.sample_rate, "int16", self._callback, self.device.max_output_channels
        )
        self._channels = self._stream.channels
        self._latency_frames = round(self._stream.latency * self.sample_rate)
        self._stream.start()

    def close(self) -> None:
        """Stop and close the stream; queued audio is dropped."""
        if self._stream is not None:
            self._stream.abort()
            self._stream.close()
            self._stream = None

    def __enter__(self) -> "Player":
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def add_audio(self, audio: np.ndarray | HasAudio, item_id: str | None = None) -> None:
        """Queue 24 kHz mono int16 audio of a response item; audio of flushed items is ignored.

        ``item_id`` defaults to the event's own ``item_id`` attribute, if it has one.
        """
        pcm = audio if isinstance(audio, np.ndarray) else audio.data
        if not item_id:
            item_id = "" if isinstance(audio, np.ndarray) else getattr(audio, "item_id", "")
        known = self._items.get(item_id)
        if known is not None and known.flushed:
            return
        if item_id != self._current:
            self._finish_current()
            self._current = item_id
            position = self._ring.write_position
            if known is None or known.end != position:  # else: the item resumes after finish()
                self._items[item_id] = ItemSpan(position, position)
                while len(self._items) > MAX_TRACKED_ITEMS:
                    self._items.popitem(last=False)
        span = self._items[item_id]
        span.received_samples += len(pcm)
        self._write(span, self._resampler.process(pcm))

    def finish(self) -> None:
        """Push out the resampler's last few samples (call when a response's audio is complete)."""
        self._finish_current()
        self._current = None

    def flush(self, fade_ms: float = 8.0) -> None:
        """Stop playback within one callback block with a short fade-out and drop everything queued."""
        cut = self._ring.flush(self._fade(fade_ms))
        self._resampler.reset()
        for span in self._items.values():
            span.start, span.end, span.flushed = min(span.start, cut), min(span.end, cut), True
        self._current = None

    def duck(self, gain: float) -> None:
        """Fade to `gain` (1 restores) in the next block the device takes (down within `DUCK_RAMP_MS`,
        up across the block): playback goes on, so nothing is lost if the sound that caused it was
        not an interruption. Any thread may call it (it sets one number the callback reads)."""
        self._target_gain = min(1.0, max(0.0, gain))

    @property
    def gain(self) -> float:
        return self._target_gain

    def heard_ms(self, item_id: str) -> float:
        """Milliseconds of ``item_id`` the listener has heard (0 for unknown items).

        After ``flush`` this is final at once: the audio up to the cut, fade included, which is
        what ``conversation.item.truncate`` needs as ``audio_end_ms``.
        """
        span = self._items.get(item_id)
        if span is None:
            return 0.0
        snap = self._counters.snapshot()
        return heard_ms(span, snap, self._in_device(snap), self.sample_rate)

    def _in_device(self, snap: PlayoutSnapshot) -> int:
        """Frames handed to the device and not yet heard, by the device's own clock."""
        now = self._stream.time if self._stream is not None else None
        return frames_in_device(snap, now, self.sample_rate, self._latency_frames)

    def _finish_current(self) -> None:
        if self._current is not None:
            self._write(self._items[self._current], self._resampler.flush())

    def _write(self, span: ItemSpan, samples: np.ndarray) -> None:
        if samples.size:
            self._ring.write(samples)
            span.end = self._ring.write_position

    def _fade(self, fade_ms: float) -> np.ndarray:
        length = round(self.sample_rate * fade_ms / 1000)
        if length not in self._fades:
            self._fades[length] = np.linspace(1.0, 0.0, length + 2, dtype=np.float32)[1:-1]
        return self._fades[length]

    def _apply_gain(self, block: np.ndarray) -> None:
        """Scale a block by the gain, ramping to a new one (a step would click): quickly down, slowly up."""
        start, end = self._gain, self._target_gain
        if start == end:
            block[:] = (block * np.float32(end)).astype(np.int16)
            return
        length = block.size if end > start else min(block.size, round(self.sample_rate * DUCK_RAMP_MS / 1000))
        gains = np.full(block.size, end, dtype=np.float32)
        gains[:length] = np.linspace(start, end, length, dtype=np.float32)
        block[:] = (block * gains).astype(np.int16)
        self._gain = end

    def _callback(self, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status.output_underflow:
            self.underruns += 1
        got = self._ring.read_into(outdata[:, 0])
        if self._gain != 1.0 or self._target_gain != 1.0:
            self._apply_gain(outdata[:, 0])
        if self._channels > 1:
            outdata[:, 1:] = outdata[:, :1]
        self._counters.advance(got, frames, time_info.outputBufferDacTime)
        self.monitor.push(outdata[:, 0], time_info.outputBufferDacTime)
