"""`voicecli talk --input-file … --record DIR` records the turn, as live mode records a session (issue 24, case 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pytest
import soundfile

pytestmark = pytest.mark.timeout(60)


def test_a_file_turn_is_recorded_like_a_live_session(tmp_path: Path) -> None:
    question = tmp_path / "question.wav"
    t = np.arange(24_000) / 24_000
    soundfile.write(question, (np.sin(2 * np.pi * 220 * t) * 0.4).astype(np.float32), 24_000)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "VOICECLI_"))}
    rec = tmp_path / "rec"
    result = subprocess.run(
        # The echo brain's short answer, not `auto`'s (which explains itself for seconds, or asks a local chat model).
        [sys.executable, "-m", "voicecli", "talk", "-i", str(question), "--brain", "echo", "--record", str(rec)],
        capture_output=True,
        text=True,
        timeout=45,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    [folder] = rec.iterdir()
    assert f"recorded into {folder}" in result.stderr
    mic, _ = soundfile.read(folder / "mic.wav", dtype="int16")
    played, _ = soundfile.read(folder / "played.wav", dtype="int16")
    assert len(mic) >= 24_000 and np.abs(mic).max() > 10_000  # the question, sent
    assert np.abs(played).max() > 1000 and len(played) / 24_000 > 0.5  # the reply, received
    events = [orjson.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    assert {"in", "out"} <= {event["dir"] for event in events}
