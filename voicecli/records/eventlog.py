"""`--json-events FILE`: every event as one JSON line, for debugging a session after the fact.

Each line carries the session clock (`t`, seconds since the session started, the same clock the
recording's WAV files use), the raw `time.monotonic()` value and the wall time. Audio payloads are
replaced by their length, and anything that looks like a credential is redacted before it is written.
The event loop only takes the redacted copy of each event (events are not copied later, when the
client may have changed them); a writer thread encodes and writes it, a line at a time, flushed,
so a slow disk never delays the conversation.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import orjson

from voicecli.config import ConfigError
from voicecli.realtime import RealtimeAudioEvent, RealtimeEvent
from voicecli.realtime.safe_text import REDACTED, redact
from voicecli.records.errors import RecordingError
from voicecli.records.private import private_file

Direction = Literal["in", "out"]
logger = logging.getLogger(__name__)

_SECRET_KEY = re.compile(
    r".*(api[_-]?key|authorization|client[_-]?secret|password|secret|credential).*|"
    r"((access|refresh|auth|bearer|id|session)[_-]?)?token|key",
    re.IGNORECASE,
)
"""Keys whose values are never written, whatever they hold (usage counters like `input_tokens` pass)."""


@dataclass(slots=True, frozen=True)
class SessionClock:
    """One start instant shared by the event log and the recorded WAV files."""

    monotonic: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)

    def since_start(self, monotonic: float) -> float:
        return monotonic - self.monotonic

    def wall_iso(self, monotonic: float) -> str:
        instant = datetime.fromtimestamp(self.wall + self.since_start(monotonic), tz=UTC)
        return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sanitize(value: Any, event_type: str = "") -> Any:
    """A copy of a payload with secrets redacted and base64 audio replaced by its decoded length."""
    if isinstance(value, dict):
        clean: dict[str, Any] = {}
        for key, item in value.items():
            if _SECRET_KEY.fullmatch(str(key)):
                clean[key] = REDACTED
            elif _is_audio_field(str(key), item, event_type):
                clean[key] = f"<audio: {len(item) * 3 // 4 - item.count('=', -2)} bytes>"
            else:
                clean[key] = sanitize(item, event_type)
        return clean
    if isinstance(value, list | tuple):
        return [sanitize(item, event_type) for item in value]
    if isinstance(value, str):
        return redact(value)  # e.g. a service error message quoting the key it rejected
    return value


def _is_audio_field(key: str, value: Any, event_type: str) -> bool:
    if not isinstance(value, str):
        return False
    return key == "audio" or (key == "delta" and event_type.endswith("audio.delta"))


def event_record(event: RealtimeEvent) -> dict[str, Any]:
    """The loggable form of an event: its wire payload, or its typed content when it has none."""
    kind = event.event_type
    event_type = str(event.service_type or kind)
    if event.service_event is not None:
        body: Any = event.service_event
    elif isinstance(event, RealtimeAudioEvent):
        body = {"audio_bytes": event.audio.data.nbytes, "item_id": event.audio.item_id}
    else:
        body = {k: v for k, v in asdict(event).items() if k not in ("service_type", "service_event")}
    clean = sanitize(body, event_type)
    if isinstance(event, RealtimeAudioEvent) and event.service_event is not None:
        clean["delta"] = f"<audio: {event.audio.data.nbytes} bytes>"  # the parser kept only the decoded audio
    return {"kind": kind, "type": event_type, "event": clean}


def payload_record(payload: dict[str, Any]) -> dict[str, Any]:
    """The loggable form of a raw client event dict."""
    event_type = str(payload.get("type", ""))
    return {"kind": "service", "type": event_type, "event": sanitize(payload, event_type)}


class EventLog:
    """Appends JSON lines to a file from a writer thread; each line is flushed as it is written."""

    def __init__(self, path: Path, clock: SessionClock | None = None) -> None:
        self.path = path
        self.clock = clock or SessionClock()
        try:
            self._file = private_file(path).open("wb", buffering=0)  # each line reaches the disk whole, or not at all
        except OSError as exc:  # a bad --json-events path is the user's to fix: one line, exit 2
            raise ConfigError(f"cannot write the event log {path}: {exc.strerror or exc}") from None
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], Direction, float] | None] = queue.SimpleQueue()
        self._written = self._lost = self._size = 0
        self._failure: str | None = None
        self._writer = threading.Thread(target=self._write_loop, name="voicecli-eventlog", daemon=True)
        self._writer.start()
        self._closed = False

    def write(self, event: RealtimeEvent, direction: Direction = "in", at: float | None = None) -> None:
        """Log a typed event received from (`in`) or sent to (`out`) the service."""
        self._enqueue(event_record(event), direction, at)

    def write_payload(self, payload: dict[str, Any], direction: Direction = "out", at: float | None = None) -> None:
        """Log a raw client event dict, as passed to `RealtimeClient.send`."""
        self._enqueue(payload_record(payload), direction, at)

    def _enqueue(self, record: dict[str, Any], direction: Direction, at: float | None) -> None:
        if not self._closed:
            self._queue.put((record, direction, time.monotonic() if at is None else at))

    def _write_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            record, direction, now = item
            if self._failure is not None:
                self._lost += 1
                continue
            try:
                self._write_line(record, direction, now)
                self._written += 1
            except TypeError as exc:  # not encodable: that line only
                logger.warning("event log %s: skipped a %s event (%s)", self.path, record.get("type"), exc)
            except OSError as exc:  # a full or vanished disk: the session goes on; close() says what was lost
                self._failure = exc.strerror or str(exc)
                self._lost += 1

    def _write_line(self, record: dict[str, Any], direction: Direction, now: float) -> None:
        line = {
            "t": round(self.clock.since_start(now), 6),
            "mono": now,
            "wall": self.clock.wall_iso(now),
            "dir": direction,
            **record,
        }
        encoded = orjson.dumps(line, default=str) + b"\n"
        data = memoryview(encoded)
        try:
            while data:  # a short write is followed by the error that caused it
                data = data[self._file.write(data) or 0 :]
        except OSError:
            os.ftruncate(self._file.fileno(), self._size)  # no half line: the file stays valid JSON lines
            raise
        self._size += len(encoded)

    def close(self) -> None:
        """Write every line still queued, then close the file; `RecordingError` saying what was kept
        and what was lost when the disk refused some of it."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._writer.join()
        try:
            self._file.close()
        except OSError as exc:  # the last line did not fit
            self._failure = self._failure or exc.strerror or str(exc)
        if self._failure is not None:
            failure, self._failure = self._failure, None  # said once
            raise RecordingError(
                f"event log {self.path}: {failure}; {self._written} events written before that, {self._lost} lost"
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            self.close()
        except RecordingError as lost:
            if exc is None:
                raise
            logger.warning("%s", lost)  # the failure already on its way is the one reported; this is said too
