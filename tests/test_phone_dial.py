"""`voicecli phone --dial`: one terminal calls another's bridge, end to end, with a WAV for a voice."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.audio import PulseAudio, Recorder, active_span, play_into_mic, speech_wav
from support.audio import pulse_audio as pulse_audio  # session fixture
from support.live import until
from support.phone import PhoneProcess, phone_env
from support.phone import phone as phone  # fixture

from voicecli.audio.wavio import read_audio_24k_mono

pytestmark = pytest.mark.timeout(300)


async def dial(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voicecli",
        "phone",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=phone_env(),
    )
    _, err = await asyncio.wait_for(process.communicate(), 90)
    return process.returncode or 0, err.decode()


async def test_dialing_a_bridge_with_a_wav_brings_back_the_spoken_reply(phone: PhoneProcess, tmp_path: Path) -> None:
    said = speech_wav(tmp_path / "question.wav", "Good morning, could you tell me the opening hours?")
    reply_path = tmp_path / "reply.wav"
    code, err = await dial(
        "--dial", f"{phone.base}/ws/dialed", "--input-file", str(said), "--output-file", str(reply_path)
    )
    assert code == 0, err
    assert "said " in err and f"written to {reply_path}" in err
    phone.process.send_signal(signal.SIGINT)
    _, _, bridge_log = await phone.finish()
    spoken = re.search(r"call dialed: assistant: (I heard (\d+\.\d) seconds of audio[.,][^\n]*)", bridge_log)
    assert spoken is not None, bridge_log
    # The model heard the whole file...
    assert abs(float(spoken.group(2)) - len(read_audio_24k_mono(said)) / 24_000) < 1.5
    # ...and the caller heard its answer: as long as the same sentence spoken independently.
    reply = read_audio_24k_mono(reply_path)
    reference = read_audio_24k_mono(speech_wav(tmp_path / "reference.wav", spoken.group(1)))
    span, reference_span = active_span(reply), active_span(reference)
    assert span is not None and reference_span is not None
    reply_s, reference_s = (span[1] - span[0]) / 24_000, (reference_span[1] - reference_span[0]) / 24_000
    assert abs(reply_s - reference_s) < 0.25, (reply_s, reference_s)
    assert float(np.abs(reply.astype(np.int32)).max()) > 1000


async def test_dialing_nowhere_is_one_line(tmp_path: Path) -> None:
    said = speech_wav(tmp_path / "hello.wav", "Hello?")
    code, err = await dial("--dial", "ws://127.0.0.1:9/ws", "--input-file", str(said))
    assert code == 1
    assert err.strip().splitlines() == [err.strip().splitlines()[0]]
    assert err.startswith("voicecli: error: cannot reach the bridge at ws://127.0.0.1:9/ws")


async def test_dialing_an_http_url_is_refused() -> None:
    code, err = await dial("--dial", "http://127.0.0.1:9/ws", "--input-file", "/nonexistent.wav")
    assert code == 2
    assert err.strip() == "voicecli: error: /nonexistent.wav: no such file"
    code, err = await dial("--dial", "http://127.0.0.1:9/ws")
    assert code == 2
    assert "expected the bridge's media WebSocket, ws://HOST:PORT/ws" in err


def loud(raw: Path) -> bool:
    """Whether a recording (raw int16, still being written) has any sound yet."""
    data = raw.read_bytes()
    return active_span(np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2")) is not None


@pytest.mark.audio
async def test_dialing_from_the_microphone_plays_the_reply_on_the_speaker(
    phone: PhoneProcess, pulse_audio: PulseAudio, tmp_path: Path
) -> None:
    said = speech_wav(tmp_path / "question.wav", "Hello?")  # short: the echoed answer plays out loud in full
    status = tmp_path / "dial.log"
    recorder = Recorder(pulse_audio, tmp_path / "speaker.raw")
    with status.open("w") as log:
        dialer = subprocess.Popen(
            [sys.executable, "-m", "voicecli", "phone", "--dial", f"{phone.base}/ws/live-dial"],
            stderr=log,
            env={**pulse_audio.env, **phone_env()},
        )
        try:
            await until(lambda: "speak; Ctrl-C hangs up" in status.read_text(), "the dialer to call", timeout=120)
            player = play_into_mic(pulse_audio, said)
            await asyncio.to_thread(player.wait, 30)
            await until(lambda: loud(tmp_path / "speaker.raw"), "the reply on the speaker", timeout=60)
            await until(lambda: recorder.quiet_for_s() >= 1.0, "the whole reply on the speaker", timeout=60)
            dialer.send_signal(signal.SIGINT)
            await asyncio.to_thread(dialer.wait, 30)
        finally:
            if dialer.poll() is None:
                dialer.kill()
    recorder.stop()
    assert dialer.returncode == 0, status.read_text()
    assert status.read_text().strip().endswith("hung up")
    phone.process.send_signal(signal.SIGINT)
    _, _, bridge_log = await phone.finish()
    assert re.search(r"call live-dial: assistant: I heard \d+\.\d seconds of audio", bridge_log), bridge_log
    assert "call live-dial: ended: the caller hung up" in bridge_log
