"""Offline speech recognition for the local server: pocketsphinx, whose English model ships in its wheel.

Free-form recognition of synthetic speech is weak, while a grammar of the phrases the brain expects
recognises them exactly in a few tens of milliseconds. So a turn is first tried against the
expected phrases (a JSGF grammar; only a complete phrase counts), then, when none matched, decoded
free-form with the bundled language model. Decoding runs on this module's own threads (never the
event loop, nor the threads that synthesize speech), one decoder per thread, so sessions do not
wait on each other's turns. Without pocketsphinx installed, `recognise` returns None and the
server says so once in its log.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import soxr

__all__ = ["Recognition", "available", "normalise", "recognise", "warm_up"]

_log = logging.getLogger(__name__)
_DECODER_RATE = 16_000
_INPUT_RATE = 24_000
_DITHER = 20.0
"""Noise added to the audio (about -64 dBFS): exact digital silence breaks pocketsphinx's noise
estimate and makes grammar decoding fail; real microphones never deliver it."""
_PAD_S = 0.2
"""Quiet added before and after the turn: a phrase cut off right after its last sound (as synthetic
speech is) otherwise often fails to reach the grammar's end."""
_FAST_SEARCH = {"maxhmmpf": 3000, "maxwpf": 5, "topn": 2, "pl_window": 10}
"""Narrower free-form search: about half the time of the defaults, the same words on espeak speech."""
_WORKERS = 2
_executor: ThreadPoolExecutor | None = None
_local = threading.local()
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True, slots=True)
class Recognition:
    """What was recognised in one turn: the words, and whether a phrase of the grammar matched."""

    text: str
    mode: Literal["grammar", "free"]


@functools.cache
def available() -> bool:
    """Whether pocketsphinx can be imported; logs once when it cannot."""
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        _log.warning(
            "pocketsphinx is not installed: the local server cannot recognise speech "
            "(pip install pocketsphinx); spoken turns are described by their duration"
        )
        return False
    return True


def normalise(text: str) -> str:
    """Lower-case words without punctuation: how phrases are compared and put in grammars."""
    return " ".join(_WORD.findall(text.lower()))


async def recognise(pcm: bytes, phrases: Iterable[str] = ()) -> Recognition | None:
    """Recognise 24 kHz pcm16 speech; `phrases` are what the listener expects (grammar first).

    Returns None when pocketsphinx is missing. A matched phrase comes back as it was written.
    """
    if not available():
        return None
    return await asyncio.wrap_future(_pool().submit(_recognise, pcm, tuple(phrases)))


def warm_up() -> Future[Any] | None:
    """Load a decoder in the background (the first load takes about a second), if pocketsphinx is here."""
    if not available():
        return None
    return _pool().submit(_decoder)


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="voicecli-recognition")
    return _executor


def _decoder() -> Any:
    """This thread's decoder (the bundled acoustic model, dictionary and language model)."""
    decoder = getattr(_local, "decoder", None)
    if decoder is None:
        from pocketsphinx import Decoder

        decoder = Decoder(samprate=_DECODER_RATE, logfn="/dev/null", **_FAST_SEARCH)
        _local.decoder = decoder
        _local.free_search = decoder.current_search()
        _local.grammars = set()
    return decoder


def _recognise(pcm: bytes, phrases: tuple[str, ...]) -> Recognition:
    audio = _prepared(pcm)
    decoder = _decoder()
    expected = _known(decoder, phrases)
    if expected:
        decoder.activate_search(_grammar(decoder, tuple(expected)))
        heard = _decode(decoder, audio)
        if heard in expected:
            return Recognition(expected[heard], "grammar")
    decoder.activate_search(_local.free_search)
    return Recognition(_decode(decoder, audio), "free")


def _prepared(pcm: bytes) -> bytes:
    """24 kHz pcm16 as the decoder's 16 kHz pcm16, padded, dithered the same way every time."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    pad = np.zeros(int(_PAD_S * _DECODER_RATE), dtype=np.float32)
    resampled = np.concatenate([pad, soxr.resample(samples, _INPUT_RATE, _DECODER_RATE), pad])
    noise = np.random.default_rng(len(pcm)).normal(0.0, _DITHER, len(resampled))
    return np.clip(resampled + noise, -32768, 32767).astype(np.int16).tobytes()


def _known(decoder: Any, phrases: tuple[str, ...]) -> dict[str, str]:
    """The phrases whose every word the dictionary knows, normalised → as written."""
    known: dict[str, str] = {}
    for phrase in phrases:
        words = normalise(phrase)
        if words and all(decoder.lookup_word(word) is not None for word in words.split()):
            known.setdefault(words, phrase)
    return known


def _grammar(decoder: Any, phrases: tuple[str, ...]) -> str:
    """The name of a search accepting exactly one of `phrases`, added to this decoder on first use."""
    name = "g" + hashlib.sha1("\n".join(sorted(phrases)).encode()).hexdigest()[:16]
    if name not in _local.grammars:
        rule = " | ".join(phrases)
        decoder.add_jsgf_string(name, f"#JSGF V1.0;\ngrammar expected;\npublic <phrase> = {rule};\n")
        _local.grammars.add(name)
    return name


def _decode(decoder: Any, audio: bytes) -> str:
    decoder.start_utt()
    decoder.process_raw(audio, full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return normalise(hypothesis.hypstr) if hypothesis is not None else ""
