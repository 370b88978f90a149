"""False ducks of local barge-in while the assistant talks and nobody else does, without devices, at speed.

Run by hand, as a report, never as a timed assert:
    .venv/bin/python benchmarks/bench_false_ducks.py [--minutes 10] [--delay-ms 60] [--level-dbfs -40]
Replies (espeak, six texts in turn, 1-3 s apart) play into bench_double_talk's synthetic room
(the echo `--delay-ms` late at -12 dB with a 50 ms reverb tail, plus a microphone's noise floor at
-65 dBFS), through the capture's own path with `aec` (WebRTC AEC3 and its guard, 32 kHz → 24 kHz),
into `LocalBargeIn` as `voicecli talk` wires it: each 10 ms frame to the trigger, each 20 ms chunk
to Silero and the judge. Counts the trigger's ducks (each one an audible dip of the reply, undone
within 200 ms when Silero hears no voice), those Silero confirmed (a dip of up to a second), and the
reply stopped; per 10 minutes of reply. The room has no device glitches: on real devices an
underrun moves the echo in time and the canceller leaks for a moment (`bench_barge_in_onset.py
--rig` plays through real PulseAudio streams).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from voicecli.audio.capture_path import CapturePath
from voicecli.audio.echo import CANCELLER_RATE, FRAME_SAMPLES
from voicecli.audio.fast_onset import FastOnset
from voicecli.audio.pcm import to_int16
from voicecli.audio.resample import resample
from voicecli.conversation.barge_in import Action, BargeInRules
from voicecli.conversation.local_barge_in import DUCK_GAIN, LocalBargeIn
from voicecli.server.synth import speak

REPLIES = (
    "Once upon a time there was a little voice assistant that loved to talk about everything and nothing.",
    "The weather tomorrow will be sunny in the morning, with some clouds and a light breeze after noon.",
    "Sure! Here are three ideas: a walk by the river, a visit to the market, or a quiet afternoon reading.",
    "Hmm, let me think. Seven times eight is fifty-six, and fifty-six plus twelve makes sixty-eight.",
    "Absolutely. The train leaves at ten past nine from platform four; buy the ticket before you board.",
    "I see what you mean. Shall I read the list again, slowly this time, one item after the other?",
)
NOISE_DBFS = -65.0


def reply_audio(minutes: float) -> np.ndarray:
    """`minutes` of replies at the canceller's rate (float32, -1..1), each followed by 1-3 s of quiet."""
    rng = np.random.default_rng(1)
    voices = [resample(np.asarray(speak(text)), 24_000, CANCELLER_RATE) for text in REPLIES]
    parts, total, index = [], 0, 0
    while total < minutes * 60 * CANCELLER_RATE:
        voice = voices[index % len(voices)]
        gap = np.zeros(int(rng.uniform(1.0, 3.0) * CANCELLER_RATE), np.int16)
        parts += [voice, gap]
        total += voice.size + gap.size
        index += 1
    return np.concatenate(parts).astype(np.float32) / 32768


def room_echo(far: np.ndarray, delay_ms: int) -> np.ndarray:
    """bench_double_talk's room (the same impulse response), convolved block by block through the FFT:
    ten minutes in seconds rather than an hour."""
    rate, block = CANCELLER_RATE, 1 << 16
    tail = np.random.default_rng(3).standard_normal(rate // 20) * np.exp(-np.arange(rate // 20) / (rate * 0.01))
    response = np.zeros(rate * delay_ms // 1000 + len(tail))
    response[rate * delay_ms // 1000 :] += 0.3 * tail
    response[rate * delay_ms // 1000] += 1.0
    size = 1 << int(np.ceil(np.log2(block + response.size)))
    spectrum = np.fft.rfft(response, size)
    out = np.zeros(far.size + size)
    for start in range(0, far.size, block):
        part = np.fft.irfft(np.fft.rfft(far[start : start + block], size) * spectrum, size)
        out[start : start + size] += part
    return (0.25 * out[: far.size]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--delay-ms", type=int, default=60)
    parser.add_argument("--level-dbfs", type=float, default=None, help="the trigger's absolute level")
    args = parser.parse_args()
    far = reply_audio(args.minutes)
    noise = np.random.default_rng(2).standard_normal(far.size).astype(np.float32) * 10 ** (NOISE_DBFS / 20)
    near = room_echo(far, args.delay_ms) + noise
    far16, near16 = to_int16(far), to_int16(near)
    loud = np.cumsum(np.abs(far16) > 100)  # in a reply: sound within 250 ms either side (its pauses count)
    reach = CANCELLER_RATE // 4
    ahead, behind = (
        np.minimum(np.arange(far16.size) + reach, far16.size - 1),
        np.maximum(np.arange(far16.size) - reach, 0),
    )
    playing = loud[ahead] > loud[behind]

    gains: list[float] = []
    local = LocalBargeIn(BargeInRules(), gains.append, playing=lambda: speaking)
    if args.level_dbfs is not None:
        local._trigger = FastOnset(level_dbfs=args.level_dbfs)
    path = CapturePath(CANCELLER_RATE, CANCELLER_RATE, "aec")
    chunk: list[np.ndarray] = []
    confirmed = stopped = 0
    speaking = False
    started = time.process_time()
    for index, start in enumerate(range(0, near16.size - FRAME_SAMPLES + 1, FRAME_SAMPLES)):
        now = index / 100
        speaking = bool(playing[start])
        pcm = to_int16(path.process(near16[start : start + FRAME_SAMPLES], far16[start : start + FRAME_SAMPLES]))
        local.frame_heard(pcm, now)
        chunk.append(pcm)
        if len(chunk) == 2:
            action = local.hear(np.concatenate(chunk), now - 0.01, assistant_speaking=speaking)
            confirmed += action is Action.DUCK
            stopped += action is Action.STOP
            chunk.clear()
    cpu = time.process_time() - started
    minutes = far.size / CANCELLER_RATE / 60
    per_10 = 10 / minutes
    ducks = sum(1 for was, gain in zip([1.0, *gains], gains, strict=False) if gain == DUCK_GAIN and was != gain)
    report = {
        "minutes_of_audio": round(minutes, 1),
        "minutes_of_reply": round(float(np.mean(playing)) * minutes, 1),
        "delay_ms": args.delay_ms,
        "trigger_ducks": ducks,
        "of_them_unconfirmed_undone": local.unconfirmed_ducks,
        "silero_confirmed": confirmed,
        "reply_stopped": stopped,
        "ducks_per_10_minutes": round(ducks * per_10, 2),
        "cpu_s": round(cpu, 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
