"""Talking on laptop speakers, simulated: the speaker leaks into the microphone (DESIGN.md section 5).

A `module-loopback` from `vspeaker.monitor` to `vmic` with a set delay at -12 dB (sink-input volume
63 %, PulseAudio volume is cubic) makes whatever voicecli plays come back into its microphone.
The delays run one after another, in the one worker that plays every audio test (tests/conftest.py).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_support import PulseAudio, Recorder, play_into_mic, speech_wav, wait_until
from audio_support import pulse_audio as pulse_audio  # session fixture
from live_support import Talk, assert_truncate_matches_speaker
from live_support import talk_factory as talk_factory  # fixture

from voicecli.server.synth import speak

pytestmark = [pytest.mark.audio, pytest.mark.timeout(120)]

REPLY = (
    "Here is a long answer, to test talking on laptop speakers. The assistant speaks for about twenty seconds, "
    "and all that time its own voice comes back into the microphone, a little later and a little quieter, "
    "the way it does on a laptop without headphones. If the echo were not removed, the assistant would hear "
    "itself, take its own words for yours, and stop. With echo cancellation it goes on to the very end, and "
    "you can still interrupt it whenever you like."
)
SPEAKER_RATE = 44_100


@pytest.fixture
def echo_rig(pulse_audio: PulseAudio, request: pytest.FixtureRequest) -> Iterator[int]:
    """The speaker's sound back into the microphone `request.param` ms later at -12 dB; removed afterwards."""
    delay_ms: int = request.param

    def pactl(*args: str) -> str:
        return subprocess.run(["pactl", *args], check=True, capture_output=True, text=True, env=pulse_audio.env).stdout

    def stream_of(owner: str) -> str | None:
        """The sink input the module owns (`pactl list short` does not name the owner)."""
        found = re.findall(r"Sink Input #(\d+)\n(?:\t.*\n)*?\tOwner Module: (\d+)", pactl("list", "sink-inputs"))
        return next((index for index, module in found if module == owner), None)

    module = pactl(
        "load-module", "module-loopback", "source=vspeaker.monitor", "sink=vmic", f"latency_msec={delay_ms}",
        "source_dont_move=true", "sink_dont_move=true",
    ).strip()  # fmt: skip
    try:
        wait_until(lambda: stream_of(module) is not None, "the loopback's stream")
        pactl("set-sink-input-volume", str(stream_of(module)), "63%")
        yield delay_ms
    finally:
        pactl("unload-module", module)


def rig(*delays: int) -> Any:
    """Parametrise over echo delays (they run in the one audio worker, like every paced test)."""
    return pytest.mark.parametrize("echo_rig", [pytest.param(d, id=f"{d}ms") for d in delays], indirect=True)


def script(tmp_path: Path) -> Path:
    path = tmp_path / "long.toml"
    path.write_text(f'[[turn]]\nreply = "{REPLY}"\n')
    return path


def wait_for_speech_started(talk: Talk, count: int) -> None:
    wait_until(lambda: len(talk.events("input_audio_buffer.speech_started")) >= count, "speech_started", 30)


@rig(20, 60, 120)
def test_a_long_reply_plays_to_its_end_and_a_talker_still_barges_in_once(
    pulse_audio: PulseAudio, echo_rig: int, talk_factory: Any, tmp_path: Path
) -> None:
    talk: Talk = talk_factory("--brain", "scripted", "--script", str(script(tmp_path)), "--echo", "aec")
    question = speech_wav(tmp_path / "question.wav", "tell me a story")
    reference = np.asarray(speak(REPLY))
    assert len(reference) / 24_000 > 18  # the reply lasts about twenty seconds

    play_into_mic(pulse_audio, question).wait(timeout=10)
    wait_until(lambda: bool(talk.events("response.output_audio.done")), "the first reply", timeout=30)
    first = Recorder(pulse_audio, tmp_path / "first.raw", rate=SPEAKER_RATE)
    wait_until(lambda: first.sound_s() > 0 and first.quiet_for_s() >= 1.0, "the reply to its end", timeout=60)
    first.stop()
    # The whole reply came back into the microphone, yet the service heard no speech but the question.
    assert len(talk.events("input_audio_buffer.speech_started")) == 1
    assert not talk.events("conversation.item.truncate", "out")

    speaker = Recorder(pulse_audio, tmp_path / "second.raw", rate=SPEAKER_RATE)
    play_into_mic(pulse_audio, question).wait(timeout=10)
    wait_for_speech_started(talk, 2)
    wait_until(lambda: speaker.sound_s() >= 2.0, "2 s of the second reply out of the speaker", timeout=30)
    play_into_mic(pulse_audio, speech_wav(tmp_path / "stop.wav", "stop please, stop"))
    wait_until(lambda: bool(talk.events("conversation.item.truncated", "in")), "the truncation", timeout=30)
    wait_until(lambda: speaker.quiet_for_s() >= 0.3, "the speaker recording to catch up with the cut")
    recorded = speaker.stop()
    code, _, err = talk.interrupt()
    assert code == 0, err

    assert len(talk.events("input_audio_buffer.speech_started")) == 3  # two questions and one barge-in
    [truncate] = [r["event"] for r in talk.events("conversation.item.truncate", "out")]
    assert 2000 <= truncate["audio_end_ms"] < len(reference) / 24
    assert_truncate_matches_speaker(recorded, SPEAKER_RATE, reference, truncate["audio_end_ms"])


@rig(60)
def test_with_echo_off_the_assistant_interrupts_itself(
    pulse_audio: PulseAudio, echo_rig: int, talk_factory: Any, tmp_path: Path
) -> None:
    talk: Talk = talk_factory("--brain", "scripted", "--script", str(script(tmp_path)), "--echo", "off")
    play_into_mic(pulse_audio, speech_wav(tmp_path / "question.wav", "tell me a story")).wait(timeout=10)
    wait_for_speech_started(talk, 1)
    # Nobody speaks again: the only voice in the microphone is the assistant's own, and it cuts itself off.
    wait_until(lambda: bool(talk.events("conversation.item.truncate", "out")), "a self-interruption", timeout=30)
    talk.interrupt()
    assert len(talk.events("input_audio_buffer.speech_started")) >= 2


def echo_test(pulse: PulseAudio, config: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "voicecli", "echo-test", "--config", str(config), "--save"],
        capture_output=True, text=True, timeout=60, env=pulse.env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@rig(60)
def test_echo_test_on_the_rig_measures_delay_and_level_and_saves_aec(
    pulse_audio: PulseAudio, echo_rig: int, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('# my settings\nprovider = "local"\n\n[audio]\necho = "off"\n')
    out = echo_test(pulse_audio, config)
    delay = float(re.search(r"echo path delay: (\d+) ms", out)[1])  # type: ignore[index]
    level = float(re.search(r"echo level: (-?\d+\.\d) dB", out)[1])  # type: ignore[index]
    aec = float(re.search(r"aec (\d+) dB", out)[1])  # type: ignore[index]
    assert 50 <= delay <= 200, out  # the loopback's 60 ms, give or take its own buffering
    assert -15 <= level <= -9, out  # the rig's -12 dB
    assert aec >= 25, out
    assert 'recommended: echo = "aec"' in out
    assert config.read_text() == '# my settings\nprovider = "local"\n\n[audio]\necho = "aec"\n'


def test_echo_test_without_echo_recommends_off(pulse_audio: PulseAudio, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    out = echo_test(pulse_audio, config)
    assert "echo path delay: none (no echo heard)" in out
    assert 'recommended: echo = "off"' in out
    assert config.read_text() == '[audio]\necho = "off"\n'
