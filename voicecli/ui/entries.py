"""The entries of the conversation a screen shows: plain records the view fills in as events arrive."""

from __future__ import annotations

from dataclasses import dataclass, field

from voicecli.realtime.events import WordTimestampContent
from voicecli.records.latency import TurnLatency


@dataclass(slots=True)
class UserTurn:
    item_id: str | None
    text: str = ""
    speaking: bool = True
    final: bool = False
    failed: bool = False
    typed: bool = False  # typed in the live screen, not spoken


@dataclass(slots=True)
class AssistantTurn:
    item_id: str | None
    latency: TurnLatency | None = None
    text: str = ""
    audio: bool = False
    done: bool = False
    interrupted: bool = False
    words: list[WordTimestampContent] = field(default_factory=list)
    """Voice Live's word timestamps of the reply, when the session asked for them."""
    heard: str | None = None
    """Of an interrupted reply with word timestamps: the words the listener heard before the cut."""
    lost: bool = False
    """A dropped connection ended its response before it was done; the client asks again on the new
    session, and the answer there replaces this one (what file mode keeps)."""


@dataclass(slots=True)
class ToolCallEntry:
    """A tool call as the screen lists it (the service's call, then its result)."""

    name: str
    arguments: str
    call_id: str
    result: str | None = None
    is_error: bool = False
    duration_s: float = 0.0


@dataclass(slots=True)
class Notice:
    message: str
    code: str | None = None
    fatal: bool = False
    error: bool = False
    """An error event of the service or the client (not a tool list, not a failed response's status)."""


Entry = UserTurn | AssistantTurn | ToolCallEntry | Notice
