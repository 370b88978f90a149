"""What each user turn sends: typed text as it is; a WAV file or espeak-ng speech as 24 kHz audio.

All audio is made before the session opens, so a missing espeak-ng or an unreadable WAV stops the
run with one line instead of failing it half-way. Unlike the local server's voice, which falls back
to tones, a failure of espeak-ng here is reported: the script asked for speech.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile

from voicecli.audio.errors import AudioFileError
from voicecli.audio.resample import resample
from voicecli.audio.wavio import read_audio_24k_mono
from voicecli.commands.demo.script import DemoScript, DemoTurn, ScriptError
from voicecli.realtime.events import SAMPLE_RATE

ESPEAK = "espeak-ng"
ESPEAK_TIMEOUT_S = 30
MIN_AUDIO_S = 0.1
"""The service refuses to commit less than 100 ms of audio."""


@dataclass(frozen=True, slots=True)
class TurnInput:
    """Exactly one of `text` and `audio` (24 kHz mono int16) is set."""

    text: str | None = None
    audio: np.ndarray | None = None

    @property
    def audio_s(self) -> float:
        return 0.0 if self.audio is None else len(self.audio) / SAMPLE_RATE


def prepare_inputs(script: DemoScript) -> list[TurnInput]:
    """The input of every turn, in order; raise `ScriptError` naming the turn when one cannot be made."""
    return [_prepare(script, turn) for turn in script.turns]


def _prepare(script: DemoScript, turn: DemoTurn) -> TurnInput:
    where = f"{script.path}: turn {turn.number}: {turn.kind}"
    if turn.kind == "text":
        return TurnInput(text=turn.content)
    if turn.wav_path is not None:
        try:
            audio = read_audio_24k_mono(turn.wav_path)
        except AudioFileError as exc:
            raise ScriptError(f"{where}: {exc}") from None
    else:
        audio = speak(turn.content, where)
    if len(audio) < MIN_AUDIO_S * SAMPLE_RATE:
        raise ScriptError(f"{where}: only {len(audio) / SAMPLE_RATE:.2f} s of audio; at least {MIN_AUDIO_S} s needed")
    return TurnInput(audio=audio)


def speak(text: str, where: str) -> np.ndarray:
    """`text` spoken by espeak-ng, as 24 kHz mono int16; `where` names the turn in errors."""
    if shutil.which(ESPEAK) is None:
        raise ScriptError(
            f"{where}: speaking text needs espeak-ng, which is not installed (sudo apt-get install espeak-ng)"
        )
    try:
        wav = subprocess.run(
            [ESPEAK, "--stdout", "--", text], capture_output=True, check=True, timeout=ESPEAK_TIMEOUT_S
        ).stdout
        frames, rate = soundfile.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    except (OSError, subprocess.SubprocessError, soundfile.SoundFileError) as exc:
        raise ScriptError(f"{where}: espeak-ng failed: {exc}") from None
    return resample(frames[:, 0], rate, SAMPLE_RATE)
