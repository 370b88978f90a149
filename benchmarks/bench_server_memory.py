"""The local server's memory over many spoken turns: RSS (native) against the Python heap. A report.

One process runs the server (echo brain) and a client that opens a session every `--per-session`
turns (as rollovers and reconnections do) and asks for a spoken answer to a distinct typed turn,
so that no reply comes from the speech cache twice. Every 25 turns: RSS and what tracemalloc
counts (the Python heap), each as growth since turn 25. Prints JSON, then a one-line summary.
Run: `.venv/bin/python benchmarks/bench_server_memory.py [--turns 200] [--per-session 5]`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tracemalloc
from typing import Any

from openai import AsyncOpenAI

from voicecli.server import LocalServer


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


async def turns(server: LocalServer, count: int, per_session: int) -> list[dict[str, float]]:
    client = AsyncOpenAI(api_key="bench", websocket_base_url=server.ws_base_url)
    trace: list[dict[str, float]] = []
    done = 0
    while done < count:
        async with client.realtime.connect(model="bench") as connection:
            for _ in range(min(per_session, count - done)):
                text = f"turn number {done} of the soak, {done * 7} and {done * 13}"
                content = [{"type": "input_text", "text": text}]
                await connection.conversation.item.create(item={"type": "message", "role": "user", "content": content})
                await connection.response.create()
                async for event in connection:
                    if event.type == "response.done":
                        break
                done += 1
                if done % 25 == 0:
                    gc.collect()
                    trace.append(
                        {"turn": done, "rss_mb": rss_mb(), "python_mb": tracemalloc.get_traced_memory()[0] / 1e6}
                    )
    return trace


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--per-session", type=int, default=5)
    args = parser.parse_args()
    tracemalloc.start()
    async with LocalServer(brain="echo") as server:
        trace = await turns(server, args.turns, args.per_session)
    first, last = trace[0], trace[-1]
    report: dict[str, Any] = {
        "turns": args.turns,
        "per_session": args.per_session,
        "rss_growth_mb": round(last["rss_mb"] - first["rss_mb"], 1),
        "python_heap_growth_mb": round(last["python_mb"] - first["python_mb"], 1),
        "trace": [{key: round(value, 1) for key, value in point.items()} for point in trace],
    }
    print(json.dumps(report, indent=2))
    print(
        f"turns {first['turn']:.0f} → {last['turn']:.0f}: RSS +{report['rss_growth_mb']} MB, "
        f"Python heap +{report['python_heap_growth_mb']} MB (RSS at the end {last['rss_mb']:.1f} MB)"
    )


if __name__ == "__main__":
    asyncio.run(main())
