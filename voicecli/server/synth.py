"""Reply audio for the local server: 24 kHz mono int16, real speech when espeak-ng is installed.

Callers run `speak` in a thread (`asyncio.to_thread`): espeak-ng is a subprocess taking tens of
milliseconds. Without espeak-ng the reply is a deterministic tone per word, timed like speech
(~8 characters per second), so audio stays real audio with a plausible duration.
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import subprocess

import numpy as np
import soundfile
import soxr

from voicecli.realtime.events import SAMPLE_RATE

__all__ = ["speak", "tones"]

_CHARS_PER_SECOND = 8.0
_log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=16)  # replies are synthesized in pieces of up to ~50 s: at most ~40 MB kept
def speak(text: str) -> np.ndarray:
    """Synthesize `text`; the returned array is cached and read-only (copy before changing it).

    The cache serves replies that come back (greetings, a script's answers); 16 of them, a few MB:
    with 64 a long conversation's distinct replies kept about 12 MB that looked like a leak."""
    pcm = _espeak(text) if text.strip() and shutil.which("espeak-ng") else None
    if pcm is None:
        pcm = tones(text)
    pcm.flags.writeable = False
    return pcm


def _espeak(text: str) -> np.ndarray | None:
    try:
        wav = subprocess.run(["espeak-ng", "--stdout", "--", text], capture_output=True, check=True, timeout=30).stdout
        samples, rate = soundfile.read(io.BytesIO(wav), dtype="int16")
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        _log.warning("espeak-ng failed (%s); replying with tones", exc)
        return None
    if samples.ndim > 1:
        samples = samples[:, 0]
    if rate != SAMPLE_RATE:
        samples = soxr.resample(samples, rate, SAMPLE_RATE)
    return np.ascontiguousarray(samples, dtype=np.int16)


def tones(text: str) -> np.ndarray:
    """One soft tone per word (pitch from the word's letters), a pause per space, ~8 chars/s."""
    parts: list[np.ndarray] = []
    gap = np.zeros(int(SAMPLE_RATE / _CHARS_PER_SECOND), dtype=np.float32)
    for word in text.split():
        n = int(SAMPLE_RATE * len(word) / _CHARS_PER_SECOND)
        freq = 220.0 + 40.0 * (sum(map(ord, word)) % 8)
        t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
        ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms fades avoid clicks
        parts += [0.3 * np.sin(2 * np.pi * freq * t) * ramp, gap]
    if not parts:
        return np.zeros(0, dtype=np.int16)
    return (np.concatenate(parts[:-1]) * 32767).astype(np.int16)
