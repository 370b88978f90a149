"""The first 10 ms of a person's voice, heard on the capture's own thread: the trigger that ducks the reply.

Silero's VAD (`onset.py`) needs two or three of its 32 ms frames before it calls a sound voice, and
it runs on the event loop, a hop after the capture: a duck waiting for it comes about 100 ms after
the first syllable. This trigger is a level test on each echo-cancelled 10 ms frame, run where the
frame is made, so the duck starts within a frame; Silero then confirms it or the duck is undone
(`LocalBargeIn`). The level must be over an absolute floor (-40 dBFS, where the local server's VAD
also hears speech) and `margin_db` over the residual the canceller lets through: a floor tracker
that follows the quietest recent frames down at once and creeps up slowly (`rise_db_per_s`), so a
steady leak or a fan raises the bar while a syllable, which jumps, still clears it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FastOnset"]

FRAME_S = 0.01
SILENCE = 1.0
"""The residual's lowest mean square (-90 dBFS): from digital silence it must still be able to creep up."""


class FastOnset:
    """`heard(frame)`: whether a 10 ms frame of 24 kHz int16 echo-cancelled microphone audio starts a sound."""

    def __init__(self, level_dbfs: float = -40.0, margin_db: float = 12.0, rise_db_per_s: float = 6.0) -> None:
        self._level = (32768.0 * 10 ** (level_dbfs / 20)) ** 2
        self._margin = 10 ** (margin_db / 10)
        self._rise = 10 ** (rise_db_per_s * FRAME_S / 10)
        self.residual = self._level / self._margin  # mean square of the quiet the canceller lets through

    def heard(self, frame: np.ndarray) -> bool:
        if frame.size == 0:
            return False
        samples = frame.astype(np.float32)
        level = float(np.dot(samples, samples)) / samples.size
        loud = level >= self._level and level >= self.residual * self._margin
        self.residual = max(level, SILENCE) if level < self.residual else self.residual * self._rise
        return loud
