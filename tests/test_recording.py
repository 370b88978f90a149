"""`--record`: mic and played WAV files sample-aligned to the session clock, plus the event log."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import orjson
import pytest
import soundfile

from voicecli.audio.errors import AudioFileError
from voicecli.realtime import protocol
from voicecli.records.eventlog import SessionClock
from voicecli.records.recording import Recorder

RATE = 24_000


def ramp(count: int, start: int = 1) -> np.ndarray:
    return np.arange(start, start + count, dtype=np.int16)


def read(path: Path) -> np.ndarray:
    data, rate = soundfile.read(path, dtype="int16")
    assert rate == RATE
    return data


def test_blocks_land_at_their_session_time_with_silence_between(tmp_path: Path) -> None:
    clock = SessionClock(monotonic=time.monotonic())
    with Recorder(tmp_path / "s", clock=clock) as recorder:
        recorder.mic(ramp(2400), at=clock.monotonic)
        recorder.mic(ramp(2400, 3000), at=clock.monotonic + 0.1 + 0.004)  # callback jitter: still back to back
        recorder.played(ramp(1200), at=clock.monotonic + 0.5)
        recorder.played(ramp(1200, 5000), at=clock.monotonic + 1.0)
        recorder.event(protocol.parse_server_event({"type": "response.done", "response": {}}))
    mic, played = read(tmp_path / "s" / "mic.wav"), read(tmp_path / "s" / "played.wav")
    assert len(mic) == len(played) == RATE + 1200  # both padded to the same length
    np.testing.assert_array_equal(mic[:4800], np.concatenate([ramp(2400), ramp(2400, 3000)]))
    assert not mic[4800:].any()
    assert not played[:12000].any()
    np.testing.assert_array_equal(played[12000:13200], ramp(1200))
    assert not played[13200:RATE].any()
    np.testing.assert_array_equal(played[RATE:], ramp(1200, 5000))
    (line,) = (tmp_path / "s" / "events.jsonl").read_text().splitlines()
    assert orjson.loads(line)["type"] == "response.done"


def test_float_blocks_and_column_vectors_are_accepted(tmp_path: Path) -> None:
    clock = SessionClock(monotonic=time.monotonic())
    with Recorder(tmp_path, clock=clock) as recorder:
        recorder.mic(np.array([[0.5], [-1.0], [2.0]], dtype=np.float32), at=clock.monotonic)
    np.testing.assert_array_equal(read(tmp_path / "mic.wav")[:3], [16383, -32767, 32767])


def test_the_callers_buffer_may_be_reused_at_once(tmp_path: Path) -> None:
    clock = SessionClock(monotonic=time.monotonic())
    buffer = ramp(480)
    with Recorder(tmp_path, clock=clock) as recorder:
        recorder.played(buffer, at=clock.monotonic)
        buffer[:] = 0
    np.testing.assert_array_equal(read(tmp_path / "played.wav")[:480], ramp(480))


def test_audio_threads_can_feed_it_concurrently(tmp_path: Path) -> None:
    clock = SessionClock(monotonic=time.monotonic())
    with Recorder(tmp_path, clock=clock) as recorder:

        def feed(track: str) -> None:
            for block in range(100):
                getattr(recorder, track)(np.full(240, block, dtype=np.int16), at=clock.monotonic + block * 0.01)

        threads = [threading.Thread(target=feed, args=(track,)) for track in ("mic", "played")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for name in ("mic.wav", "played.wav"):
        np.testing.assert_array_equal(read(tmp_path / name)[:24000], np.repeat(np.arange(100, dtype=np.int16), 240))


def test_session_length_is_padded_on_close(tmp_path: Path) -> None:
    clock = SessionClock(monotonic=time.monotonic() - 0.5)
    Recorder(tmp_path, clock=clock).close()
    assert len(read(tmp_path / "mic.wav")) >= RATE // 2
    assert len(read(tmp_path / "played.wav")) == len(read(tmp_path / "mic.wav"))


def test_each_session_gets_a_new_folder(tmp_path: Path) -> None:
    first = Recorder.in_new_folder(tmp_path)
    second = Recorder.in_new_folder(tmp_path)
    first.close()
    second.close()
    assert first.directory != second.directory
    assert first.directory.name.startswith("session-")
    assert sorted(p.name for p in second.directory.iterdir()) == ["events.jsonl", "mic.wav", "played.wav"]


def test_an_unusable_folder_is_an_audio_file_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(AudioFileError, match="cannot record into"):
        Recorder.in_new_folder(tmp_path / "file")


def test_a_write_failure_is_reported_on_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(tmp_path)

    def disk_full(start: int, pcm: np.ndarray) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(recorder._tracks["mic"], "write_at", disk_full)
    recorder.mic(ramp(10))
    with pytest.raises(AudioFileError, match="No space left on device"):
        recorder.close()
