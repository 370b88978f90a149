"""Talking on laptop speakers, simulated: the speaker leaks into the microphone (DESIGN.md section 5).

A `module-loopback` from the speaker's monitor to the microphone with a set delay at -12 dB
(sink-input volume 63 %, PulseAudio volume is cubic) makes whatever voicecli plays come back into its
microphone. The long reply, eleven seconds of real time, plays at its three delays side by side, each
in a room of its own (`support.audio.side_by_side`), so the three take the time of one; the short
scenarios (`echo-test`, echo off) play side by side too, after them. Two interruptions in one
session, with the status line read in tmux, play alone.
"""

from __future__ import annotations

import contextlib
import functools
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pytest
import soundfile
from support.audio import PulseAudio, Recorder, play_into_mic, side_by_side, speech_level_db, speech_wav, wait_until
from support.audio import pulse_audio as pulse_audio  # session fixture
from support.live import EventLog, Talk, Tmux, assert_truncate_matches_speaker

from voicecli.server.synth import speak

pytestmark = [pytest.mark.audio, pytest.mark.timeout(150)]

REPLY = (
    "Here is a long answer, to test talking on laptop speakers. All the while, its own voice comes back into "
    "the microphone, a little later and a little quieter. With echo cancellation it goes on to the end."
)
"""About eleven seconds: the echo comes back through many words and pauses (the twenty seconds it
lasted before made this the suite's longest test)."""
SPEAKER_RATE = 44_100
LONG_REPLY_DELAYS_MS = (20, 60, 120)
ECHO_DB = -12.0
"""How loud the rig's speaker comes back into its microphone (`leaking_speaker`)."""


@contextlib.contextmanager
def leaking_speaker(room: PulseAudio, delay_ms: int) -> Iterator[None]:
    """The room's speaker back into its microphone `delay_ms` later at -12 dB; removed afterwards."""
    pactl = room.pactl

    def stream_of(owner: str) -> str | None:
        """The sink input the module owns (`pactl list short` does not name the owner)."""
        found = re.findall(r"Sink Input #(\d+)\n(?:\t.*\n)*?\tOwner Module: (\d+)", pactl("list", "sink-inputs"))
        return next((index for index, module in found if module == owner), None)

    module = pactl(
        "load-module", "module-loopback", f"source={room.speaker}.monitor", f"sink={room.mic}",
        f"latency_msec={delay_ms}", "source_dont_move=true", "sink_dont_move=true",
    ).strip()  # fmt: skip
    try:
        wait_until(lambda: stream_of(module) is not None, "the loopback's stream")
        pactl("set-sink-input-volume", str(stream_of(module)), "63%")
        yield
    finally:
        pactl("unload-module", module)


def script(folder: Path) -> Path:
    path = folder / "long.toml"
    path.write_text(f'[[turn]]\nreply = "{REPLY}"\n')
    return path


def wait_for_speech_started(talk: Talk, count: int) -> None:
    wait_until(lambda: len(talk.events("input_audio_buffer.speech_started")) >= count, "speech_started", 30)


def long_reply_then_barge_in(delay_ms: int, room: PulseAudio, folder: Path) -> None:
    """On speakers leaking `delay_ms` late: the whole long reply plays unbroken by its own echo, then
    a person talking over the second reply cuts it, once, where the speaker had got to."""
    args = ("--brain", "scripted", "--script", str(script(folder)), "--echo", "aec")
    with leaking_speaker(room, delay_ms), Talk(room, folder, *args) as talk:
        question = speech_wav(folder / "question.wav", "tell me a story")
        reference = np.asarray(speak(REPLY))
        assert len(reference) / 24_000 > 10  # the reply lasts about eleven seconds

        play_into_mic(room, question).wait(timeout=10)
        wait_until(lambda: bool(talk.events("response.output_audio.done")), "the first reply", timeout=30)
        first = Recorder(room, folder / "first.raw", rate=SPEAKER_RATE)
        wait_until(lambda: first.sound_s() > 0 and first.quiet_for_s() >= 1.0, "the reply to its end", 60)
        first.stop()
        # The whole reply came back into the microphone, yet the service heard no speech but the question.
        assert len(talk.events("input_audio_buffer.speech_started")) == 1
        assert not talk.events("conversation.item.truncate", "out")

        speaker = Recorder(room, folder / "second.raw", rate=SPEAKER_RATE)
        play_into_mic(room, question).wait(timeout=10)
        wait_for_speech_started(talk, 2)
        wait_until(lambda: speaker.sound_s() >= 2.0, "2 s of the second reply out of the speaker", timeout=30)
        play_into_mic(room, speech_wav(folder / "stop.wav", "stop please, stop"))
        wait_until(lambda: bool(talk.events("conversation.item.truncated", "in")), "the truncation", timeout=30)
        wait_until(lambda: speaker.quiet_for_s() >= 0.3, "the speaker recording to catch up with the cut")
        recorded = speaker.stop()
        code, _, err = talk.interrupt()
        assert code == 0, err

        assert len(talk.events("input_audio_buffer.speech_started")) == 3  # two questions and one barge-in
        [truncate] = [r["event"] for r in talk.events("conversation.item.truncate", "out")]
        assert 2000 <= truncate["audio_end_ms"] < len(reference) / 24
        assert_truncate_matches_speaker(recorded, SPEAKER_RATE, reference, truncate["audio_end_ms"])


def voice_over_echo(path: Path, text: str, above_echo_db: float) -> Path:
    """`text` spoken `above_echo_db` louder than the echo of a reply in the rig's microphone."""
    speech_wav(path, text)
    voice, rate = soundfile.read(path, dtype="int16")
    echo_db = speech_level_db(np.asarray(speak(REPLY)), 24_000) + ECHO_DB
    gain_db = echo_db + above_echo_db - speech_level_db(voice, rate)
    soundfile.write(path, np.round(voice * 10 ** (gain_db / 20)).astype(np.int16), rate)
    return path


def talk_over_the_reply(
    room: PulseAudio, log: EventLog, speaker: Recorder, voice: Path, after_s: float, cut: int
) -> int:
    """Once `after_s` of the reply came out of the speaker, `voice` talks over it; the `cut`-th
    truncate's `audio_end_ms`."""
    wait_until(lambda: speaker.sound_s() >= after_s, f"{after_s} s of reply {cut} out of the speaker", timeout=30)
    play_into_mic(room, voice)
    wait_until(lambda: len(log.records("conversation.item.truncated", "in")) >= cut, f"cut {cut}", timeout=30)
    wait_until(lambda: speaker.quiet_for_s() >= 0.3, "the speaker recording to catch up with the cut")
    return int(log.records("conversation.item.truncate", "out")[cut - 1]["event"]["audio_end_ms"])


def test_two_interruptions_on_speakers_both_cut_the_reply_and_auto_keeps_the_canceller(
    pulse_audio: PulseAudio, tmp_path: Path
) -> None:
    """A person talking over the reply twice in one session, the second time only 6 dB above the
    echo: both cut the reply where the speaker had got to, and the status line still shows the
    canceller (`auto` took the first double talk for a failed canceller and ran the half-duplex
    gate from then on). Alone, not side by side: the cuts are timed against the audio, and the
    status line is read from a real terminal (tmux)."""
    room, folder = pulse_audio, tmp_path
    events = folder / "events.jsonl"
    args = ("--brain", "scripted", "--script", str(script(folder)), "--echo", "auto", "--json-events", str(events))
    reference = np.asarray(speak(REPLY))
    question = speech_wav(folder / "question.wav", "tell me a story")
    # Each interruption is the next turn: the reply to "stop" is the reply the second one cuts. The
    # quieter voice takes longer to be heard; it starts later, so that neither cut lands within a few
    # ms of a word's start (which the speaker recording cannot tell from a cut just before it).
    stops = [(voice_over_echo(folder / "stop.wav", "stop please, stop", 12.0), 2.0)]
    stops.append((voice_over_echo(folder / "quiet.wav", "stop please, stop", 6.0), 2.5))
    with leaking_speaker(room, 60), Tmux(room, folder, *args) as window:
        log = EventLog(events)
        window.wait_for("● listening", "the status line")
        speaker = Recorder(room, folder / "reply1.raw", rate=SPEAKER_RATE)
        play_into_mic(room, question).wait(timeout=10)
        for cut, (stop, after_s) in enumerate(stops, 1):
            audio_end_ms = talk_over_the_reply(room, log, speaker, stop, after_s, cut)
            recorded = speaker.stop()
            speaker = Recorder(room, folder / f"reply{cut + 1}.raw", rate=SPEAKER_RATE)  # before the next reply
            played = assert_truncate_matches_speaker(recorded, SPEAKER_RATE, reference, audio_end_ms)
            assert 2000 <= audio_end_ms < len(reference) / 24
            screen = window.screen()
            print(f"cut {cut}: audio_end_ms={audio_end_ms} {played}; {re.findall(r'.*echo auto.*', screen)}")
            assert re.findall(r"echo auto: \w+", screen) == ["echo auto: aec"], screen
        speaker.stop()
        window.keys("C-c")
        assert window.exit_code() == "EXIT=0"


@pytest.fixture(scope="module")
def long_replies(
    pulse_audio: PulseAudio, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[None]]]:
    """The long-reply scenario at every delay, side by side (three talks fit on 2 cores)."""
    scenarios = {f"rig{delay}": functools.partial(long_reply_then_barge_in, delay) for delay in LONG_REPLY_DELAYS_MS}
    with side_by_side(pulse_audio, tmp_path_factory, scenarios) as running:
        yield running


@pytest.mark.side_by_side
@pytest.mark.parametrize("delay_ms", LONG_REPLY_DELAYS_MS, ids=[f"{d}ms" for d in LONG_REPLY_DELAYS_MS])
def test_a_long_reply_plays_to_its_end_and_a_talker_still_barges_in_once(
    long_replies: dict[str, Future[None]], delay_ms: int
) -> None:
    long_replies[f"rig{delay_ms}"].result()  # the scenario's own assertion or failure, raised here


def echo_off_interrupts_itself(room: PulseAudio, folder: Path) -> None:
    """With the canceller off, the assistant hears its own voice and cuts itself off."""
    args = ("--brain", "scripted", "--script", str(script(folder)), "--echo", "off")
    with leaking_speaker(room, 60), Talk(room, folder, *args) as talk:
        play_into_mic(room, speech_wav(folder / "question.wav", "tell me a story")).wait(timeout=10)
        wait_for_speech_started(talk, 1)
        # Nobody speaks again: the only voice in the microphone is the assistant's own.
        wait_until(lambda: bool(talk.events("conversation.item.truncate", "out")), "a self-interruption", 30)
        talk.interrupt()
        assert len(talk.events("input_audio_buffer.speech_started")) >= 2


def echo_test(room: PulseAudio, config: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "voicecli", "echo-test", "--config", str(config), "--save"],
        capture_output=True, text=True, timeout=60, env=room.env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def echo_test_on_the_rig_saves_aec(room: PulseAudio, folder: Path) -> None:
    """`echo-test` on speakers leaking 60 ms late at -12 dB measures both and recommends the canceller."""
    config = folder / "config.toml"
    config.write_text('# my settings\nprovider = "local"\n\n[audio]\necho = "off"\n')
    with leaking_speaker(room, 60):
        out = echo_test(room, config)
    delay = float(re.search(r"echo path delay: (\d+) ms", out)[1])  # type: ignore[index]
    level = float(re.search(r"echo level: (-?\d+\.\d) dB", out)[1])  # type: ignore[index]
    aec = float(re.search(r"aec (\d+) dB", out)[1])  # type: ignore[index]
    assert 50 <= delay <= 200, out  # the loopback's 60 ms, give or take its own buffering
    assert -15 <= level <= -9, out  # the rig's -12 dB
    assert aec >= 25, out
    assert 'recommended: echo = "aec"' in out
    assert config.read_text() == '# my settings\nprovider = "local"\n\n[audio]\necho = "aec"\n'


def echo_test_without_echo_saves_off(room: PulseAudio, folder: Path) -> None:
    config = folder / "config.toml"
    config.write_text("")
    out = echo_test(room, config)
    assert "echo path delay: none (no echo heard)" in out
    assert 'recommended: echo = "off"' in out
    assert config.read_text() == '[audio]\necho = "off"\n'


@pytest.fixture(scope="module")
def short_rigs(pulse_audio: PulseAudio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[None]]]:
    """The short scenarios side by side: `echo-test` with and without echo, and a talk with echo off."""
    scenarios = {
        "echo-off": echo_off_interrupts_itself,
        "echo-test-rig": echo_test_on_the_rig_saves_aec,
        "echo-test-quiet": echo_test_without_echo_saves_off,
    }
    with side_by_side(pulse_audio, tmp_path_factory, scenarios) as running:
        yield running


@pytest.mark.side_by_side
def test_with_echo_off_the_assistant_interrupts_itself(short_rigs: dict[str, Future[None]]) -> None:
    short_rigs["echo-off"].result()


@pytest.mark.side_by_side
def test_echo_test_on_the_rig_measures_delay_and_level_and_saves_aec(short_rigs: dict[str, Future[None]]) -> None:
    short_rigs["echo-test-rig"].result()


@pytest.mark.side_by_side
def test_echo_test_without_echo_recommends_off(short_rigs: dict[str, Future[None]]) -> None:
    short_rigs["echo-test-quiet"].result()
