"""CPU of a real `voicecli talk` while listening: connected, nobody speaking, the assistant silent, Rich screen on.

Run by hand, as a report, never as a timed assert:
    .venv/bin/python benchmarks/bench_listen_cpu.py [--seconds 30] [--echo off auto] [--barge-in service]
Starts its own private PulseAudio (null sinks) and the local server as a process of its own
(`voicecli serve`); `voicecli talk --provider openai` connects to it over loopback (OPENAI_BASE_URL)
in a pseudo-terminal of 120x40, so the Rich screen draws as in a terminal. Once the session is up
and settled, the talk process's own CPU time (user + system, from /proc) over `--seconds` of wall
time, as % of one core, and its threads' wake-ups per second (voluntary context switches), each
thread's too (kernel names: Python's threads show as "python", PortAudio's and PulseAudio's by theirs).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

from bench_live import start_pulse, start_server, stop_all

TICKS = os.sysconf("SC_CLK_TCK")


def usage(pid: int) -> tuple[float, dict[str, tuple[float, int]]]:
    """CPU seconds of the process, and each thread's (by id and kernel name) CPU seconds and wake-ups so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            status = (task / "status").read_text()
        except FileNotFoundError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        cpu = (int(rest.split()[11]) + int(rest.split()[12])) / TICKS
        threads[f"{name} {task.name}"] = (cpu, int(status.split("voluntary_ctxt_switches:")[1].split()[0]))
    return (int(fields[11]) + int(fields[12])) / TICKS, threads


def listen(url: str, echo: str, barge_in: str, seconds: float, folder: Path) -> dict[str, object]:
    log = folder / f"events-{echo}-{barge_in}.jsonl"
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    base = url.replace("ws://", "http://")
    env = {**os.environ, "OPENAI_API_KEY": "bench", "OPENAI_BASE_URL": base, "TERM": "xterm-256color"}
    talk = subprocess.Popen(
        [sys.executable, "-m", "voicecli", "talk", "--provider", "openai", "--echo", echo,
         "--barge-in", barge_in, "--json-events", str(log)],
        stdin=follower, stdout=follower, stderr=follower, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(follower)
    drained = threading.Thread(target=_drain, args=(leader,), daemon=True)
    drained.start()
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and "session.updated" in log.read_text()):
            if time.monotonic() > deadline or talk.poll() is not None:
                sys.exit(f"bench_listen_cpu: the session did not start (echo {echo})")
            time.sleep(0.1)
        time.sleep(3.0)  # imports, the canceller's start, the first frames: not listening yet
        cpu0, wake0, wall0 = *usage(talk.pid), time.monotonic()
        time.sleep(seconds)
        cpu1, wake1, wall1 = *usage(talk.pid), time.monotonic()
    finally:
        talk.send_signal(2)
        try:
            talk.wait(timeout=20)
        except subprocess.TimeoutExpired:
            talk.kill()
    wall = wall1 - wall0
    threads = {
        name: [round(100 * (cpu - wake0[name][0]) / wall, 1), round((wakes - wake0[name][1]) / wall, 1)]
        for name, (cpu, wakes) in wake1.items()
        if name in wake0
    }
    return {
        "echo": echo,
        "barge_in": barge_in,
        "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / wall, 2),
        "wakeups_per_s": round(sum(row[1] for row in threads.values()), 1),
        "threads_cpu_percent_and_wakeups_per_s": {name: row for name, row in threads.items() if row[1] >= 1},
    }


def _drain(fd: int) -> None:
    """Read the screen's output so the terminal never blocks the talk process."""
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--echo", nargs="+", default=["off", "auto"])
    parser.add_argument("--barge-in", default="service", choices=["service", "local"])
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-listen-"))
    start_pulse(tmp / "pulse")
    script = tmp / "reply.toml"
    script.write_text('[[turn]]\nreply = "Okay."\n')
    server, url = start_server(script)
    try:
        rows = [listen(url, echo, args.barge_in, args.seconds, tmp) for echo in args.echo]
    finally:
        stop_all(server, tmp)
    print(json.dumps({"listening": rows, "load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
