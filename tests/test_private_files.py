"""Recordings, event logs and log files hold the user's voice and words: only the user may read them
(issue 24, case 5), whatever the umask says."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from voicecli.records.eventlog import EventLog
from voicecli.records.recording import Recorder
from voicecli.ui.logs import configure_logging


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The most permissive common umask: whatever is created private is so by intent."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_recording_folder_and_its_files_are_private(tmp_path: Path) -> None:
    base = tmp_path / "records" / "today"
    recorder = Recorder.in_new_folder(base)
    recorder.mic(np.zeros(240, dtype=np.int16))
    recorder.close()
    assert mode(tmp_path / "records") == mode(base) == mode(recorder.directory) == 0o700
    for name in ("mic.wav", "played.wav", "events.jsonl"):
        assert mode(recorder.directory / name) == 0o600, name


def test_an_event_log_is_private_even_over_an_old_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("old\n")
    path.chmod(0o644)
    EventLog(path).close()
    assert mode(path) == 0o600


def test_a_log_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "voicecli.log"
    try:
        configure_logging(path, live=True)
        logging.getLogger("voicecli.test").warning("hello")
    finally:
        configure_logging(None, live=False)
    assert mode(path) == 0o600 and "hello" in path.read_text()
