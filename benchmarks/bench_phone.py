"""Phone bridge benchmark: many concurrent simulated calls through one bridge process; a report, never a test.

Three processes, as in production: the local realtime server (`voicecli serve`), the bridge (the
phone app, measured, checking ACS's token on every call), and this one playing ACS for every call
(`Dialer` with a token signed by a key this process serves as ACS's key set: espeak-ng speech in
real time as 20 ms frames, then the quiet line until the reply has played). Reports:
  - strangers first: `--strangers` connections at once without a valid token (half with none, half
    signed by another key), how many were refused, how many realtime sessions they opened (must be
    0), and the bridge's CPU and RSS growth while refusing them;
  - bridge-added latency: caller frame in → `input_audio_buffer.append` sent, and model audio
    (the client's audio callback) → AudioData frame sent, p50/p95 over every frame;
  - CPU of the bridge process per active call (% of one core), RSS per call (peak minus idle).
Run: `.venv/bin/python benchmarks/bench_phone.py [--calls 50] [--turns 2] [--strangers 200]`. Prints
JSON, then one line.
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
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from stats import summary

from voicecli.audio.wavio import read_audio_24k_mono
from voicecli.phone.auth import ACS_ISSUER
from voicecli.phone.dialer import Dialer

SPEECH = "Hello, what will the weather be like in Paris tomorrow?"
RESOURCE_ID = "bench-acs-resource"
KEY_ID = "bench-key"


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


class AcsStandIn:
    """ACS's key endpoint on loopback, with a key made here, and tokens signed like ACS's."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def openid_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/openid"

    async def serve(self) -> web.AppRunner:
        public = {**RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True), "kid": KEY_ID, "alg": "RS256"}
        jwks_uri = f"http://127.0.0.1:{self.port}/keys"

        async def openid(_: web.Request) -> web.Response:
            return web.json_response({"issuer": ACS_ISSUER, "jwks_uri": jwks_uri})

        async def keys(_: web.Request) -> web.Response:
            return web.json_response({"keys": [public]})

        app = web.Application()
        app.router.add_get("/openid", openid)
        app.router.add_get("/keys", keys)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        return runner

    def headers(self, *, stranger: bool = False) -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": ACS_ISSUER, "aud": RESOURCE_ID, "iat": now, "exp": now + 300}
        key = self.stranger if stranger else self.key
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": KEY_ID})
        return {"Authorization": f"Bearer {token}"}


def run_bridge(model_url: str, port: int, openid_url: str, max_calls: int, control: Connection) -> None:
    """The bridge process: the phone app with timings; answers `measure` on the control pipe."""
    from voicecli.config import AppConfig
    from voicecli.conversation.providers import session_settings
    from voicecli.phone.app import create_phone_app
    from voicecli.phone.auth import AcsTokenVerifier
    from voicecli.phone.bridge import BridgeTimings
    from voicecli.phone.limits import CallLimits
    from voicecli.phone.service import PhoneService
    from voicecli.realtime import OpenAIRealtimeWebsocket, RealtimeClient

    timings = BridgeTimings()
    sessions = [0]

    def client_factory(_: Any, tools: Any) -> RealtimeClient:
        sessions[0] += 1
        return OpenAIRealtimeWebsocket(api_key="bench", websocket_base_url=model_url, tools=tools)

    service = PhoneService(
        client_factory=client_factory,
        settings=session_settings(AppConfig()),
        verifier=AcsTokenVerifier(RESOURCE_ID, openid_config_url=openid_url),
        limits=CallLimits(max_calls=max_calls),
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
                    "sessions": sessions[0],
                    "ends": dict(Counter(record.reason or record.state for record in service.registry)),
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


async def strangers(base: str, acs: AcsStandIn, count: int, control: Connection) -> dict[str, Any]:
    """`count` connections at once without a valid token: what they cost the bridge."""

    async def knock(session: aiohttp.ClientSession, number: int) -> int:
        headers = acs.headers(stranger=True) if number % 2 else {}
        try:
            socket = await session.ws_connect(f"{base}/ws/stranger-{number}", headers=headers)
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status
        await socket.close()
        return 101

    control.send("reset")
    before = control.recv()
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        statuses = await asyncio.gather(*(knock(session, number) for number in range(count)))
    elapsed = time.monotonic() - started
    control.send("measure")
    after = control.recv()
    return {
        "connections": count,
        "refused_401": statuses.count(401),
        "realtime_sessions_opened": after["sessions"] - before["sessions"],
        "wall_s": round(elapsed, 2),
        "bridge_cpu_s": round(after["cpu_s"] - before["cpu_s"], 3),
        "bridge_rss_growth_kb": after["peak_rss_kb"] - before["rss_kb"],
    }


async def one_call(url: str, speech: Any, turns: int, headers: dict[str, str]) -> bool:
    async with Dialer(url, headers=headers) as call:
        for _ in range(turns):
            heard_before = len(call.heard.chunks)
            call.heard.last_audio_at = None
            await call.speak(speech)
            if not await call.listen_until_quiet(60) or len(call.heard.chunks) == heard_before:
                return False
    return True


async def run_calls(
    base: str, speech: Any, calls: int, turns: int, acs: AcsStandIn, control: Connection
) -> dict[str, Any]:
    control.send("reset")
    before = control.recv()
    started = time.monotonic()
    stagger = 1.0 / calls  # callers ring within a second, as a busy line would
    tasks = []
    for number in range(calls):
        tasks.append(asyncio.create_task(one_call(f"{base}/ws/bench-{number}", speech, turns, acs.headers())))
        await asyncio.sleep(stagger)
    answered = sum(await asyncio.gather(*tasks))
    elapsed = time.monotonic() - started
    control.send("measure")
    after = control.recv()
    return {"before": before, "after": after, "elapsed_s": elapsed, "answered": answered}


async def bench(base: str, speech: Any, args: argparse.Namespace, acs: AcsStandIn, control: Connection) -> Any:
    keys = await acs.serve()
    try:
        refused = await strangers(base, acs, args.strangers, control)
        return refused, await run_calls(base, speech, args.calls, args.turns, acs, control)
    finally:
        await keys.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--strangers", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), SPEECH], check=True, capture_output=True)
        speech = read_audio_24k_mono(wav)
    model_port, bridge_port = free_port(), free_port()
    acs = AcsStandIn(free_port())
    model = subprocess.Popen(
        [sys.executable, "-m", "voicecli", "serve", "--port", str(model_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    control, child_end = multiprocessing.Pipe()
    bridge = multiprocessing.get_context("spawn").Process(
        target=run_bridge,
        args=(f"ws://127.0.0.1:{model_port}/v1", bridge_port, acs.openid_url, args.calls + 10, child_end),
    )
    try:
        wait_for_port(model_port)
        bridge.start()
        if control.recv() != "ready":
            sys.exit("bench_phone: the bridge did not start")
        refused, result = asyncio.run(bench(f"ws://127.0.0.1:{bridge_port}", speech, args, acs, control))
    finally:
        control.send("stop")
        bridge.join(10)
        model.terminate()
        model.wait(10)

    before, after = result["before"], result["after"]
    active_s = result["elapsed_s"]
    report = {
        "strangers": refused,
        "calls": args.calls,
        "turns_per_call": args.turns,
        "answered_calls": result["answered"],
        "how_calls_ended": after["ends"],
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
    print(
        f"{refused['connections']} strangers: {refused['refused_401']} refused (401),"
        f" {refused['realtime_sessions_opened']} realtime sessions opened,"
        f" bridge CPU {refused['bridge_cpu_s']} s, RSS +{refused['bridge_rss_growth_kb']} KiB"
    )


if __name__ == "__main__":
    main()
