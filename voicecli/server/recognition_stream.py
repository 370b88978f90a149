"""Decoding while the user speaks, so that the end of a turn leaves little or nothing to decode.

Whisper decodes a whole turn at once (its encoder always looks at the whole window), so instead of
decoding word by word, one session's `Listening` starts a decoding of the input buffer as it stands
whenever the speech pauses: at the end of a question that is the moment the user stops, while the
server's turn detection still waits out its silence (500 ms by default), so the words are usually
ready when the turn is committed. A decoding is used for the committed turn only when that turn is
the audio decoded plus nothing but quiet; when the user spoke on, the next pause starts a new
decoding (the one before is dropped if it has not begun), else the turn is decoded at commit.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from voicecli.realtime.events import SAMPLE_RATE
from voicecli.server import recognition_whisper
from voicecli.server.recognition_whisper import voiced_windows

__all__ = ["Listening"]

PAUSE_MS = 120
"""Quiet after speech before a decoding starts: longer than most gaps between words, far shorter
than the turn detection's silence."""
MAX_GUESS_S = 30
"""Longer buffers are left to the decoding at commit (Whisper's window is 30 s)."""


class Listening:
    """The decoding of one session's input buffer, started at its latest pause."""

    def __init__(self) -> None:
        self._quiet_ms = 0  # quiet heard since the last voiced window
        self._unheard = False  # voiced audio came since the last decoding started
        self._audio = b""  # what the last decoding was given
        self._words: Future[str] | None = None

    def hear(self, pcm: bytes, buffered: Callable[[], bytes]) -> None:
        """New 24 kHz pcm16 reached the input buffer; `buffered` gives the buffer's audio (read only
        when a decoding starts)."""
        if not recognition_whisper.available():
            return
        samples = np.frombuffer(pcm, dtype="<i2")
        voiced = voiced_windows(samples)
        if voiced.any():
            self._unheard = True
            self._quiet_ms = 10 * (len(voiced) - 1 - int(np.flatnonzero(voiced)[-1]))
        else:
            self._quiet_ms += 1000 * len(samples) // SAMPLE_RATE
        if self._unheard and self._quiet_ms >= PAUSE_MS:
            if self._words is not None:
                self._words.cancel()  # the speech went on since: if it has not begun, it never will
            audio = buffered()
            if len(audio) <= 2 * MAX_GUESS_S * SAMPLE_RATE:
                self._audio, self._words = audio, recognition_whisper.submit(audio)
            else:
                self._audio, self._words = b"", None
            self._unheard = False

    def decoding_for(self, pcm: bytes) -> Future[str] | None:
        """The decoding (done or under way) that stands for this committed turn, if there is one."""
        words, audio = self._words, self._audio
        if words is None or not audio or not pcm.startswith(audio):
            return None
        rest = np.frombuffer(pcm[len(audio) :], dtype="<i2")
        return None if voiced_windows(rest).any() else words

    def forget(self, *, cancel: bool = False) -> None:
        """The buffer was committed or cleared: what was decoded belongs to no later turn. With
        `cancel` (the buffer was cleared, the session ended), a decoding that has not begun never will."""
        if cancel and self._words is not None:
            self._words.cancel()
        self._words, self._audio, self._unheard, self._quiet_ms = None, b"", False, 0
