"""`voicecli talk` live mode as a user runs it: a real process on the PulseAudio null sinks.

Speech is played into `vmic` with paplay, what voicecli plays is recorded from `vspeaker.monitor`
with parec, and `--json-events` / `--record` tell what was sent and when (the same monotonic clock
as this process: `mono` in the event log). The sessions that mostly wait on real time are scenarios
played side by side, each in a room of its own (`support.audio.side_by_side`); the barge-in and
push-to-talk tests, whose timing against the audio is the point, play alone.
"""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from rich.console import Console
from support.audio import (
    PulseAudio,
    Recorder,
    assert_sounds_for,
    digital_silence_s,
    play_into_mic,
    side_by_side,
    speech_wav,
    wait_until,
)
from support.audio import pulse_audio as pulse_audio  # session fixture
from support.live import LOUD, Talk, Tmux, assert_truncate_matches_speaker, first_burst
from support.live import talk_factory as talk_factory  # fixture

from voicecli.commands.talk_live import run_live
from voicecli.config import AppConfig, load_config
from voicecli.realtime import RealtimeConnectionError
from voicecli.server import UNPACED, LocalServer
from voicecli.server.faults import Faults
from voicecli.server.synth import speak

pytestmark = [pytest.mark.audio, pytest.mark.timeout(60)]

LONG_REPLY = (
    "Once upon a time there was a little voice assistant that loved to talk for a very long time "
    "about everything and nothing at all, and it never stopped talking until somebody interrupted it."
)


def speaker(pulse: PulseAudio, path: Path) -> Recorder:
    return Recorder(pulse, path, rate=44_100)


def spoken_question_gets_the_echo_reply(room: PulseAudio, folder: Path) -> None:
    with Talk(room, folder) as talk:
        question = speech_wav(folder / "question.wav", "what a lovely day it is today")
        recording = speaker(room, folder / "speaker.raw")
        play_into_mic(room, question).wait(timeout=10)
        heard_reply(talk, recording, question)


def heard_reply(talk: Talk, recording: Recorder, question: Path) -> None:
    """The echo brain's answer to `question` came out of the speaker whole, and the session ends cleanly."""
    wait_until(lambda: bool(talk.events("response.output_audio_transcript.done")), "the reply", timeout=30)
    transcript = talk.events("response.output_audio_transcript.done")[0]["event"]["transcript"]
    reference = np.asarray(speak(transcript))
    wait_until(
        lambda: recording.sound_s() > 0 and recording.quiet_for_s() >= 0.6,
        "the reply out of the speaker, then silence",
    )
    recorded = recording.stop()
    code, out, err = talk.interrupt()

    assert code == 0, err
    assert re.fullmatch(r"I heard \d\.\d seconds of audio(\. You said: .+|, but no words I know\.)", transcript)
    heard_s = float(transcript.split()[2])
    assert heard_s == pytest.approx(soundfile.info(question).duration, abs=0.8)  # the VAD adds its padding
    burst = first_burst(recorded, 44_100)
    ref_burst = first_burst(reference, 24_000)
    assert burst is not None and ref_burst is not None, "no reply came out of the speaker"
    ref_sound = reference[ref_burst[0] : ref_burst[1] + 1]
    assert_sounds_for(
        recorded[burst[0] : burst[1] + 1], 44_100, len(ref_sound) / 24_000, 0.03, digital_silence_s(ref_sound, 24_000)
    )
    assert f"Assistant: {transcript}" in out
    assert "Latency over 1 turn" in out and "first audio heard" in out
    assert "Traceback" not in err and "ALSA" not in err

    [folder] = talk.record_dir.iterdir()
    mic, rate = soundfile.read(folder / "mic.wav", dtype="int16")
    played, _ = soundfile.read(folder / "played.wav", dtype="int16")
    assert rate == 24_000 and np.abs(mic).max() > LOUD and np.abs(played).max() > LOUD
    directions = {json.loads(line)["dir"] for line in (folder / "events.jsonl").read_text().splitlines()}
    assert directions == {"in", "out"}


def test_speaking_over_the_reply_stops_it_and_the_truncate_matches_the_speaker(
    pulse_audio: PulseAudio, talk_factory: Any, tmp_path: Path
) -> None:
    script = tmp_path / "long.toml"
    script.write_text(f'[[turn]]\nreply = "{LONG_REPLY}"\n')
    talk: Talk = talk_factory("--brain", "scripted", "--script", str(script))
    question = speech_wav(tmp_path / "question.wav", "tell me a story")
    interruption = speech_wav(tmp_path / "stop.wav", "stop please")
    recording = speaker(pulse_audio, tmp_path / "speaker.raw")
    play_into_mic(pulse_audio, question).wait(timeout=10)
    wait_until(lambda: bool(talk.events("response.output_audio.delta")), "the reply", timeout=30)
    # The local server paces the reply like the service (10 s of speech on the wire for 3 s), so the
    # interruption usually finds it still streaming: interrupt once 1.5 s of it came out of the
    # speaker, however long the loaded machine took to play that.
    wait_until(lambda: recording.sound_s() >= 1.5, "1.5 s of the reply out of the speaker", timeout=30)
    play_into_mic(pulse_audio, interruption)
    wait_until(lambda: bool(talk.events("conversation.item.truncated", "in")), "the truncation", timeout=30)
    wait_until(lambda: recording.quiet_for_s() >= 0.3, "the speaker recording to catch up with the cut")
    recorded = recording.stop()
    code, _, err = talk.interrupt()
    assert code == 0, err

    [truncate] = [r["event"] for r in talk.events("conversation.item.truncate", "out")]
    audio_end_ms = truncate["audio_end_ms"]
    assert 1000 < audio_end_ms < len(speak(LONG_REPLY)) / 24
    assert_truncate_matches_speaker(recorded, 44_100, np.asarray(speak(LONG_REPLY)), audio_end_ms)

    # When did the speaker fall silent? The reply's first loud sample was audible at the moment the
    # recorded played.wav puts it (session clock); the speaker recording says how long it lasted.
    [speech_started] = talk.events("input_audio_buffer.speech_started")[1:2]
    clock_start = speech_started["mono"] - speech_started["t"]
    [folder] = talk.record_dir.iterdir()
    played, _ = soundfile.read(folder / "played.wav", dtype="int16")
    played_burst, burst = first_burst(played, 24_000), first_burst(recorded, 44_100)
    assert played_burst is not None and burst is not None
    silent_at = clock_start + played_burst[0] / 24_000 + (burst[1] - burst[0]) / 44_100
    stop_s = silent_at - speech_started["mono"]
    # Order, not speed (the stop time is benchmarks/bench_live.py's speech_started_to_silence_ms):
    # the reply played on until the user spoke, and was cut where the truncate says (checked above).
    assert stop_s > -0.02, f"the speaker went silent {-stop_s * 1000:.0f} ms before speech_started"


def live_screen_in_tmux(room: PulseAudio, folder: Path) -> None:
    with Tmux(room, folder) as window:
        live_screen_shows_turns_mute_and_ends_on_ctrl_c(room, folder, window)


def live_screen_shows_turns_mute_and_ends_on_ctrl_c(room: PulseAudio, folder: Path, window: Tmux) -> None:
    window.wait_for("● listening", "the status line", timeout=30)
    status = window.screen()
    assert "local · websocket · echo brain · voice alloy" in status
    assert "just talk · t type · m mute · Ctrl-C quit" in status
    play_into_mic(room, speech_wav(folder / "hello.wav", "hello there")).wait(timeout=10)
    window.wait_for("I heard", "the assistant's turn")
    assert "You" in window.screen()
    window.keys("m")
    window.wait_for("MUTED", "the mute indicator", timeout=30)
    window.keys("m")
    wait_until(lambda: "MUTED" not in window.screen(), "unmute", timeout=30)
    window.keys("C-c")
    assert window.exit_code() == "EXIT=0"
    final = window.screen()
    assert "Latency over 1 turn" in final and "I heard" in final  # the transcript stays in the scrollback


def test_push_to_talk_in_tmux_talks_between_two_presses_of_space(pulse_audio: PulseAudio, tmp_path: Path) -> None:
    """Alone, not side by side: all the audio played between two key presses must have been sent, which a
    PulseAudio daemon busy with other rooms does not promise."""
    events = tmp_path / "events.jsonl"
    with Tmux(pulse_audio, tmp_path, "--push-to-talk", "--json-events", str(events)) as window:
        push_to_talk_talks_between_two_presses_of_space(pulse_audio, tmp_path, window, events)


def push_to_talk_talks_between_two_presses_of_space(room: PulseAudio, folder: Path, window: Tmux, events: Path) -> None:
    window.wait_for("● listening", "the status line", timeout=30)
    assert "SPACE talk/send · t type · m mute" in window.screen()
    unsent = speech_wav(folder / "unsent.wav", "not sent yet")  # before any press: none of it may leave
    play_into_mic(room, unsent).wait(timeout=10)
    window.keys("Space")
    window.wait_for("you are speaking", "the talking state", timeout=30)
    hello = speech_wav(folder / "hello.wav", "hello there")
    play_into_mic(room, hello).wait(timeout=10)
    window.keys("Space")
    wait_until(lambda: bool(re.search(r"I heard \d+\.\d seconds", window.screen())), "the assistant's whole turn")
    heard = float(re.findall(r"I heard (\d+\.\d) seconds", window.screen())[0])
    # Only what was said between the presses, judged by order and content, not by how long the
    # presses took: no microphone audio left before the first press, and all of "hello there" did.
    records = [json.loads(line) for line in events.read_text().splitlines() if line.endswith("}")]
    sent = [record["type"] for record in records if record["dir"] == "out"]
    pressed = sent.index("input_audio_buffer.clear")
    assert "input_audio_buffer.append" not in sent[:pressed]
    assert "input_audio_buffer.append" in sent[pressed:] and "input_audio_buffer.commit" in sent[pressed:]
    assert heard >= soundfile.info(hello).duration - 0.1  # the screen rounds to tenths
    window.keys("C-c")
    assert window.exit_code() == "EXIT=0"


def sigterm_then_two_interrupts(room: PulseAudio, folder: Path) -> None:
    (folder / "first").mkdir()
    (folder / "second").mkdir()
    with Talk(room, folder / "first") as talk, Talk(room, folder / "second") as again:
        sigterm_ends_cleanly_and_a_second_ctrl_c_quits_at_once(talk, again)


def sigterm_ends_cleanly_and_a_second_ctrl_c_quits_at_once(talk: Talk, again: Talk) -> None:
    talk.proc.send_signal(signal.SIGTERM)
    out, err = talk.proc.communicate(timeout=20)
    assert talk.proc.returncode == 0, err
    assert "Latency over 0 turns" in out
    [folder] = talk.record_dir.iterdir()
    assert soundfile.info(folder / "mic.wav").duration > 0  # closed properly

    # Two interrupts that both arrive before the clean shutdown can finish, whatever the machine's
    # load: stopped, the process collects them (two SIGINTs would merge into one pending signal, so
    # the second is a SIGTERM, which voicecli treats the same), and on waking it handles both at once.
    again.proc.send_signal(signal.SIGSTOP)
    wait_until(lambda: process_state(again.proc.pid) == "T", "the process to stop")
    again.proc.send_signal(signal.SIGINT)
    again.proc.send_signal(signal.SIGTERM)
    again.proc.send_signal(signal.SIGCONT)
    again.proc.communicate(timeout=20)
    assert again.proc.returncode == 130


def process_state(pid: int) -> str:
    """The state letter of /proc/PID/stat (`T`: stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0]


def unplugged_microphone(room: PulseAudio, folder: Path) -> None:
    """Unplugging as the program sees it: its input stream stops delivering (here: its source is suspended)."""
    with Talk(room, folder) as talk:
        time.sleep(0.5)
        room.pactl("suspend-sink", room.mic, "1")
        _, err = talk.proc.communicate(timeout=20)
    assert talk.proc.returncode == 1
    assert err.splitlines() == [
        "voicecli: error: the microphone delivered no audio for 2 s (unplugged?); "
        "check it with `voicecli devices --test` and start again"
    ]
    [folder] = talk.record_dir.iterdir()
    assert soundfile.info(folder / "mic.wav").duration > 0.5  # the recording was kept and closed properly


def test_a_device_name_that_matches_nothing_lists_the_candidates(pulse_audio: PulseAudio, tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "voicecli", "talk", "--config", str(empty), "--input-device", "nope"],
        capture_output=True, text=True, timeout=30, env=pulse_audio.env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("voicecli: error: no input device matches 'nope'; choose one of: ")
    assert "default (ALSA)" in line


def test_push_to_talk_without_a_terminal_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "voicecli", "talk", "--config", str(empty), "--push-to-talk"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "voicecli: error: push-to-talk reads the SPACE key from a terminal; run it in one, or drop --push-to-talk"
    ]


@pytest.mark.usefixtures("root_logger")  # run_live in-process configures the root logger
async def test_a_dropped_connection_ends_with_the_reason_and_keeps_the_recording(
    pulse_audio: PulseAudio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    empty_config = tmp_path / "empty.toml"
    empty_config.write_text("")
    async with LocalServer(brain="echo", pacing=UNPACED, faults=Faults(drop_after_events=2)) as server:
        config: AppConfig = load_config(
            empty_config,
            overrides={
                "provider": "openai",
                "openai.base_url": server.http_url + "/v1",
                "recording.dir": str(tmp_path / "rec"),
                "ui.log_file": str(tmp_path / "voicecli.log"),
                "session.reconnect_tries": 2,  # every new session drops too: the tries are spent
            },
        )
        out = io.StringIO()
        with pytest.raises(RealtimeConnectionError, match=r"2 tries to reconnect failed.*start again"):
            await run_live(config, console=Console(file=out, width=100))
    [folder] = (tmp_path / "rec").iterdir()
    # Closed properly: close() pads both tracks to the session's length, so they are valid WAVs of one
    # non-zero length, however short the session was (it lasts only as long as two events take).
    lengths = {soundfile.info(folder / name).frames for name in ("mic.wav", "played.wav")}
    assert len(lengths) == 1 and lengths.pop() > 0
    records = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    tries = [record["event"]["attempt"] for record in records if record["type"] == "connection.reconnecting"]
    assert tries == [1, 2] and records[-1]["type"] == "connection"
    assert "Latency over 0 turns" in out.getvalue() and "reconnecting (2/2)" in out.getvalue()


# --- the paced scenarios above, side by side ----------------------------------------------------


@pytest.fixture(scope="module")
def live_talks(pulse_audio: PulseAudio, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[None]]]:
    """The live sessions that mostly wait on real time, each in a room of its own (`side_by_side`).
    The barge-in and push-to-talk tests above, whose timing against the audio is the point, play alone."""
    scenarios = {
        "question": spoken_question_gets_the_echo_reply,
        "screen": live_screen_in_tmux,
        "signals": sigterm_then_two_interrupts,
        "unplug": unplugged_microphone,
    }
    with side_by_side(pulse_audio, tmp_path_factory, scenarios) as running:
        yield running


@pytest.mark.side_by_side
def test_spoken_question_gets_the_echo_reply_out_of_the_speaker(live_talks: dict[str, Future[None]]) -> None:
    live_talks["question"].result()


@pytest.mark.side_by_side
def test_the_live_screen_in_tmux_shows_turns_mute_and_ends_on_ctrl_c(live_talks: dict[str, Future[None]]) -> None:
    live_talks["screen"].result()


@pytest.mark.side_by_side
def test_sigterm_ends_cleanly_and_a_second_ctrl_c_quits_at_once(live_talks: dict[str, Future[None]]) -> None:
    live_talks["signals"].result()


@pytest.mark.side_by_side
def test_a_microphone_that_stops_delivering_ends_the_session_with_one_line(
    live_talks: dict[str, Future[None]],
) -> None:
    live_talks["unplug"].result()
