"""What the bridge knows about each call: its state, words and latencies, for the table and the log.

Records are written by the webhook (answered, connected, ended by ACS) and by the bridge (media
streaming, transcripts, latency); every change also becomes one log line, so a bridge that is not
on a terminal leaves a plain, greppable history of each call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from voicecli.realtime.safe_text import visible
from voicecli.realtime.usage import UsageMeter
from voicecli.ui.summary import usage_line

CallState = Literal["ringing", "answered", "connected", "streaming", "ended", "failed"]
MAX_LATENCIES = 64
"""Per-turn latencies kept per call (the table shows the last and the median)."""
FINISHED_KEPT = 50
"""Ended calls kept in the table after they end."""
MEDIA_WAIT_S = 60.0
"""A call answered here whose media stream has not come here by then is served by another process."""

MAX_ID_CHARS = 64
MAX_WORDS_CHARS = 500
MAX_NOTE_CHARS = 600
MAX_DTMF_KEPT = 32

_log = logging.getLogger("voicecli.phone")


def printable(text: str, limit: int) -> str:
    """`text` with control characters made visible (no forged log lines, no terminal escapes), at most
    `limit` long: the same rule as every text `voicecli talk` shows (`safe_text.visible`)."""
    return visible(text)[:limit]


@dataclass(slots=True)
class CallRecord:
    call_id: str
    caller: str = ""
    state: CallState = "ringing"
    connection_id: str = ""
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    last_words: str = ""
    """The latest complete sentence of either side, prefixed with who said it."""
    turn_latencies_ms: list[float] = field(default_factory=list)
    """Caller stopped speaking (server VAD) → first reply audio sent to ACS, per turn."""
    media: bool = False
    """The call's media stream reached this process (else another bridge process serves it)."""
    dtmf: str = ""
    """The last keys the caller pressed (at most `MAX_DTMF_KEPT`)."""
    malformed_frames: int = 0
    usage: UsageMeter | None = None
    """The call's tokens and cost, fed by the bridge (None until its realtime client is made)."""
    reason: str = ""
    token: str = field(default="", repr=False)
    """The unguessable part of this call's media and callback URLs: only it reaches this call."""

    @property
    def duration_s(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def active(self) -> bool:
        return self.state not in ("ended", "failed")


class CallRegistry:
    """The calls of this bridge process, keyed by the id carried in their callback and media URLs."""

    def __init__(self, on_change: Callable[[CallRecord, str], None] | None = None) -> None:
        self._calls: dict[str, CallRecord] = {}
        self._tokens: dict[str, str] = {}
        self._on_change = on_change

    def __iter__(self) -> Iterator[CallRecord]:
        return iter(list(self._calls.values()))

    def get(self, call_id: str) -> CallRecord | None:
        return self._calls.get(call_id)

    def by_token(self, token: str) -> CallRecord | None:
        """The call whose URLs carry `token` (None for a token this process never issued)."""
        call_id = self._tokens.get(token)
        return None if call_id is None else self._calls.get(call_id)

    def bind(self, record: CallRecord, token: str) -> None:
        """`token` now reaches `record` (and nothing else)."""
        record.token = token
        self._tokens[token] = record.call_id

    @property
    def active_count(self) -> int:
        return sum(1 for record in self._calls.values() if record.active)

    def pressed(self, record: CallRecord, digits: str) -> None:
        record.dtmf = (record.dtmf + digits)[-MAX_DTMF_KEPT:]
        self.note(record, f"caller pressed {digits}")

    def open(self, call_id: str, caller: str = "") -> CallRecord:
        """The record of `call_id`, created when this process has not seen the call yet.

        Both come from URLs anyone can send, so they are cut short and kept to printable characters
        before they reach a log line or the table.
        """
        call_id, caller = printable(call_id, MAX_ID_CHARS), printable(caller, MAX_ID_CHARS)
        record = self._calls.get(call_id)
        if record is None or not record.active:  # a name used again after its call ended is a new call
            self._tidy()
            record = self._calls[call_id] = CallRecord(call_id, caller=caller)
        elif caller and not record.caller:
            record.caller = caller
        return record

    def set_state(self, record: CallRecord, state: CallState, reason: str = "") -> None:
        if not record.active:
            return  # a late event after the end changes nothing
        record.state = state
        if reason:
            record.reason = reason
        used = ""
        if state in ("ended", "failed"):
            record.ended = time.monotonic()
            if record.usage is not None and record.usage.turns:
                used = f" ({usage_line(record.usage)})"  # what the call cost, in its last log line
        self.note(record, f"{state}{f': {reason}' if reason else ''}{used}")

    def said(self, record: CallRecord, who: str, words: str) -> None:
        words = printable(" ".join(words.split()), MAX_WORDS_CHARS)
        if not words:
            return
        record.last_words = f"{who}: {words}"
        self.note(record, record.last_words)

    def turn_latency(self, record: CallRecord, latency_ms: float) -> None:
        record.turn_latencies_ms.append(latency_ms)
        del record.turn_latencies_ms[:-MAX_LATENCIES]
        self.note(record, f"reply after {latency_ms:.0f} ms", level=logging.DEBUG)

    def note(self, record: CallRecord, message: str, level: int = logging.INFO) -> None:
        """One log line (and a table update); whatever a caller or ACS sent in `message` is made printable here."""
        message = printable(message, MAX_NOTE_CHARS)
        _log.log(level, "call %s: %s", record.call_id, message)
        if self._on_change is not None:
            self._on_change(record, message)

    def _tidy(self) -> None:
        """Let go of calls another process serves, and forget the oldest ended ones."""
        now = time.monotonic()
        for record in list(self._calls.values()):
            if record.active and not record.media and now - record.started > MEDIA_WAIT_S:
                self.set_state(record, "ended", "its media stream went to another bridge process, or never came")
        finished = [record.call_id for record in self._calls.values() if not record.active]
        for call_id in finished[:-FINISHED_KEPT]:
            self._tokens.pop(self._calls.pop(call_id).token, None)
