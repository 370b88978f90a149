"""Local server pacing benchmark: a report, never a test.

How long a reply is on the wire with the default pacing (first audio after 500 ms, then 4x real time)
and with speed `max`: from `response.create` to the first audio delta, from the first delta to the
last, the reply's length in seconds of audio, and the speed that gives (audio seconds per second on
the wire). Over a real loopback WebSocket with the `openai` client, a short and a long reply.
Prints JSON, then a one-line summary. Run: `.venv/bin/python benchmarks/bench_pacing.py`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import time

import orjson
from openai import AsyncOpenAI

from voicecli.server import DEFAULT_PACING, UNPACED, LocalServer, Pacing

ROUNDS = 3
REPLIES = {
    "short": "How are you today?",
    "long": "This sentence makes the reply long enough to stream many audio deltas. " * 6,
}


async def one_reply(server: LocalServer, text: str) -> tuple[float, float, float]:
    """Seconds to the first audio delta, seconds from the first delta to the last, audio seconds."""
    async with (
        AsyncOpenAI(api_key="bench", websocket_base_url=server.ws_base_url, base_url=server.http_url + "/v1") as client,
        client.realtime.connect(model="gpt-realtime") as connection,
    ):
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        await connection.send_raw(orjson.dumps({"type": "conversation.item.create", "item": item}).decode())
        asked = time.perf_counter()
        await connection.send_raw('{"type": "response.create"}')
        first = last = 0.0
        audio_bytes = 0
        while True:
            event = orjson.loads(await connection.recv_bytes())
            if event["type"] == "response.output_audio.delta":
                last = time.perf_counter()
                first = first or last
                audio_bytes += len(base64.b64decode(event["delta"]))
            elif event["type"] == "response.done":
                return first - asked, last - first, audio_bytes / 48_000


async def measure(pacing: Pacing) -> dict[str, float]:
    report: dict[str, float] = {}
    async with LocalServer(pacing=pacing) as server:
        for name, text in REPLIES.items():
            runs = [await one_reply(server, text) for _ in range(ROUNDS)]
            to_first, on_wire, audio_s = (statistics.median(values) for values in zip(*runs, strict=True))
            report[f"{name}_first_audio_ms"] = 1000 * to_first
            report[f"{name}_on_wire_s"] = on_wire
            report[f"{name}_audio_s"] = audio_s
            report[f"{name}_speed_x"] = audio_s / max(on_wire, 1e-6)
    return report


async def main() -> None:
    report = {"default": await measure(DEFAULT_PACING), "max": await measure(UNPACED)}
    print(json.dumps({mode: {k: round(v, 3) for k, v in values.items()} for mode, values in report.items()}, indent=2))
    paced, unpaced = report["default"], report["max"]
    print(
        f"default: first audio {paced['short_first_audio_ms']:.0f} ms, a {paced['long_audio_s']:.1f} s reply on the"
        f" wire {paced['long_on_wire_s']:.2f} s ({paced['long_speed_x']:.1f}x)"
        f" · max: first audio {unpaced['short_first_audio_ms']:.0f} ms, on the wire {unpaced['long_on_wire_s']:.2f} s"
        f" ({unpaced['long_speed_x']:.0f}x)"
    )


if __name__ == "__main__":
    asyncio.run(main())
