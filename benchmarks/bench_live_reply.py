"""Live reply time: end of a spoken question at the microphone → first reply audio at the speaker.

    .venv/bin/python benchmarks/bench_live_reply.py [--questions 12] [--first-audio-ms 500]

Runs `voicecli talk` as a user does (embedded local server, echo brain, live mode on a private
PulseAudio's null sinks) and asks it questions from the speech corpus (espeak-ng, en-us). One clock:
each question is played into a combine sink feeding both the virtual microphone and the speaker's
sink, so one recording of `vspeaker.monitor` holds the question and then the reply; the figure is
the gap between the question's last loud sample and the reply's first. The talk process's event
log splits it: end of question → `speech_stopped` received (server VAD's silence + transport),
`speech_stopped` → first `response.output_audio.delta` (recognition, brain, the server's
first-audio pacing), that delta → sound at the speaker (client playout). `--first-audio-ms 0` takes
the server's service-like first-audio delay out. Prints JSON, then a one-line summary; a report,
never a timed assert.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from bench_live import start_pulse
from stats import summary

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support.audio import LOUD  # noqa: E402  (shared with the tests)
from support.speech_corpus import RATE, SENTENCES, spoken  # noqa: E402

BOTH = "vboth"
"""A combine sink playing into the microphone and the speaker's sink at once: the question is on the speaker's clock."""


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def received(log: list[dict[str, Any]], event_type: str, after: float) -> float | None:
    """The monotonic time of the first `event_type` received after `after`, or None."""
    return next((r["mono"] for r in log if r["type"] == event_type and r["dir"] == "in" and r["mono"] > after), None)


def quiet_at_the_end(raw: Path, seconds: float) -> bool:
    """Whether the last `seconds` of a recording so far are below LOUD."""
    data = raw.read_bytes()
    tail = np.frombuffer(data[: len(data) // 2 * 2][-int(seconds * RATE) * 2 :], dtype=np.int16)
    return len(tail) == int(seconds * RATE) and not (np.abs(tail.astype(np.int32)) > LOUD).any()


def wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def start_talk(tmp: Path, first_audio_ms: int) -> tuple[subprocess.Popen[str], Path]:
    config = tmp / "bench.toml"
    config.write_text(f'[local]\nbrain = "echo"\nfirst_audio_ms = {first_audio_ms}\n')
    log = tmp / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "VOICECLI_"))}
    talk = subprocess.Popen(
        [sys.executable, "-m", "voicecli", "talk", "--provider", "local", "--config", str(config),
         "--json-events", str(log)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    if not wait(lambda: any(r["type"] == "session.updated" for r in events(log)) or talk.poll() is not None, 60):
        sys.exit("bench_live_reply: voicecli talk did not start a session")
    if talk.poll() is not None:
        sys.exit(f"bench_live_reply: voicecli talk ended: {talk.communicate()[1].strip()[-300:]}")
    time.sleep(3)  # Whisper loads in the background; its first decoding is not what a user waits for each turn
    return talk, log


def ask(question: np.ndarray, wav: Path, raw: Path, log_path: Path) -> dict[str, float] | None:
    """Play one question, record until the reply has played; the split of the time, or None if no reply."""
    soundfile.write(wav, question, RATE)
    recorder = subprocess.Popen(
        ["parec", "-d", "vspeaker.monitor", "--raw", "--format=s16le", "--channels=1", f"--rate={RATE}",
         "--latency-msec=10"],
        stdout=raw.open("wb"),
    )  # fmt: skip
    wait(lambda: raw.stat().st_size > 0, 10)
    started = time.monotonic()
    subprocess.run(["paplay", "-d", BOTH, str(wav)], check=True)
    replied = wait(lambda: received(events(log_path), "response.done", started) is not None, 30)
    # The reply is generated faster than it plays: the next question waits until the speaker is quiet,
    # or its recording would start with this reply's tail.
    wait(lambda: quiet_at_the_end(raw, seconds=0.8), 30)
    recorder.terminate()
    recorder.wait()
    if not replied:
        return None
    recorded = np.frombuffer(raw.read_bytes(), dtype=np.int16).astype(np.int32)
    loud = np.flatnonzero(np.abs(recorded) > LOUD)
    own = np.flatnonzero(np.abs(question.astype(np.int32)) > LOUD)
    question_end = int(loud[0]) + int(own[-1] - own[0])
    reply = loud[loud > question_end + RATE // 20]
    if not reply.size:
        return None
    log = events(log_path)
    stopped = received(log, "input_audio_buffer.speech_stopped", started)
    first_delta = received(log, "response.output_audio.delta", started)
    total_ms = (int(reply[0]) - question_end) * 1000 / RATE
    split: dict[str, float] = {"end_of_question_to_first_reply_audio_ms": total_ms}
    if stopped is not None and first_delta is not None:
        server_ms = (first_delta - stopped) * 1000
        transcript = received(log, "conversation.item.input_audio_transcription.completed", started)
        created = received(log, "response.created", started)
        split["speech_stopped_to_first_delta_ms"] = server_ms
        if created is not None:
            split["speech_stopped_to_response_created_ms"] = (created - stopped) * 1000
            split["response_created_to_first_delta_ms"] = (first_delta - created) * 1000
        if transcript is not None:
            split["speech_stopped_to_transcript_ms"] = (transcript - stopped) * 1000
        # The rest: the VAD's silence before speech_stopped, plus the delta's way to the speaker.
        split["vad_silence_and_playout_ms"] = total_ms - server_ms
    return split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--first-audio-ms", type=int, default=500, help="the embedded server's first-audio delay")
    args = parser.parse_args()
    if any(shutil.which(tool) is None for tool in ("pulseaudio", "parec", "paplay", "espeak-ng")):
        sys.exit("bench_live_reply: needs pulseaudio, pulseaudio-utils and espeak-ng")
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-reply-"))
    start_pulse(tmp)
    subprocess.run(
        ["pactl", "load-module", "module-combine-sink", f"sink_name={BOTH}", "slaves=vmic,vspeaker"],
        check=True, capture_output=True,
    )  # fmt: skip
    talk, log = start_talk(tmp, args.first_audio_ms)
    trials = []
    try:
        for n, sentence in enumerate(SENTENCES[: args.questions]):
            split = ask(spoken(sentence, "en-us"), tmp / "q.wav", tmp / f"rec{n}.raw", log)
            if split is not None:
                trials.append(split)
            time.sleep(0.5)
    finally:
        talk.terminate()
        talk.wait()
        subprocess.run(["pactl", "exit"], capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    keys = sorted({key for trial in trials for key in trial})
    report = {
        "questions": args.questions,
        "replied": len(trials),
        "first_audio_ms_setting": args.first_audio_ms,
        "load_1min": os.getloadavg()[0],
        **{key: summary([t[key] for t in trials if key in t]) for key in keys},
        "trials": [{key: round(value, 1) for key, value in trial.items()} for trial in trials],
    }
    print(json.dumps(report, indent=2))
    total = report["end_of_question_to_first_reply_audio_ms"]
    print(
        f"live reply (first audio delay {args.first_audio_ms} ms): end of question → first reply audio "
        f"{total['median']} ms median, p95 {total['p95']} ms over {len(trials)} questions; "
        f"speech_stopped → first delta {report['speech_stopped_to_first_delta_ms']['median']} ms median"
    )


if __name__ == "__main__":
    main()
