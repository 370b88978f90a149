"""ERLE with a person talking over the reply (double talk), without devices: what `auto` shows and keeps.

Run by hand, as a report, never as a timed assert:
    .venv/bin/python benchmarks/bench_double_talk.py [--delay-ms 60]
A reply plays into a synthetic room (its echo `--delay-ms` late with a 50 ms reverb tail); from 4 s on
a person talks over it for about three seconds, at 6 and then 12 dB above the echo (speech levels,
pauses left out). For each, the canceller's ERLE just before they talk and while they talk, how many
of their voiced 10 ms frames it counted into ERLE, whether `auto` gave it up, and the mode shown at the end. Last, the
reference 2 s off (a canceller that cannot work): when `auto` gave way to the gate. Prints a JSON
report, then a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

import numpy as np

from voicecli.audio.echo import CANCELLER_RATE, FRAME_SAMPLES, AutoEcho, WebRtcCanceller
from voicecli.audio.resample import resample
from voicecli.server.synth import speak

REPLY = (
    "Once upon a time there was a little voice assistant that loved to talk about everything and nothing. "
    "It talked in the morning and in the evening, and it only stopped when somebody interrupted it."
)
VOICE = "Stop please, stop. I have another question for you."
VOICE_AT_S = 4.0


def at_rate(text: str) -> np.ndarray:
    return resample(np.asarray(speak(text)), 24_000, CANCELLER_RATE).astype(np.float32) / 32768


def room_echo(far: np.ndarray, delay_ms: int) -> np.ndarray:
    rate = CANCELLER_RATE
    rng = np.random.default_rng(3)
    tail = rng.standard_normal(rate // 20) * np.exp(-np.arange(rate // 20) / (rate * 0.01))
    response = np.zeros(rate * delay_ms // 1000 + len(tail))
    response[rate * delay_ms // 1000 :] += 0.3 * tail
    response[rate * delay_ms // 1000] += 1.0
    return (0.25 * np.convolve(far, response)[: len(far)]).astype(np.float32)


def frame_levels(samples: np.ndarray) -> np.ndarray:
    frames = samples[: len(samples) // FRAME_SAMPLES * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
    return np.mean(np.square(frames.astype(np.float64)), axis=1)


def speech_level_db(samples: np.ndarray) -> float:
    levels = frame_levels(samples)
    return float(10 * np.log10(np.mean(levels[levels > levels.max() * 1e-6])))


def run(near: np.ndarray, far: np.ndarray) -> tuple[list[Any], list[float | None], list[int]]:
    """After each frame: the status shown, the canceller's ERLE, and the frames it counted into ERLE so far."""
    echo = AutoEcho()
    canceller = echo._current  # the canceller `auto` started with, measured even after a fallback
    assert isinstance(canceller, WebRtcCanceller), "needs pywebrtc-audio"
    statuses, erle, measured = [], [], []
    for i in range(0, len(near) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        echo.process(near[i : i + FRAME_SAMPLES], far[i : i + FRAME_SAMPLES])
        statuses.append(echo.status)
        erle.append(canceller.meter.erle_db)
        measured.append(canceller.meter.active_frames)
    return statuses, erle, measured


def double_talk(far: np.ndarray, echo: np.ndarray, above_echo_db: float) -> dict[str, Any]:
    said = at_rate(VOICE)
    said *= 10 ** ((above_echo_db + speech_level_db(echo) - speech_level_db(said)) / 20)
    voice = np.zeros_like(far)
    start = int(VOICE_AT_S * CANCELLER_RATE)
    voice[start : start + len(said)] = said[: len(far) - start]
    statuses, erle, measured = run(echo + voice, far)
    voiced = [n for n, level in enumerate(frame_levels(voice)) if level > 1e-6 and n < len(statuses)]
    during = [erle[n] or 0.0 for n in voiced]
    gate = next((n for n, status in enumerate(statuses) if status.active == "gate"), None)
    return {
        "voice_above_echo_db": above_echo_db,
        "erle_before_db": round(erle[voiced[0] - 1] or 0.0, 1),
        "erle_while_talking_db": {"min": round(min(during), 1), "median": round(statistics.median(during), 1)},
        "voiced_frames_counted": f"{sum(measured[n] - measured[n - 1] for n in voiced)}/{len(voiced)}",
        "gate_after_voice_s": None if gate is None else round(gate / 100 - VOICE_AT_S, 2),
        "shown_at_end": statuses[-1].label(),
    }


def wrong_reference(far: np.ndarray, echo: np.ndarray) -> dict[str, Any]:
    statuses, _, _ = run(echo, np.roll(far, 2 * CANCELLER_RATE))
    fell_back = next((n for n, status in enumerate(statuses) if status.active == "gate"), None)
    return {
        "gate_after_s": None if fell_back is None else fell_back / 100,
        "shown_at_end": statuses[-1].label(),
        "note": statuses[-1].note,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=int, default=60)
    args = parser.parse_args()
    far = at_rate(REPLY)
    echo = room_echo(far, args.delay_ms)
    report = {
        "delay_ms": args.delay_ms,
        "double_talk": [double_talk(far, echo, db) for db in (6.0, 12.0)],
        "wrong_reference": wrong_reference(far, echo),
    }
    print(json.dumps(report, indent=2))
    quiet, wrong = report["double_talk"][0], report["wrong_reference"]
    print(
        f"summary: ERLE {quiet['erle_before_db']} dB before a talker 6 dB above the echo, "
        f"{quiet['erle_while_talking_db']['min']} dB at least while they talk "
        f"({quiet['voiced_frames_counted']} voiced frames counted), shown at the end: {quiet['shown_at_end']}; "
        f"wrong reference: gate after {wrong['gate_after_s']} s"
    )


if __name__ == "__main__":
    main()
