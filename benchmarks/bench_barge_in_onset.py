"""Local barge-in: the person's speech onset (in the microphone recording) → the reply 20 dB down at
the speaker (in the played recording; `--record` puts both on one clock), with the local server's
VAD 300 ms late as the service's would be. A report, never a timed assert:
    .venv/bin/python benchmarks/bench_barge_in_onset.py [--trials 6] [--barge-in local|service]
Starts its own private PulseAudio; `voicecli talk` runs as a process of its own (headphones case:
`--echo off`, nothing leaks). "20 dB down": the played recording is lined up with the reply's own
audio over the 300 ms before the onset (cross-correlation), and the first 10 ms window after the
onset that is 20 dB below the same window of the reply (where the reply is not quiet) counts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
from bench_live import LONG_REPLY, start_pulse
from stats import summary

from voicecli.audio.resample import resample
from voicecli.server.synth import speak

LOUD = 300


def wait(condition: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            sys.exit(f"bench_barge_in_onset: timed out waiting for {what}")
        time.sleep(0.05)


def events(path: Path, kind: str) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["type"] == kind]


def speech(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.wav"
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True, timeout=30)
    return path


def onsets(mic: np.ndarray, rate: int) -> list[int]:
    """Where each burst of sound in the microphone starts (bursts apart by more than 400 ms)."""
    loud = np.flatnonzero(np.abs(mic.astype(np.int32)) > LOUD)
    breaks = np.flatnonzero(np.diff(loud) > rate * 0.4)
    return [int(loud[0]), *(int(loud[i + 1]) for i in breaks)] if loud.size else []


def down_20_db_ms(played: np.ndarray, reply: np.ndarray, rate: int, onset: int) -> float | None:
    """Milliseconds from `onset` until the played reply is 20 dB below what the reply holds there."""
    before = played[onset - rate * 3 // 10 : onset].astype(np.float64)
    if before.size == 0 or np.abs(before).max() < LOUD:
        return None
    fit = np.correlate(reply.astype(np.float64), before, mode="valid")  # where that stretch sits in the reply
    offset = int(np.argmax(fit)) + before.size - onset  # reply index = played index + offset
    window = rate // 100
    for start in range(onset, onset + 2 * rate, window):
        ref = reply[start + offset : start + offset + window].astype(np.float64)
        got = played[start : start + window].astype(np.float64)
        if ref.size < window or got.size < window:
            return None
        ref_rms, got_rms = np.sqrt(np.mean(ref * ref)), np.sqrt(np.mean(got * got))
        if ref_rms > LOUD / 3 and got_rms <= ref_rms / 10:
            return (start - onset) * 1000 / rate
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--barge-in", default="local", choices=["local", "service"])
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-onset-"))
    start_pulse(tmp / "pulse")
    script, config = tmp / "long.toml", tmp / "late.toml"
    script.write_text(f'[[turn]]\nreply = "{LONG_REPLY}"\n\n[[turn]]\nreply = "Okay."\n\n' * args.trials)
    config.write_text("[local]\nvad_delay_ms = 300\n")
    question = speech(tmp, "question", "tell me a story")
    stop = speech(tmp, "stop", "no, wait, I have another question for you")  # voiced from its first sound
    log, record = tmp / "events.jsonl", tmp / "rec"
    talk = subprocess.Popen(
        [sys.executable, "-m", "voicecli", "talk", "--provider", "local", "--config", str(config),
         "--brain", "scripted", "--script", str(script), "--echo", "off", "--barge-in", args.barge_in,
         "--record", str(record), "--json-events", str(log)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait(lambda: bool(events(log, "session.updated")), "the session")
        for trial in range(1, args.trials + 1):
            subprocess.run(["paplay", "-d", "vmic", str(question)], check=True, timeout=20)
            wait(lambda: len(events(log, "response.output_audio.delta")) > 0, "the reply")
            time.sleep(2.5)
            subprocess.run(["paplay", "-d", "vmic", str(stop)], check=True, timeout=20)
            wait(lambda n=trial: len(events(log, "conversation.item.truncate")) >= n, f"cut {trial}")
            wait(lambda n=trial: len(events(log, "response.done")) >= 2 * n, "the answer to the stop", 40)
            time.sleep(2.0)  # its "Okay." plays out
    finally:
        talk.send_signal(2)
        talk.wait(timeout=30)
    mic, mic_rate = soundfile.read(next(record.rglob("mic.wav")), dtype="int16")
    played, played_rate = soundfile.read(next(record.rglob("played.wav")), dtype="int16")
    played = resample(played, played_rate, mic_rate) if played_rate != mic_rate else played
    starts = onsets(mic, mic_rate)
    reply = np.asarray(speak(LONG_REPLY))
    figures = [down_20_db_ms(played, reply, mic_rate, onset) for onset in starts[1::2]]  # questions, stops, ...
    found = [f for f in figures if f is not None]
    print(json.dumps({"barge_in": args.barge_in, "onset_to_20db_ms": summary(found), "trials": figures}))
    subprocess.run(["pactl", "exit"], capture_output=True, check=False)


if __name__ == "__main__":
    main()
