"""`voicecli talk` says a missing credential first, before any device or file it would open.

A newcomer without a key on a machine without audio was told about the microphone; fixing that
only to be told about the key next is a wasted round. Each case also has a device or file problem,
so the order shows whatever audio the machine has.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

NO_OPENAI_KEY = "no API key for provider openai: set OPENAI_API_KEY"
NO_AZURE_ENDPOINT = "no Azure endpoint: set AZURE_OPENAI_ENDPOINT"


def talk(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`voicecli talk` without provider settings from the developer's environment or config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "VOICECLI_"))}
    env["XDG_CONFIG_HOME"] = str(cwd / "xdg")
    return subprocess.run(
        [sys.executable, "-m", "voicecli", "talk", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=45,
        env=env,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "said_first"),
    [
        (["--provider", "openai", "--input-device", "no such microphone"], NO_OPENAI_KEY),
        (["--provider", "openai", "--output-device", "no such speaker"], NO_OPENAI_KEY),
        (["--provider", "azure", "--input-device", "no such microphone"], NO_AZURE_ENDPOINT),
        (["--provider", "openai", "--push-to-talk"], NO_OPENAI_KEY),  # stdin is no terminal
        (["--provider", "openai", "--input-file", "not-audio.wav"], NO_OPENAI_KEY),
    ],
    ids=["live-mic", "live-speaker", "live-azure", "push-to-talk", "file"],
)
def test_the_missing_credential_is_the_first_thing_said(args: list[str], said_first: str, tmp_path: Path) -> None:
    (tmp_path / "not-audio.wav").write_text("this is not audio")
    result = talk(*args, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"voicecli: error: {said_first}"), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
