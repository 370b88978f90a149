"""`--record DIR`: microphone WAV, played WAV and the event log of a session, all on one clock.

Sample n of either WAV file is the sound at `n / rate` seconds after the session started, the same
`t` the event log uses, so the three files line up in any editor. Silence is padded wherever nothing
was captured or played. `played.wav` is what the player handed to the device, block by block with
each block's DAC time (the capture's `on_played`), so audio flushed at barge-in or still queued at
Ctrl-C is not in it; `mic.wav` is what was sent, with ADC times on the same clock. Audio threads only
enqueue a copy of their block; a writer thread resamples and does the disk work, so recording never
delays capture or playback. Files are flushed as they grow and closed
properly on exit; they are private to the user (folders 0700, files 0600).
"""

from __future__ import annotations

import queue
import threading
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

import numpy as np
import soundfile

from voicecli.audio.errors import AudioFileError
from voicecli.audio.pcm import to_int16
from voicecli.audio.polyphase import LowLatencyResampler
from voicecli.realtime import RealtimeEvent
from voicecli.realtime.events import SAMPLE_RATE
from voicecli.records.errors import RecordingError
from voicecli.records.eventlog import Direction, EventLog, SessionClock
from voicecli.records.private import private_file, private_folder
from voicecli.records.wav_repair import repair_wav

TrackName = Literal["mic", "played"]
JITTER_S = 0.02
"""A block that starts within this of where the previous one ended is written back to back, so timing
jitter of the audio callbacks never inserts clicks of silence."""


def _as_int16(pcm: np.ndarray) -> np.ndarray:
    """A private mono int16 copy of a block (float blocks are taken as -1..1 full scale)."""
    samples = np.asarray(pcm).reshape(-1)
    if np.issubdtype(samples.dtype, np.floating):
        return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)
    return samples.astype(np.int16, copy=True)


class _Track:
    """One mono 16-bit WAV file, written at positions on the session clock."""

    def __init__(self, path: Path, sample_rate: int) -> None:
        self._file = soundfile.SoundFile(
            private_file(path), "w", samplerate=sample_rate, channels=1, subtype="PCM_16", format="WAV"
        )
        self._tolerance = round(JITTER_S * sample_rate)
        self.frames = 0

    def write_at(self, start: int, pcm: np.ndarray) -> None:
        """Pad silence up to `start` when there is a real gap, then append (never drop) the block."""
        if start - self.frames > self._tolerance:
            self.pad_to(start)
        self._file.write(pcm)
        self.frames += len(pcm)

    def pad_to(self, frames: int) -> None:
        if frames > self.frames:
            self._file.write(np.zeros(frames - self.frames, dtype=np.int16))
            self.frames = frames

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class Recorder:
    """Records one session into its own folder: `mic.wav`, `played.wav` and `events.jsonl`."""

    def __init__(self, directory: Path, sample_rate: int = SAMPLE_RATE, clock: SessionClock | None = None) -> None:
        self.directory = directory
        self.sample_rate = sample_rate
        self.clock = clock or SessionClock()
        private_folder(directory)
        self._tracks: dict[TrackName, _Track] = {
            "mic": _Track(directory / "mic.wav", sample_rate),
            "played": _Track(directory / "played.wav", sample_rate),
        }
        self.events = EventLog(directory / "events.jsonl", self.clock)
        self._queue: queue.SimpleQueue[tuple[TrackName, float, np.ndarray, int] | None] = queue.SimpleQueue()
        self._resamplers: dict[tuple[TrackName, int], LowLatencyResampler] = {}
        self._error: Exception | None = None
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="voicecli-recorder", daemon=True)
        self._writer.start()

    @classmethod
    def in_new_folder(cls, base: Path, sample_rate: int = SAMPLE_RATE) -> Recorder:
        """Start recording into a fresh `session-YYYYmmdd-HHMMSS` folder under `base`, never overwriting."""
        stamp = datetime.now().strftime("session-%Y%m%d-%H%M%S")
        folder = base / stamp
        suffix = 2
        while folder.exists():
            folder = base / f"{stamp}-{suffix}"
            suffix += 1
        try:
            return cls(folder, sample_rate)
        except (OSError, soundfile.SoundFileError) as exc:
            raise AudioFileError(f"cannot record into {folder}: {exc}") from exc

    def mic(self, pcm: np.ndarray, at: float | None = None, rate: int | None = None) -> None:
        """A captured block (at `rate`, default the recording's) first heard at monotonic time `at`."""
        self._enqueue("mic", pcm, at, rate)

    def played(self, pcm: np.ndarray, at: float | None = None, rate: int | None = None) -> None:
        """A block handed to the speaker (at `rate`) whose first sample is audible at monotonic time `at`."""
        self._enqueue("played", pcm, at, rate)

    def event(self, event: RealtimeEvent, direction: Direction = "in") -> None:
        self.events.write(event, direction)

    def _enqueue(self, track: TrackName, pcm: np.ndarray, at: float | None, rate: int | None) -> None:
        if not self._closed:
            moment = time.monotonic() if at is None else at
            self._queue.put((track, moment, _as_int16(pcm), rate or self.sample_rate))

    def _write_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue
            track, at, pcm, rate = item
            try:
                if rate != self.sample_rate:
                    pcm = to_int16(self._resampler(track, rate).process(pcm))
                start = max(0, round(self.clock.since_start(at) * self.sample_rate))
                self._tracks[track].write_at(start, pcm)
                if self._queue.empty():
                    for each in self._tracks.values():
                        each.flush()
            except Exception as exc:  # kept for close() to report; the audio threads must not see it
                self._error = exc

    def _resampler(self, track: TrackName, rate: int) -> LowLatencyResampler:
        key = (track, rate)
        if key not in self._resamplers:
            self._resamplers[key] = LowLatencyResampler(rate, self.sample_rate)
        return self._resamplers[key]

    def close(self) -> None:
        """Write what is queued, pad both files to the session's length, and close everything. When the
        disk refused part of it, what was written stays a valid WAV, and `RecordingError` says what
        was kept and what was lost."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join()
        end = round(self.clock.since_start(time.monotonic()) * self.sample_rate)
        length = max(end, *(track.frames for track in self._tracks.values()))
        for track in self._tracks.values():
            try:
                if self._error is None:
                    track.pad_to(length)
            except Exception as exc:  # as in the writer: reported below
                self._error = exc
            try:
                track.close()
            except Exception as exc:  # libsndfile failing to finish the header
                self._error = self._error or exc
        problems = [] if self._error is None else [self._kept_audio(self._error)]
        try:
            self.events.close()
        except RecordingError as exc:
            problems.append(str(exc))
        if problems:
            raise RecordingError(f"recording into {self.directory}: " + "; ".join(problems))

    def _kept_audio(self, error: Exception) -> str:
        """Repair both WAV files after a failed write and say how much of each was kept."""
        reason = (error.strerror if isinstance(error, OSError) else str(error)) or "a write was refused (disk full?)"
        kept = ", ".join(f"{repair_wav(self.directory / f'{name}.wav'):.1f} s in {name}.wav" for name in self._tracks)
        return f"{reason}; kept {kept} (valid WAV), the rest of the session was not recorded"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
