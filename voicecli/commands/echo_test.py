"""`voicecli echo-test`: how much of the speaker comes back into the microphone, and which echo mode suits.

It plays a spoken probe through the output and keeps the microphone's frames together with the
speaker frame the capture pairs with each (by the devices' clocks, as in a live session), then
measures the echo path's delay (cross-correlation) and level, replays the pairs through each echo
mode to get the echo reduction (ERLE) each reaches, and recommends one: `off` when no echo is heard
(headphones), `aec` when the canceller reaches `GOOD_ERLE_DB`, `gate` otherwise.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer

from voicecli.audio.capture import Capture
from voicecli.audio.capture_path import CapturePath
from voicecli.audio.echo import MAX_ERLE_DB, NO_ECHO_DB, energy, power_db
from voicecli.audio.errors import DeviceError
from voicecli.audio.player import Player
from voicecli.audio.resample import resample
from voicecli.commands.devices import choose_device
from voicecli.config import AppConfig, EchoMode, default_config_path
from voicecli.config.writer import save_setting
from voicecli.realtime.events import SAMPLE_RATE
from voicecli.server.synth import speak

PROBE_TEXT = "Testing the echo of your speakers. One, two, three, four, five. Testing the echo once more."
GOOD_ERLE_DB = 20.0
MAX_DELAY_S = 0.5
FRAME = SAMPLE_RATE // 100
MEASURED_MODES: tuple[EchoMode, ...] = ("aec", "gate", "off")


@dataclass(frozen=True, slots=True)
class EchoReport:
    delay_ms: float | None  # None when no echo was heard
    echo_db: float  # echo energy relative to what was played
    erle_db: dict[str, float]  # per mode, over the probe's second half
    recommended: EchoMode


async def run_echo_test(config: AppConfig, *, config_path: Path | None, save: bool) -> int:
    """Play the probe, measure, print the report; with `save`, write the recommendation to the config file."""
    report = analyse(await _record_probe(config))
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


@dataclass(frozen=True, slots=True)
class ProbeRecording:
    """The microphone's frames and the speaker frame paired with each, exactly as the live capture pairs them."""

    mic: np.ndarray
    mic_rate: int
    far: np.ndarray
    far_rate: int


async def _record_probe(config: AppConfig) -> ProbeRecording:
    output = choose_device(config.audio.output_device, "output")
    input_ = choose_device(config.audio.input_device, "input")
    probe = np.asarray(speak(PROBE_TEXT))
    mics: list[np.ndarray] = []
    fars: list[np.ndarray | None] = []

    def keep(mic: np.ndarray, far: np.ndarray | None) -> None:
        mics.append(mic)
        fars.append(far)

    with Player(output.index) as player:
        capture = Capture(input_.index, reference=player.monitor, reference_rate=player.sample_rate)
        capture.on_pair = keep
        async with capture:
            drain = asyncio.create_task(_drain(capture))
            await asyncio.sleep(0.3)
            player.add_audio(probe, "probe")
            player.finish()
            while player.is_playing:
                await asyncio.sleep(0.05)
            await asyncio.sleep(MAX_DELAY_S)  # the last echo arrives
        await drain
    far_frame = player.monitor.frame_samples
    silence = np.zeros(far_frame, dtype=np.int16)
    far = np.concatenate([silence if frame is None else frame for frame in fars])
    return ProbeRecording(np.concatenate(mics), capture.sample_rate, far, player.sample_rate)


async def _drain(capture: Capture) -> None:
    async for _ in capture:
        pass


def analyse(recording: ProbeRecording) -> EchoReport:
    """Delay, level, the ERLE of each mode on this recording, and the mode to use."""
    near = resample(recording.mic, recording.mic_rate, SAMPLE_RATE).astype(np.float64)
    far = resample(recording.far, recording.far_rate, SAMPLE_RATE).astype(np.float64)
    length = min(len(near), len(far))
    loud = np.flatnonzero(np.abs(far[:length]) > 300)
    if not loud.size:
        raise DeviceError("the probe never reached the speaker; check it with `voicecli devices --test`")
    start, end = int(loud[0]), min(int(loud[-1]) + round(MAX_DELAY_S * SAMPLE_RATE), length)
    delay = _delay_samples(near[start:end], far[start:end])
    echo_db = power_db(energy(near[start:end]) / max(energy(far[start:end]), 1e-9))
    erle: dict[str, float] = {mode: _erle(mode, recording, (start + end) // 2 / SAMPLE_RATE) for mode in MEASURED_MODES}
    if echo_db < NO_ECHO_DB:
        recommended: EchoMode = "off"
    elif erle["aec"] >= GOOD_ERLE_DB:
        recommended = "aec"
    else:
        recommended = "gate"
    heard = echo_db >= NO_ECHO_DB
    return EchoReport(delay * 1000 / SAMPLE_RATE if heard else None, echo_db, erle, recommended)


def _delay_samples(near: np.ndarray, far: np.ndarray) -> int:
    """The lag (0 … MAX_DELAY_S) at which the microphone best matches the speaker (FFT cross-correlation)."""
    size = 1 << math.ceil(math.log2(len(near) + len(far)))
    correlation = np.fft.irfft(np.fft.rfft(near, size) * np.conj(np.fft.rfft(far, size)), size)
    return int(np.argmax(np.abs(correlation[: round(MAX_DELAY_S * SAMPLE_RATE)])))


def _erle(mode: EchoMode, recording: ProbeRecording, measure_from_s: float) -> float:
    """The echo reduction `mode` reaches on the recording, from `measure_from_s` on (once it has converged)."""
    path = CapturePath(recording.mic_rate, recording.far_rate, mode)
    mic_frame, far_frame = recording.mic_rate // 100, recording.far_rate // 100
    frames = range(min(len(recording.mic) // mic_frame, len(recording.far) // far_frame))
    out = np.concatenate(
        [
            path.process(
                recording.mic[i * mic_frame : (i + 1) * mic_frame], recording.far[i * far_frame : (i + 1) * far_frame]
            )
            for i in frames
        ]
    )
    sent = resample(recording.mic, recording.mic_rate, SAMPLE_RATE)
    begin = round(measure_from_s * SAMPLE_RATE)
    before = energy(sent[begin : len(out)].astype(np.float64) / 32768)
    after = energy(out[begin:].astype(np.float64))
    if before <= 0:
        return math.nan  # no echo, nothing to reduce
    return min(MAX_ERLE_DB, power_db(before / after)) if after > 0 else MAX_ERLE_DB
