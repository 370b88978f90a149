"""Real-device test support: a private PulseAudio with null sinks, plus play/record helpers.

Each test session starts its own daemon (its own runtime dir) through scripts/pulse-null-sinks.sh,
so parallel sessions never hear each other. PortAudio reaches it via the ALSA "pulse" plugin:
device "default" plays to the sink ``vspeaker`` and records from ``vmic.monitor``.
"""

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from support.system_tools import unavailable
from voicecli.audio.errors import AudioUnavailable
from voicecli.audio.portaudio import load

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pulse-null-sinks.sh"
REQUIRED_TOOLS = ("pulseaudio", "pactl", "paplay", "parec", "espeak-ng")


@dataclass(frozen=True)
class PulseAudio:
    """The running private server: its environment and the PortAudio device that reaches it."""

    env: dict[str, str]
    device: str  # PortAudio device name routed to the default sink/source set by the script
    speaker: str = "vspeaker"  # the sink voicecli plays into; its monitor is what a listener hears
    mic: str = "vmic"  # the sink a test speaks into; voicecli records its monitor

    def pactl(self, *args: str) -> str:
        """Run `pactl` against this daemon; its output (a failure fails the test)."""
        return subprocess.run(["pactl", *args], check=True, capture_output=True, text=True, env=self.env).stdout

    @contextlib.contextmanager
    def room(self, name: str) -> Iterator["PulseAudio"]:
        """Another pair of null sinks on the same daemon, the devices of every program started with
        the yielded `env`: programs in different rooms play side by side without hearing each other.
        The sinks go afterwards (each ticking sink costs the daemon CPU the other tests want)."""
        speaker, mic = f"{name}_speaker", f"{name}_mic"
        env = {**self.env, "VOICECLI_PULSE_RUNTIME_DIR": self.env["XDG_RUNTIME_DIR"]}
        proc = subprocess.run([str(SCRIPT), speaker, mic], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        try:
            yield PulseAudio(env={**self.env, **_exported(proc.stdout)}, device=self.device, speaker=speaker, mic=mic)
        finally:
            sinks = {f"sink_name={speaker}", f"sink_name={mic}"}
            for index, module, *args in (
                line.split("\t") for line in self.pactl("list", "short", "modules").splitlines()
            ):
                if module == "module-null-sink" and sinks & set(" ".join(args).split()):
                    self.pactl("unload-module", index)  # its loopbacks go with it (`sink_dont_move`)


@pytest.fixture(scope="session")
def pulse_audio(request: pytest.FixtureRequest) -> PulseAudio:
    """The session's PulseAudio with null sinks; skips (fails in CI) with the reason where it cannot run."""
    server = _start_once(request.config)
    if isinstance(server, str):
        unavailable(server)
    return server


@functools.cache
def _start_once(config: pytest.Config) -> PulseAudio | str:
    """Start the server once per session (test modules import the fixture separately); or say why not."""
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"audio tests need {', '.join(missing)} (apt-get install pulseaudio pulseaudio-utils espeak-ng)"
    runtime_dir = Path(tempfile.mkdtemp(prefix="voicecli-pulse-"))
    env = {**os.environ, "VOICECLI_PULSE_RUNTIME_DIR": str(runtime_dir)}
    proc = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False)
    exported = _exported(proc.stdout)
    saved = {key: os.environ.get(key) for key in exported}
    os.environ.update(exported)
    config.add_cleanup(lambda: _stop(runtime_dir, saved))
    if proc.returncode != 0:
        return f"PulseAudio null sinks did not start: {proc.stderr.strip()}"
    try:
        sd = _portaudio_seeing_pulse()
    except AudioUnavailable as exc:
        return str(exc)
    names = [d["name"] for d in sd.query_devices()]
    if "default" not in names:
        return f"PortAudio does not see the PulseAudio 'default' device (has {names}); need libasound2-plugins"
    return PulseAudio(env={**os.environ}, device="default")


def _exported(script_output: str) -> dict[str, str]:
    """The variables the script's `export` lines set."""
    lines = script_output.splitlines()
    return dict(line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export "))


def _stop(runtime_dir: Path, saved_env: dict[str, str | None]) -> None:
    """Stop the daemon, wait until it has removed its pid file, then restore the env and clean up."""
    subprocess.run(["pactl", "exit"], capture_output=True, timeout=10, check=False)
    deadline = time.monotonic() + 5
    while (runtime_dir / "pulse" / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    shutil.rmtree(runtime_dir, ignore_errors=True)


def _portaudio_seeing_pulse() -> ModuleType:
    """sounddevice with PortAudio (re)initialised after PULSE_SERVER was set, so ALSA finds the server."""
    already_loaded = "sounddevice" in sys.modules
    sd = load()
    if already_loaded:
        sd._terminate()  # PortAudio only reads the ALSA config (and PULSE_SERVER) at init
        sd._initialize()
    return sd


Scenario = Callable[[PulseAudio, Path], None]
"""A paced audio test's body: it plays and records in the room given, keeps its files in the folder."""


@contextlib.contextmanager
def side_by_side(
    pulse: PulseAudio, tmp_path_factory: pytest.TempPathFactory, scenarios: dict[str, Scenario]
) -> Iterator[dict[str, Future[None]]]:
    """Start `scenarios` together, each in a room and a folder of its own, so that tests spent
    mostly waiting on real time take the time of the longest; a test per scenario collects its
    future's `result()` (the scenario's own failure, raised there). Only for scenarios light enough
    to play together without starving each other's streams on 2 cores."""

    def run(name: str, scenario: Scenario, folder: Path) -> None:
        with pulse.room(name) as room:
            scenario(room, folder)

    # The folders are made here, not in the threads: the first `mktemp` of a worker makes its base
    # folder (removing any old one), which two threads at once can race for.
    folders = {name: tmp_path_factory.mktemp(name) for name in scenarios}
    with ThreadPoolExecutor(len(scenarios)) as pool:
        yield {name: pool.submit(run, name, scenario, folders[name]) for name, scenario in scenarios.items()}


LOUD = 300
"""Samples above this magnitude count as sound (espeak speech peaks in the thousands)."""
SILENT = 2
"""Samples at most this magnitude are digital silence (a player's zeros, after resampling)."""
MIN_GAP_MS = 1.0
"""Digital silence this long or longer is a gap: a pause of the speech, or a late device callback."""


class Hearing:
    """What a recording holds so far: where its sound starts and ends, and how much sound it has.

    Kept up to date from each new stretch of samples alone: the tests poll it every few
    milliseconds while a reply plays, and analysing the whole recording on each poll took a core
    away from the audio under test."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.length = 0
        self.first_loud: int | None = None
        self.last_loud: int | None = None
        self._min_gap = max(1, int(rate * MIN_GAP_MS / 1000))
        self._gap_samples = 0  # in the gaps after the first loud sample
        self._silent_run = 0  # digital silence the samples so far end with

    def add(self, pcm: np.ndarray) -> None:
        loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > LOUD)
        if loud.size:
            if self.first_loud is None:
                self.first_loud = self.length + int(loud[0])
                self._count_gaps(pcm[int(loud[0]) :])
            else:
                self._count_gaps(pcm)
            self.last_loud = self.length + int(loud[-1])
        elif self.first_loud is not None:
            self._count_gaps(pcm)
        self.length += len(pcm)

    def sound_s(self) -> float:
        """Seconds of sound from the first loud sample on, gaps (`sound_mask`'s) left out."""
        if self.first_loud is None:
            return 0.0
        trailing_gap = self._silent_run if self._silent_run >= self._min_gap else 0
        return (self.length - self.first_loud - self._gap_samples - trailing_gap) / self.rate

    def quiet_for_s(self) -> float:
        """Seconds since the last loud sample (0 while sound is coming, inf before any)."""
        return float("inf") if self.last_loud is None else (self.length - 1 - self.last_loud) / self.rate

    def _count_gaps(self, pcm: np.ndarray) -> None:
        silent = np.abs(pcm.astype(np.int32)) <= SILENT
        if not silent.size:
            return
        edges = np.diff(np.concatenate(([0], silent.astype(np.int8), [0])))
        runs = (np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).tolist()
        if silent[0]:
            runs[0] += self._silent_run  # the run the samples before ended with goes on
        else:
            self._end_run(self._silent_run)
        self._silent_run = runs.pop() if silent[-1] else 0
        for run in runs:
            self._end_run(run)

    def _end_run(self, run: int) -> None:
        if run >= self._min_gap:
            self._gap_samples += run


class Recorder:
    """Records a PulseAudio source (mono int16 at ``rate``) with parec into a file, in the background."""

    def __init__(self, pulse: PulseAudio, path: Path, source: str | None = None, rate: int = 48000) -> None:
        """Record `source`, by default what comes out of the room's speaker."""
        source = source or f"{pulse.speaker}.monitor"
        self.rate = rate
        self._path = path
        self._file = path.open("wb")
        self._proc = subprocess.Popen(
            ["parec", "-d", source, "--raw", "--format=s16le", "--channels=1", f"--rate={rate}", "--latency-msec=10"],
            stdout=self._file,
            env=pulse.env,
        )
        self._reader = path.open("rb")
        self._data = bytearray()
        self._hearing = Hearing(rate)
        wait_until(lambda: path.stat().st_size > 0, what="parec to deliver audio")

    def recorded(self) -> np.ndarray:
        """What was recorded so far (the recording goes on)."""
        self._read_on()
        return np.frombuffer(self._data, dtype=np.int16, count=self._hearing.length).copy()

    def sound_s(self) -> float:
        """Seconds of sound recorded so far from the first loud sample on (gaps left out): how much
        of a reply the listener has heard, measured at the speaker, not by the clock."""
        self._read_on()
        return self._hearing.sound_s()

    def quiet_for_s(self) -> float:
        """Seconds recorded since the last loud sample (0 while sound is coming, inf before any)."""
        self._read_on()
        return self._hearing.quiet_for_s()

    def _read_on(self) -> None:
        """Take in what parec wrote since the last read."""
        if not self._reader.closed:
            self._data += self._reader.read()
        analysed, whole = self._hearing.length, len(self._data) // 2
        if whole > analysed:
            self._hearing.add(np.frombuffer(self._data, dtype=np.int16, count=whole - analysed, offset=2 * analysed))

    def stop(self) -> np.ndarray:
        """Stop recording (idempotent) and return everything recorded."""
        if self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        self._file.close()
        pcm = self.recorded()
        self._reader.close()
        return pcm


def play_into_mic(pulse: PulseAudio, wav: Path) -> subprocess.Popen[bytes]:
    """Start playing a WAV into the room's virtual microphone; returns the paplay process."""
    return subprocess.Popen(["paplay", "-d", pulse.mic, str(wav)], env=pulse.env)


def speech_wav(path: Path, text: str) -> Path:
    """Synthesize ``text`` with espeak-ng into ``path``."""
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True, timeout=30)
    return path


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float = 30.0, seen: Callable[[], str] | None = None
) -> None:
    """Poll ``condition`` until true; fail the test (not hang it) after a generous ``timeout``,
    saying what was `seen` by then when given.

    A guard against hanging, not a speed check: a loaded machine only makes the test wait longer."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}" + (f" ({seen()})" if seen else ""))
        time.sleep(0.01)


def active_span(pcm: np.ndarray, threshold: int = LOUD) -> tuple[int, int] | None:
    """First and last sample index whose magnitude exceeds ``threshold`` (None if all quiet)."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > threshold)
    return (int(loud[0]), int(loud[-1])) if loud.size else None


def sound_mask(pcm: np.ndarray, rate: int, min_gap_ms: float = MIN_GAP_MS) -> np.ndarray:
    """False on the stretches of digital silence (at least `min_gap_ms`) of `pcm`, True elsewhere.

    A late device callback on a loaded machine makes PulseAudio play silence where the late audio
    would have been: the waveform jumps at both ends of such a gap, which is not a click of ours.
    """
    silent = np.abs(pcm.astype(np.int32)) <= SILENT
    edges = np.diff(np.concatenate(([0], silent.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long = ends - starts >= max(1, int(rate * min_gap_ms / 1000))
    inside = np.zeros(len(pcm) + 1, dtype=np.int32)
    np.add.at(inside, starts[long], 1)
    np.add.at(inside, ends[long], -1)
    return np.cumsum(inside[:-1]) == 0


def sound_segments(pcm: np.ndarray, rate: int) -> list[np.ndarray]:
    """`pcm` cut where `sound_mask` has gaps, which are left out: each segment on its own is
    continuous playback (for click checks)."""
    keep = sound_mask(pcm, rate)
    edges = np.diff(np.concatenate(([0], keep.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [pcm[start:end] for start, end in zip(starts, ends, strict=True)]


def assert_sounds_for(
    pcm: np.ndarray, rate: int, expected_s: float, tolerance_s: float, expected_silence_s: float = 0.0
) -> None:
    """Assert that `pcm`, a recording from its first to its last sound, is what was sent: a sound
    `expected_s` long from first to last sample, holding `expected_silence_s` of digital silence of
    its own (the pauses espeak leaves between sentences are exact zeros).

    A late device callback on a loaded machine leaves more digital silence in the recording:
    PulseAudio either plays silence in place of the late audio (the span keeps its length, the
    sound is shorter) or delays the rest behind the gap (the sound keeps its length, the span is
    longer). So what was played lies between the sound alone and the whole span, whichever
    happened; a reply cut short makes the span too short, audio played twice makes the sound too
    long, and gaps beyond a loaded machine's hiccups (a second in all) fail on their own.
    """
    span_s = len(pcm) / rate
    sound_s = float(sound_mask(pcm, rate).sum()) / rate
    extra_silence_s = span_s - sound_s - expected_silence_s
    assert extra_silence_s < 1.0, f"{extra_silence_s:.3f} s more digital silence than the sound has"
    assert sound_s - tolerance_s <= expected_s - expected_silence_s and expected_s <= span_s + tolerance_s, (
        f"expected {expected_s:.3f} s with {expected_silence_s:.3f} s of silence; "
        f"recorded {sound_s:.3f} s of sound over a {span_s:.3f} s span"
    )


def speech_level_db(samples: np.ndarray, rate: int) -> float:
    """The level (dB of mean square) of the 10 ms frames that hold sound, the pauses left out: the
    loudness by which voices are compared."""
    frame = rate // 100
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame).astype(np.float64)
    levels = np.mean(np.square(frames), axis=1)
    return float(10 * np.log10(np.mean(levels[levels > levels.max() * 1e-6])))


def digital_silence_s(pcm: np.ndarray, rate: int) -> float:
    """Seconds of `pcm` that `sound_mask` counts as digital silence."""
    return float(len(pcm) - sound_mask(pcm, rate).sum()) / rate
