"""`voicecli echo-test`: how much of the speaker comes back into the microphone, and which echo mode suits.

It plays a spoken probe through the output, records the input with the player's own output stream
as reference (both through `--record`'s recorder, so they share one clock), then measures the echo
path's delay (cross-correlation) and level, replays the recording through each echo mode to get
the echo reduction (ERLE) each reaches, and recommends one: `off` when no echo is heard
(headphones), `aec` when the canceller reaches `GOOD_ERLE_DB`, `gate` otherwise.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import typer

from voicecli.audio.capture import Capture
from voicecli.audio.capture_path import CapturePath
from voicecli.audio.echo import MAX_ERLE_DB, NO_ECHO_DB
from voicecli.audio.pcm import API_RATE
from voicecli.audio.player import Player
from voicecli.commands.devices import choose_device
from voicecli.config import AppConfig, EchoMode, default_config_path
from voicecli.config.writer import save_setting
from voicecli.records.recording import Recorder
from voicecli.server.synth import speak

PROBE_TEXT = "Testing the echo of your speakers. One, two, three, four, five. Testing the echo once more."
GOOD_ERLE_DB = 20.0
MAX_DELAY_S = 0.5
FRAME = API_RATE // 100
MEASURED_MODES: tuple[EchoMode, ...] = ("aec", "gate", "off")


@dataclass(frozen=True, slots=True)
class EchoReport:
    delay_ms: float | None  # None when no echo was heard
    echo_db: float  # echo energy relative to what was played
    erle_db: dict[str, float]  # per mode, over the probe's second half
    recommended: EchoMode


async def run_echo_test(config: AppConfig, *, config_path: Path | None, save: bool) -> int:
    """Play the probe, measure, print the report; with `save`, write the recommendation to the config file."""
    mic, played = await _record_probe(config)
    report = analyse(mic, played)
    delay = f"{report.delay_ms:.0f} ms" if report.delay_ms is not None else "none (no echo heard)"
    typer.echo(f"echo path delay: {delay}")
    level = f"{report.echo_db:.1f} dB" if math.isfinite(report.echo_db) else "silence"
    typer.echo(f"echo level: {level} (what comes back of what the speaker plays)")
    reductions = (
        f"{mode} {abs(value) if abs(value) < 0.5 else value:.0f} dB" if math.isfinite(value) else f"{mode} -"
        for mode, value in report.erle_db.items()
    )
    typer.echo("echo reduction: " + ", ".join(reductions))
    typer.echo(f'recommended: echo = "{report.recommended}"')
    if save:
        target = config_path or default_config_path()
        save_setting(target, "audio", "echo", report.recommended)
        typer.echo(f'saved echo = "{report.recommended}" to {target}')
    return 0


async def _record_probe(config: AppConfig) -> tuple[np.ndarray, np.ndarray]:
    """What the microphone heard and what the speaker played, 24 kHz, sample-aligned on one clock."""
    output = choose_device(config.audio.output_device, "output")
    input_ = choose_device(config.audio.input_device, "input")
    probe = np.asarray(speak(PROBE_TEXT))
    with tempfile.TemporaryDirectory(prefix="voicecli-echo-test-") as folder:
        recorder = Recorder(Path(folder))
        try:
            with Player(output.index) as player:
                capture = Capture(input_.index, reference=player.monitor, reference_rate=player.sample_rate)
                capture.on_chunk = recorder.mic
                capture.on_played = lambda pcm, at: recorder.played(pcm, at, rate=player.sample_rate)
                async with capture:
                    drain = asyncio.create_task(_drain(capture))
                    await asyncio.sleep(0.3)
                    player.add_audio(probe, "probe")
                    player.finish()
                    while player.is_playing:
                        await asyncio.sleep(0.05)
                    await asyncio.sleep(MAX_DELAY_S)  # the last echo arrives
                await drain
        finally:
            recorder.close()
        mic, _ = soundfile.read(Path(folder) / "mic.wav", dtype="int16")
        played, _ = soundfile.read(Path(folder) / "played.wav", dtype="int16")
    return mic, played


async def _drain(capture: Capture) -> None:
    async for _ in capture:
        pass


def analyse(mic: np.ndarray, played: np.ndarray) -> EchoReport:
    """Delay, level, the ERLE of each mode on this recording, and the mode to use."""
    length = min(len(mic), len(played))
    near, far = mic[:length].astype(np.float64), played[:length].astype(np.float64)
    loud = np.flatnonzero(np.abs(far) > 300)
    if not loud.size:
        raise typer.BadParameter("the probe never reached the speaker")
    start, end = int(loud[0]), min(int(loud[-1]) + round(MAX_DELAY_S * API_RATE), length)
    delay = _delay_samples(near[start:end], far[start:end])
    echo_db = _db(_energy(near[start:end]) / max(_energy(far[start:end]), 1e-9))
    half = start + (end - start) // 2
    erle = {mode: _erle(mode, mic[:end], played[:end], half) for mode in MEASURED_MODES}
    if echo_db < NO_ECHO_DB:
        recommended: EchoMode = "off"
    elif erle["aec"] >= GOOD_ERLE_DB:
        recommended = "aec"
    else:
        recommended = "gate"
    heard = echo_db >= NO_ECHO_DB
    return EchoReport(delay * 1000 / API_RATE if heard else None, echo_db, erle, recommended)


def _delay_samples(near: np.ndarray, far: np.ndarray) -> int:
    """The lag (0 … MAX_DELAY_S) at which the microphone best matches the speaker (FFT cross-correlation)."""
    size = 1 << math.ceil(math.log2(len(near) + len(far)))
    correlation = np.fft.irfft(np.fft.rfft(near, size) * np.conj(np.fft.rfft(far, size)), size)
    return int(np.argmax(np.abs(correlation[: round(MAX_DELAY_S * API_RATE)])))


def _erle(mode: EchoMode, mic: np.ndarray, played: np.ndarray, measure_from: int) -> float:
    path = CapturePath(API_RATE, API_RATE, mode)
    frames = range(0, len(mic) - FRAME + 1, FRAME)
    out = np.concatenate([path.process(mic[i : i + FRAME], played[i : i + FRAME]) for i in frames])
    before = _energy(mic[measure_from : len(out)].astype(np.float64) / 32768)
    after = _energy(out[measure_from:].astype(np.float64))
    if before <= 0:
        return math.nan  # no echo, nothing to reduce
    return min(MAX_ERLE_DB, _db(before / after)) if after > 0 else MAX_ERLE_DB


def _energy(samples: np.ndarray) -> float:
    return float(np.mean(np.square(samples))) if samples.size else 0.0


def _db(ratio: float) -> float:
    return 10 * math.log10(ratio) if ratio > 0 else -math.inf
