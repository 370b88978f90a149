"""What a WebSocket connection and a WebRTC call do alike around their `ServerSession`.

Both number their events, fire the fault switches due after each event sent, expire the session
when the plan says so, and end loudly on a server error (a failed response task or a failure in
their read loop). `SessionTransport` does that once; a transport says how to write a malformed
frame, how to drop, and how to end.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable

from voicecli.realtime.tasks import BackgroundTasks
from voicecli.server.events import error_event
from voicecli.server.faults import EXPIRED_MESSAGE, Fault, FaultPlan, Faults, injected_error, injected_rate_limits
from voicecli.server.session.session import ServerSession

__all__ = ["SessionTransport"]

_log = logging.getLogger("voicecli.server")


class SessionTransport(ABC):
    """The transport-independent half of one connection: counting, faults, expiry, crashes."""

    session: ServerSession

    def __init__(self, faults: Faults, number: int, kind: str) -> None:
        """`number` counts the server's connections (fault plans may apply to the first few);
        `kind` names them in the log ("connection", "call")."""
        self.number = number
        self.name = f"{kind} {number}"
        self.plan = FaultPlan(faults, number)
        self.received = 0
        self.sent = 0
        self._tasks = BackgroundTasks()

    @abstractmethod
    async def _write_malformed(self) -> None:
        """Send `MALFORMED_FRAME` as it is, bypassing the session."""

    @abstractmethod
    async def _drop(self) -> None:
        """Cut the connection as a broken network would."""

    @abstractmethod
    async def _end_expired(self) -> None:
        """End the connection once `session_expired` has been sent."""

    @abstractmethod
    async def _end_after_error(self) -> None:
        """End the connection after a server error."""

    def _start_expiry(self) -> None:
        """Expire the session after the delay the fault plan gives, if it gives one."""
        if self.plan.expire_after is not None:
            self._tasks.spawn(self._expire(self.plan.expire_after))

    async def _serve(self, work: Awaitable[None]) -> None:
        """Run the transport's read loop; a failure in it is a server error that ends the connection."""
        try:
            await work
        except Exception:
            _log.exception("%s: server error", self.name)
            await self._end_after_error()

    def _count_sent(self) -> int:
        """Count one event written to the client; return the count."""
        self.sent += 1
        return self.sent

    async def _fire_faults(self, sent: int) -> None:
        """Fire the faults due now that `sent` events went out."""
        for fault in self.plan.due(sent):
            if fault is Fault.MALFORMED:
                await self._write_malformed()
            elif fault is Fault.ERROR:
                await self.session.emit(injected_error())
            elif fault is Fault.RATE_LIMITS:
                await self.session.emit(injected_rate_limits())
            else:
                await self._drop()

    async def _expire(self, after: float) -> None:
        await asyncio.sleep(after)
        await self.session.emit(error_event("session_expired", EXPIRED_MESSAGE))
        await self._end_expired()

    def _crashed(self, error: BaseException) -> None:
        """The session's `on_crash`: a response task failed."""
        _log.error("%s: closing after a server error: %r", self.name, error)
        self._tasks.spawn(self._end_after_error())
