"""Every shipped example runs by itself against the local provider and exits 0, as a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import soundfile
from support.system_tools import require_program

from voicecli.config import ENVIRONMENT

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TIMEOUT_S = 60


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run like a user in a fresh folder, with no provider settings from the developer's environment."""
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT and not k.endswith("_API_KEY")}
    env["XDG_CONFIG_HOME"] = str(cwd / "xdg")
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def test_websocket_basics(tmp_path: Path) -> None:
    done = run([str(EXAMPLES / "websocket_basics.py")], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Session updated"
    assert "You: In one sentence: what can a realtime voice model do?" in lines
    assert "Assistant (transcript): You said: In one sentence: what can a realtime voice model do?" in lines
    assert lines[-1].endswith("s of audio received.") and not lines[-1].startswith("0.0")


def test_function_calling(tmp_path: Path) -> None:
    done = run([str(EXAMPLES / "function_calling.py")], tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert '-> the model calls Weather-get_forecast({"city":"Paris","days":2})' in out
    assert '-> the model calls get_local_time({"timezone":"Europe/Paris"})' in out
    assert "<- Weather-get_forecast returned: Paris: sunny, 21 degrees, then cloudy, 18 degrees" in out
    assert "in Europe/Paris." in out
    assert out.rstrip().splitlines()[-1].startswith("Assistant: Here is what I found. Paris: sunny")


def test_audio_callback_writes_the_reply(tmp_path: Path) -> None:
    done = run([str(EXAMPLES / "audio_callback.py"), "--output", "reply.wav"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "first chunk" in done.stdout and "wrote reply.wav" in done.stdout
    audio, rate = soundfile.read(tmp_path / "reply.wav", dtype="int16")
    assert rate == 24_000 and len(audio) > rate  # "You said: Count slowly ..." is seconds of speech


def test_the_demo_scripts_pass(tmp_path: Path) -> None:
    require_program("espeak-ng", "tour.toml's spoken turn")
    scripts = [str(EXAMPLES / "scripts" / name) for name in ("tour.toml", "echo.toml")]
    # The scripts are what is checked, not the local server's service-like pacing: replies unpaced.
    config = tmp_path / "xdg" / "voicecli" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[local]\nspeed = "max"\n')
    done = run(["-m", "voicecli.cli", "demo", "--parallel", "2", *scripts], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 of 2 scripts passed" in done.stdout
    for name, turns in (("tour", 3), ("echo", 2)):
        report = json.loads((tmp_path / "demo-output" / name / "report.json").read_text())
        assert (report["passed"], report["turns_passed"]) == (True, turns)
        assert all(turn["reply_audio"] for turn in report["turns"])
