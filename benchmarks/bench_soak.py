"""Soak: a long scripted conversation that survives faults and session rollovers.

Run by hand or in CI as a report, never as a timed assert:
    .venv/bin/python benchmarks/bench_soak.py [--turns 200] [--fault-every 20] [--max-session-s 20] [--pause-s 0.5]
Prints a JSON report, then a one-line summary.

One client with continuity on (as `voicecli talk` has it) talks to the local server, which runs in
a child process so that the RSS figures are the client's: typed turns, spoken answers. Every
`--fault-every` turns a fault hits in the middle of an answer (at its first audio delta), in turn:
close 1011, close 1001, a malformed frame, misshapen events, a `server_error` followed by close
1011 (as Azure ends sessions). Sessions end after `--max-session-s` on the server, so the client
rolls over before that; `--pause-s` between turns (someone thinking) makes the conversation last
long enough for that. Everything received and sent goes to a `--record`-style recorder, whose
files are checked afterwards.

Measured: turns answered correctly, RSS growth after warm-up, tracebacks logged, whether the
recording holds every event and every sample of reply audio, drop → reconnected time.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import multiprocessing
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import soundfile
from stats import summary

from voicecli.conversation.exchange import exchange
from voicecli.realtime import (
    Continuity,
    ContinuityEvents,
    OpenAIRealtimeWebsocket,
    RealtimeAudioEvent,
    RealtimeEvent,
    RealtimeSettings,
)
from voicecli.records.recording import Recorder
from voicecli.server import LocalServer
from voicecli.server.faults import MALFORMED_FRAME, MISSHAPEN_FRAMES, injected_error

FAULTS = ("close_1011", "close_1001", "malformed", "misshapen", "server_error")
DROPS = {"close_1011", "close_1001", "server_error"}


class _Tracebacks(logging.Handler):
    """Counts log records that carry a traceback or say ERROR (asyncio's lost task errors do)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.count += 1
            if len(self.first) < 3:
                self.first.append(self.format(record))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve_in_child(control: Connection, max_session_s: float) -> None:
    """The local server in a process of its own (so RSS figures are the client's), taking orders
    over `control`: a fault name to inject, "stats" to report, "stop" to end."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        async with LocalServer(brain="echo", max_session_s=max_session_s) as server:
            control.send(server.port)
            while (order := await loop.run_in_executor(None, control.recv)) != "stop":
                if order == "stats":
                    control.send({"sessions": server.config.connections, "rss_mb": round(rss_mb(), 1)})
                else:
                    await inject(server, order)

    asyncio.run(serve())


async def inject(server: LocalServer, fault: str) -> None:
    """Hit every open connection of the server with one fault."""
    for ws in list(server.config.sockets):
        if fault == "close_1011":
            await ws.close(code=1011, message=b"injected internal error")
        elif fault == "close_1001":
            await ws.close(code=1001, message=b"injected going away")
        elif fault == "malformed":
            await ws.send_str(MALFORMED_FRAME.decode())
        elif fault == "misshapen":
            for frame in MISSHAPEN_FRAMES:
                await ws.send_str(frame.decode())
        else:
            await ws.send_str(orjson.dumps({"event_id": "event_injected", **injected_error()}).decode())
            await ws.close(code=1011, message=b"server_error")


async def soak(turns: int, fault_every: int, max_session_s: float, pause_s: float, folder: Path) -> dict[str, Any]:
    tracebacks = _Tracebacks()
    logging.getLogger().addHandler(tracebacks)
    logging.getLogger().setLevel(logging.INFO)
    recorder = Recorder(folder / "record")
    logged = 0
    reply_abs = 0
    reply_samples = 0
    dropped_at: float | None = None
    drop_to_reconnected: list[float] = []
    reconnects = rollovers = 0
    faults_fired: list[str] = []
    answered = 0
    wrong: list[str] = []
    rss: dict[str, float] = {}
    trace: list[float] = []  # RSS every 20 turns
    blocks: list[int] = []  # Python's allocated blocks, alongside

    spawn = multiprocessing.get_context("spawn")
    control, child_end = spawn.Pipe()
    child = spawn.Process(target=serve_in_child, args=(child_end, max_session_s), daemon=True)
    child.start()
    port = await asyncio.get_running_loop().run_in_executor(None, control.recv)
    try:
        client = OpenAIRealtimeWebsocket(
            api_key="sk-soak", websocket_base_url=f"ws://127.0.0.1:{port}/v1", continuity=Continuity()
        )

        def sent(payload: dict[str, Any]) -> None:
            nonlocal logged
            recorder.events.write_payload(payload)
            logged += 1

        client.observe_sent(sent)
        pending_fault: list[str] = []

        def observe(event: RealtimeEvent) -> None:
            nonlocal logged, reply_abs, reply_samples, dropped_at, reconnects, rollovers
            recorder.events.write(event)
            logged += 1
            if isinstance(event, RealtimeAudioEvent):
                recorder.played(event.audio.data, time.monotonic())
                reply_abs += int(np.abs(event.audio.data.astype(np.int64)).sum())
                reply_samples += len(event.audio.data)
                if pending_fault:
                    fault = pending_fault.pop()
                    faults_fired.append(fault)
                    if fault in DROPS:
                        dropped_at = time.perf_counter()
                    control.send(fault)
            elif event.service_type == ContinuityEvents.RECONNECTED:
                status = event.service_event or {}
                if status.get("cause") == "drop":
                    reconnects += 1
                    if dropped_at is not None:
                        drop_to_reconnected.append((time.perf_counter() - dropped_at) * 1000)
                        dropped_at = None
                else:
                    rollovers += 1

        started = time.perf_counter()
        async with client(settings=RealtimeSettings(push_to_talk=True)):
            for number in range(1, turns + 1):
                if number % fault_every == 0:
                    pending_fault.append(FAULTS[(number // fault_every - 1) % len(FAULTS)])
                result = await exchange(client, text=f"turn {number}", timeout_s=60, observer=observe)
                if result.failed is None and result.assistant_text == f"You said: turn {number}":
                    answered += 1
                else:
                    wrong.append(f"turn {number}: {result.assistant_text!r} ({result.failed})")
                if number % 20 == 0 or number == turns:
                    gc.collect()
                    trace.append(round(rss_mb(), 1))
                    blocks.append(sys.getallocatedblocks())
                if number == min(20, turns):
                    rss["after_warmup_mb"] = trace[-1]
                if number == turns // 2:
                    rss["half_way_mb"] = rss_mb()
                await asyncio.sleep(pause_s)
        elapsed = time.perf_counter() - started
        control.send("stats")
        server_stats = control.recv()
    finally:
        control.send("stop")
        child.join(timeout=10)
    gc.collect()
    rss["end_mb"] = rss_mb()
    recorder.close()
    logging.getLogger().removeHandler(tracebacks)

    lines = (folder / "record" / "events.jsonl").read_text().splitlines()
    played, _ = soundfile.read(folder / "record" / "played.wav", dtype="int16")
    record = {
        "events_logged": logged,
        "event_lines": len(lines),
        "reply_samples": reply_samples,
        "played_wav_frames": len(played),
        "played_wav_holds_every_sample": int(np.abs(played.astype(np.int64)).sum()) == reply_abs,
    }
    return {
        "turns": turns,
        "answered": answered,
        "wrong": wrong[:5],
        "faults": faults_fired,
        "max_session_s": max_session_s,
        "pause_s": pause_s,
        "sessions": server_stats["sessions"],
        "server_rss_mb_at_end": server_stats["rss_mb"],
        "reconnects_after_drops": reconnects,
        "rollovers": rollovers,
        "drop_to_reconnected_ms": summary(drop_to_reconnected) if drop_to_reconnected else None,
        "rss_mb": {
            **{k: round(v, 1) for k, v in rss.items()},
            "growth": round(rss["end_mb"] - rss["after_warmup_mb"], 1),
            "growth_second_half": round(rss["end_mb"] - rss.get("half_way_mb", rss["after_warmup_mb"]), 1),
            "every_20_turns": trace,
        },
        "python_blocks_every_20_turns": blocks,
        "tracebacks": tracebacks.count,
        "first_tracebacks": tracebacks.first,
        "record": record,
        "elapsed_s": round(elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--fault-every", type=int, default=20)
    parser.add_argument("--max-session-s", type=float, default=20.0)
    parser.add_argument("--pause-s", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voicecli-soak-") as folder:
        report = asyncio.run(soak(args.turns, args.fault_every, args.max_session_s, args.pause_s, Path(folder)))
    json.dump(report, sys.stdout, indent=2)
    record = report["record"]
    complete = record["event_lines"] == record["events_logged"] and record["played_wav_holds_every_sample"]
    reconnect = report["drop_to_reconnected_ms"] or {}
    print(
        f"\nsoak: {report['answered']}/{report['turns']} turns answered, {len(report['faults'])} faults, "
        f"{report['rollovers']} rollovers, {report['sessions']} sessions, RSS growth {report['rss_mb']['growth']} MB "
        f"({report['rss_mb']['growth_second_half']} MB in the second half), "
        f"{report['tracebacks']} tracebacks, record {'complete' if complete else 'INCOMPLETE'}, "
        f"drop→reconnected median {reconnect.get('median')} ms (max {reconnect.get('max')}), "
        f"{report['elapsed_s']} s"
    )


if __name__ == "__main__":
    main()
