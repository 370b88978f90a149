"""The local server's native memory stays flat over many spoken replies (it grew 16-22 MB in 200 turns).

A child process starts a server (which sets the allocator up) and synthesizes distinct replies in
worker threads as a response does, turning each into bytes; its RSS after warm-up and at the end
are compared. Memory, not time: the figure does not depend on the machine's load.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.speech_corpus import espeak_missing
from support.system_tools import unavailable

pytestmark = pytest.mark.timeout(120)

CHILD = """
import asyncio, gc
from voicecli.server import LocalServer, synth

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))

async def main():
    async with LocalServer(brain="echo"):
        warm = None
        for turn in range(90):
            text = f"This is reply number {turn}. It says a few sentences, like an assistant does, " * 2
            (await asyncio.to_thread(synth.speak, text)).tobytes()
            if turn == 29:
                gc.collect()
                warm = rss_mb()
        gc.collect()
        print(round(rss_mb() - warm, 1))

asyncio.run(main())
"""


def test_rss_stays_flat_over_many_distinct_spoken_replies() -> None:
    if reason := espeak_missing():
        unavailable(reason)
    if not sys.platform.startswith("linux"):
        pytest.skip("RSS is read from /proc")
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=110, check=True)
    growth_mb = float(done.stdout.strip().splitlines()[-1])
    assert growth_mb < 4.0, f"RSS grew {growth_mb} MB over 60 replies after warm-up"
