"""Local barge-in: the person's speech onset (in the microphone recording) → the reply 20 dB down at
the speaker (in the played recording; `--record` puts both on one clock), with the local server's
VAD 300 ms late as the service's would be; and how many interruptions stop the reply, how many
back-channels and noise bursts do. A report, never a timed assert:
    .venv/bin/python benchmarks/bench_barge_in_onset.py [--trials 10] [--barge-in local|service] [--rig]
Starts its own private PulseAudio; `voicecli talk` runs as a process of its own (headphones case:
`--echo off`, nothing leaks; `--rig`: the echo rig, speaker back into the microphone at -12 dB,
60 ms late, with `--echo aec`). In each trial, over a long reply: a 0.4 s back-channel ("mm-hm",
"yeah", ... in turn), then a noise burst (a cough-like burst or a knock, in turn), then an
interruption (five phrases in turn, some starting with a hiss). The reply must go on after the
first two and stop at the third. "20 dB down": the played recording is lined up with the reply's
own audio over the 300 ms before the onset (cross-correlation), and the first 10 ms window (slid
in 1 ms steps) after the onset that is 20 dB below the same window of the reply (where the reply
is not quiet) counts: from its start on the reply is 20 dB down.
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


def until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait(condition: object, what: str, timeout: float = 30.0) -> None:
    if not until(condition, timeout):
        sys.exit(f"bench_barge_in_onset: timed out waiting for {what}")


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
    for start in range(onset, onset + 2 * rate, rate // 1000):
        ref = reply[start + offset : start + offset + window].astype(np.float64)
        got = played[start : start + window].astype(np.float64)
        if ref.size < window or got.size < window:
            return None
        ref_rms, got_rms = np.sqrt(np.mean(ref * ref)), np.sqrt(np.mean(got * got))
        if ref_rms > LOUD / 3 and got_rms <= ref_rms / 10:
            return (start - onset) * 1000 / rate
    return None


BACKCHANNELS = ("mm-hm", "yeah", "okay", "uh-huh", "right")
INTERRUPTIONS = (
    "no, wait, I have another question for you",
    "stop please, I want to ask something else",
    "hold on, that is not what I asked",
    "actually, tell me about the weather instead",
    "sorry, can you repeat the first part",
)


def backchannel(folder: Path, index: int) -> Path:
    """A back-channel cut to 0.4 s from its first sound."""
    full = speech(folder, f"bc{index}_full", BACKCHANNELS[index % len(BACKCHANNELS)])
    voice, rate = soundfile.read(full, dtype="int16")
    start = int(np.flatnonzero(np.abs(voice) > LOUD)[0])
    path = folder / f"bc{index}.wav"
    soundfile.write(path, voice[start : start + rate * 4 // 10], rate)
    return path


def noise(folder: Path, index: int) -> Path:
    """A cough-like burst (shaped noise, 150-300 ms) or a knock (a decaying click), in turn."""
    rng, rate = np.random.default_rng(index), 22_050
    if index % 2:
        length = rate // 8
        burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (rate * 0.015)) * 16000
    else:
        length = int(rate * (0.15 + 0.05 * (index % 4)))
        burst = rng.standard_normal(length) * np.hanning(length) * 12000
    path = folder / f"noise{index}.wav"
    soundfile.write(path, np.clip(burst, -32767, 32767).astype(np.int16), rate)
    return path


def load_rig() -> str:
    """The echo rig: the speaker back into the microphone 60 ms late at -12 dB (bench_echo's)."""
    from bench_echo import load_rig as load

    return load(60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--barge-in", default="local", choices=["local", "service"])
    parser.add_argument("--rig", action="store_true", help="speakers: the echo rig and --echo aec")
    parser.add_argument("--plain", action="store_true", help="interruptions only (no back-channels, no noise)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-onset-"))
    start_pulse(tmp / "pulse")
    if args.rig:
        load_rig()
    script, config = tmp / "long.toml", tmp / "late.toml"
    script.write_text(f'[[turn]]\nreply = "{LONG_REPLY}"\n\n[[turn]]\nreply = "Okay."\n\n' * args.trials)
    config.write_text("[local]\nvad_delay_ms = 300\n")
    question = speech(tmp, "question", "tell me a story")
    log, record = tmp / "events.jsonl", tmp / "rec"
    talk = subprocess.Popen(
        [sys.executable, "-m", "voicecli", "talk", "--provider", "local", "--config", str(config),
         "--brain", "scripted", "--script", str(script), "--echo", "aec" if args.rig else "off",
         "--barge-in", args.barge_in, "--record", str(record), "--json-events", str(log)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    cuts = lambda: len(events(log, "conversation.item.truncate"))  # noqa: E731
    outcome: dict[str, list[str]] = {"interruption": [], "backchannel": [], "noise": []}
    try:
        wait(lambda: bool(events(log, "session.updated")), "the session")
        for trial in range(args.trials):
            before = cuts()
            subprocess.run(["paplay", "-d", "vmic", str(question)], check=True, timeout=20)
            wait(lambda n=trial: len(events(log, "response.created")) > 2 * n, "the reply")
            time.sleep(1.5)
            distractors = [] if args.plain else [("backchannel", backchannel(tmp, trial)), ("noise", noise(tmp, trial))]
            for kind, sound in distractors:
                subprocess.run(["paplay", "-d", "vmic", str(sound)], check=True, timeout=20)
                time.sleep(1.4)  # 700 ms of quiet bring the reply back up
                outcome[kind].append("stopped" if cuts() > before else "went on")
                before = cuts()
            said = speech(tmp, f"stop{trial}", INTERRUPTIONS[trial % len(INTERRUPTIONS)])
            subprocess.run(["paplay", "-d", "vmic", str(said)], check=True, timeout=20)
            stopped = until(lambda n=before: cuts() > n, 10)
            outcome["interruption"].append("stopped" if stopped else "went on")
            wait(lambda n=trial: len(events(log, "response.done")) >= 2 * (n + 1), "the answer to the stop", 60)
            time.sleep(2.0)  # its "Okay." plays out
    finally:
        talk.send_signal(2)
        talk.wait(timeout=30)
    mic, mic_rate = soundfile.read(next(record.rglob("mic.wav")), dtype="int16")
    played, played_rate = soundfile.read(next(record.rglob("played.wav")), dtype="int16")
    played = resample(played, played_rate, mic_rate) if played_rate != mic_rate else played
    starts = onsets(mic, mic_rate)
    reply = np.asarray(speak(LONG_REPLY))
    per_trial = 2 if args.plain else 4  # question, (back-channel, noise,) interruption
    sounds = {"interruption": starts[per_trial - 1 :: per_trial]}
    if not args.plain:
        sounds |= {"backchannel": starts[1::4], "noise": starts[2::4]}
    report: dict[str, object] = {"barge_in": args.barge_in, "rig": args.rig, "onsets_found": len(starts)}
    for kind, at in sounds.items():
        figures = [down_20_db_ms(played, reply, mic_rate, onset) for onset in at]
        found = [f for f in figures if f is not None]
        report[kind] = {
            "stopped_the_reply": f"{outcome[kind].count('stopped')} of {len(outcome[kind])}",
            "onset_to_20db_ms": summary(found) if found else None,
            "trials_ms": figures,
        }
    print(json.dumps(report))
    subprocess.run(["pactl", "exit"], capture_output=True, check=False)


if __name__ == "__main__":
    main()
