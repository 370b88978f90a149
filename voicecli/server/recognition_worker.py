"""The speech recognition worker: a process of its own that decodes turns with pocketsphinx.

pocketsphinx holds the GIL while it decodes (over a second for a long free-form turn), so it
cannot run in a thread of the server without stalling the event loop and every audio callback of
that process. `recognition` starts this file as a plain script (`python recognition_worker.py`),
which imports neither voicecli nor the user's main module, and talks to it over its standard input
and output: each request and answer is a 4-byte big-endian length and a JSON header, a request's
header followed by its pcm bytes. The worker ends when its standard input closes.

A turn is tried first against the expected phrases (a JSGF grammar; only a complete phrase
counts), then, when none matched and the request allows it, decoded free-form with the bundled
language model (when Whisper is installed, the server asks for the grammar only). The decoder
adapts to what it has heard, so free-form words may differ a little with the turns a worker
decoded before; a grammar match does not.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import sys
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

__all__ = ["normalise", "read_frame", "write_frame"]

DECODER_RATE = 16_000
INPUT_RATE = 24_000
"""The realtime protocol's rate (`voicecli.realtime.events.SAMPLE_RATE`), written out because this
script imports no voicecli; tests/test_server_parts.py checks that the two agree."""
DITHER = 20.0
"""Noise added to the audio (about -64 dBFS): exact digital silence breaks pocketsphinx's noise
estimate and makes grammar decoding fail; real microphones never deliver it."""
PAD_S = 0.2
"""Quiet added before and after the turn: a phrase cut off right after its last sound (as synthetic
speech is) otherwise often fails to reach the grammar's end."""
FAST_SEARCH = {"maxhmmpf": 3000, "maxwpf": 5, "topn": 2, "pl_window": 10}
"""Narrower free-form search: about half the time of the defaults, the same words on espeak speech."""
_WORD = re.compile(r"[a-z0-9']+")
_LENGTH = struct.Struct(">I")


def normalise(text: str) -> str:
    """Lower-case words without punctuation: how phrases are compared and put in grammars."""
    return " ".join(_WORD.findall(text.lower()))


def write_frame(stream: IO[bytes], header: dict[str, Any], payload: bytes = b"") -> None:
    data = json.dumps(header).encode()
    stream.write(_LENGTH.pack(len(data)) + data + payload)
    stream.flush()


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    """The next header, or None at the end of the stream."""
    size = stream.read(_LENGTH.size)
    if len(size) < _LENGTH.size:
        return None
    header: dict[str, Any] = json.loads(_read_exactly(stream, _LENGTH.unpack(size)[0]))
    return header


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the stream ended inside a frame")
    return data


@dataclass(slots=True)
class Decoding:
    """The decoder, its free-form search and the grammars added to it so far."""

    decoder: Any
    free_search: str
    grammars: set[str] = field(default_factory=set)

    @classmethod
    def load(cls) -> Decoding:
        """The bundled acoustic model, dictionary and language model (about a second to load)."""
        from pocketsphinx import Decoder

        decoder = Decoder(samprate=DECODER_RATE, logfn="/dev/null", **FAST_SEARCH)
        return cls(decoder, decoder.current_search())

    def recognise(self, pcm: bytes, phrases: list[str], free: bool = True) -> dict[str, str]:
        """The words of 24 kHz pcm16 speech: a phrase (as written) when one matched, else free-form
        (or, when `free` is False because another recogniser does that better, mode "none")."""
        audio = prepared(pcm)
        expected = self._known(phrases)
        if expected:
            self.decoder.activate_search(self._grammar(tuple(expected)))
            heard = self._decode(audio)
            if heard in expected:
                return {"text": expected[heard], "mode": "grammar"}
        if not free:
            return {"text": "", "mode": "none"}
        self.decoder.activate_search(self.free_search)
        return {"text": self._decode(audio), "mode": "free"}

    def _known(self, phrases: list[str]) -> dict[str, str]:
        """The phrases whose every word the dictionary knows, normalised → as written."""
        known: dict[str, str] = {}
        for phrase in phrases:
            words = normalise(phrase)
            if words and all(self.decoder.lookup_word(word) is not None for word in words.split()):
                known.setdefault(words, phrase)
        return known

    def _grammar(self, phrases: tuple[str, ...]) -> str:
        """The name of a search accepting exactly one of `phrases`, added to the decoder on first use."""
        name = "g" + hashlib.sha1("\n".join(sorted(phrases)).encode()).hexdigest()[:16]
        if name not in self.grammars:
            rule = " | ".join(phrases)
            self.decoder.add_jsgf_string(name, f"#JSGF V1.0;\ngrammar expected;\npublic <phrase> = {rule};\n")
            self.grammars.add(name)
        return name

    def _decode(self, audio: bytes) -> str:
        self.decoder.start_utt()
        self.decoder.process_raw(audio, full_utt=True)
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        return normalise(hypothesis.hypstr) if hypothesis is not None else ""


def prepared(pcm: bytes) -> bytes:
    """24 kHz pcm16 as the decoder's 16 kHz pcm16, padded, dithered the same way every time."""
    import soxr

    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    pad = np.zeros(int(PAD_S * DECODER_RATE), dtype=np.float32)
    resampled = np.concatenate([pad, soxr.resample(samples, INPUT_RATE, DECODER_RATE), pad])
    noise = np.random.default_rng(len(pcm)).normal(0.0, DITHER, len(resampled))
    return np.clip(resampled + noise, -32768, 32767).astype(np.int16).tobytes()


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """Answer requests until the input ends; a failure is answered, and the worker goes on."""
    decoding = Decoding.load()
    write_frame(answers, {"ready": True})
    while (header := read_frame(requests)) is not None:
        pcm = _read_exactly(requests, int(header["bytes"]))
        try:
            write_frame(
                answers, decoding.recognise(pcm, list(header.get("phrases", [])), bool(header.get("free", True)))
            )
        except Exception as exc:  # reported to the server, which tells the client (`.failed`)
            write_frame(answers, {"error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
