"""Offline speech recognition benchmark (the local server's pocketsphinx): a report, never a test.

Speaks 20 fixed sentences with espeak-ng and measures:
- word error rate, free-form (the bundled language model) and with a grammar of the 20 sentences;
- recognition time per second of speech in each mode (one decoder, on one thread);
- what recognition adds between `input_audio_buffer.commit` and the first reply audio: the same
  spoken turns against the local server with the sentences as transcription keywords (grammar), and
  with recognition switched off, the difference of the medians.
Prints JSON, then a one-line summary. Run: `.venv/bin/python benchmarks/bench_recognition.py`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import time
from typing import Any

import numpy as np
from openai import AsyncOpenAI

from voicecli.commands.demo.inputs import speak
from voicecli.server import UNPACED, LocalServer, recognition

SENTENCES = (
    "What time is it in Tokyo?",
    "What is the weather like in Paris today?",
    "Hello, who are you?",
    "Turn on the kitchen lights.",
    "Tell me a joke.",
    "Please book a table for two at seven.",
    "How far is the moon from the earth?",
    "Can you hear me?",
    "Set a timer for ten minutes.",
    "Play some music in the living room.",
    "What is the capital of Germany?",
    "Remind me to call my mother tomorrow.",
    "How do I get to the train station?",
    "Read me the news.",
    "What is two plus two?",
    "Send a message to John.",
    "Is it going to rain this afternoon?",
    "Stop the music.",
    "Good morning, how are you?",
    "Thank you very much.",
)
RATE = 24_000
TURN_ROUNDS = 2  # spoken turns per sentence and mode for the latency figure


def word_errors(reference: str, hypothesis: str) -> int:
    """Word-level edit distance (substitutions, insertions, deletions)."""
    ref, hyp = recognition.normalise(reference).split(), recognition.normalise(hypothesis).split()
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, heard in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != heard))
    return row[-1]


async def accuracy(speech: list[np.ndarray]) -> dict[str, Any]:
    recognition.warm_up().result()  # type: ignore[union-attr]  # load the decoder outside the timing
    words = sum(len(recognition.normalise(s).split()) for s in SENTENCES)
    report: dict[str, Any] = {"sentences": len(SENTENCES), "words": words}
    for mode, phrases in (("free", ()), ("grammar", SENTENCES)):
        errors, seconds, heard = 0, [], []
        for sentence, pcm in zip(SENTENCES, speech, strict=True):
            started = time.perf_counter()
            result = await recognition.recognise(pcm.tobytes(), phrases)
            seconds.append((time.perf_counter() - started) / (len(pcm) / RATE))
            assert result is not None
            errors += word_errors(sentence, result.text)
            heard.append(result.text)
        report[mode] = {
            "wer_percent": round(100 * errors / words, 1),
            "seconds_per_speech_second_p50": round(statistics.median(seconds), 3),
            "seconds_per_speech_second_max": round(max(seconds), 3),
            "heard": heard,
        }
    return report


async def commit_to_first_audio(server: LocalServer, speech: list[np.ndarray], keywords: list[str]) -> list[float]:
    """Milliseconds from sending `input_audio_buffer.commit` to the first reply audio delta."""
    client = AsyncOpenAI(api_key="bench", websocket_base_url=server.ws_base_url)
    timings: list[float] = []
    async with client.realtime.connect(model="bench") as connection:
        transcription: dict[str, Any] = {"model": "pocketsphinx", "keywords": keywords}
        await connection.session.update(
            session={"type": "realtime", "audio": {"input": {"turn_detection": None, "transcription": transcription}}}
        )
        for _ in range(TURN_ROUNDS):
            for pcm in speech:
                await connection.input_audio_buffer.append(audio=base64.b64encode(pcm.tobytes()).decode())
                started = time.perf_counter()
                await connection.input_audio_buffer.commit()
                await connection.response.create()
                first: float | None = None
                async for event in connection:
                    if event.type == "response.output_audio.delta" and first is None:
                        first = 1000 * (time.perf_counter() - started)
                    if event.type == "response.done":
                        break
                if first is not None:
                    timings.append(first)
    return timings


async def latency(speech: list[np.ndarray]) -> dict[str, float]:
    async with LocalServer(brain="echo", pacing=UNPACED) as server:  # recognition alone, not the pacing
        with_grammar = await commit_to_first_audio(server, speech, list(SENTENCES))
        available = recognition.available
        recognition.available = lambda: False  # type: ignore[assignment]  # the server as it was before
        try:
            without = await commit_to_first_audio(server, speech, [])
        finally:
            recognition.available = available
    return {
        "commit_to_first_audio_ms_p50_grammar": round(statistics.median(with_grammar), 1),
        "commit_to_first_audio_ms_p50_without_recognition": round(statistics.median(without), 1),
        "added_by_recognition_ms_p50": round(statistics.median(with_grammar) - statistics.median(without), 1),
        "commit_to_first_audio_ms_p95_grammar": round(sorted(with_grammar)[int(0.95 * len(with_grammar))], 1),
    }


async def main() -> None:
    speech = [speak(sentence, "benchmark") for sentence in SENTENCES]
    report = {
        "load_average_1min": round(os.getloadavg()[0], 2),
        **await accuracy(speech),
        **await latency(speech),
    }
    print(json.dumps(report, indent=2))
    print(
        f"WER free-form {report['free']['wer_percent']} %, grammar {report['grammar']['wer_percent']} % "
        f"on {report['sentences']} sentences; recognition {report['free']['seconds_per_speech_second_p50']} s "
        f"(free) / {report['grammar']['seconds_per_speech_second_p50']} s (grammar) per second of speech; "
        f"commit → first audio +{report['added_by_recognition_ms_p50']} ms with a grammar "
        f"(load {report['load_average_1min']})"
    )


if __name__ == "__main__":
    asyncio.run(main())
