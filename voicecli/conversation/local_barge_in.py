"""Local barge-in for a live conversation (`[audio] barge_in = "local"`): the onset detector on the
echo-cancelled microphone feeds the duck-then-decide judge; this says what the player must do.

The conversation hands it each microphone chunk (with when it was heard), the service's
`speech_started` and the person's transcribed words, and carries out the actions: `DUCK` and
`RESTORE` here on the player (fade to -20 dB and back, playback going on), `STOP` through its own
barge-in (flush, truncate at the heard position). The detector runs only while the assistant
speaks: there is nothing to interrupt otherwise, and it costs CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from voicecli.audio.onset import OnsetListener, make_detector
from voicecli.conversation.barge_in import Action, BargeInJudge, BargeInRules

__all__ = ["DUCK_GAIN", "LocalBargeIn"]

DUCK_GAIN = 0.1
"""-20 dB: the person hears that they were heard, and the assistant is still there if it was a cough."""


class LocalBargeIn:
    """Decides interruptions locally; `duck` sets the player's gain (1 restores)."""

    def __init__(self, rules: BargeInRules, duck: Callable[[float], None], *, listener: OnsetListener | None = None):
        self.judge = BargeInJudge(rules)
        self.warning: str | None = None  # why the detector is a stand-in, for the screen
        if listener is None:
            detector, self.warning = make_detector("auto")
            listener = OnsetListener(detector)
        self._listener = listener
        self._duck = duck
        self._listening = False

    def hear(self, chunk: np.ndarray, heard_at: float, *, assistant_speaking: bool) -> Action | None:
        """A microphone chunk whose first sample was heard at `heard_at`: the first action it calls for."""
        if not assistant_speaking and not self.judge.ducked:
            if self._listening:
                self._listening = False
                self._listener.detector.reset()
            return None
        self._listening = True
        for end_s, voiced in self._listener.feed(chunk):
            action = self.judge.voice(heard_at + end_s, voiced, assistant_speaking=assistant_speaking)
            if action is not None:
                return self._carry_out(action)
        return None

    def service_heard_speech(self, now: float, *, assistant_speaking: bool) -> Action | None:
        return self._carry_out(self.judge.service_heard_speech(now, assistant_speaking=assistant_speaking))

    def words(self, text: str, *, assistant_speaking: bool) -> Action | None:
        return self._carry_out(self.judge.words(text, assistant_speaking=assistant_speaking))

    def reply_over(self) -> None:
        """The assistant played out while ducked, or a new reply begins after a stop: no decision
        pending, full gain (not restored at the stop itself, where it would lift the flush's fade)."""
        self.judge.reset()
        self._duck(1.0)

    def _carry_out(self, action: Action | None) -> Action | None:
        if action is Action.DUCK:
            self._duck(DUCK_GAIN)
        elif action is Action.RESTORE:
            self._duck(1.0)
        return action
