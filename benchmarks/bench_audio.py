"""Audio engine benchmark on PulseAudio null sinks (no hardware): latency, flush, clock error, CPU.

Run by hand or in CI as a report, never as a timed assert:
    .venv/bin/python benchmarks/bench_audio.py [--trials 20] [--duplex-seconds 20]
Prints a JSON report, then a one-line summary. Starts (and stops) its own private PulseAudio.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stats import summary

from voicecli.audio.capture import Capture
from voicecli.audio.player import Player

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pulse-null-sinks.sh"
DEVICE = "default"  # the ALSA pulse plugin: plays to vspeaker, records from vmic.monitor


def tone(ms: int) -> np.ndarray:
    t = np.arange(24 * ms) / 24000
    return (0.5 * 32767 * np.sin(2 * np.pi * 440.0 * t)).astype(np.int16)


def start_pulse(runtime_dir: str) -> None:
    """Start private null sinks and point this process (and PortAudio, loaded later) at them."""
    env = {**os.environ, "VOICECLI_PULSE_RUNTIME_DIR": runtime_dir}
    out = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, check=True, timeout=60).stdout
    if "PULSE_SERVER" not in out:
        sys.exit("bench_audio: PulseAudio is not installed; nothing to measure")
    os.environ.update(
        line.removeprefix("export ").split("=", 1) for line in out.splitlines() if line.startswith("export ")
    )


def wait(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not complete")
        time.sleep(0.0005)


def consumed(player: Player) -> int:
    return player._counters.snapshot().consumed


def bench_output_latency(player: Player, trials: int) -> dict[str, float]:
    """add_audio() call → first sample copied into PortAudio's buffer by the callback (ms)."""
    delays = []
    for i in range(trials):
        time.sleep(0.013 * (i % 5))  # land at different phases of the callback period
        before = consumed(player)
        t0 = time.perf_counter()
        player.add_audio(tone(100), f"lat{i}")
        wait(lambda b=before: consumed(player) > b)
        delays.append((time.perf_counter() - t0) * 1000)
        player.flush(fade_ms=0)
        wait(lambda: not player.is_playing)
    return summary(delays)


def bench_flush(player: Player, trials: int, tmp: Path) -> dict[str, Any]:
    """Flush mid-play: time until the fade is in the device, and heard_ms (asked right at the flush,
    as a barge-in does for audio_end_ms) against what the recording shows was played."""
    drains, errors = [], []
    rng = np.random.default_rng(1)
    for i in range(trials):
        raw = tmp / f"flush{i}.raw"
        with raw.open("wb") as sink:
            rec = subprocess.Popen(
                [
                    "parec",
                    "-d",
                    "vspeaker.monitor",
                    "--raw",
                    "--format=s16le",
                    "--channels=1",
                    f"--rate={player.sample_rate}",
                    "--latency-msec=10",
                ],
                stdout=sink,
            )
            wait(lambda r=raw: r.stat().st_size > 0)
            item = f"flush{i}"
            for start in range(0, 24 * 2000, 2400):
                player.add_audio(tone(2000)[start : start + 2400], item)
            target = float(rng.uniform(200, 1200))
            wait(lambda it=item, t=target: player.heard_ms(it) >= t)
            t0 = time.perf_counter()
            player.flush()
            heard = player.heard_ms(item)
            wait(lambda: player.buffered_ms == 0)
            drains.append((time.perf_counter() - t0) * 1000)
            wait(lambda: not player.is_playing)
            time.sleep(0.15)
            rec.terminate()
            rec.wait()
        loud = np.flatnonzero(np.abs(np.frombuffer(raw.read_bytes(), np.int16).astype(np.int32)) > 300)
        recorded_ms = (loud[-1] - loud[0] + 1) * 1000 / player.sample_rate
        errors.append(abs(heard - recorded_ms))
    latency_ms = player.latency * 1000
    return {
        "flush_to_fade_in_device_ms": summary(drains),
        "flush_to_silence_est_ms": round(statistics.median(drains) + latency_ms, 2),
        "heard_ms_abs_error_ms": summary(errors),
    }


async def bench_duplex(seconds: float) -> dict[str, Any]:
    """Full duplex for ``seconds``: capture consumed, playback fed 100 ms deltas as the service does."""
    player = Player(DEVICE)
    capture = Capture(DEVICE)
    chunks = 0

    async def drain_mic() -> None:
        nonlocal chunks
        async for _ in capture:
            chunks += 1

    with player:
        async with capture:
            reader = asyncio.create_task(drain_mic())
            cpu0, wall0 = time.process_time(), time.perf_counter()
            sent_ms = 0
            while (elapsed := time.perf_counter() - wall0) < seconds:
                while sent_ms < (elapsed + 0.5) * 1000 and sent_ms < seconds * 1000:  # stay 0.5 s ahead
                    player.add_audio(tone(100), f"turn{sent_ms // 5000}")
                    sent_ms += 100
                await asyncio.sleep(0.02)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        await reader
    return {
        "seconds": round(wall, 2),
        "cpu_percent_of_one_core": round(100 * cpu / wall, 2),
        "cpu_seconds_per_minute": round(60 * cpu / wall, 3),
        "mic_chunks": chunks,
        "underruns": player.underruns,
        "overflows": player.overflows + capture.overflows + capture.device_overflows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--duplex-seconds", type=float, default=20.0)
    args = parser.parse_args()
    if shutil.which("pulseaudio") is None or shutil.which("parec") is None:
        sys.exit("bench_audio: needs pulseaudio and pulseaudio-utils")
    tmp = Path(tempfile.mkdtemp(prefix="bench-audio-"))
    start_pulse(str(tmp))
    try:
        with Player(DEVICE) as player:
            time.sleep(0.3)
            report: dict[str, Any] = {
                "device_rate": player.sample_rate,
                "reported_output_latency_ms": round(player.latency * 1000, 2),
                "add_audio_to_portaudio_ms": bench_output_latency(player, args.trials),
                **bench_flush(player, args.trials, tmp),
                "underruns": player.underruns,
            }
        report["duplex"] = asyncio.run(bench_duplex(args.duplex_seconds))
    finally:
        subprocess.run(["pactl", "exit"], capture_output=True, check=False)
        wait(lambda: not (tmp / "pulse" / "pid").exists())  # the daemon removes it as it exits
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, indent=2))
    print(
        f"audio: add_audio→PortAudio {report['add_audio_to_portaudio_ms']['median']} ms median, "
        f"flush→silence ~{report['flush_to_silence_est_ms']} ms, "
        f"heard_ms error {report['heard_ms_abs_error_ms']['median']} ms median "
        f"({report['heard_ms_abs_error_ms']['max']} max), "
        f"duplex CPU {report['duplex']['cpu_percent_of_one_core']} % of a core "
        f"at {report['device_rate']} Hz, underruns {report['underruns'] + report['duplex']['underruns']}"
    )


if __name__ == "__main__":
    main()
