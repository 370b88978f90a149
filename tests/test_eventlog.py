"""The JSON-lines event log: one line per event, both clocks, audio elided, secrets never written."""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
import pytest
from support.audio import wait_until

from voicecli.realtime import protocol
from voicecli.realtime.events import (
    AudioContent,
    ErrorContent,
    FunctionResultContent,
    RealtimeAudioEvent,
    RealtimeErrorEvent,
    RealtimeFunctionResultEvent,
)
from voicecli.records.eventlog import REDACTED, EventLog, SessionClock, event_record, sanitize

SECRET = "sk-proj-abcdefghijklmnop0123456789"


def test_lines_carry_session_monotonic_and_wall_time(tmp_path: Path) -> None:
    clock = SessionClock(monotonic=50.0, wall=1_700_000_000.0)
    path = tmp_path / "events.jsonl"
    with EventLog(path, clock) as log:
        log.write(protocol.parse_server_event({"type": "session.created", "session": {"id": "s1"}}), at=50.25)
        log.write_payload({"type": "response.create"}, at=51.0)
    first, second = (orjson.loads(line) for line in path.read_text().splitlines())
    assert first["t"] == 0.25
    assert first["mono"] == 50.25
    assert first["wall"] == "2023-11-14T22:13:20.250Z"
    assert datetime.fromisoformat(first["wall"]).timestamp() == pytest.approx(1_700_000_000.25)
    assert (first["dir"], first["kind"], first["type"]) == ("in", "service", "session.created")
    assert first["event"]["session"] == {"id": "s1"}
    assert (second["dir"], second["type"], second["t"]) == ("out", "response.create", 1.0)


def test_audio_is_logged_as_its_length(tmp_path: Path) -> None:
    pcm = np.arange(2400, dtype=np.int16)
    delta = protocol.parse_server_event(
        {"type": "response.output_audio.delta", "item_id": "a1", "delta": protocol.pcm_to_base64(pcm)}
    )
    record = event_record(delta)
    assert record["event"]["delta"] == "<audio: 4800 bytes>"
    assert record["event"]["item_id"] == "a1"
    assert sanitize(protocol.append_audio(pcm[:3]))["audio"] == "<audio: 6 bytes>"
    transcript = {"type": "response.output_audio_transcript.delta", "delta": "Hello"}
    assert sanitize(transcript, transcript["type"])["delta"] == "Hello"
    bare = RealtimeAudioEvent(audio=AudioContent(data=pcm, item_id="a2"))
    assert event_record(bare)["event"] == {"audio_bytes": 4800, "item_id": "a2"}


def test_events_made_by_the_client_log_their_content() -> None:
    result = RealtimeFunctionResultEvent(
        service_type="function_result",
        function_result=FunctionResultContent(name="calc", call_id="c1", result="4", duration_s=0.5),
    )
    record = event_record(result)
    assert record["kind"] == "function_result"
    assert record["event"]["function_result"]["result"] == "4"
    error = event_record(RealtimeErrorEvent(service_type="connection", error=ErrorContent("gone", fatal=True)))
    assert error["event"]["error"]["fatal"] is True


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.write_payload(
            {
                "type": "session.update",
                "api_key": SECRET,
                "headers": {"Authorization": f"Bearer {SECRET}", "api-key": SECRET},
                "client_secret": {"value": "ek_68af0123456789abcdef", "expires_at": 1},
                "session": {"instructions": f"my key is {SECRET}, ephemeral ek_68af0123456789abcdef"},
                "usage": {"input_tokens": 12, "total_tokens": 20},
            }
        )
        log.write(
            protocol.parse_server_event(
                {"type": "error", "error": {"message": f"Incorrect API key provided: {SECRET}", "code": "x"}}
            )
        )
    text = path.read_text()
    assert SECRET not in text
    assert "ek_68af" not in text
    first = orjson.loads(text.splitlines()[0])["event"]
    assert first["api_key"] == first["client_secret"] == REDACTED
    assert first["headers"] == {"Authorization": REDACTED, "api-key": REDACTED}
    assert first["session"]["instructions"] == f"my key is {REDACTED}, ephemeral {REDACTED}"
    assert first["usage"] == {"input_tokens": 12, "total_tokens": 20}


def test_every_line_reaches_the_disk_while_the_log_is_open(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.write_payload({"type": "input_audio_buffer.commit"})  # returns at once: a thread writes it
    wait_until(lambda: path.read_text().endswith("\n"), "the line on disk before close")
    assert orjson.loads(path.read_text())["type"] == "input_audio_buffer.commit"
    log.close()


def test_base64_length_accounts_for_padding() -> None:
    for size in (1, 2, 3, 4):
        encoded = base64.b64encode(bytes(size)).decode()
        assert sanitize({"audio": encoded})["audio"] == f"<audio: {size} bytes>"
