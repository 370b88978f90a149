"""`ContinuitySupervisor`: how a client replaces its session (reconnect after a drop, rollover before expiry).

The client owns one supervisor when continuity is on and tells it what happens (a sent event, a
lost connection, a session that expires at a given time, a completed response); the supervisor
closes the transport's connection and opens a new one through the `SupervisedClient` interface, so
the same transport serves a new session exactly as it served the first. The caller keeps one client
and one `receive()` stream throughout: it sees `connection.reconnecting` for each try, a
`response.done` (status `incomplete`) for a response the drop cut off, then `connection.reconnected`
once the new session holds the replayed history. What is replayed is `continuity.History`'s
business; this module decides when and in which order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, Protocol

from voicecli.realtime import protocol
from voicecli.realtime.clock import WALL_CLOCK, Clock
from voicecli.realtime.continuity import (
    INTERRUPTED_REASON,
    Continuity,
    ContinuityEvents,
    HeardMs,
    History,
)
from voicecli.realtime.errors import RealtimeConnectionError
from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.protocol import ListenEvents, SendEvents
from voicecli.realtime.received import ReceivedAudio
from voicecli.realtime.session_rules import ProtocolSession

__all__ = ["ContinuitySupervisor", "SupervisedClient"]

_MAX_HELD_APPENDS = 500  # 10 s of 20 ms microphone chunks
_QUIET_POLL_S = 0.1


class SupervisedClient(Protocol):
    """What the supervisor needs of the client it serves."""

    @property
    def protocol_session(self) -> ProtocolSession:
        """The current session's rules (the supervisor tells it about replays and reopening)."""
        ...

    def in_session(self) -> bool:
        """Connected, and not being closed by its caller."""
        ...

    def push_to_talk(self) -> bool: ...

    def session_payload(self) -> dict[str, Any]:
        """`session.update` with the current settings and tools."""
        ...

    async def connect(self) -> None:
        """Open a new connection and wait until the service created its session."""
        ...

    async def disconnect(self) -> None: ...

    async def send_now(self, payload: dict[str, Any]) -> None:
        """Send over the current connection, bypassing the supervisor."""
        ...

    def emit(self, event: RealtimeEvent) -> None:
        """Put an event on the caller's `receive()` stream."""
        ...

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]: ...

    def fail(self, message: str) -> None:
        """The session is lost for good: report it and end `receive()`."""
        ...


class ContinuitySupervisor:
    """Keeps one conversation going across sessions (see the module doc)."""

    def __init__(
        self,
        client: SupervisedClient,
        continuity: Continuity,
        heard_ms: HeardMs | None,
        received: ReceivedAudio | None = None,
        clock: Clock = WALL_CLOCK,
    ) -> None:
        self.client = client
        self.clock = clock
        """What the rollover and the waits between reconnect tries are timed on (a test's may be virtual)."""
        self.continuity = continuity
        self.heard_ms = heard_ms
        self.received = received or ReceivedAudio()
        """The client's count of reply audio per item, which the history reads."""
        self.history = History(continuity, self.received)
        self.switching: str | None = None
        """"drop" or "rollover" while the session is replaced."""
        self._attempt_failed: str | None = None
        self._held_audio: list[dict[str, Any]] = []
        self._rollover: asyncio.Task[None] | None = None
        self._tries_used = 0  # reconnect tries since a session last completed a response

    def start(self) -> None:
        """A new conversation (`create_session`): nothing to replay yet."""
        self.history = History(self.continuity, self.received)
        self.switching = None
        self._tries_used = 0

    def session_proved(self) -> None:
        """A response completed: the session works, so a later drop gets all its tries again
        (a service that drops every new session soon after it opens uses them up)."""
        self._tries_used = 0

    def hold(self, payload: dict[str, Any]) -> None:
        """While the session is replaced: keep microphone audio of a rollover (sent to the new
        session; nobody was speaking), drop everything else, which the history already holds.
        After a drop, audio is dropped: it would join a turn the old session had half-heard."""
        is_audio = payload.get("type") == SendEvents.INPUT_AUDIO_BUFFER_APPEND
        if self.switching == "rollover" and is_audio and len(self._held_audio) < _MAX_HELD_APPENDS:
            self._held_audio.append(payload)

    def takes_loss(self, message: str, reconnectable: bool, *, opened: bool) -> bool:
        """Whether a lost connection is the supervisor's to handle (a failed try, or a drop to
        reconnect); `opened` says whether the lost session had opened (one that never opened is refused)."""
        if self.switching is not None:
            self._attempt_failed = message  # a try failed while it was connecting
            return True
        if reconnectable and opened and self.client.in_session():
            self._switch("drop", message)
            return True
        return False

    # --- rollover -------------------------------------------------------------------------------

    def plan_rollover(self, expires_at: float | None) -> None:
        if expires_at is None or expires_at <= 0:
            return
        if self._rollover is not None:
            self._rollover.cancel()
        self._rollover = self.client.spawn(self._roll_over_at(expires_at))

    async def _roll_over_at(self, expires_at: float) -> None:
        """Before the session expires, at a quiet moment, replace it (the service's expiry, should
        no quiet moment come, is a drop like any other)."""
        await self.clock.sleep(self.continuity.rollover_in(expires_at, self.clock.time()))
        while not self._quiet():
            await self.clock.sleep(_QUIET_POLL_S)
        if self.client.in_session() and self.switching is None:
            self._rollover = None
            self._switch("rollover", "the session is about to expire")

    def _quiet(self) -> bool:
        """Nobody speaking (server VAD says so; with push-to-talk, nothing appended since the last
        commit), no response in flight, no tool running, nothing unanswered, and the last reply
        heard to its end."""
        history = self.history
        return (
            history.response_id is None
            and not history.user_speaking
            and not (self.client.push_to_talk() and history.input_pending)
            and not history.unanswered
            and not self.client.protocol_session.tools_running
            and history.played_out(self.heard_ms)
        )

    # --- the switch -----------------------------------------------------------------------------

    def _switch(self, cause: str, reason: str) -> None:
        self.switching = cause
        self.client.protocol_session.rolling_over = cause == "rollover"
        self._held_audio = []
        self._end_response_in_flight()
        self.client.spawn(self._replace_session(cause, reason))

    def _end_response_in_flight(self) -> None:
        """A response cut off by the drop ends now, so nothing waits for it (made by the client)."""
        response_id = self.history.cut_off()
        self.client.protocol_session.reopening()
        if response_id is None:
            return
        response = {
            "id": response_id,
            "status": "incomplete",
            "status_details": {"type": "incomplete", "reason": INTERRUPTED_REASON},
            "output": [],
        }
        event = {"type": ListenEvents.RESPONSE_DONE.value, "response": response}
        self.client.emit(RealtimeEvent(service_type=ListenEvents.RESPONSE_DONE, service_event=event))

    async def _replace_session(self, cause: str, reason: str) -> None:
        """Close the old connection, open a new one (tries with backoff after a drop), replay."""
        await self.client.disconnect()
        last = reason
        attempts = self.continuity.attempts
        if cause == "rollover":
            self._tries_used = 0  # planned: not a failure
        for attempt in range(self._tries_used + 1, attempts + 1):
            self._tries_used = attempt  # given back once a new session has answered a response
            delay = self.continuity.delays_s[attempt - 1]
            if cause == "drop":
                self._status(ContinuityEvents.RECONNECTING, attempt=attempt, attempts=attempts, reason=reason)
            await self.clock.sleep(delay)
            try:
                replayed, asked_again = await self._open_and_replay()
            except Exception as exc:  # whatever broke this try, the next may work; the last is reported
                last = str(exc) or type(exc).__name__
                await self.client.disconnect()
                continue
            self._switched()
            if cause == "rollover":
                self._tries_used = 0
            held, self._held_audio = self._held_audio, []
            with contextlib.suppress(RealtimeConnectionError):
                for payload in held:
                    await self.client.send_now(payload)
            self._status(ContinuityEvents.RECONNECTED, cause=cause, replayed_items=replayed, asked_again=asked_again)
            return
        self.switching = None
        self.client.protocol_session.rolling_over = False
        self.client.fail(f"{reason}; {attempts} tries to reconnect failed (the last: {last})")

    def _switched(self) -> None:
        self.switching = None
        self.client.protocol_session.rolling_over = False
        self.client.protocol_session.last_fatal_error = None

    async def _open_and_replay(self) -> tuple[int, bool]:
        """One try: connect, configure as before (tools included), replay the history, and ask
        again for the answer a drop cut off."""
        self._attempt_failed = None
        async with asyncio.timeout(self.continuity.attempt_timeout_s):
            await self.client.connect()
            if self._attempt_failed:
                raise RealtimeConnectionError(self._attempt_failed)
            await self.client.send_now(self.client.session_payload())
            replay = self.history.replay(self.heard_ms)
            self.client.protocol_session.replaying({event["item"]["id"] for event in replay})
            for event in replay:
                await self.client.send_now(event)
            asked_again = self.history.unanswered
            if asked_again:
                await self.client.send_now(protocol.simple_event(SendEvents.RESPONSE_CREATE))
        return len(replay), asked_again

    def _status(self, kind: ContinuityEvents, **details: Any) -> None:
        event = {"type": kind.value, **details}
        self.client.emit(RealtimeEvent(service_type=kind, service_event=event))
