"""WebRTC as a user meets it: `voicecli talk --transport webrtc` and the example, as real processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytestmark = pytest.mark.timeout(60)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def clean_env(cwd: Path, **extra: str) -> dict[str, str]:
    """The environment without the developer's provider settings and config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "VOICECLI_"))}
    return {**env, "XDG_CONFIG_HOME": str(cwd / "xdg"), **extra}


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run in a fresh folder, without the developer's provider settings."""
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=clean_env(cwd, **env), capture_output=True, text=True, timeout=45
    )


def wait_for(pattern: str, log: Path, timeout_s: float = 30.0) -> re.Match[str]:
    """The first match of `pattern` in the growing `log` (a guard against a hang, not a speed check)."""
    deadline = time.monotonic() + timeout_s
    while (found := re.search(pattern, log.read_text())) is None:
        if time.monotonic() > deadline:
            pytest.fail(f"no {pattern!r} within {timeout_s} s in: {log.read_text()}")
        time.sleep(0.05)
    return found


def test_talk_over_webrtc_writes_the_reply(tmp_path: Path) -> None:
    reply = tmp_path / "out.wav"
    done = run(
        [
            *("-m", "voicecli", "talk", "--transport", "webrtc", "--provider", "local", "--brain", "echo"),
            *("--text", "hi", "-o", str(reply)),
        ],
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


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_serve_shows_the_webrtc_libraries_log_only_with_verbose(verbose: bool, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        serve = subprocess.Popen(
            [sys.executable, "-m", "voicecli", "serve", "--port", "0", *(["--verbose"] if verbose else [])],
            cwd=tmp_path,
            env=clean_env(tmp_path),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base = wait_for(r"ws://(127\.0\.0\.1:\d+)/v1/realtime", log).group(1)
        talked = run(
            ["-m", "voicecli", "talk", "--provider", "openai", "--transport", "webrtc", "--text", "hi"],
            tmp_path,
            OPENAI_BASE_URL=f"http://{base}/v1",
            OPENAI_API_KEY="sk-test",
        )
        assert talked.returncode == 0, talked.stderr
        wait_for(r"call 1 \(rtc_", log)  # logged when the call has ended: ICE ran its whole course
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(timeout=15)
    library_lines = [line for line in log.read_text().splitlines() if re.search(r" (aioice|aiortc)[.:]", line)]
    if verbose:
        assert library_lines, log.read_text()  # the chatter is there to hide: this test can see it
    else:
        assert library_lines == []
