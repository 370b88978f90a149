"""Speakers without headphones on PulseAudio null sinks: CPU while listening, mic → wire, ERLE on the echo rig.

Run by hand or in CI as a report, never as a timed assert:
    .venv/bin/python benchmarks/bench_echo.py [--listen-seconds 30] [--erle-seconds 12]
Prints a JSON report, then a one-line summary. Starts its own private PulseAudio and runs the local
realtime server as a separate process, so the CPU figures are the client's alone. First the same two
device streams run with callbacks that do nothing (the devices' own cost, "device_floor"); each mode's
CPU is then also given above that floor, which is voicecli's own work. For each echo
mode, `voicecli talk`'s live pieces (capture with echo handling, player, conversation, the Rich
screen drawing into a pseudo-terminal-sized console) listen to silence; then, on the echo rig of
DESIGN.md section 5 (speaker back into the microphone at -12 dB), a long reply plays while the
canceller's ERLE and the loud frames it let through are noted, for 20, 60 and 120 ms of delay.
Each thread's CPU and wake-ups per second are given too (`threads.py`): on a virtual machine the
wake-ups, more than the work done at each, decide the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_live import DEVICE, VAD, TimedSource, start_pulse, start_server, stop_all
from rich.console import Console
from stats import summary
from threads import between, snapshot

from voicecli.audio.capture import Capture
from voicecli.audio.player import Player
from voicecli.config import EchoMode
from voicecli.conversation.live import Conversation
from voicecli.conversation.state import ConversationState
from voicecli.realtime import OpenAIRealtimeWebsocket
from voicecli.server.synth import speak
from voicecli.ui.live import LiveScreen
from voicecli.ui.view import ConversationView, SessionInfo

REPLY = (
    "Here is a long answer, to measure echo cancellation on laptop speakers. The assistant speaks, and all "
    "that time its own voice comes back into the microphone, a little later and a little quieter."
)
LOUD_FRAME_DBFS = -40.0  # the local server's VAD threshold


async def listen(url: str, mode: EchoMode, seconds: float) -> dict[str, Any]:
    """CPU of the client listening to silence with the Rich screen on; mic → wire of every chunk."""
    client = OpenAIRealtimeWebsocket(api_key="bench", websocket_base_url=url)
    sent: list[float] = []
    client.observe_sent(lambda p: sent.append(time.monotonic()) if p["type"] == "input_audio_buffer.append" else None)
    console = Console(file=io.StringIO(), force_terminal=True, width=120, height=40, color_system="truecolor")
    info = SessionInfo("local", "websocket", "scripted brain", "alloy")
    with Player(DEVICE) as player:
        capture = Capture(DEVICE, echo=mode, reference=player.monitor, reference_rate=player.sample_rate)
        source = TimedSource(capture)
        state = ConversationState()
        with LiveScreen(ConversationView(info, state), console) as screen:
            async with capture, client(settings=VAD):
                conversation = Conversation(client, source, player, screen, state=state)
                runner = asyncio.create_task(conversation.run())
                await asyncio.sleep(2.0)  # start-up (imports, first frames) is not listening
                cpu0, wall0, threads0 = time.process_time(), time.perf_counter(), snapshot()
                del source.adc[:], sent[:]
                await asyncio.sleep(seconds)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                threads = between(threads0, snapshot(), wall)
                conversation.stop()
                await runner
    wire = source.mic_to_wire_ms(sent)
    return {
        "mode": capture.echo_status.active,
        "cpu_percent_of_one_core": round(100 * cpu / wall, 2),
        "mic_to_wire_ms": summary(wire),  # from the ADC time of a chunk's first sample
        "frames_dropped": capture.frames_dropped,
        "threads": threads,
    }


async def device_floor(seconds: float) -> dict[str, Any]:
    """CPU of the same two streams with callbacks that do nothing: what PortAudio and the device cost alone.

    On the PulseAudio rig this is the ALSA pulse plugin's share; voicecli's own work is what lies above it.
    """
    from voicecli.audio.devices import find_device
    from voicecli.audio.portaudio import INPUT_BLOCK_MS, open_stream

    output, input_ = find_device(DEVICE, "output"), find_device(DEVICE, "input")

    def silence(outdata: np.ndarray, *_: Any) -> None:
        outdata.fill(0)

    speaker = open_stream("output", output.index, output.default_samplerate, "int16", silence, 1)
    microphone = open_stream(
        "input", input_.index, input_.default_samplerate, "int16", lambda *_: None, 1, block_ms=INPUT_BLOCK_MS
    )
    with speaker, microphone:
        await asyncio.sleep(2.0)
        cpu0, wall0, threads0 = time.process_time(), time.perf_counter(), snapshot()
        await asyncio.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        threads = between(threads0, snapshot(), wall)
    return {"cpu_percent_of_one_core": round(100 * cpu / wall, 2), "threads": threads}


def load_rig(delay_ms: int) -> str:
    """The echo rig: vspeaker.monitor back into vmic after `delay_ms`, at -12 dB; returns the module id."""
    module = subprocess.run(
        ["pactl", "load-module", "module-loopback", "source=vspeaker.monitor", "sink=vmic",
         f"latency_msec={delay_ms}", "source_dont_move=true", "sink_dont_move=true"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listing = subprocess.run(["pactl", "list", "sink-inputs"], capture_output=True, text=True).stdout
        for block in listing.split("Sink Input #")[1:]:
            if f"Owner Module: {module}\n" in block:
                subprocess.run(["pactl", "set-sink-input-volume", block.split()[0], "63%"], check=True)
                return module
        time.sleep(0.05)
    raise TimeoutError("the loopback's stream did not appear")


async def erle_on_rig(delay_ms: int, seconds: float) -> dict[str, Any]:
    """Play the reply into the rig; the canceller's ERLE and how many sent 10 ms frames were loud."""
    module = load_rig(delay_ms)
    sent: list[np.ndarray] = []
    erle: list[float] = []
    try:
        with Player(DEVICE) as player:
            capture = Capture(DEVICE, echo="aec", reference=player.monitor, reference_rate=player.sample_rate)
            capture.on_chunk = lambda pcm, _at: sent.append(pcm)
            async with capture:
                drain = asyncio.create_task(_drain(capture))
                await asyncio.sleep(0.5)
                player.add_audio(np.asarray(speak(REPLY)), "reply")
                player.finish()
                started = time.monotonic()
                while player.is_playing and time.monotonic() - started < seconds:
                    await asyncio.sleep(0.25)
                    if capture.echo_status.erle_db is not None:
                        erle.append(capture.echo_status.erle_db)
            await drain
    finally:
        subprocess.run(["pactl", "unload-module", module], check=False)
    pcm = np.concatenate(sent).astype(np.float64) / 32768
    frames = pcm[: len(pcm) // 240 * 240].reshape(-1, 240)
    levels = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    return {
        "delay_ms": delay_ms,
        "erle_db_after_2s": summary(erle[8:]) if len(erle) > 8 else None,
        "loud_frames_sent": int(np.sum(levels > LOUD_FRAME_DBFS)),
        "loudest_frame_dbfs": round(float(levels.max()), 1),
    }


async def _drain(capture: Capture) -> None:
    async for _ in capture:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen-seconds", type=float, default=30.0)
    parser.add_argument("--erle-seconds", type=float, default=12.0)
    args = parser.parse_args()
    if any(shutil.which(tool) is None for tool in ("pulseaudio", "pactl", "espeak-ng")):
        sys.exit("bench_echo: needs pulseaudio, pulseaudio-utils and espeak-ng")
    tmp = Path(tempfile.mkdtemp(prefix="bench-echo-"))
    start_pulse(tmp)
    script = tmp / "reply.toml"
    script.write_text(f'[[turn]]\nreply = "{REPLY}"\n')
    server, url = start_server(script)
    try:
        report: dict[str, Any] = {
            "device_floor": asyncio.run(device_floor(args.listen_seconds)),
            "listening": [asyncio.run(listen(url, mode, args.listen_seconds)) for mode in ("off", "aec", "gate")],
            "rig": [asyncio.run(erle_on_rig(delay, args.erle_seconds)) for delay in (20, 60, 120)],
            "load_average": os.getloadavg()[0],
        }
    finally:
        stop_all(server, tmp)
    floor = report["device_floor"]["cpu_percent_of_one_core"]
    for row in report["listening"]:
        row["above_device_floor"] = round(row["cpu_percent_of_one_core"] - floor, 2)
    print(json.dumps(report, indent=2))
    cpu = ", ".join(
        f"{r['mode']} {r['cpu_percent_of_one_core']} % ({r['above_device_floor']} above the devices' {floor} %)"
        for r in report["listening"]
    )
    wire = report["listening"][0]["mic_to_wire_ms"]["median"]
    erle = ", ".join(
        f"{r['delay_ms']} ms {r['erle_db_after_2s']['median'] if r['erle_db_after_2s'] else '-'} dB"
        f" ({r['loud_frames_sent']} loud frames)"
        for r in report["rig"]
    )
    print(f"echo: CPU listening {cpu} of a core; mic→wire {wire} ms median (from a chunk's first sample); ERLE {erle}")


if __name__ == "__main__":
    main()
