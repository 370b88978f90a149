"""A full disk under `-o`, `--json-events`, `--log-file` and `--record`: one line saying what was
written and what was lost, a non-zero exit, and what was recorded kept valid (issue 24, case 6).

The disk is "full" through a file-size limit (RLIMIT_FSIZE, with SIGXFSZ ignored): every write past
it fails as a full disk does, without mounting anything."""

from __future__ import annotations

import os
import resource
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
import soundfile

from voicecli.records.errors import RecordingError
from voicecli.records.recording import Recorder

pytestmark = pytest.mark.timeout(60)


def wav_is_truthful(path: Path) -> float:
    """The header's sizes match the file exactly; returns the seconds it holds."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and struct.unpack_from("<I", data, 4)[0] == len(data) - 8
    position = 12
    while data[position : position + 4] != b"data":
        position += 8 + struct.unpack_from("<I", data, position + 4)[0]
    assert struct.unpack_from("<I", data, position + 4)[0] == len(data) - position - 8
    return soundfile.info(path).duration


@pytest.fixture
def disk_full_after() -> Iterator[None]:
    """Files of this process cannot grow past 64 KiB while the test runs."""
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
    yield
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    signal.signal(signal.SIGXFSZ, previous_handler)


def test_a_recording_that_fills_the_disk_keeps_valid_wavs_and_says_what_it_kept(
    tmp_path: Path, disk_full_after: None
) -> None:
    recorder = Recorder(tmp_path / "session")
    second = (np.sin(np.arange(24_000) / 10) * 8000).astype(np.int16)
    for _ in range(4):  # 4 s of microphone: 192 KB, three times the room
        recorder.mic(second, at=recorder.clock.monotonic)
    with pytest.raises(RecordingError) as stopped:
        recorder.close()
    message = str(stopped.value)
    assert "\n" not in message and "the rest of the session was not recorded" in message
    kept = wav_is_truthful(tmp_path / "session" / "mic.wav")
    assert 1.0 < kept < 1.5 and f"kept {kept:.1f} s in mic.wav" in message
    wav_is_truthful(tmp_path / "session" / "played.wav")


def talk_with_a_full_disk(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`voicecli talk --text …` in a process whose files cannot grow past 6 KB."""

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))

    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "VOICECLI_"))}
    return subprocess.run(
        # The echo brain's short answer, not `auto`'s (which explains itself for seconds, or asks a local chat model).
        [sys.executable, "-m", "voicecli", "talk", "--text", "hello there", "--brain", "echo", *args],
        capture_output=True,
        text=True,
        timeout=45,
        env=environment,
        cwd=tmp_path,
        preexec_fn=limited,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("voicecli: error:")]
    return line


def test_reply_file_on_a_full_disk(tmp_path: Path) -> None:
    line = one_error_line(talk_with_a_full_disk(tmp_path, "-o", "reply.wav"))
    assert "cannot write audio file reply.wav" in line and "of audio were not saved" in line
    assert not (tmp_path / "reply.wav").exists()  # no half file either


def test_event_log_on_a_full_disk(tmp_path: Path) -> None:
    line = one_error_line(talk_with_a_full_disk(tmp_path, "--json-events", "events.jsonl"))
    assert "event log events.jsonl" in line and "events written before that" in line and "lost" in line
    lines = (tmp_path / "events.jsonl").read_bytes().splitlines()
    assert lines and all(orjson.loads(line) for line in lines)  # every line kept is whole


def test_log_file_on_a_full_disk(tmp_path: Path) -> None:
    (tmp_path / "voicecli.log").write_text("x" * 5900)  # nearly full already
    line = one_error_line(talk_with_a_full_disk(tmp_path, "--log-file", "voicecli.log"))
    assert "voicecli.log" in line and "lines written before that" in line and "lost" in line


def test_recording_a_file_turn_on_a_full_disk(tmp_path: Path) -> None:
    line = one_error_line(talk_with_a_full_disk(tmp_path, "--record", "rec"))
    assert "recording into rec/session-" in line and "the rest of the session was not recorded" in line
    [folder] = (tmp_path / "rec").iterdir()
    wav_is_truthful(folder / "mic.wav")
    assert wav_is_truthful(folder / "played.wav") > 0
