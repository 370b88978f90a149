"""`SessionSwitch`: how a client replaces its session (reconnect after a drop, rollover before expiry).

Mixed into `RealtimeClient`, so each transport's own `_open`/`_close` serve a new session exactly
as they serve the first. The caller keeps one client and one `receive()` stream throughout: it sees
`connection.reconnecting` for each try, a `response.done` (status `incomplete`) for a response the
drop cut off, then `connection.reconnected` once the new session holds the replayed history. What
is replayed is `continuity.History`'s business; this module decides when and in which order.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import abstractmethod
from typing import Any

from voicecli.realtime import protocol
from voicecli.realtime.continuity import (
    INTERRUPTED_REASON,
    Continuity,
    ContinuityEvents,
    HeardMs,
    History,
)
from voicecli.realtime.errors import RealtimeConnectionError
from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.functions import ToolRegistry
from voicecli.realtime.protocol import ListenEvents, SendEvents
from voicecli.realtime.protocol_session import RealtimeProtocolSession
from voicecli.realtime.settings import RealtimeSettings

__all__ = ["SessionSwitch"]

_MAX_HELD_APPENDS = 500  # 10 s of 20 ms microphone chunks
_QUIET_POLL_S = 0.1


class SessionSwitch:
    """The continuity half of `RealtimeClient` (see the module doc); off unless `continuity` is set."""

    continuity: Continuity | None
    heard_ms: HeardMs | None
    history: History | None
    settings: RealtimeSettings
    tools: ToolRegistry
    _queue: asyncio.Queue[Any]
    _session_ready: asyncio.Event
    _connected: bool
    _closing: bool
    _protocol: RealtimeProtocolSession

    def _init_switch(self, continuity: Continuity | bool | None, heard_ms: HeardMs | None) -> None:
        self.continuity = Continuity() if continuity is True else continuity or None
        self.heard_ms = heard_ms
        self.history = None
        self._switching: str | None = None  # "drop" or "rollover" while the session is replaced
        self._attempt_failed: str | None = None
        self._held_audio: list[dict[str, Any]] = []
        self._rollover: asyncio.Task[None] | None = None
        self._tries_used = 0  # reconnect tries since a session last completed a response

    @abstractmethod
    async def _open(self) -> None: ...

    @abstractmethod
    async def _close(self) -> None: ...

    @abstractmethod
    async def _send_now(self, payload: dict[str, Any]) -> None: ...

    @abstractmethod
    def _spawn(self, coroutine: Any) -> asyncio.Task[None]: ...

    @abstractmethod
    def _connection_lost(
        self, message: str, code: str = "connection_closed", *, reconnectable: bool = False
    ) -> None: ...

    def _start_history(self) -> None:
        """A new conversation (`create_session`): nothing to replay yet."""
        self.history = History(self.continuity) if self.continuity is not None else None
        self._switching = None
        self._tries_used = 0

    def _session_proved(self) -> None:
        """A response completed: the session works, so a later drop gets all its tries again
        (a service that drops every new session soon after it opens uses them up)."""
        self._tries_used = 0

    def _hold(self, payload: dict[str, Any]) -> None:
        """While the session is replaced: keep microphone audio of a rollover (sent to the new
        session; nobody was speaking), drop everything else, which the history already holds.
        After a drop, audio is dropped: it would join a turn the old session had half-heard."""
        is_audio = payload.get("type") == SendEvents.INPUT_AUDIO_BUFFER_APPEND
        if self._switching == "rollover" and is_audio and len(self._held_audio) < _MAX_HELD_APPENDS:
            self._held_audio.append(payload)

    def _lost_in_switch(self, message: str, reconnectable: bool) -> bool:
        """Whether a lost connection is the switch's to handle (a failed try, or a drop to reconnect)."""
        if self._switching is not None:
            self._attempt_failed = message  # a try failed while it was connecting
            self._session_ready.set()
            return True
        opened = self._session_ready.is_set()  # a session that never opened is refused, not dropped
        if reconnectable and opened and self.history is not None and not self._closing:
            self._switch_session("drop", message)
            return True
        return False

    # --- rollover -------------------------------------------------------------------------------

    def _plan_rollover(self, expires_at: Any) -> None:
        if self.continuity is None or not isinstance(expires_at, int | float) or expires_at <= 0:
            return
        if self._rollover is not None:
            self._rollover.cancel()
        self._rollover = self._spawn(self._roll_over_at(float(expires_at)))

    async def _roll_over_at(self, expires_at: float) -> None:
        """Before the session expires, at a quiet moment, replace it (the service's expiry, should
        no quiet moment come, is a drop like any other)."""
        assert self.continuity is not None
        await asyncio.sleep(self.continuity.rollover_in(expires_at, time.time()))
        while not self._quiet():
            await asyncio.sleep(_QUIET_POLL_S)
        if self._connected and self._switching is None and not self._closing:
            self._rollover = None
            self._switch_session("rollover", "the session is about to expire")

    def _quiet(self) -> bool:
        """Nobody speaking (server VAD says so; with push-to-talk, nothing appended since the last
        commit), no response in flight, no tool running, nothing unanswered, and the last reply
        heard to its end."""
        history = self.history
        return (
            history is not None
            and history.response_id is None
            and not history.user_speaking
            and not (self.settings.push_to_talk and history.input_pending)
            and not history.unanswered
            and not self._protocol.tools_running
            and history.played_out(self.heard_ms)
        )

    # --- the switch -----------------------------------------------------------------------------

    def _switch_session(self, cause: str, reason: str) -> None:
        self._switching = cause
        self._protocol.rolling_over = cause == "rollover"
        self._held_audio = []
        self._end_response_in_flight()
        self._spawn(self._replace_session(cause, reason))

    def _end_response_in_flight(self) -> None:
        """A response cut off by the drop ends now, so nothing waits for it (made by the client)."""
        assert self.history is not None
        response_id = self.history.cut_off()
        self._protocol.reopening()
        if response_id is None:
            return
        response = {
            "id": response_id,
            "status": "incomplete",
            "status_details": {"type": "incomplete", "reason": INTERRUPTED_REASON},
            "output": [],
        }
        event = {"type": ListenEvents.RESPONSE_DONE.value, "response": response}
        self._queue.put_nowait(RealtimeEvent(service_type=ListenEvents.RESPONSE_DONE, service_event=event))

    async def _replace_session(self, cause: str, reason: str) -> None:
        """Close the old connection, open a new one (tries with backoff after a drop), replay."""
        assert self.continuity is not None
        await self._close()
        last = reason
        attempts = self.continuity.attempts
        if cause == "rollover":
            self._tries_used = 0  # planned: not a failure
        for attempt in range(self._tries_used + 1, attempts + 1):
            self._tries_used = attempt  # given back once a new session has answered a response
            delay = self.continuity.delays_s[attempt - 1]
            if cause == "drop":
                self._status(ContinuityEvents.RECONNECTING, attempt=attempt, attempts=attempts, reason=reason)
            await asyncio.sleep(delay)
            try:
                replayed, asked_again = await self._open_and_replay()
            except Exception as exc:  # whatever broke this try, the next may work; the last is reported
                last = str(exc) or type(exc).__name__
                await self._close()
                continue
            self._switching = None
            self._protocol.rolling_over = False
            self._protocol.last_fatal_error = None
            if cause == "rollover":
                self._tries_used = 0
            held, self._held_audio = self._held_audio, []
            with contextlib.suppress(RealtimeConnectionError):
                for payload in held:
                    await self._send_now(payload)
            self._status(ContinuityEvents.RECONNECTED, cause=cause, replayed_items=replayed, asked_again=asked_again)
            return
        self._switching = None
        self._protocol.rolling_over = False
        self._connection_lost(f"{reason}; {attempts} tries to reconnect failed (the last: {last})")

    async def _open_and_replay(self) -> tuple[int, bool]:
        """One try: connect, configure as before (tools included), replay the history, and ask
        again for the answer a drop cut off."""
        assert self.continuity is not None and self.history is not None
        self._session_ready = asyncio.Event()
        self._attempt_failed = None
        async with asyncio.timeout(self.continuity.attempt_timeout_s):
            await self._open()
            await self._session_ready.wait()
            if self._attempt_failed:
                raise RealtimeConnectionError(self._attempt_failed)
            await self._send_now(self.settings.with_tools(self.tools.payload()).to_session_payload())
            replay = self.history.replay(self.heard_ms)
            self._protocol.replaying({event["item"]["id"] for event in replay})
            for event in replay:
                await self._send_now(event)
            asked_again = self.history.unanswered
            if asked_again:
                await self._send_now(protocol.simple_event(SendEvents.RESPONSE_CREATE))
        return len(replay), asked_again

    def _status(self, kind: ContinuityEvents, **details: Any) -> None:
        event = {"type": kind.value, **details}
        self._queue.put_nowait(RealtimeEvent(service_type=kind, service_event=event))
