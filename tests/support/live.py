"""Checks shared by the live-mode tests: what the speaker really played vs what the service was told."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from support.audio import LOUD, PulseAudio, sound_mask, wait_until
from support.system_tools import require_program
from voicecli.audio.resample import resample
from voicecli.realtime.events import SAMPLE_RATE


class EventLog:
    """The records of a `--json-events` file so far, read on from where the last read stopped (the
    tests poll it while a conversation goes on; parsing it whole on each poll cost a core)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._read_to = 0
        self._unfinished = b""
        self._records: list[dict[str, Any]] = []

    def records(self, event_type: str, direction: str | None = None) -> list[dict[str, Any]]:
        """The records of `event_type` (sent or received, or only `direction`), in order."""
        if self.path.exists():
            with self.path.open("rb") as log:
                log.seek(self._read_to)
                data = log.read()
            self._read_to += len(data)
            *lines, self._unfinished = (self._unfinished + data).split(b"\n")
            self._records += [json.loads(line) for line in lines if line.strip()]
        return [r for r in self._records if r["type"] == event_type and direction in (None, r["dir"])]


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait on the event loop until `condition` holds; fail (not hang) after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def bursts(pcm: np.ndarray, rate: int, gap_ms: float) -> list[tuple[int, int]]:
    """First and last loud sample of each stretch of sound, split where it was quiet longer than `gap_ms`."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > LOUD)
    if not loud.size:
        return []
    breaks = np.flatnonzero(np.diff(loud) > rate * gap_ms / 1000)
    starts = np.concatenate(([loud[0]], loud[breaks + 1]))
    ends = np.concatenate((loud[breaks], [loud[-1]]))
    return [(int(start), int(end)) for start, end in zip(starts, ends, strict=True)]


def first_burst(pcm: np.ndarray, rate: int, gap_ms: float = 400.0) -> tuple[int, int] | None:
    """First and last loud sample of the first stretch of sound that has no gap longer than `gap_ms`."""
    return next(iter(bursts(pcm, rate, gap_ms)), None)


@dataclass(frozen=True)
class PlayedReply:
    """Where the interrupted reply sat in a speaker recording, in ms of the reply item's own audio."""

    last_heard_ms: float  # last loud sample that came out of the speaker, counting the recording's gaps
    last_heard_sound_ms: float  # the same with the recording's digital silence left out
    reference_last_loud_ms: float  # last loud sample of the item's audio up to `audio_end_ms`
    last_heard_matched_ms: tuple[float, float] | None = None  # the same, placed by the waveform (at least, at most)
    match_score: float = 0.0  # how well it matched (normalised correlation, 1 is the same waveform; 0: no match)


def played_reply(recorded: np.ndarray, rate: int, reference: np.ndarray, audio_end_ms: int) -> PlayedReply:
    """Line the recorded reply up with the item's audio (24 kHz) by their first loud sample.

    A late device callback on a busy machine makes PulseAudio play digital silence: either in place
    of the late audio (the recording keeps the item's timing) or before it (the rest comes later).
    So the last heard sample is measured both ways, with the gaps counted and with the digital
    silence of recording and item left out; what was heard lies between the two.
    """
    ref = resample(reference, SAMPLE_RATE, rate)
    ref_loud = np.flatnonzero(np.abs(ref.astype(np.int32)) > LOUD)
    burst = first_burst(recorded, rate)
    assert burst is not None and ref_loud.size, "no reply audio came out of the speaker"
    ref_kept = np.flatnonzero(sound_mask(ref, rate))  # item sample index of each sample with sound
    ref_sound, rec_sound = ref[ref_kept], recorded[sound_mask(recorded, rate)]
    sound_loud = np.flatnonzero(np.abs(ref_sound.astype(np.int32)) > LOUD)
    sound_burst = first_burst(rec_sound, rate)
    assert sound_burst is not None
    last_sound = ref_kept[min(sound_burst[1] - sound_burst[0] + int(sound_loud[0]), len(ref_kept) - 1)]
    cut = audio_end_ms * rate // 1000
    before_cut = ref_loud[ref_loud < cut]
    last_heard = burst[1] - burst[0] + int(ref_loud[0])
    *matched, score = where_it_ends(recorded[burst[0] : burst[1] + 1], ref, rate, sorted((last_heard, int(last_sound))))
    return PlayedReply(
        last_heard_ms=last_heard * 1000 / rate,
        last_heard_sound_ms=float(last_sound) * 1000 / rate,
        reference_last_loud_ms=float(before_cut[-1]) * 1000 / rate if before_cut.size else 0.0,
        last_heard_matched_ms=(matched[0] * 1000 / rate, matched[1] * 1000 / rate) if score else None,
        match_score=score,
    )


MATCH_MS = 100
"""The least continuous sound (no digital silence) whose waveform `where_it_ends` looks for in the item's audio."""
GOOD_MATCH = 0.9
"""A normalised correlation this high is the same waveform (an unrelated stretch of speech scores far lower)."""


def where_it_ends(heard: np.ndarray, ref: np.ndarray, rate: int, around: list[int]) -> tuple[int, int, float]:
    """Which of `ref`'s samples the last sample of `heard` was, at least and at most, and how well the
    waveform matched (0: no stretch matched; then the answer is `around`'s).

    The estimates `around` count from the first loud sample, so a device's late callbacks shift them:
    the digital silence PulseAudio plays instead of late audio pushes the rest later (the gaps counted),
    and a ducked, lifted recording keeps pauses the item's audio leaves out (the gaps dropped). Instead
    the last stretch of continuous sound (at least `MATCH_MS`) is found in the item's audio by its
    waveform (searched within 0.5 s of the estimates); only the digital silence after it is unsure.
    """
    kept = sound_mask(heard, rate)
    edges = np.diff(np.concatenate(([0], kept.astype(np.int8), [0])))
    pieces = zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True)
    long = [(int(start), int(end)) for start, end in pieces if end - start >= rate * MATCH_MS // 1000]
    for start, end in reversed(long[-3:]):
        needle = heard[start:end].astype(np.float64)
        low = max(0, around[0] - rate // 2 - len(heard) + start)
        hay = ref[low : min(len(ref), around[-1] + rate // 2)].astype(np.float64)
        if len(hay) < len(needle) or not needle.any():
            continue
        size = len(hay) + len(needle)
        product = np.fft.irfft(np.fft.rfft(hay, size) * np.conj(np.fft.rfft(needle, size)), size)
        slides = len(hay) - len(needle) + 1
        energy = np.concatenate(([0.0], np.cumsum(hay**2)))
        window = np.sqrt(np.maximum(energy[len(needle) :] - energy[:slides], 1e-9))
        scores = product[:slides] / (window * np.linalg.norm(needle))
        at = int(np.argmax(scores))
        if scores[at] >= GOOD_MATCH:
            piece_end = low + at + len(needle) - 1
            return piece_end + int(np.count_nonzero(kept[end:])), piece_end + len(heard) - end, float(scores[at])
    return around[0], around[-1], 0.0


def assert_truncate_matches_speaker(
    recorded: np.ndarray, rate: int, reference: np.ndarray, audio_end_ms: int, tolerance_ms: float = 20.0
) -> PlayedReply:
    """`audio_end_ms` is what the listener heard: nothing loud after it, nothing loud before it missing."""
    played = played_reply(recorded, rate, reference, audio_end_ms)
    heard_low, heard_high = sorted((played.last_heard_sound_ms, played.last_heard_ms))
    if played.last_heard_matched_ms is not None:
        heard_low, heard_high = played.last_heard_matched_ms  # only the silence after the matched sound is unsure
    assert heard_low <= audio_end_ms + tolerance_ms, f"{played} vs audio_end_ms={audio_end_ms}"
    assert played.reference_last_loud_ms <= heard_high + tolerance_ms, (
        f"{played} vs audio_end_ms={audio_end_ms}: the truncate claims audio that was never played"
    )
    return played


class Tmux:
    """`voicecli talk` in a 120x40 tmux window on a tmux server of its own; `EXIT=<code>` lands in a file."""

    def __init__(self, pulse: PulseAudio, folder: Path, *args: str) -> None:
        require_program("tmux", "the terminal tests")
        self.exit_file = folder / "exit.txt"
        config = folder / "empty.toml"
        config.write_text("")
        self.tmux = ["tmux", "-L", f"voicecli-test-{os.getpid()}-{folder.name}"]
        devices = sorted(key for key in pulse.env if key.startswith("PULSE_") or key == "XDG_RUNTIME_DIR")
        env = " ".join(f"{key}={shlex.quote(pulse.env[key])}" for key in devices)
        command = (
            f"env -u COLUMNS -u LINES {env} {shlex.quote(sys.executable)} -m voicecli talk --provider local"
            f" --config {config} {shlex.join(args)}; echo EXIT=$? > {shlex.quote(str(self.exit_file))}; sleep 30"
        )
        subprocess.run([*self.tmux, "new-session", "-d", "-x", "120", "-y", "40", command], check=True, timeout=10)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p"], capture_output=True, text=True, timeout=10).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", *keys], check=True, timeout=10)

    def wait_for(self, text: str, what: str, timeout: float = 30) -> None:
        wait_until(lambda: text in self.screen(), what, timeout=timeout)

    def exit_code(self) -> str:
        # The shell creates the file before `echo` writes to it: wait for the line itself.
        wait_until(lambda: self.exit_file.exists() and self.exit_file.read_text().endswith("\n"), "voicecli to exit")
        return self.exit_file.read_text().strip()

    def __enter__(self) -> Tmux:
        return self

    def __exit__(self, *_exc: object) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True, timeout=10)


class Talk:
    """A running `voicecli talk` with its event log, recordings and output."""

    def __init__(self, pulse: PulseAudio, folder: Path, *args: str) -> None:
        self.events_path = folder / "events.jsonl"
        self._event_log = EventLog(self.events_path)
        self.record_dir = folder / "rec"
        env = {k: v for k, v in pulse.env.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "VOICECLI_"))}
        # The user's settings stay out, the tests' echo brain (conftest.py) not: `auto` would add its
        # explanation to every spoken answer (twelve seconds of speech instead of five) or ask a chat model.
        env["VOICECLI_BRAIN"] = "echo"
        (folder / "none.toml").write_text("")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicecli", "talk", "--provider", "local", "--config", str(folder / "none.toml"),
             "--json-events", str(self.events_path), "--record", str(self.record_dir), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        wait_until(lambda: bool(self.events("session.updated")) or self.proc.poll() is not None, "the session")
        assert self.proc.poll() is None, self.proc.communicate()

    def events(self, event_type: str, direction: str | None = None) -> list[dict[str, Any]]:
        return self._event_log.records(event_type, direction)

    def interrupt(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err

    def __enter__(self) -> Talk:
        return self

    def __exit__(self, _type: object, failure: BaseException | None, _traceback: object) -> None:
        """Ended either way; a failure carries what the process said."""
        said = self.kill()
        if failure is not None and said:
            failure.add_note(said)

    def kill(self) -> str:
        """End it if a failed test left it running; what it said, for the failure report ("" if it
        had already been ended by the test)."""
        if self.proc.returncode is not None:
            return ""
        running = self.proc.poll() is None
        if running:
            self.proc.kill()
        _, err = self.proc.communicate()
        state = "was still running" if running else f"had exited ({self.proc.returncode})"
        return f"voicecli talk {state}:\n{err[-3000:]}"


@pytest.fixture
def talk_factory(pulse_audio: PulseAudio, tmp_path: Path) -> Iterator[Any]:
    started: list[Talk] = []

    def start(*args: str) -> Talk:
        folder = tmp_path / f"talk{len(started) + 1}"
        folder.mkdir()
        talk = Talk(pulse_audio, folder, *args)
        started.append(talk)
        return talk

    yield start
    for talk in started:
        print(talk.kill())  # pytest shows it for a failed test
