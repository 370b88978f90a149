"""Local barge-in for a live conversation (`[audio] barge_in = "local"`): the onset detector on the
echo-cancelled microphone feeds the duck-then-decide judge; this says what the player must do.

The conversation hands it each microphone chunk (with when it was heard), the service's
`speech_started` and the person's transcribed words, and carries out the actions: `DUCK` and
`RESTORE` here on the player (fade to -20 dB and back, playback going on), `STOP` through its own
barge-in (flush, truncate at the heard position). The detector runs only while the assistant
speaks: there is nothing to interrupt otherwise, and it costs CPU.

The session is set to neither interrupt nor answer by itself (`interrupt_response` and
`create_response` false): a back-channel must not get an answer either. So each user turn the
service commits is answered here (`response.create`), unless the sound was judged a back-channel
or a noise; then its item is deleted (`conversation.item.delete`), as if it had not been said.
A turn committed while the decision is still open waits for it. `outbox` holds those events.

The duck itself does not wait for Silero (two or three 32 ms frames, on the event loop): the
capture's thread hands each echo-cancelled 10 ms frame to `frame_heard`, whose level trigger
(`FastOnset`) ducks at once while the assistant speaks. Silero must then hear voice within
`CONFIRM_S`, or the duck is undone (a click, a breath): the judge's rules start only at its word.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from voicecli.audio.fast_onset import FastOnset
from voicecli.audio.onset import OnsetListener, make_detector
from voicecli.conversation.barge_in import Action, BargeInJudge, BargeInRules

__all__ = ["CONFIRM_S", "DUCK_GAIN", "LocalBargeIn"]

DUCK_GAIN = 0.1
"""-20 dB: the person hears that they were heard, and the assistant is still there if it was a cough."""
CONFIRM_S = 0.2
"""How long after the trigger's duck Silero may take to hear voice (it needs two or three 32 ms
frames, a hiss before the vowel more) before the duck is undone."""


class LocalBargeIn:
    """Decides interruptions locally; `duck` sets the player's gain (1 restores)."""

    def __init__(
        self,
        rules: BargeInRules,
        duck: Callable[[float], None],
        *,
        listener: OnsetListener | None = None,
        playing: Callable[[], bool] | None = None,
    ):
        self.judge = BargeInJudge(rules)
        self.warning: str | None = None  # why the detector is a stand-in, for the screen
        if listener is None:
            detector, self.warning = make_detector("auto")
            listener = OnsetListener(detector)
        self._listener = listener
        self._duck = duck
        self._listening = False
        self._restored_this_turn = False  # the sound of the service's current turn was judged not an interruption
        self._pending_item: str | None = None  # committed while the decision was open
        self.outbox: list[dict[str, Any]] = []  # events for the service, sent by the conversation
        self._dropped: deque[str] = deque(maxlen=16)  # items deleted as back-channels, latest last
        self._playing = playing  # whether the assistant is heard now, asked on the capture's thread
        self._trigger = FastOnset()
        self._lock = threading.Lock()  # the trigger's duck (capture thread) against its undoing (event loop)
        self._triggered_at: float | None = None  # the trigger ducked; Silero has not confirmed yet
        self.unconfirmed_ducks = 0  # trigger ducks Silero did not confirm (undone)

    def frame_heard(self, frame: np.ndarray, heard_at: float) -> None:
        """An echo-cancelled 10 ms frame heard at `heard_at`, on the capture's thread: duck at once at
        an onset while the assistant speaks (with `playing` given; without it only Silero ducks)."""
        onset = self._trigger.heard(frame)
        if not onset or self._playing is None or self.judge.ducked or self._triggered_at is not None:
            return
        with self._lock:
            if self._triggered_at is None and self._playing():
                self._triggered_at = heard_at
                self._duck(DUCK_GAIN)

    def hear(self, chunk: np.ndarray, heard_at: float, *, assistant_speaking: bool) -> Action | None:
        """A microphone chunk whose first sample was heard at `heard_at`: the first action it calls for."""
        if not assistant_speaking and not self.judge.ducked:
            self._undo_trigger(full_gain=True)  # the reply is over: the next one starts at full gain
            if self._listening:
                self._listening = False
                self._listener.detector.reset()
            return None
        self._listening = True
        for end_s, voiced in self._listener.feed(chunk):
            action = self.judge.voice(heard_at + end_s, voiced, assistant_speaking=assistant_speaking)
            if action is not None:
                return self._carry_out(action)
        triggered_at = self._triggered_at
        if triggered_at is not None and not self.judge.ducked and heard_at - triggered_at >= CONFIRM_S:
            self._undo_trigger(full_gain=True)
            self.unconfirmed_ducks += 1
        return None

    def _undo_trigger(self, *, full_gain: bool) -> None:
        with self._lock:
            if self._triggered_at is not None and full_gain:
                self._duck(1.0)
            self._triggered_at = None

    def service_heard_speech(self, now: float, *, assistant_speaking: bool) -> Action | None:
        """The service's `speech_started`: a new turn begins (and a duck, if the detector missed it)."""
        if not self.judge.ducked:
            self._restored_this_turn = False
        return self._carry_out(self.judge.service_heard_speech(now, assistant_speaking=assistant_speaking))

    def committed(self, item_id: str) -> None:
        """The service committed a user turn: answer it, drop it (a back-channel), or wait for the decision."""
        if self.judge.ducked:
            self._pending_item = item_id
        else:
            self._settle(item_id, answer=not self._restored_this_turn)
        self._restored_this_turn = False

    def words(self, item_id: str, text: str, *, assistant_speaking: bool) -> Action | None:
        """The transcript of a user turn; that of a turn already dropped as a back-channel changes
        nothing (a recogniser makes words of an "mm-hm" too)."""
        if item_id in self._dropped:
            return None
        return self._carry_out(self.judge.words(text, assistant_speaking=assistant_speaking))

    def reply_over(self) -> None:
        """The assistant played out while ducked, or a new reply begins after a stop: no decision
        pending, full gain (not restored at the stop itself, where it would lift the flush's fade)."""
        self.judge.reset()
        self._undo_trigger(full_gain=False)
        self._duck(1.0)

    def _carry_out(self, action: Action | None) -> Action | None:
        if action is not None:
            self._undo_trigger(full_gain=False)  # confirmed (or decided): the judge owns the gain now
        if action is Action.DUCK:
            self._duck(DUCK_GAIN)
        elif action is Action.RESTORE:
            self._duck(1.0)
            self._restored_this_turn = True
        if action in (Action.STOP, Action.RESTORE) and self._pending_item is not None:
            self._settle(self._pending_item, answer=action is Action.STOP)
            self._restored_this_turn = False
        return action

    def _settle(self, item_id: str, *, answer: bool) -> None:
        self._pending_item = None
        if answer:
            self.outbox.append({"type": "response.create"})
        else:
            self._dropped.append(item_id)
            self.outbox.append({"type": "conversation.item.delete", "item_id": item_id})
