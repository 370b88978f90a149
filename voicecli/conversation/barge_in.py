"""Local barge-in: duck at the person's first syllable, then decide whether it was an interruption.

A pure state machine on a clock it is given (no devices, no I/O), so its rules are tested with a
virtual clock. The conversation feeds it what the echo-cancelled microphone's detector hears
(`voice`), the service's `speech_started`, and the person's transcribed words; it answers with what
to do to the player: `DUCK` (fade down, not off), `STOP` (a real interruption: flush and truncate
as today), `RESTORE` (a back-channel or a noise: back up where it was, nothing lost).

Why the service's `speech_started` does not stop the reply by itself: the service hears a person a
few hundred milliseconds late, so by then a 0.4 s "mm-hm" is still going on, and its VAD takes a
cough for speech. It hears the same echo-cancelled audio as the local detector, so when that heard
no voice, `speech_started` only ducks (the person may have said something the detector missed):
the words of the turn then decide, or the quiet restores. Words that are not back-channels stop
the reply even after it came back up: the safety net for an interruption the detector missed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from voicecli.config.app_config import DEFAULT_BACKCHANNELS

__all__ = ["Action", "BargeInJudge", "BargeInRules"]


class Action(Enum):
    DUCK = "duck"
    STOP = "stop"
    RESTORE = "restore"


@dataclass(frozen=True, slots=True)
class BargeInRules:
    """`interrupt_after_ms` of the person's voice make an interruption (a 0.4 s "mm-hm" or a cough
    does not); `restore_after_ms` of quiet after a shorter sound bring the assistant back up. Words
    decide a ducked reply only when the sound they came from lasted `words_need_voice_ms`: a
    recogniser makes words of a short "mm-hm" too (Whisper heard one as "from the")."""

    interrupt_after_ms: float = 600.0
    restore_after_ms: float = 700.0
    words_need_voice_ms: float = 500.0
    backchannels: tuple[str, ...] = DEFAULT_BACKCHANNELS


def words_of(text: str) -> str:
    """Lower-case words separated by single spaces, punctuation dropped ("mm-hm" becomes "mm hm")."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


@dataclass(slots=True)
class BargeInJudge:
    """One decision at a time: idle → ducked (at an onset while the assistant speaks) → stop or restore."""

    rules: BargeInRules = field(default_factory=BargeInRules)
    ducked_at: float | None = None
    _voice_ms: float = 0.0  # the person's voice heard since the duck
    _voice_since: float | None = None  # when the current stretch of voice began
    _quiet_since: float | None = None
    _backchannel_words: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self._backchannel_words = frozenset(" ".join(map(words_of, self.rules.backchannels)).split())

    @property
    def ducked(self) -> bool:
        return self.ducked_at is not None

    def voice(self, now: float, voiced: bool, *, assistant_speaking: bool) -> Action | None:
        """What the microphone's detector says at `now` (seconds, any monotonic scale)."""
        if not self.ducked:
            if voiced and assistant_speaking:
                self.ducked_at, self._voice_since, self._voice_ms, self._quiet_since = now, now, 0.0, None
                return Action.DUCK
            return None
        if voiced:
            if self._voice_since is None:
                self._voice_since, self._quiet_since = now, None
            if self._voice_ms + (now - self._voice_since) * 1000 >= self.rules.interrupt_after_ms:
                return self._end(Action.STOP)
            return None
        if self._voice_since is not None:
            self._voice_ms += (now - self._voice_since) * 1000
            self._voice_since, self._quiet_since = None, now
        if self._quiet_since is not None and (now - self._quiet_since) * 1000 >= self.rules.restore_after_ms:
            return self._end(Action.RESTORE)
        return None

    def service_heard_speech(self, now: float, *, assistant_speaking: bool) -> Action | None:
        """The service's `speech_started`: a duck, when the local detector had not heard the person."""
        if self.ducked or not assistant_speaking:
            return None
        self.ducked_at, self._voice_since, self._voice_ms, self._quiet_since = now, None, 0.0, now
        return Action.DUCK

    def words(self, text: str, *, assistant_speaking: bool) -> Action | None:
        """The person's transcribed words: back-channel words restore a ducked reply; others stop it,
        ducked or not (a late transcript of an interruption the detector missed)."""
        if not words_of(text) or not (self.ducked or assistant_speaking):
            return None
        if self.is_backchannel(text):
            return self._end(Action.RESTORE) if self.ducked else None
        if self.ducked and self._voice_since is None and self._voice_ms < self.rules.words_need_voice_ms:
            return None  # the words of a short sound that is over: the quiet after it decides
        return self._end(Action.STOP)

    def is_backchannel(self, text: str) -> bool:
        """Whether every word of `text` belongs to the back-channel list ("yeah, ok" does; "yeah but" does not)."""
        said = words_of(text).split()
        return bool(said) and all(word in self._backchannel_words for word in said)

    def reset(self) -> None:
        """Forget a pending decision (the reply ended or was stopped by other means)."""
        self.ducked_at, self._voice_since, self._quiet_since, self._voice_ms = None, None, None, 0.0

    def _end(self, action: Action) -> Action:
        self.reset()
        return action
