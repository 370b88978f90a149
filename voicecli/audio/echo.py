"""Echo handling for speakers without headphones: WebRTC echo cancellation, a half-duplex gate, or nothing.

Every processor takes 10 ms float32 frames at `CANCELLER_RATE`: the microphone's (`near`) and what
the speaker played at the same moment (`far`), and returns the microphone frame to send. Each
measures its echo reduction (ERLE, dB) on frames where the speaker was playing, so the status line
can show a canceller that silently fails (a wrong reference gives an ERLE near 0 dB).

- `aec`: WebRTC AEC3 through `pywebrtc-audio` (imported lazily; it refines the echo delay itself).
- `gate`: while the speaker plays, a frame passes only when it is clearly louder than the echo
  expected from the speaker's recent level and the echo path's measured gain; otherwise silence.
- `auto`: `aec` when the library loads and converges, `gate` otherwise.
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
AUTO_TRIAL_FRAMES = 300  # `auto` judges the canceller after 3 s of playback
AUTO_MIN_ERLE_DB = 10.0
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
        loudest_far = self._path.loudest_far
        if loudest_far < FAR_ACTIVE_ENERGY:
            self._hold = 0
            return near
        gain = self._path.gain
        expected = (1.0 if gain is None else gain) * loudest_far  # pessimistic until measured
        if near_energy > expected * 10.0 ** (GATE_MARGIN_DB / 10.0):
            self._hold = GATE_HOLD_FRAMES
        out = near if self._hold > 0 else np.zeros_like(near)
        self._hold = max(0, self._hold - 1)
        self._meter.add(near, out, far)
        return out


class WebRtcCanceller:
    """`aec`: WebRTC's AEC3 (via `pywebrtc-audio`) on the frame pairs, with a guard against leaks.

    A glitch of the devices (an underrun on a busy machine) moves the echo in time, and AEC3 takes
    a moment to find it again; meanwhile echo leaks through, and a server VAD takes it for speech.
    The guard silences a frame when the microphone is no louder than the echo the speaker would
    cause there and the canceller removed less than `GUARD_MIN_REDUCTION_DB` of it: that is echo,
    not a person (someone talking over the reply is louder than its echo, and passes). ERLE is
    measured before the guard, so a canceller that fails shows as failing.
    """

    def __init__(self, requested: EchoMode = "aec") -> None:
        try:
            from pywebrtc_audio import EchoCanceller
        except ImportError as exc:  # also OSError-free: the wheel bundles its library
            raise AecUnavailable(f"echo cancellation needs pywebrtc-audio ({exc})") from exc
        self._aec = EchoCanceller(sample_rate=CANCELLER_RATE)
        self._requested = requested
        self.meter = ErleMeter()
        self._path = EchoPathGain()
        self.guarded_frames = 0

    @property
    def status(self) -> EchoStatus:
        return EchoStatus(self._requested, "aec", self.meter.erle_db)

    def process(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        near_energy = energy(near)
        self._path.update(near_energy, energy(far))
        out = self._aec.process(near, far)
        self.meter.add(near, out, far)
        if self._path.loudest_far < FAR_ACTIVE_ENERGY:
            return out
        gain = self._path.gain
        gain = 1.0 if gain is None else gain  # the first moments of the first reply: assume the worst
        echo_like = near_energy <= gain * self._path.loudest_far * 10.0 ** (GUARD_MARGIN_DB / 10.0)
        if echo_like and energy(out) > near_energy * 10.0 ** (-GUARD_MIN_REDUCTION_DB / 10.0):
            self.guarded_frames += 1
            return np.zeros_like(out)
        return out


class AutoEcho:
    """`auto`: the canceller where there is echo, the microphone untouched where there is none.

    AEC3 smothers a talker over the speaker when it has no echo to cancel (headphones: its
    suppressor never leaves its cautious start), so while the echo path measures below
    `NO_ECHO_DB` the microphone passes as it is (the canceller keeps running, to stay in step).
    A canceller that has not reached `AUTO_MIN_ERLE_DB` after 3 s of echo gives way to the gate.
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
        if (
            isinstance(current, WebRtcCanceller)
            and self._echo_heard
            and current.meter.active_frames >= AUTO_TRIAL_FRAMES
        ):
            erle = current.meter.erle_db
            if erle is not None and erle < AUTO_MIN_ERLE_DB:
                self._current = EchoGate("auto", f"the canceller reached only {erle:.0f} dB")
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
