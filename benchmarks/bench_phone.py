"""Phone bridge benchmark: many concurrent simulated calls through one bridge process; a report, never a test.

Three processes, as in production: the local realtime server (`voicecli serve`), the bridge (the
phone app, measured), and this one playing ACS for every call (`Dialer`: espeak-ng speech in real
time as 20 ms frames, then the quiet line until the reply has played). Reports:
  - bridge-added latency: caller frame in → `input_audio_buffer.append` sent, and model audio
    (the client's audio callback) → AudioData frame sent, p50/p95 over every frame;
  - CPU of the bridge process per active call (% of one core), RSS per call (peak minus idle).
Run: `.venv/bin/python benchmarks/bench_phone.py [--calls 50] [--turns 2]`. Prints JSON, then one line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from stats import summary

from voicecli.audio.wavio import read_audio_24k_mono
from voicecli.phone.dialer import Dialer

SPEECH = "Hello, what will the weather be like in Paris tomorrow?"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"bench_phone: nothing listens on port {port}")
            time.sleep(0.05)


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_bridge(model_url: str, port: int, control: Connection) -> None:
    """The bridge process: the phone app with timings; answers `measure` on the control pipe."""
    from aiohttp import web

    from voicecli.config import AppConfig
    from voicecli.conversation.providers import session_settings
    from voicecli.phone.app import create_phone_app
    from voicecli.phone.bridge import BridgeTimings
    from voicecli.phone.service import PhoneService
    from voicecli.realtime import OpenAIRealtimeWebsocket

    timings = BridgeTimings()
    service = PhoneService(
        client_factory=lambda _, tools: OpenAIRealtimeWebsocket(
            api_key="bench", websocket_base_url=model_url, tools=tools
        ),
        settings=session_settings(AppConfig()),
        greet=False,
        timings=timings,
    )
    peak = [rss_kb()]

    def answer_measures() -> None:
        while (command := control.recv()) != "stop":
            if command == "reset":
                timings.inbound_ms.clear()
                timings.outbound_ms.clear()
                peak[0] = rss_kb()
            control.send(
                {
                    "cpu_s": cpu_s(),
                    "rss_kb": rss_kb(),
                    "peak_rss_kb": peak[0],
                    "calls": service.calls_in_progress,
                    "inbound_ms": list(timings.inbound_ms),
                    "outbound_ms": list(timings.outbound_ms),
                }
            )

    async def serve() -> None:
        runner = web.AppRunner(create_phone_app(service), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        control.send("ready")
        while True:
            peak[0] = max(peak[0], rss_kb())
            await asyncio.sleep(0.25)

    threading.Thread(target=lambda: (answer_measures(), os._exit(0)), daemon=True).start()
    asyncio.run(serve())


async def one_call(url: str, speech: Any, turns: int) -> bool:
    async with Dialer(url) as call:
        for _ in range(turns):
            heard_before = len(call.heard.chunks)
            call.heard.last_audio_at = None
            await call.speak(speech)
            if not await call.listen_until_quiet(60) or len(call.heard.chunks) == heard_before:
                return False
    return True


async def run_calls(base: str, speech: Any, calls: int, turns: int, control: Connection) -> dict[str, Any]:
    control.send("reset")
    before = control.recv()
    started = time.monotonic()
    stagger = 1.0 / calls  # callers ring within a second, as a busy line would
    tasks = []
    for number in range(calls):
        tasks.append(asyncio.create_task(one_call(f"{base}/ws/bench-{number}", speech, turns)))
        await asyncio.sleep(stagger)
    answered = sum(await asyncio.gather(*tasks))
    elapsed = time.monotonic() - started
    control.send("measure")
    after = control.recv()
    return {"before": before, "after": after, "elapsed_s": elapsed, "answered": answered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--turns", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), SPEECH], check=True, capture_output=True)
        speech = read_audio_24k_mono(wav)
    model_port, bridge_port = free_port(), free_port()
    model = subprocess.Popen(
        [sys.executable, "-m", "voicecli", "serve", "--port", str(model_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    control, child_end = multiprocessing.Pipe()
    bridge = multiprocessing.get_context("spawn").Process(
        target=run_bridge, args=(f"ws://127.0.0.1:{model_port}/v1", bridge_port, child_end)
    )
    try:
        wait_for_port(model_port)
        bridge.start()
        if control.recv() != "ready":
            sys.exit("bench_phone: the bridge did not start")
        result = asyncio.run(run_calls(f"ws://127.0.0.1:{bridge_port}", speech, args.calls, args.turns, control))
    finally:
        control.send("stop")
        bridge.join(10)
        model.terminate()
        model.wait(10)

    before, after = result["before"], result["after"]
    active_s = result["elapsed_s"]
    report = {
        "calls": args.calls,
        "turns_per_call": args.turns,
        "answered_calls": result["answered"],
        "wall_s": round(active_s, 1),
        "inbound_frame_to_append_ms": summary(after["inbound_ms"]),
        "model_audio_to_frame_ms": summary(after["outbound_ms"]),
        "cpu_percent_of_a_core_per_call": round(100 * (after["cpu_s"] - before["cpu_s"]) / active_s / args.calls, 2),
        "rss_mb_idle": round(before["rss_kb"] / 1024, 1),
        "rss_kb_per_call": round((after["peak_rss_kb"] - before["rss_kb"]) / args.calls, 1),
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(report, indent=2))
    inbound, outbound = report["inbound_frame_to_append_ms"], report["model_audio_to_frame_ms"]
    print(
        f"{args.calls} calls ({result['answered']} answered) · frame→append p50 {inbound['median']} ms"
        f" p95 {inbound['p95']} ms · audio→frame p50 {outbound['median']} ms p95 {outbound['p95']} ms"
        f" · CPU {report['cpu_percent_of_a_core_per_call']} % of a core per call"
        f" · RSS {report['rss_kb_per_call']:.0f} KiB per call"
    )


if __name__ == "__main__":
    main()
