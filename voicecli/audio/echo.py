"""Echo handling for speakers without headphones: WebRTC echo cancellation, a half-duplex gate, or nothing.

Every processor takes 10 ms float32 frames at `CANCELLER_RATE`: the microphone's (`near`) and what
the speaker played at the same moment (`far`), and returns the microphone frame to send. Each
measures its echo reduction (ERLE, dB) on frames where the speaker was playing, so the status line
can show a canceller that silently fails (a wrong reference gives an ERLE near 0 dB). The canceller
leaves out the frames where a person talks over the speaker (double talk): its output then holds
their voice, which it must keep, and that is no sign of a failing canceller.

- `aec`: WebRTC AEC3 through `pywebrtc-audio` (imported lazily; it refines the echo delay itself).
- `gate`: while the speaker plays, a frame passes only when it is clearly louder than the echo
  expected from the speaker's recent level and the echo path's measured gain; otherwise silence.
- `auto`: `aec` when the library loads and converges, `gate` otherwise; a converged canceller is kept.
- `off`: for headphones.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from voicecli.config import EchoMode

CANCELLER_RATE = 32_000  # a rate AEC3 runs natively that still covers the API's 12 kHz band
FRAME_SAMPLES = CANCELLER_RATE // 100
FAR_ACTIVE_DBFS = -50.0
"""The speaker counts as playing above this level (RMS of a 10 ms frame)."""
MAX_ERLE_DB = 60.0
WEAK_ERLE_DB = 10.0
ERLE_WINDOW_FRAMES = 100  # one second of frames where the speaker played
AUTO_MIN_ERLE_DB = 10.0
"""The canceller has converged when it removes this much of the echo, failed when it does not."""
CONVERGED_FRAMES = 200
"""The canceller has converged once its ERLE stayed at `AUTO_MIN_ERLE_DB` or more for 2 s of echo
without double talk: on a wrong reference AEC3's suppressor looks good for a moment."""
FAILED_FRAMES = 300
"""It has failed once its ERLE stayed below for 3 s: longer, as giving it up costs the session its
full duplex, and a talker the detector missed at the start can hold the ERLE down for a while."""
GATE_MARGIN_DB = 10.0
"""The gate opens for microphone audio at least this much louder than the expected echo."""
GATE_ECHO_SPAN = 30  # the echo of the last 300 ms of playback may still be arriving
GATE_HOLD_FRAMES = 20  # once open, stay open 200 ms so words are not chopped
GATE_GAIN_FRAMES = 300  # the echo path's gain is judged over the last 3 s of playback
GAIN_EVERY_FRAMES = 10
"""The echo path's gain moves slowly (a median over 3 s): it is worked out again every 100 ms, not every frame."""
GUARD_MARGIN_DB = 6.0
"""The canceller's guard treats microphone audio up to this much louder than the expected echo as echo."""
GUARD_MIN_REDUCTION_DB = 20.0
DOUBLE_TALK_MARGIN_DB = GUARD_MARGIN_DB
"""A microphone this much louder than the echo the speaker can cause holds a person too (Geigel's test)."""
DOUBLE_TALK_REDUCTION_DB = 10.0
"""A working canceller that removes less than this from a frame as loud as the echo has heard a person in it."""
DOUBLE_TALK_NEAR_ECHO_DB = -6.0
"""A frame counts as loud as the echo from this far below the loudest echo expected."""
DOUBLE_TALK_HOLD_FRAMES = 30
"""A talker heard counts 300 ms more, so the quieter sounds between their clear ones are left out of ERLE too."""
NO_ECHO_DB = -40.0
"""An echo path quieter than this (speaker to microphone) is no echo: headphones."""


def energy(frame: np.ndarray) -> float:
    """Mean square of a frame (0 for an empty one)."""
    return float(np.dot(frame, frame)) / max(len(frame), 1)


def power_db(ratio: float) -> float:
    """A power ratio in dB (-inf for 0)."""
    return 10.0 * math.log10(ratio) if ratio > 0 else -math.inf


FAR_ACTIVE_ENERGY = 10.0 ** (FAR_ACTIVE_DBFS / 10.0)


class AecUnavailable(Exception):
    """The echo-cancellation library is not installed or does not load."""


@dataclass(frozen=True, slots=True)
class EchoStatus:
    """What the status line shows: the mode asked for, the one running, and its measured ERLE."""

    requested: EchoMode
    active: Literal["aec", "gate", "off"]
    erle_db: float | None  # None until the speaker has played for a while (or with `off`)
    note: str = ""  # why the mode differs from the one asked for

    @property
    def weak(self) -> bool:
        """Echo handling that removes less than `WEAK_ERLE_DB`: the assistant may hear itself."""
        return self.active != "off" and self.erle_db is not None and self.erle_db < WEAK_ERLE_DB

    def label(self) -> str:
        """`echo aec 38 dB`; `echo auto: aec 38 dB` for what `auto` chose; `echo aec→gate` for a fallback."""
        mode: str
        if self.requested == self.active:
            mode = self.active
        elif self.requested == "auto":
            mode = f"auto: {self.active}"
        else:
            mode = f"{self.requested}→{self.active}"
        erle = f" {self.erle_db:.0f} dB" if self.erle_db is not None else ""
        return f"echo {mode}{erle}"


class ErleMeter:
    """Echo return loss enhancement over the last second of frames in which the speaker played.

    Updated by the capture's worker thread and read by the status line: the reader only takes the
    latest finished value, never the window being changed.
    """

    def __init__(self) -> None:
        self._pairs: deque[tuple[float, float]] = deque()
        self._before = self._after = 0.0
        self.active_frames = 0
        self.erle_db: float | None = None

    def add(self, near: np.ndarray, out: np.ndarray, far: np.ndarray) -> None:
        if energy(far) < FAR_ACTIVE_ENERGY:
            return
        pair = (energy(near), energy(out))
        self._pairs.append(pair)
        self._before += pair[0]
        self._after += pair[1]
        if len(self._pairs) > ERLE_WINDOW_FRAMES:
            old_before, old_after = self._pairs.popleft()
            self._before -= old_before
            self._after -= old_after
        self.active_frames += 1
        after = max(self._after, 0.0)  # running sums: rounding must not make it negative
        if len(self._pairs) >= ERLE_WINDOW_FRAMES // 2 and self._before > 0:
            self.erle_db = min(MAX_ERLE_DB, power_db(self._before / after)) if after > 0 else MAX_ERLE_DB


class EchoProcessor(Protocol):
    """One 10 ms frame pair in, the frame to send out."""

    @property
    def status(self) -> EchoStatus: ...

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray: ...


class NoEcho:
    """`off`: the microphone as it is."""

    status = EchoStatus("off", "off", None)

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        return near


class EchoPathGain:
    """How loud the speaker comes back into the microphone: echo energy per unit of speaker energy.

    The ratio of the microphone's recent peak to the speaker's recent peak, over frames where the
    speaker played; its median over the last 3 s, so someone talking over the speaker for a while
    (which raises the ratio) does not count. None until measured.
    """

    def __init__(self) -> None:
        self._far = deque([0.0] * GATE_ECHO_SPAN, maxlen=GATE_ECHO_SPAN)
        self._near = deque([0.0] * GATE_ECHO_SPAN, maxlen=GATE_ECHO_SPAN)
        self._ratios: deque[float] = deque(maxlen=GATE_GAIN_FRAMES)
        self.loudest_far = 0.0
        self.gain: float | None = None
        self._since_gain = 0

    @property
    def expected_echo(self) -> float:
        """The loudest echo energy the recent playback can cause (the speaker's own level until measured)."""
        return (1.0 if self.gain is None else self.gain) * self.loudest_far

    def update(self, near_energy: float, far_energy: float) -> None:
        self._far.append(far_energy)
        self._near.append(near_energy)
        self.loudest_far = max(self._far)
        if self.loudest_far < FAR_ACTIVE_ENERGY:
            return
        self._ratios.append(max(self._near) / self.loudest_far)
        self._since_gain += 1
        if len(self._ratios) >= GATE_ECHO_SPAN and (self.gain is None or self._since_gain >= GAIN_EVERY_FRAMES):
            self.gain = float(np.median(self._ratios))
            self._since_gain = 0


class EchoGate:
    """`gate`: half duplex while the speaker plays, unless the microphone is clearly louder than its echo."""

    def __init__(self, requested: EchoMode = "gate", note: str = "") -> None:
        self._requested, self._note = requested, note
        self._path = EchoPathGain()
        self._hold = 0
        self._meter = ErleMeter()

    @property
    def status(self) -> EchoStatus:
        return EchoStatus(self._requested, "gate", self._meter.erle_db, self._note)

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        near_energy = energy(near)
        self._path.update(near_energy, energy(far))
        if self._path.loudest_far < FAR_ACTIVE_ENERGY:
            self._hold = 0
            return near
        if near_energy > self._path.expected_echo * 10.0 ** (GATE_MARGIN_DB / 10.0):
            self._hold = GATE_HOLD_FRAMES
        out = near if self._hold > 0 else np.zeros_like(near)
        self._hold = max(0, self._hold - 1)
        self._meter.add(near, out, far)
        return out


class DoubleTalkDetector:
    """Whether a person talks while the speaker plays (double talk): such a frame says nothing of the echo.

    `talking` takes either of two signs, and holds `DOUBLE_TALK_HOLD_FRAMES` after the last:
    - `loud`: the microphone is louder than the echo the speaker can cause there (Geigel's test, with
      the echo path's measured gain instead of an assumed one). It holds for a failing canceller too.
    - once the canceller has converged, its own output: a frame about as loud as the echo from which
      it removed little holds a sound the speaker does not explain, a voice. (Quieter frames are
      still measured, so a canceller that fails later shows it in its ERLE.)
    The echo path's gain is learnt from every frame: a gain learnt only where no one talks could
    start too low (the echo arriving late), take all echo for a talker, and never learn again.
    """

    def __init__(self) -> None:
        self.path = EchoPathGain()
        self._hold = 0
        self.loud = self.talking = False

    def update(self, near_energy: float, far_energy: float, out_energy: float, converged: bool) -> None:
        self.path.update(near_energy, far_energy)
        if self.path.loudest_far < FAR_ACTIVE_ENERGY:
            self._hold = 0
            self.loud = self.talking = False
            return
        expected = self.path.expected_echo
        self.loud = near_energy > expected * 10.0 ** (DOUBLE_TALK_MARGIN_DB / 10.0)
        kept_voice = (
            converged
            and near_energy > expected * 10.0 ** (DOUBLE_TALK_NEAR_ECHO_DB / 10.0)
            and out_energy > near_energy * 10.0 ** (-DOUBLE_TALK_REDUCTION_DB / 10.0)
        )
        if self.loud or kept_voice:
            self._hold = DOUBLE_TALK_HOLD_FRAMES
        self.talking = self._hold > 0
        self._hold = max(0, self._hold - 1)


class WebRtcCanceller:
    """`aec`: WebRTC's AEC3 (via `pywebrtc-audio`) on the frame pairs, with a guard against leaks.

    A glitch of the devices (an underrun on a busy machine) moves the echo in time, and AEC3 takes
    a moment to find it again; meanwhile echo leaks through, and a server VAD takes it for speech.
    The guard silences a frame that the canceller reduced by less than `GUARD_MIN_REDUCTION_DB`
    unless a person is clearly louder than the echo there (`DoubleTalkDetector.loud`, the canceller's
    own verdict is not trusted here: it is what may be failing). ERLE is measured before the guard,
    on frames without double talk, so a canceller that fails shows as failing and one that keeps a
    talker's voice does not.
    """

    def __init__(self, requested: EchoMode = "aec") -> None:
        try:
            from pywebrtc_audio import EchoCanceller
        except ImportError as exc:  # also OSError-free: the wheel bundles its library
            raise AecUnavailable(f"echo cancellation needs pywebrtc-audio ({exc})") from exc
        self._aec = EchoCanceller(sample_rate=CANCELLER_RATE)
        self._requested = requested
        self.meter = ErleMeter()
        self.double_talk = DoubleTalkDetector()
        self.verdict: Literal["judging", "converged", "failed"] = "judging"
        self._streak = 0  # measured frames in a row on the same side of `AUTO_MIN_ERLE_DB`
        self._streak_good = False

    @property
    def status(self) -> EchoStatus:
        return EchoStatus(self._requested, "aec", self.meter.erle_db)

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        near_energy = energy(near)
        out = self._aec.process(near, far)
        out_energy = energy(out)
        self.double_talk.update(near_energy, energy(far), out_energy, self.verdict == "converged")
        if self.double_talk.path.loudest_far < FAR_ACTIVE_ENERGY:
            return out
        if not self.double_talk.talking:
            self.meter.add(near, out, far)
            self._judge()
        if not self.double_talk.loud and out_energy > near_energy * 10.0 ** (-GUARD_MIN_REDUCTION_DB / 10.0):
            return np.zeros_like(out)
        return out

    def _judge(self) -> None:
        """Converged or failed, once the ERLE has stayed on one side of `AUTO_MIN_ERLE_DB` long enough."""
        erle = self.meter.erle_db
        if self.verdict != "judging" or erle is None:
            return
        good = erle >= AUTO_MIN_ERLE_DB
        self._streak = self._streak + 1 if good == self._streak_good else 1
        self._streak_good = good
        if self._streak >= (CONVERGED_FRAMES if good else FAILED_FRAMES):
            self.verdict = "converged" if good else "failed"


class AutoEcho:
    """`auto`: the canceller where there is echo, the microphone untouched where there is none.

    AEC3 smothers a talker over the speaker when it has no echo to cancel (headphones: its
    suppressor never leaves its cautious start), so while the echo path measures below
    `NO_ECHO_DB` the microphone passes as it is (the canceller keeps running, to stay in step).
    A canceller that failed (`WebRtcCanceller.verdict`) gives way to the gate; one that converged is
    kept for the session: a later dip of its ERLE is a talker the detector missed or a device glitch
    AEC3 recovers from, and the status line shows it.
    """

    def __init__(self) -> None:
        self._current: WebRtcCanceller | EchoGate
        try:
            self._current = WebRtcCanceller("auto")
        except AecUnavailable:
            self._current = EchoGate("auto", "no echo-cancellation library")
        self._path = EchoPathGain()
        self._echo_heard = True  # until measured, assume a laptop

    @property
    def status(self) -> EchoStatus:
        if not self._echo_heard:
            return EchoStatus("auto", "off", None, "no echo heard")
        return self._current.status

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        self._path.update(energy(near), energy(far))
        gain = self._path.gain
        if gain is not None:
            self._echo_heard = power_db(gain) >= NO_ECHO_DB
        out = self._current.process(near, far)
        current = self._current
        if isinstance(current, WebRtcCanceller) and self._echo_heard and current.verdict == "failed":
            self._current = EchoGate("auto", f"the canceller reached only {current.meter.erle_db or 0:.0f} dB")
        return out if self._echo_heard else near


def open_echo(mode: EchoMode) -> EchoProcessor:
    """The processor for `mode`; `aec` without its library falls back to the gate (the status says why)."""
    match mode:
        case "off":
            return NoEcho()
        case "gate":
            return EchoGate()
        case "auto":
            return AutoEcho()
    try:
        return WebRtcCanceller()
    except AecUnavailable:
        return EchoGate("aec", "no echo-cancellation library")
