"""Realtime core benchmark: a report, never a test.

Measures against the local server on loopback: time to `session.updated` (including creating the
`openai` client, about 60 ms of TLS setup), time to the first audio delta of a typed turn, events
per second through `receive()` (parsing + queueing + the audio callback), the cost of parsing one
audio delta, the time a WebRTC call takes to open its data channel, the local server's strict
check of one event (its cost per audio delta and per `session.created`), and `voicecli --help`
start time.
Prints JSON, then a one-line summary. Run: `.venv/bin/python benchmarks/bench_realtime.py`.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time

import numpy as np

from voicecli.conversation.exchange import exchange
from voicecli.realtime import ListenEvents, OpenAIRealtimeWebsocket, RealtimeSettings, protocol
from voicecli.server import UNPACED, LocalServer

ROUNDS = 10
LONG_TEXT = " ".join(["This sentence makes the reply long enough to stream many audio deltas."] * 6)


async def session_timings(server: LocalServer) -> dict[str, float]:
    to_updated: list[float] = []
    to_first_audio: list[float] = []
    for _ in range(ROUNDS):
        client = OpenAIRealtimeWebsocket(api_key="bench", websocket_base_url=server.ws_base_url)
        started = time.perf_counter()
        async with client(settings=RealtimeSettings(push_to_talk=True)):
            async for event in client.receive():
                if event.service_type == ListenEvents.SESSION_UPDATED:
                    to_updated.append(time.perf_counter() - started)
                    break
            result = await exchange(client, text="ping", timeout_s=10)
            if result.first_audio_s is not None:
                to_first_audio.append(result.first_audio_s)
    return {
        "session_updated_ms_p50": 1000 * statistics.median(to_updated),
        "first_audio_ms_p50": 1000 * statistics.median(to_first_audio),
    }


async def receive_throughput(server: LocalServer) -> dict[str, float]:
    chunks = 0

    def count(pcm: np.ndarray) -> None:
        nonlocal chunks
        chunks += 1

    client = OpenAIRealtimeWebsocket(
        api_key="bench", websocket_base_url=server.ws_base_url, audio_output_callback=count
    )
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        await exchange(client, text=LONG_TEXT, timeout_s=30)  # the server caches the synthesized reply
        events = 0
        started = time.perf_counter()
        await client.send(protocol.user_text_item(LONG_TEXT))
        await client.send({"type": "response.create"})
        async for event in client.receive():
            events += 1
            if event.service_type == ListenEvents.RESPONSE_DONE:
                break
        elapsed = time.perf_counter() - started
    return {"events_per_s": events / elapsed, "events_in_turn": events, "audio_chunks": chunks}


def parse_cost_us() -> float:
    delta = protocol.encode(
        {
            "type": "response.output_audio.delta",
            "response_id": "r",
            "item_id": "i",
            "output_index": 0,
            "content_index": 0,
            "delta": protocol.pcm_to_base64(np.zeros(2400, np.int16)),
            "event_id": "e",
        }
    ).encode()
    repeats = 20_000
    started = time.perf_counter()
    for _ in range(repeats):
        protocol.parse_server_message(delta)
    return 1e6 * (time.perf_counter() - started) / repeats


async def webrtc_open_ms(server: LocalServer) -> float:
    """Offer, answer, ICE on loopback and the data channel, until the session is configured."""
    from voicecli.realtime.webrtc import OpenAIRealtimeWebRTC

    samples = []
    for _ in range(3):
        client = OpenAIRealtimeWebRTC(api_key="bench", base_url=server.http_url + "/v1")
        started = time.perf_counter()
        async with client(settings=RealtimeSettings(output_modalities=["text"], push_to_talk=True)):
            samples.append(time.perf_counter() - started)
    return 1000 * statistics.median(samples)


def validation_cost_us() -> dict[str, float]:
    """The server checks every event it sends against the `openai` types, unknown fields at any depth."""
    import base64

    from voicecli.server.session.config import default_session_config
    from voicecli.server.validation import validate_server_event

    events = {
        "validate_audio_delta_us": {
            "type": "response.output_audio.delta", "event_id": "event_1", "response_id": "resp_1",
            "item_id": "item_1", "output_index": 0, "content_index": 0,
            "delta": base64.b64encode(bytes(4800)).decode(),
        },
        "validate_session_created_us": {
            "type": "session.created", "event_id": "event_2", "session": default_session_config()
        },
    }  # fmt: skip
    costs = {}
    for name, event in events.items():
        validate_server_event(event)
        repeats = 5_000
        started = time.perf_counter()
        for _ in range(repeats):
            validate_server_event(event)
        costs[name] = 1e6 * (time.perf_counter() - started) / repeats
    return costs


def help_start_ms() -> float:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "voicecli", "--help"], capture_output=True, check=True)
        samples.append(time.perf_counter() - started)
    return 1000 * statistics.median(samples)


async def main() -> None:
    async with LocalServer(pacing=UNPACED) as server:  # what the client costs, not the pacing
        report = {**await session_timings(server), **await receive_throughput(server)}
        report["webrtc_open_ms_p50"] = await webrtc_open_ms(server)
    report["parse_audio_delta_us"] = parse_cost_us()
    report.update(validation_cost_us())
    report["help_start_ms"] = help_start_ms()
    print(json.dumps({k: round(v, 2) for k, v in report.items()}, indent=2))
    print(
        f"session.updated {report['session_updated_ms_p50']:.1f} ms · first audio {report['first_audio_ms_p50']:.1f} ms"
        f" · {report['events_per_s']:.0f} events/s · parse delta {report['parse_audio_delta_us']:.1f} µs"
        f" · WebRTC open {report['webrtc_open_ms_p50']:.0f} ms"
        f" · check delta {report['validate_audio_delta_us']:.1f} µs"
        f", session {report['validate_session_created_us']:.0f} µs"
        f" · --help {report['help_start_ms']:.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
