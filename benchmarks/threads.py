"""CPU and wake-ups of each thread of this process, read from /proc (Linux), for the listening benchmarks.

On a virtual machine every wake-up of a thread costs a visible share of a core, whatever little work
it then does, so the number of wake-ups per second says as much about an audio path as its CPU. The
threads voicecli starts carry their Python names; the rest belong to PortAudio and the ALSA pulse plugin.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

TASKS = Path("/proc/self/task")


@dataclass(frozen=True, slots=True)
class ThreadUsage:
    name: str
    cpu_s: float
    wakeups: int  # voluntary context switches: the thread slept and was woken


def snapshot() -> dict[int, ThreadUsage]:
    """Every live thread's CPU seconds and wake-ups so far, by thread id."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    ticks = os.sysconf("SC_CLK_TCK")
    usage: dict[int, ThreadUsage] = {}
    for task in TASKS.iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            status = (task / "status").read_text()
        except FileNotFoundError:  # the thread ended between the listing and the read
            continue
        tid = int(task.name)
        wakeups = int(status.split("voluntary_ctxt_switches:")[1].split()[0])
        usage[tid] = ThreadUsage(names.get(tid, "device"), (int(fields[11]) + int(fields[12])) / ticks, wakeups)
    return usage


def between(before: dict[int, ThreadUsage], after: dict[int, ThreadUsage], seconds: float) -> dict[str, dict]:
    """Per thread name (device threads summed): % of one core and wake-ups per second over `seconds`."""
    rows: dict[str, dict] = {}
    for tid, now in after.items():
        then = before.get(tid)
        if then is None:
            continue
        row = rows.setdefault(now.name, {"cpu_percent_of_one_core": 0.0, "wakeups_per_s": 0.0})
        row["cpu_percent_of_one_core"] += 100 * (now.cpu_s - then.cpu_s) / seconds
        row["wakeups_per_s"] += (now.wakeups - then.wakeups) / seconds
    return {name: {key: round(value, 1) for key, value in row.items()} for name, row in sorted(rows.items())}
