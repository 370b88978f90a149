"""Local barge-in on laptop speakers, simulated (the echo rig of test_echo_rig.py, 60 ms at -12 dB),
against the local server's VAD 300 ms late like the service's: a 0.4 s "mm-hm" and a cough-like
burst leave the reply playing to its end, nothing lost; a person talking on fades it, then stops it
where the speaker had got to."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from support.audio import (
    PulseAudio,
    Recorder,
    active_span,
    play_into_mic,
    sound_mask,
    speech_level_db,
    wait_until,
)
from support.audio import pulse_audio as pulse_audio  # session fixture
from support.live import Talk, assert_truncate_matches_speaker
from test_echo_rig import SPEAKER_RATE, leaking_speaker, voice_over_echo

from voicecli.conversation.local_barge_in import DUCK_GAIN
from voicecli.server.synth import speak

pytestmark = [pytest.mark.audio, pytest.mark.timeout(150)]

REPLY = (
    "Here is an answer of about ten seconds, to test listening while it speaks. A short sound from you, "
    "a yes or a cough, should leave it talking to the very end, and nothing of it should be lost."
)


def cough(path: Path) -> Path:
    """250 ms of shaped noise, loud enough for the server's VAD to take it for speech."""
    burst = np.random.default_rng(5).standard_normal(5512) * np.hanning(5512) * 12000
    soundfile.write(path, burst.astype(np.int16), 22_050)
    return path


def mm_hm(path: Path, folder: Path) -> Path:
    """espeak's "mm-hm", cut to 0.4 s."""
    voice_over_echo(folder / "mmhm_full.wav", "mm-hm", 18.0)
    voice, rate = soundfile.read(folder / "mmhm_full.wav", dtype="int16")
    start = int(np.flatnonzero(np.abs(voice) > 300)[0])
    soundfile.write(path, voice[start : start + rate * 4 // 10], rate)
    return path


def test_on_speakers_a_back_channel_and_a_cough_leave_the_reply_and_talking_on_stops_it(
    pulse_audio: PulseAudio, tmp_path: Path
) -> None:
    room, folder = pulse_audio, tmp_path
    script = folder / "replies.toml"
    script.write_text(f'[[turn]]\nreply = "{REPLY}"\n')
    config = folder / "late.toml"
    config.write_text("[local]\nvad_delay_ms = 300\n")
    args = (
        "--brain",
        "scripted",
        "--script",
        str(script),
        "--echo",
        "aec",
        "--barge-in",
        "local",
        "--config",
        str(config),
    )
    reference = np.asarray(speak(REPLY))
    question = voice_over_echo(folder / "question.wav", "tell me something", 12.0)
    stop = voice_over_echo(folder / "stop.wav", "stop please, stop, I want to ask something else", 12.0)
    with leaking_speaker(room, 60), Talk(room, folder, *args) as talk:
        speaker = Recorder(room, folder / "reply1.raw", rate=SPEAKER_RATE)
        play_into_mic(room, question).wait(timeout=10)
        wait_until(lambda: speaker.sound_s() >= 2.0, "2 s of the reply out of the speaker", timeout=30)
        play_into_mic(room, mm_hm(folder / "mmhm.wav", folder)).wait(timeout=10)
        wait_until(lambda: speaker.sound_s() >= 5.0, "5 s of the reply out of the speaker", timeout=30)
        play_into_mic(room, cough(folder / "cough.wav")).wait(timeout=10)
        wait_until(lambda: speaker.quiet_for_s() >= 1.0, "the reply to play to its end", timeout=40)
        first = speaker.stop()
        # the server's VAD heard both (in `service` mode either would have stopped the reply) ...
        assert len(talk.events("input_audio_buffer.speech_started")) == 3
        assert not talk.events("conversation.item.truncate", "out")  # ... and here neither did
        # nothing lost: from its first sound to its last, the speaker played the whole reply (lifted
        # by the duck's 20 dB, so that the ducked stretches' soft sounds do not pass for silence)
        lifted = np.clip(first.astype(np.int32) / DUCK_GAIN, -32768, 32767).astype(np.int16)
        span, whole = active_span(lifted), active_span(reference)
        assert span is not None and whole is not None
        # (lifting also lifts the resampler's faint noise in the reply's pauses: the span, not the pauses;
        # a late device callback on a loaded machine can only make it longer, as in assert_sounds_for:
        # more than a second of that digital silence on a busy machine, so it is left out of the upper bound)
        reply_s, span_s = (whole[1] - whole[0]) / 24_000, (span[1] - span[0]) / SPEAKER_RATE
        played_s = np.count_nonzero(sound_mask(lifted[span[0] : span[1] + 1], SPEAKER_RATE)) / SPEAKER_RATE
        assert reply_s - 0.05 <= span_s and played_s < reply_s + 1.0

        speaker = Recorder(room, folder / "reply2.raw", rate=SPEAKER_RATE)
        play_into_mic(room, question).wait(timeout=10)
        wait_until(lambda: speaker.sound_s() >= 2.0, "2 s of the second reply out of the speaker", timeout=30)
        play_into_mic(room, stop)
        wait_until(lambda: bool(talk.events("conversation.item.truncated", "in")), "the truncation", timeout=30)
        wait_until(lambda: speaker.quiet_for_s() >= 0.3, "the speaker recording to catch up with the cut")
        second = speaker.stop()
        code, _, err = talk.interrupt()
        assert code == 0, err
    [truncate] = [r["event"] for r in talk.events("conversation.item.truncate", "out")]
    assert 2000 <= truncate["audio_end_ms"] < len(reference) / 24
    lifted = np.clip(second.astype(np.int32) / DUCK_GAIN, -32768, 32767).astype(np.int16)  # see test_local_barge_in
    assert_truncate_matches_speaker(lifted, SPEAKER_RATE, reference, truncate["audio_end_ms"], tolerance_ms=60)
    # faded, then stopped: the last 400 ms before the cut (the decision takes 600 ms of voice) are 20 dB down
    cut = active_span(lifted)
    assert cut is not None
    ducked = speech_level_db(second[cut[1] - SPEAKER_RATE * 4 // 10 : cut[1]], SPEAKER_RATE)
    assert ducked < speech_level_db(second[: cut[1] - SPEAKER_RATE], SPEAKER_RATE) - 15
