"""Free speech understood by the local server (Whisper, the `speech` extra), and the server without it.

The sentences come from the everyday corpus (tests/support/speech_corpus.py), spoken by espeak-ng at test
time; a few short ones, since Whisper takes a few hundred ms per turn on a small machine (the word
error rate over the whole corpus is benchmarks/bench_recognition.py's). The words of a turn may be
one off ("cats" heard as "cars"), so these tests allow one wrong word, never a garbled sentence.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import logging
from concurrent.futures import Future
from typing import Any

import numpy as np
import pytest
import soxr
from support.speech_corpus import RATE, espeak_missing, spoken, word_errors
from support.system_tools import unavailable
from test_server_ws import Peer, appends, openai_peer

from voicecli.conversation.exchange import exchange
from voicecli.realtime import OpenAIRealtimeWebRTC, RealtimeSettings
from voicecli.server import LocalServer, recognition, recognition_stream, recognition_whisper

pytestmark = pytest.mark.timeout(60)

QUESTION = "What is the capital of Germany?"
COMMAND = "Turn on the kitchen lights."


@pytest.fixture(scope="module")
def whisper() -> None:
    """Go on only where the speech extra and espeak-ng are installed."""
    if not recognition_whisper.available():
        unavailable("the speech extra is not installed (pip install -e '.[speech]')")
    if reason := espeak_missing():
        unavailable(reason)


async def spoken_turn(peer: Peer, pcm: np.ndarray) -> dict[str, Any]:
    """Send one turn with server VAD, in 20 ms appends, and return its transcription event."""
    session = {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
    await peer.send({"type": "session.update", "session": session})
    await peer.expect("session.updated")
    stream = np.concatenate([np.zeros(RATE // 4, np.int16), pcm, np.zeros(RATE, np.int16)])
    for append in appends(stream):
        await peer.send(append)
    events = await peer.until("conversation.item.input_audio_transcription.completed", timeout=30)
    return events[-1]


async def test_free_speech_is_understood_over_websocket_decoded_while_spoken(
    whisper: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Future[str] | None] = []
    recognise = recognition.recognise

    async def watched(pcm: bytes, phrases: Any = (), **kwargs: Any) -> Any:
        started.append(kwargs.get("started"))
        return await recognise(pcm, phrases, **kwargs)

    monkeypatch.setattr(recognition, "recognise", watched)
    async with LocalServer(brain="echo") as server, openai_peer(server) as peer:
        await peer.expect("session.created")
        completed = await spoken_turn(peer, spoken(QUESTION, "en-us"))
    assert word_errors(QUESTION, completed["transcript"]) <= 1, completed["transcript"]
    assert len(started) == 1 and started[0] is not None, "the turn was decoded from its pause on, not at commit"


async def test_free_speech_is_understood_over_webrtc(whisper: None) -> None:
    async with LocalServer(brain="echo") as server:
        client = OpenAIRealtimeWebRTC(api_key="sk-test", base_url=server.http_url + "/v1")
        async with client(settings=RealtimeSettings(output_modalities=["text"], push_to_talk=True)):
            result = await exchange(client, audio=spoken(COMMAND, "en+f3"), timeout_s=30)
    assert result.failed is None, result.failed
    said = result.assistant_text.partition("You said: ")[2]  # "I heard 1.6 seconds of audio. You said: …"
    assert word_errors(COMMAND, said) <= 1, result.assistant_text


def test_a_turn_longer_than_whisper_s_window_is_decoded_to_its_end(whisper: None) -> None:
    gap = np.zeros(15 * RATE, np.int16)
    turn = np.concatenate([spoken("Stop the music.", "en-us"), gap, gap, spoken("Open the garage door.", "en-us")])
    assert len(turn) > 31 * RATE  # past the 30 s window
    heard = recognition_whisper.decode(turn.tobytes())
    assert word_errors("Stop the music. Open the garage door.", heard) <= 1, heard


def test_the_encoder_s_margin_is_silence_as_whisper_hears_it_not_zeros_in_the_log_mel(whisper: None) -> None:
    """Zeros in the log-mel read as a steady noise, after which Whisper repeated the turn's first words."""
    model, _ = recognition_whisper._loaded()
    audio = soxr.resample(spoken(COMMAND, "en-us").astype(np.float32) / 32768, RATE, 16_000)
    window = recognition_whisper.encoder_window(model.feature_extractor, audio)[0]
    margin = window[:, -int(recognition_whisper.WINDOW_MARGIN_S * 100) + 10 :]  # 10 frames past the speech's tail
    assert np.allclose(margin, window.min()), "the margin is not the log-mel floor of silent audio"
    heard = recognition_whisper.decode(spoken(COMMAND, "en-us").tobytes())
    assert word_errors(COMMAND, heard) == 0, heard  # was "Turn on the kitchen lights. Turn on The"


async def test_expected_phrases_still_come_from_the_grammar_as_written(whisper: None) -> None:
    phrase = "Set a timer for ten minutes."  # Whisper alone writes "10 minutes"
    heard = await recognition.recognise(spoken(phrase, "en").tobytes(), [phrase, "Stop the music."])
    assert heard == recognition.Recognition(phrase, "grammar")


# --- decoding while the user speaks (the rule, without a model) -------------------------------------


class CountingDecoder:
    """Stands in for `recognition_whisper.submit`: records what it was given, answers at once (or,
    when `busy`, not: as a decoding still waiting its turn)."""

    def __init__(self) -> None:
        self.given: list[bytes] = []
        self.futures: list[Future[str]] = []
        self.busy = False

    def __call__(self, pcm: bytes) -> Future[str]:
        self.given.append(pcm)
        self.futures.append(Future())
        if not self.busy:
            self.futures[-1].set_result(f"decoding {len(self.given)}")
        return self.futures[-1]


def voice(ms: int) -> bytes:
    t = np.arange(RATE * ms // 1000) / RATE
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()


def quiet(ms: int) -> bytes:
    return bytes(2 * RATE * ms // 1000)


def fed(listening: recognition_stream.Listening, pieces: list[bytes]) -> bytes:
    """Hear `pieces` as 20 ms appends would bring them; the input buffer they make up."""
    buffer = bytearray()
    for piece in pieces:
        for start in range(0, len(piece), 2 * RATE // 50):
            chunk = piece[start : start + 2 * RATE // 50]
            buffer += chunk
            listening.hear(chunk, functools.partial(bytes, buffer))
    return bytes(buffer)


@pytest.fixture
def decoder(monkeypatch: pytest.MonkeyPatch) -> CountingDecoder:
    counting = CountingDecoder()
    monkeypatch.setattr(recognition_whisper, "available", lambda: True)
    monkeypatch.setattr(recognition_whisper, "submit", counting)
    return counting


def test_a_pause_starts_the_decoding_that_the_committed_turn_uses(decoder: CountingDecoder) -> None:
    listening = recognition_stream.Listening()
    heard = fed(listening, [quiet(200), voice(800), quiet(200)])
    assert len(decoder.given) == 1 and decoder.given[0] == heard[: len(decoder.given[0])]
    turn = heard + quiet(400)  # the turn detection commits after more silence
    started = listening.decoding_for(turn)
    assert started is not None and started.result() == "decoding 1"


def test_speech_after_the_pause_means_the_turn_is_decoded_again(decoder: CountingDecoder) -> None:
    listening = recognition_stream.Listening()
    heard = fed(listening, [voice(500), quiet(200), voice(300)])
    assert len(decoder.given) == 1  # at the pause; the speech that followed is not in it
    assert listening.decoding_for(heard) is None


def test_a_pause_after_more_speech_starts_a_new_decoding_without_waiting_for_the_stale_one(
    decoder: CountingDecoder,
) -> None:
    decoder.busy = True  # the decodings wait in the queue: the stale one must not hold the new one up
    listening = recognition_stream.Listening()
    heard = fed(listening, [voice(500), quiet(200), voice(300), quiet(150)])
    assert len(decoder.given) == 2 and len(decoder.given[1]) > len(decoder.given[0])
    assert decoder.futures[0].cancelled(), "the stale decoding is dropped before it begins"
    assert listening.decoding_for(heard + quiet(300)) is decoder.futures[1]


def test_a_cleared_buffer_drops_its_waiting_decoding(decoder: CountingDecoder) -> None:
    decoder.busy = True
    listening = recognition_stream.Listening()
    fed(listening, [voice(400), quiet(200)])
    listening.forget(cancel=True)
    assert decoder.futures[0].cancelled()


def test_no_decoding_without_speech_nor_for_a_turn_after_a_commit(decoder: CountingDecoder) -> None:
    listening = recognition_stream.Listening()
    fed(listening, [quiet(1000)])
    assert decoder.given == []
    heard = fed(listening, [voice(400), quiet(200)])
    listening.forget()  # committed or cleared
    assert listening.decoding_for(heard) is None


# --- without the extra ---------------------------------------------------------------------------


async def test_without_the_extra_pocketsphinx_decodes_and_the_server_says_once_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if reason := espeak_missing():
        unavailable(reason)
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(  # as where the extra is not installed
        importlib.util, "find_spec", lambda name, *a: None if name == "faster_whisper" else real_find_spec(name, *a)
    )
    monkeypatch.setattr(recognition_whisper, "submit", lambda pcm: pytest.fail("Whisper was asked to decode"))
    recognition_whisper.available.cache_clear()
    try:
        pcm = spoken("Stop the music.", "en-us").tobytes()
        with caplog.at_level(logging.WARNING, logger="voicecli.server.recognition_whisper"):
            first, second = await asyncio.gather(
                recognition.recognise(pcm), recognition.recognise(pcm, ["Stop the music."])
            )
    finally:
        recognition_whisper.available.cache_clear()
    assert first is not None and first.mode == "free"  # pocketsphinx's free-form words, whatever they are
    assert second == recognition.Recognition("Stop the music.", "grammar")
    missing = [record.getMessage() for record in caplog.records if "speech extra" in record.getMessage()]
    assert len(missing) == 1 and "faster_whisper missing" in missing[0], missing
