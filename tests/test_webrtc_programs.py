"""WebRTC as a user meets it: `voicecli talk --transport webrtc` and the example, as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytestmark = pytest.mark.timeout(60)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run in a fresh folder, without the developer's provider settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "VOICECLI_"))}
    env["XDG_CONFIG_HOME"] = str(cwd / "xdg")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=45)


def test_talk_over_webrtc_writes_the_reply(tmp_path: Path) -> None:
    reply = tmp_path / "out.wav"
    done = run(
        ["-m", "voicecli", "talk", "--transport", "webrtc", "--provider", "local", "--text", "hi", "-o", str(reply)],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Assistant: You said: hi" in done.stdout
    audio, rate = soundfile.read(reply, dtype="int16")
    assert rate == 24_000 and 0.5 < len(audio) / rate < 3.0
    assert np.abs(audio).max() > 1000, "the reply is sound, not silence"


def test_webrtc_basics_example(tmp_path: Path) -> None:
    done = run([str(EXAMPLES / "webrtc_basics.py")], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == ["[the server hears you]", "[you stopped; the model answers]"]
    assert lines[2].startswith("I heard 1.")
    seconds = float(lines[-1].removeprefix("[reply audio: ").split()[0])
    assert seconds > 1.0
