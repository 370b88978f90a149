"""`ProtocolSession`: what the client asks of a protocol's sans-I/O session, whichever protocol it is.

`RealtimeProtocolSession` (OpenAI Realtime) is one; a protocol with other turn rules is another class
with these methods, returned by the client's `_new_protocol()`. The client and its continuity
supervisor are typed against this interface, not against one protocol's class.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from voicecli.realtime.events import FunctionResultContent, RealtimeEvent
from voicecli.realtime.protocol_session import Action

__all__ = ["ProtocolSession"]


class ProtocolSession(Protocol):
    """Events and intents in, actions out; no awaits, no clock."""

    media_audio: bool
    """Audio travels as media (WebRTC): streamed, and the service truncates what it played itself."""
    last_fatal_error: str | None
    """The message of the last fatal error event (what a close that follows it is about)."""
    rolling_over: bool
    """The caller replaces this session before it expires: its expiry is not news."""

    @property
    def tools_running(self) -> bool: ...

    def received(self, event: RealtimeEvent) -> list[Action]: ...

    def tool_finished(self, result: FunctionResultContent) -> list[Action]: ...

    def replaying(self, item_ids: set[str]) -> None: ...

    def reopening(self) -> None: ...

    def send_audio(self, pcm: np.ndarray) -> list[Action]: ...

    def clear_turn(self) -> list[Action]: ...

    def commit_turn(self) -> list[Action]: ...

    def interrupt(self, heard: list[tuple[str, int]], *, cancel: bool) -> list[Action]: ...
