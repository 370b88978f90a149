"""Offline speech recognition benchmark (the local server's recognisers): a report, never a test.

Speaks the everyday corpus (tests/support/speech_corpus.py: 60 questions and commands) in three espeak-ng
voices and measures:
- word error rate and decoding time per turn, for Whisper tiny.en (the `speech` extra) and for
  pocketsphinx's free-form model, each decoding every sentence whole;
- end of speech → transcript through the local server (WebSocket, server VAD): the corpus streamed
  in real time, 20 ms per append, timed from the append that carried the last voiced audio and from
  `input_audio_buffer.speech_stopped` (the server's own end of speech) to the transcript;
- what the extra adds to the install (the distributions it brings in beyond voicecli's own) and the
  server process's RSS once Whisper is loaded.
Prints JSON, then a one-line summary. Run: `.venv/bin/python benchmarks/bench_recognition.py
[--voices en-us,en,en+f3] [--streamed 12]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from openai import AsyncOpenAI

from voicecli.server import UNPACED, LocalServer, recognition, recognition_whisper

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.speech_corpus import RATE, SENTENCES, VOICES, spoken, word_errors, words

CHUNK = RATE // 50  # 20 ms, as a microphone delivers it
TAIL_S = 1.0  # silence streamed after each sentence: room for the server's 500 ms of silence


def _p(values: list[float], share: float) -> float:
    return round(sorted(values)[min(len(values) - 1, int(share * len(values)))], 1)


def accuracy(name: str, decode: Any, speech: dict[tuple[str, str], np.ndarray]) -> dict[str, Any]:
    """WER and decoding milliseconds per turn of one recogniser over every (sentence, voice)."""
    errors, total, times, wrong = 0, 0, [], []
    for (sentence, voice), pcm in speech.items():
        started = time.perf_counter()
        heard = decode(pcm.tobytes())
        times.append(1000 * (time.perf_counter() - started))
        mistakes = word_errors(sentence, heard)
        errors += mistakes
        total += len(words(sentence))
        if mistakes:
            wrong.append(f"[{voice}] {sentence} → {heard}")
    return {
        "recogniser": name,
        "wer_percent": round(100 * errors / total, 1),
        "turns": len(speech),
        "exact_turns": len(speech) - len(wrong),
        "decode_ms_p50": _p(times, 0.5),
        "decode_ms_p95": _p(times, 0.95),
        "misheard": wrong,
    }


def pocketsphinx_free(pcm: bytes) -> str:
    result = recognition._threads().submit(recognition._recognise, pcm, [], True).result()
    return result.text if result is not None else ""


async def streamed(server: LocalServer, speech: list[tuple[str, np.ndarray]]) -> dict[str, Any]:
    """Stream each turn in real time with server VAD; time the transcript from the end of speech."""
    client = AsyncOpenAI(api_key="bench", websocket_base_url=server.ws_base_url)
    from_voice, from_stopped, to_audio, errors, total = [], [], [], 0, 0
    async with client.realtime.connect(model="bench") as connection:
        detection = {"type": "server_vad", "create_response": True, "silence_duration_ms": 500}
        await connection.session.update(
            session={
                "type": "realtime",
                "audio": {"input": {"turn_detection": detection, "transcription": {"model": "whisper-1"}}},
            }
        )
        for sentence, pcm in speech:
            audio = np.concatenate([pcm, np.zeros(int(TAIL_S * RATE), np.int16)])
            last_voice = int(np.flatnonzero(np.abs(pcm) > 300)[-1])
            times: dict[str, float] = {}
            transcript: list[str] = []
            reader = asyncio.create_task(_await_transcript(connection, times, transcript))
            began = time.perf_counter()
            for offset in range(0, len(audio), CHUNK):
                await asyncio.sleep(max(0.0, began + offset / RATE - time.perf_counter()))
                chunk = audio[offset : offset + CHUNK]
                await connection.input_audio_buffer.append(audio=base64.b64encode(chunk.tobytes()).decode())
                if offset <= last_voice < offset + CHUNK:
                    times["voice_ended"] = time.perf_counter()
            await asyncio.wait_for(reader, 30)
            from_voice.append(1000 * (times["completed"] - times["voice_ended"]))
            from_stopped.append(1000 * (times["completed"] - times["stopped"]))
            to_audio.append(1000 * (times["first_audio"] - times["voice_ended"]))
            errors += word_errors(sentence, transcript[0])
            total += len(words(sentence))
    return {
        "turns": len(speech),
        "wer_percent": round(100 * errors / total, 1),
        "speech_stopped_to_transcript_ms_p50": _p(from_stopped, 0.5),
        "speech_stopped_to_transcript_ms_p95": _p(from_stopped, 0.95),
        "last_voice_to_transcript_ms_p50": _p(from_voice, 0.5),
        "last_voice_to_transcript_ms_p95": _p(from_voice, 0.95),
        "last_voice_to_first_reply_audio_ms_p50": _p(to_audio, 0.5),
        "last_voice_to_first_reply_audio_ms_p95": _p(to_audio, 0.95),
    }


async def _await_transcript(connection: Any, times: dict[str, float], transcript: list[str]) -> None:
    """Note when the turn ended, its transcript came and the echo's first audio; return at response.done."""
    async for event in connection:
        now = time.perf_counter()
        if event.type == "input_audio_buffer.speech_stopped":
            times["stopped"] = now
        elif event.type in (
            "conversation.item.input_audio_transcription.completed",
            "conversation.item.input_audio_transcription.failed",
        ):
            times["completed"] = now
            transcript.append(getattr(event, "transcript", "") or "")
        elif event.type == "response.output_audio.delta":
            times.setdefault("first_audio", now)
        elif event.type == "response.done":
            return


def extra_install_mb() -> dict[str, Any]:
    """Disk taken by the distributions the `speech` extra brings beyond voicecli's own requirements."""
    base = _closure(["voicecli"], with_extras=False)
    extra = _closure([_name(r) for r in metadata.requires("voicecli") or () if 'extra == "speech"' in r]) - base
    sizes = {name: sum(f.size or 0 for f in metadata.distribution(name).files or ()) / 1e6 for name in sorted(extra)}
    return {"extra_install_mb": round(sum(sizes.values()), 1), "extra_distributions_mb": _rounded(sizes)}


def _rounded(sizes: dict[str, float]) -> dict[str, float]:
    return {name: round(size, 1) for name, size in sorted(sizes.items(), key=lambda item: -item[1])}


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: list[str], with_extras: bool = False) -> set[str]:
    seen: set[str] = set()
    while names:
        name = names.pop()
        if name in seen:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        names += [_name(r) for r in requires if with_extras or "extra ==" not in r]
    return seen


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default=",".join(VOICES))
    parser.add_argument("--streamed", type=int, default=12, help="sentences streamed through the server per voice")
    parser.add_argument("--no-accuracy", action="store_true", help="only the streamed turns (and sizes)")
    args = parser.parse_args()
    voices = args.voices.split(",")
    speech = {(sentence, voice): spoken(sentence, voice) for voice in voices for sentence in SENTENCES}
    report: dict[str, Any] = {"load_average_1min": round(os.getloadavg()[0], 2), "rss_mb_before": round(rss_mb(), 1)}
    for loading in recognition.warm_up():
        loading.result()
    report["rss_mb_recognisers_loaded"] = round(rss_mb(), 1)
    if recognition_whisper.available():
        report.update(extra_install_mb())
    if not args.no_accuracy:
        if recognition_whisper.available():
            report["whisper"] = accuracy("whisper tiny.en int8", recognition_whisper.decode, speech)
        report["pocketsphinx"] = accuracy("pocketsphinx free-form", pocketsphinx_free, speech)
    turns = [(sentence, speech[sentence, voice]) for voice in voices for sentence in SENTENCES[: args.streamed]]
    async with LocalServer(brain="echo", pacing=UNPACED) as server:  # recognition, not the pacing
        report["streamed"] = await streamed(server, turns)
    report["rss_mb_after"] = round(rss_mb(), 1)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    stream = report["streamed"]
    best = report.get("whisper", report.get("pocketsphinx"))
    accuracy_line = ""
    if best is not None:
        accuracy_line = (
            f"{best['recogniser']}: WER {best['wer_percent']} % over {best['turns']} turns ({len(voices)} voices), "
            f"decode p50 {best['decode_ms_p50']} ms; pocketsphinx free-form WER "
            f"{report['pocketsphinx']['wer_percent']} %; "
        )
    print(
        f"{accuracy_line}streamed: speech_stopped → transcript p50 {stream['speech_stopped_to_transcript_ms_p50']} ms, "
        f"last voice → transcript p50 {stream['last_voice_to_transcript_ms_p50']} ms, → first reply audio p50 "
        f"{stream['last_voice_to_first_reply_audio_ms_p50']} ms; "
        f"extra {report.get('extra_install_mb', 0)} MB; RSS {report['rss_mb_after']} MB "
        f"(load {report['load_average_1min']})"
    )


if __name__ == "__main__":
    asyncio.run(main())
