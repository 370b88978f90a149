"""How soon local barge-in's trigger hears a person over the reply on speakers, without devices.

Run by hand, as a report, never as a timed assert:
    .venv/bin/python benchmarks/bench_trigger_on_speakers.py [--no-guard]
bench_double_talk's synthetic room (a 60 ms echo at -12 dB with a reverb tail) plays the reply; a
person talks over it 6 or 12 dB above the echo, from 4, 4.5 or 5 s on, with two phrases ("stop
please…" starts with a hiss). Through the capture's own path with `aec`, each 10 ms frame goes to the
trigger (`FastOnset`); the figure is the end of the first frame it takes for sound, after the
person's first sample above -40 dBFS peak. `--no-guard` switches the canceller's leak guard off, to
show what it costs: it silences frames AEC3 reduced by less than 20 dB unless they are 6 dB over the
echo's peak, and a voice's soft onset is such a frame.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from bench_double_talk import REPLY, at_rate, speech_level_db
from bench_false_ducks import room_echo
from stats import summary

from voicecli.audio import echo as echo_module
from voicecli.audio.capture_path import CapturePath
from voicecli.audio.echo import CANCELLER_RATE, FRAME_SAMPLES
from voicecli.audio.fast_onset import FastOnset
from voicecli.audio.pcm import to_int16

PHRASES = ("stop please, stop, I want to ask something else", "no, wait, I have another question")


def trigger_after_ms(near: np.ndarray, far: np.ndarray, onset: int) -> float | None:
    path, trigger = CapturePath(CANCELLER_RATE, CANCELLER_RATE, "aec"), FastOnset()
    for start in range(0, near.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        out = to_int16(path.process(near[start : start + FRAME_SAMPLES], far[start : start + FRAME_SAMPLES]))
        if trigger.heard(out) and start + FRAME_SAMPLES > onset:
            return (start + FRAME_SAMPLES - onset) * 1000 / CANCELLER_RATE
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-guard", action="store_true", help="measure without the canceller's leak guard")
    args = parser.parse_args()
    if args.no_guard:
        echo_module.GUARD_MIN_REDUCTION_DB = -1000.0  # no frame is ever reduced that little: never guarded
    far = at_rate(REPLY)
    echo = room_echo(far, 60)
    rows = []
    for text in PHRASES:
        for above_db in (6.0, 12.0):
            said = at_rate(text)
            said *= 10 ** ((above_db + speech_level_db(echo) - speech_level_db(said)) / 20)
            for at_s in (4.0, 4.5, 5.0):
                start = int(at_s * CANCELLER_RATE)
                voice = np.zeros_like(far)
                voice[start : start + said.size] = said[: far.size - start]
                onset = start + int(np.flatnonzero(np.abs(said) > 0.01)[0])
                after = trigger_after_ms(to_int16(echo + voice), to_int16(far), onset)
                rows.append({"phrase": text[:12], "above_echo_db": above_db, "at_s": at_s, "trigger_after_ms": after})
    found = [row["trigger_after_ms"] for row in rows if row["trigger_after_ms"] is not None]
    print(json.dumps({"guard": not args.no_guard, "trigger_after_onset_ms": summary(found), "trials": rows}))


if __name__ == "__main__":
    main()
