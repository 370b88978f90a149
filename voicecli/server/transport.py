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
from typing import Any

from voicecli.realtime.tasks import BackgroundTasks
from voicecli.server.events import error_event
from voicecli.server.faults import (
    EXPIRED_MESSAGE,
    MALFORMED_FRAME,
    MISSHAPEN_FRAMES,
    Fault,
    FaultPlan,
    Faults,
    expired_message,
    injected_error,
    injected_rate_limits,
)
from voicecli.server.session.session import ServerSession

__all__ = ["SessionTransport"]

_log = logging.getLogger("voicecli.server")


class SessionTransport(ABC):
    """The transport-independent half of one connection: counting, faults, expiry, crashes."""

    session: ServerSession

    def __init__(self, faults: Faults, number: int, kind: str, lifetime_s: float) -> None:
        """`number` counts the server's connections (fault plans may apply to the first few);
        `kind` names them in the log ("connection", "call"); the session ends after `lifetime_s`."""
        self.number = number
        self.lifetime_s = lifetime_s
        self.name = f"{kind} {number}"
        self.plan = FaultPlan(faults, number)
        self.received = 0
        self.sent = 0
        self._tasks = BackgroundTasks()
        self._expiry: asyncio.TimerHandle | None = None

    @abstractmethod
    async def _write_unchecked(self, frame: bytes) -> None:
        """Send a frame as it is, bypassing the session and its checks (fault switches)."""

    @abstractmethod
    async def _drop(self) -> None:
        """Cut the connection as a broken network would."""

    @abstractmethod
    async def _end_expired(self, message: str) -> None:
        """End the connection once `session_expired` has been sent (`message` says why)."""

    @abstractmethod
    async def _end_after_error(self) -> None:
        """End the connection after a server error."""

    def _start_expiry(self) -> None:
        """Expire the session at the end of its lifetime, or sooner when the fault plan says so.
        A timer, not a task asleep for the session's hour: nothing runs until it is due."""
        early = self.plan.expire_after
        after, message = (
            (early, EXPIRED_MESSAGE)
            if early is not None and early < self.lifetime_s
            else (self.lifetime_s, expired_message(self.lifetime_s))
        )
        self._expiry = asyncio.get_running_loop().call_later(after, self._expire_now, after, message)

    def _expire_now(self, after: float, message: str) -> None:
        self._tasks.spawn(self._expire(after, message))

    async def _stop_background(self) -> None:
        """Cancel the expiry timer and the connection's tasks (when the connection ends)."""
        if self._expiry is not None:
            self._expiry.cancel()
        await self._tasks.close()

    async def _intercept(self, event: dict[str, Any]) -> bool:
        """The session's `intercept`: faults tied to `response.create` (a `server_error` instead of
        the response, then close 1011, as Azure has been seen to do; `rate_limits.updated`)."""
        if event["type"] != "response.create":
            return False
        if self.plan.fails_response():
            await self.session.emit(injected_error())
            self._tasks.spawn(self._end_after_error())
            return True
        if self.plan.rate_limits_on_response:
            await self.session.emit(injected_rate_limits())
        return False

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
                await self._write_unchecked(MALFORMED_FRAME)
            elif fault is Fault.MISSHAPEN:
                for frame in MISSHAPEN_FRAMES:
                    await self._write_unchecked(frame)
            elif fault is Fault.ERROR:
                await self.session.emit(injected_error())
            elif fault is Fault.RATE_LIMITS:
                await self.session.emit(injected_rate_limits())
            else:
                await self._drop()

    async def _expire(self, after: float, message: str) -> None:
        _log.info("%s: session expired after %g s", self.name, after)
        await self.session.emit(error_event("session_expired", message))
        await self._end_expired(message)

    def _crashed(self, error: BaseException) -> None:
        """The session's `on_crash`: a response task failed."""
        _log.error("%s: closing after a server error: %r", self.name, error)
        self._tasks.spawn(self._end_after_error())
