"""Live-mode benchmark on PulseAudio null sinks: barge-in stop time, truncate accuracy, mic → wire, CPU.

Run by hand or in CI as a report, never as a timed assert:
    .venv/bin/python benchmarks/bench_live.py [--trials 8] [--duplex-seconds 60]
Prints a JSON report, then a one-line summary. Starts its own private PulseAudio and runs the local
realtime server as a separate process (`voicecli serve`), so the CPU figures are the client's alone.
Speech goes into `vmic` with paplay; what the client plays is recorded from `vspeaker.monitor`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
from stats import summary

from voicecli.audio.capture import Capture
from voicecli.audio.echo import EchoStatus
from voicecli.audio.player import Player
from voicecli.audio.resample import resample
from voicecli.conversation.live import Conversation, Taps
from voicecli.realtime import (
    OpenAIRealtimeWebsocket,
    RealtimeAudioEvent,
    RealtimeEvent,
    RealtimeSettings,
    TurnDetection,
)
from voicecli.server.synth import speak
from voicecli.ui.screen import PlainScreen

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.live import LOUD  # noqa: E402  (shared with the tests)

SCRIPT = ROOT / "scripts" / "pulse-null-sinks.sh"
DEVICE = "default"  # the ALSA pulse plugin: plays to vspeaker, records from vmic.monitor
LONG_REPLY = (
    "Once upon a time there was a little voice assistant that loved to talk for a very long time "
    "about everything and nothing at all, and it never stopped talking until somebody interrupted it."
)
VAD = RealtimeSettings(turn_detection=TurnDetection(type="server_vad"))
SPEAKER_RATE = 44_100
QUIET = 8
"""Above this a recorded sample is sound; the null sink's silence after a flush is exactly 0."""


def start_pulse(runtime_dir: Path) -> None:
    """Start private null sinks and point this process (and PortAudio, loaded later) at them."""
    env = {**os.environ, "VOICECLI_PULSE_RUNTIME_DIR": str(runtime_dir)}
    out = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, check=True, timeout=60).stdout
    if "PULSE_SERVER" not in out:
        sys.exit("bench_live: PulseAudio is not installed; nothing to measure")
    os.environ.update(
        line.removeprefix("export ").split("=", 1) for line in out.splitlines() if line.startswith("export ")
    )


def start_server(script: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voicecli",
            "serve",
            "--port",
            str(port),
            "--brain",
            "scripted",
            "--script",
            str(script),
        ],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"ws://127.0.0.1:{port}/v1"
        if time.monotonic() > deadline:
            sys.exit("bench_live: the local server did not start")
        time.sleep(0.05)


def stop_all(server: subprocess.Popen[bytes], tmp: Path) -> None:
    """Stop the server and the private PulseAudio, and remove the scratch folder."""
    server.terminate()
    server.wait()
    subprocess.run(["pactl", "exit"], capture_output=True, check=False)
    shutil.rmtree(tmp, ignore_errors=True)


class TimedSource:
    """The capture, with the ADC time of each chunk's first sample and the moment the chunk reached
    the event loop noted as it goes to the conversation (for mic → wire)."""

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self.adc: list[float] = []
        self.ready: list[float] = []
        self._pending: dict[int, float] = {}  # id of a chunk not yet taken → its ADC time
        capture.on_chunk = lambda pcm, at: self._pending.__setitem__(id(pcm), at)

    @property
    def mute(self) -> bool:
        return self.capture.mute

    @mute.setter
    def mute(self, value: bool) -> None:
        self.capture.mute = value

    @property
    def level(self) -> float:
        return self.capture.level

    @property
    def echo_status(self) -> EchoStatus:
        return self.capture.echo_status

    def __aiter__(self) -> AsyncIterator[np.ndarray]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[np.ndarray]:
        async for chunk in self.capture:
            self.ready.append(time.monotonic())
            self.adc.append(self._pending.pop(id(chunk), math.nan))  # the chunk is alive: its id is its own
            yield chunk

    def mic_to_wire_ms(self, sent: list[float]) -> list[float]:
        """For each chunk sent: from the ADC time of its first sample to its append leaving the process."""
        return [(at - adc) * 1000 for adc, at in zip(self.adc, sent, strict=False) if math.isfinite(adc)]


async def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step did not complete")
        await asyncio.sleep(0.005)


def paplay(wav: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["paplay", "-d", "vmic", str(wav)])


def parec(path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["parec", "-d", "vspeaker.monitor", "--raw", "--format=s16le", "--channels=1", f"--rate={SPEAKER_RATE}",
         "--latency-msec=10"],
        stdout=path.open("wb"),
    )  # fmt: skip


async def barge_in_trial(
    url: str, player: Player, capture: Capture, wavs: dict[str, Path], target_ms: float, raw: Path
) -> dict[str, float]:
    """One question, the long reply heard for `target_ms`, then speech over it; measured at the speaker."""
    client = OpenAIRealtimeWebsocket(api_key="bench", websocket_base_url=url)
    first_audible: list[float] = []
    items: list[str] = []

    def on_event(event: RealtimeEvent) -> None:
        if isinstance(event, RealtimeAudioEvent) and not items and event.audio.item_id:
            items.append(event.audio.item_id)

    taps = Taps(event=on_event, played=lambda pcm, at: first_audible.append(at) if not first_audible else None)
    recorder = parec(raw)
    await wait_for(lambda: raw.stat().st_size > 0)
    async with client(settings=VAD):
        conversation = Conversation(client, capture, player, PlainScreen(io.StringIO()), taps=taps)
        runner = asyncio.create_task(conversation.run())
        paplay(wavs["question"])
        await wait_for(lambda: bool(first_audible))
        await wait_for(lambda: bool(items) and player.heard_ms(items[0]) >= target_ms)
        paplay(wavs["interruption"])
        await wait_for(lambda: bool(conversation.barge_ins))
        await asyncio.sleep(0.4)
        conversation.stop()
        await runner
    recorder.terminate()
    recorder.wait()
    recorded = np.frombuffer(raw.read_bytes(), dtype=np.int16)
    barge_in = conversation.barge_ins[0]
    [(_, audio_end_ms)] = barge_in.truncates
    cut_from, cut_to, last_sound = cut_interval(recorded, np.asarray(speak(LONG_REPLY)))
    error = max(cut_from - audio_end_ms, audio_end_ms - cut_to, 0.0)
    silent_at = first_audible[0] + last_sound
    return {
        "speech_started_to_flush_ms": (barge_in.flushed_at - barge_in.at) * 1000,
        "speech_started_to_silence_ms": (silent_at - barge_in.at) * 1000,
        "audio_end_ms_error_ms": error,
        "ground_truth_uncertainty_ms": cut_to - cut_from,
    }


def cut_interval(recorded: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """Where in the item the speaker's sound stopped: (earliest, latest) in ms of the item's audio.

    The recording is lined up with the item's audio by their first loud sample. Sound stopped after
    the last recorded sample above QUIET; if that fell in a pause of the item, the cut may lie
    anywhere up to where the item sounds again. Also returns the last sound in seconds after the
    item's first sample (for the stop time).
    """
    ref = resample(reference, 24_000, SPEAKER_RATE)
    rec_sound = np.flatnonzero(np.abs(recorded.astype(np.int32)) > QUIET)
    ref_sound = np.flatnonzero(np.abs(ref.astype(np.int32)) > QUIET)
    item_start = int(np.flatnonzero(np.abs(recorded.astype(np.int32)) > LOUD)[0])
    item_start -= int(np.flatnonzero(np.abs(ref.astype(np.int32)) > LOUD)[0])
    last = int(rec_sound[-1]) - item_start
    later = ref_sound[ref_sound > last]
    resumes = int(later[0]) if later.size else len(ref)
    return last * 1000 / SPEAKER_RATE, resumes * 1000 / SPEAKER_RATE, last / SPEAKER_RATE


async def bench_barge_in(url: str, trials: int, wavs: dict[str, Path], tmp: Path) -> dict[str, Any]:
    results = []
    rng = np.random.default_rng(7)
    with Player(DEVICE) as player:
        capture = Capture(DEVICE)
        async with capture:
            for trial in range(trials):
                target = float(rng.uniform(800, 2500))
                results.append(await barge_in_trial(url, player, capture, wavs, target, tmp / f"trial{trial}.raw"))
                await asyncio.sleep(0.3)
    return {
        "trials": trials,
        "speech_started_to_flush_ms": summary([r["speech_started_to_flush_ms"] for r in results]),
        "speech_started_to_silence_ms": summary([r["speech_started_to_silence_ms"] for r in results]),
        "audio_end_ms_abs_error_ms": summary([r["audio_end_ms_error_ms"] for r in results]),
        "ground_truth_uncertainty_ms": summary([r["ground_truth_uncertainty_ms"] for r in results]),
        "output_latency_reported_ms": round(player.latency * 1000, 2),
    }


async def bench_duplex(url: str, seconds: float, wavs: dict[str, Path]) -> dict[str, Any]:
    """Microphone streaming all the time, a question every 4 s, replies playing (and being interrupted)."""
    client = OpenAIRealtimeWebsocket(api_key="bench", websocket_base_url=url)
    sent_at: list[float] = []
    client.observe_sent(
        lambda p: sent_at.append(time.monotonic()) if p["type"] == "input_audio_buffer.append" else None
    )
    with Player(DEVICE) as player:
        capture = Capture(DEVICE)
        source = TimedSource(capture)
        async with capture, client(settings=VAD):
            conversation = Conversation(client, source, player, PlainScreen(io.StringIO()))
            runner = asyncio.create_task(conversation.run())
            cpu0, wall0 = time.process_time(), time.perf_counter()
            next_question = 0.0
            while (elapsed := time.perf_counter() - wall0) < seconds:
                if elapsed >= next_question:
                    paplay(wavs["question"])
                    next_question += 4.0
                await asyncio.sleep(0.05)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            await asyncio.sleep(3)  # the last question ends before the sinks go away
            conversation.stop()
            await runner
    wire = [(sent - ready) * 1000 for ready, sent in zip(source.ready, sent_at, strict=False)]
    return {
        "mic_to_wire_ms": summary(source.mic_to_wire_ms(sent_at)),
        "seconds": round(wall, 2),
        "cpu_percent_of_one_core": round(100 * cpu / wall, 2),
        "cpu_seconds_per_minute": round(60 * cpu / wall, 3),
        "chunk_to_wire_ms": summary(wire),
        "appends_sent": len(sent_at),
        "barge_ins": len(conversation.barge_ins),
        "underruns": player.underruns,
        "mic_chunks_dropped": capture.overflows + capture.device_overflows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--duplex-seconds", type=float, default=60.0)
    args = parser.parse_args()
    if any(shutil.which(tool) is None for tool in ("pulseaudio", "parec", "paplay", "espeak-ng")):
        sys.exit("bench_live: needs pulseaudio, pulseaudio-utils and espeak-ng")
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-"))
    start_pulse(tmp)
    script = tmp / "long.toml"
    script.write_text(f'[[turn]]\nreply = "{LONG_REPLY}"\n')
    wavs = {}
    for name, text in (("question", "tell me a story"), ("interruption", "stop please")):
        wavs[name] = tmp / f"{name}.wav"
        subprocess.run(["espeak-ng", "-w", str(wavs[name]), text], check=True, capture_output=True)
    server, url = start_server(script)
    try:
        report: dict[str, Any] = {"barge_in": asyncio.run(bench_barge_in(url, args.trials, wavs, tmp))}
        report["duplex"] = asyncio.run(bench_duplex(url, args.duplex_seconds, wavs))
    finally:
        stop_all(server, tmp)
    print(json.dumps(report, indent=2))
    barge = report["barge_in"]
    print(
        f"live: barge-in speech_started→silence {barge['speech_started_to_silence_ms']['median']} ms median "
        f"({barge['speech_started_to_silence_ms']['max']} max), →flush {barge['speech_started_to_flush_ms']['median']}"
        f" ms; audio_end_ms error {barge['audio_end_ms_abs_error_ms']['median']} ms median "
        f"({barge['audio_end_ms_abs_error_ms']['max']} max); "
        f"mic→wire {report['duplex']['mic_to_wire_ms']['median']} ms median; "
        f"full duplex CPU {report['duplex']['cpu_percent_of_one_core']} % of a core "
        f"over {report['duplex']['seconds']} s, underruns {report['duplex']['underruns']}"
    )


if __name__ == "__main__":
    main()
