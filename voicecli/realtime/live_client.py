"""What every GPT-Live client does, over WebSocket (`live_ws`) or WebRTC (`live_webrtc`), behind the seed's API.

What GPT-Live fixes at startup (voice, instructions, format) cannot change later: `update_session`
appends new instructions to the context instead (append-only, up to 500 tokens an append) and
`create_response` is ignored, since the model decides when it speaks. With `continuity`, a dropped
connection is followed by a new session that starts with the conversation's transcript as its
text-only `input` (within the protocol's caps), and so is the session limit: shortly before it, at a
quiet moment (`live_rollover`), the session is replaced the same way (a rollover).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from voicecli.realtime.client import RealtimeClient, RealtimeConnectionError
from voicecli.realtime.clock import WALL_CLOCK, Clock
from voicecli.realtime.continuity import Continuity, ContinuityEvents
from voicecli.realtime.events import (
    FunctionCallContent,
    FunctionResultContent,
    RealtimeAudioEvent,
    RealtimeEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
)
from voicecli.realtime.live_delegate import ChatDelegate, Delegate, DelegatedTask
from voicecli.realtime.live_protocol import GREETING_REQUEST, LiveEvents, context_append, session_start
from voicecli.realtime.live_rollover import LiveRollover
from voicecli.realtime.live_session import DELEGATE_TOOL, LiveProtocolSession
from voicecli.realtime.protocol_session import Action, Deliver, Play, Ready, Send
from voicecli.realtime.settings import RealtimeSettings
from voicecli.realtime.transport import Transport

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["DEFAULT_DELEGATION_MODEL", "LiveClient"]

DEFAULT_DELEGATION_MODEL = "gpt-5-mini"
"""The chat model the default delegate asks (an assumption: any chat model at the endpoint will do)."""
_MAX_APPEND_CHARS = 2000  # about 500 tokens, the protocol's cap on one append
_QUIET_POLL_S = 0.1


class LiveClient(RealtimeClient):
    """What every GPT-Live client does, over WebSocket or WebRTC (`transport`).

    `sdk_client` builds the `openai` client of the same endpoint, which the default delegate asks.
    `delegate` answers client delegations (default: a chat completions model at the same endpoint,
    `delegation_model`, with this client's tools). `delegation` is the session's delegation as
    `session.start` takes it: `{"type": "client"}` (the default) or hosted, e.g.
    `{"type": "responses", "responses": {"model": "gpt-5", "tools": [...]}}`, where the service's
    Responses model does the work and voicecli runs nothing. `protocol` is `"live"` on these classes.
    """

    protocol = "live"
    _protocol: LiveProtocolSession

    def __init__(
        self,
        *,
        transport: Transport,
        sdk_client: Callable[[], AsyncOpenAI],
        delegate: Delegate | None = None,
        delegation_model: str | None = None,
        delegation: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        policy = kwargs.get("continuity")
        self._reconnect_policy = Continuity() if policy is True else policy if isinstance(policy, Continuity) else None
        kwargs["continuity"] = False  # the Realtime replay of items does not apply: see `_reconnect`
        super().__init__(transport=transport, **kwargs)
        self._reconnecting = False
        self._held: list[dict[str, Any]] = []
        self._starting: dict[str, Any] | None = None
        self.delegate = delegate or ChatDelegate(sdk_client, delegation_model or DEFAULT_DELEGATION_MODEL)
        self.delegation = delegation
        self._started_instructions: str | None = None
        self._rollover = LiveRollover(self._reconnect_policy) if self._reconnect_policy is not None else None
        self._rollover_task: asyncio.Task[None] | None = None
        self.clock: Clock = WALL_CLOCK
        """What the rollover, its quiet moment and the waits between reconnect tries are timed on
        (a test's may be virtual)."""

    @property
    def model(self) -> str:
        raise NotImplementedError

    def _new_protocol(self) -> LiveProtocolSession:
        return LiveProtocolSession(
            auto_invoke_tools=self.auto_invoke_tools, media_audio=self.transport_layer.media_audio
        )

    def session_start(self) -> dict[str, Any]:
        """The `session.start` for the current settings, carrying the conversation so far after a drop."""
        return session_start(self.settings, self.model, delegation=self.delegation, history=self._protocol.transcript)

    async def _open(self) -> None:
        """Connect and start the session: over WebSocket with `session.start` first; over WebRTC the
        request that sets up the call carries the session (`session.started` then comes by itself)."""
        self._started_instructions = self.settings.instructions
        await super()._open()
        starting = [] if self.transport_layer.media_audio else [self.session_start()]
        if self.settings.push_to_talk:  # the model hears nothing until the key is pressed
            starting += [action.payload for action in self._protocol.mute(True) if isinstance(action, Send)]
        if starting and self.transport_layer.media_audio:
            await self._session_ready.wait()  # WebRTC: no command before `session.started`
            if self._protocol.session_id is None:
                return  # the session failed; the loss is being reported
        for payload in starting:
            self._starting = payload  # goes out even while reconnecting (other events wait for the session)
            await self._send_now(payload)
        self._starting = None

    async def create_session(self, settings: RealtimeSettings | None = None, create_response: bool = False) -> None:
        """Connect and start the session with `settings` (they go in `session.start`)."""
        if settings is not None:
            self.settings = settings
        await super().create_session(settings=settings, create_response=create_response)

    async def update_session(self, settings: RealtimeSettings | None = None, create_response: bool = False) -> None:
        """GPT-Live fixes the session at startup: new instructions are appended; nothing else changes.
        `create_response` asks the model to speak first, in instructions (the model still decides)."""
        if settings is not None:
            self.settings = settings
        instructions = self.settings.instructions
        if instructions and instructions != self._started_instructions:
            self._started_instructions = instructions
            content = instructions[:_MAX_APPEND_CHARS]
            await self._transmit(context_append(LiveEvents.INSTRUCTIONS_APPEND, content))
        if create_response:
            await self._transmit(context_append(LiveEvents.INSTRUCTIONS_APPEND, GREETING_REQUEST))

    async def send(self, event: RealtimeEvent | dict[str, Any]) -> None:
        """Typed text goes in as instructions saying the user typed it; audio is appended to the
        timeline; a function result answers the delegation it names (as commentary)."""
        if isinstance(event, RealtimeTextEvent):
            await self._request(self._protocol.type_text(event.text.text))
        elif isinstance(event, RealtimeAudioEvent):
            await self._request(self._protocol.send_audio(event.audio.data))
        elif isinstance(event, RealtimeFunctionResultEvent):
            result = event.function_result
            await self._transmit(context_append(LiveEvents.COMMENTARY_APPEND, result.result, result.call_id))
        else:
            await super().send(event)

    # --- continuity: a new session after a drop, carrying the conversation as its startup input ---

    def _connection_lost(self, message: str, code: str = "connection_closed", *, reconnectable: bool = False) -> None:
        if reconnectable and self._reconnect_policy is not None and self.connected and not self._closing:
            if not self._reconnecting:
                self._reconnecting = True
                self._spawn(self._reconnect(message, self._reconnect_policy))
            return
        super()._connection_lost(message, code)

    async def _reconnect(self, reason: str, policy: Continuity, cause: str = "drop") -> None:
        """Open a new session with the transcript so far (text only, within the protocol's caps) after
        a drop or, as a `rollover`, before the session limit: what was said is kept, and so are the
        current instructions and muting; audio, the session clock and delegations in flight are not."""
        transcript = list(self._protocol.transcript)
        was_muted = self._protocol.muted
        for attempt, delay in enumerate(policy.delays_s, 1):
            if cause == "drop":
                status = {"attempt": attempt, "attempts": policy.attempts, "reason": reason}
                await self._report(_status(ContinuityEvents.RECONNECTING, status))
            await self.clock.sleep(delay)
            await self._close()
            self._protocol = self._new_protocol()
            self._protocol.transcript = list(transcript)
            self._session_ready = asyncio.Event()
            try:
                async with asyncio.timeout(policy.attempt_timeout_s):
                    await self._open()
                    await self._session_ready.wait()
            except (RealtimeConnectionError, TimeoutError):
                continue
            if self._protocol.session_id is None:
                continue  # the new connection failed before its session started
            self._reconnecting = False
            held, self._held = self._held, []
            if was_muted:
                held = [action.payload for action in self._protocol.mute(True) if isinstance(action, Send)] + held
            for payload in held:
                await self._send_now(payload)
            carried = len(transcript)
            await self._report(_status(ContinuityEvents.RECONNECTED, {"cause": cause, "carried_turns": carried}))
            return
        self._reconnecting = False
        super()._connection_lost(f"{reason}; {policy.attempts} reconnect tries failed", reconnectable=False)

    # --- rollover: a new session before the limit, at a quiet moment ---

    async def _carry_out(self, action: Action, *, wait: bool = True) -> None:
        rollover = self._rollover
        if rollover is not None:
            heard = isinstance(action, Play) or (
                isinstance(action, Deliver)
                and isinstance(action.event, RealtimeTextEvent)
                and action.event.text.source == "user_transcript"
            )
            if heard:
                rollover.heard(self.clock.monotonic())
            elif isinstance(action, Ready) and action.expires_at is not None:
                self._plan_rollover(rollover, action.expires_at)
        await super()._carry_out(action, wait=wait)

    def _plan_rollover(self, rollover: LiveRollover, expires_at: float) -> None:
        """Each new session plans its own rollover; an older plan finds itself replaced and stands down
        (it is not cancelled: it may be the rollover that opened this session)."""
        self._rollover_task = self._spawn(self._roll_over_at(rollover, expires_at))

    async def _roll_over_at(self, rollover: LiveRollover, expires_at: float) -> None:
        await self.clock.sleep(rollover.due_in(expires_at, self.clock.time()))
        while not rollover.quiet(self.clock.monotonic(), delegations_running=self._protocol.tools_running):
            await self.clock.sleep(_QUIET_POLL_S)
        policy = self._reconnect_policy
        if self._rollover_task is not asyncio.current_task():
            return  # a newer session (after a drop) has its own plan
        if policy is None or not self.connected or self._closing or self._reconnecting:
            return
        self._reconnecting = True
        await self._reconnect("the session is about to expire", policy, cause="rollover")

    async def _send_now(self, payload: dict[str, Any]) -> None:
        if self._reconnecting and payload is not self._starting:
            if payload["type"] != LiveEvents.INPUT_AUDIO_APPEND:
                self._held.append(payload)  # typed words and commentary go to the new session
            return  # microphone audio of the gap is lost: the new session's clock starts afresh
        await super()._send_now(payload)

    async def _stream_audio(self, pcm: np.ndarray) -> None:
        if self._reconnecting:
            return  # WebRTC: the gap's microphone audio is lost too (there is no call to carry it)
        await super()._stream_audio(pcm)

    @property
    def delegations_running(self) -> bool:
        """Some delegation is still being worked on (the model is waiting for its commentary)."""
        return self._protocol.tools_running

    async def mute(self, muted: bool) -> None:
        """Mute (the model hears silence, the clock runs on) or unmute the microphone."""
        await self._request(self._protocol.mute(muted))

    async def _run_tool(self, call: FunctionCallContent) -> None:
        if call.name != DELEGATE_TOOL:
            await super()._run_tool(call)
            return
        task = DelegatedTask.from_call(call, self.tools)
        text = await self.delegate(task, self._report)
        result = FunctionResultContent(name=DELEGATE_TOOL, call_id=call.call_id, result=text)
        for action in self._protocol.tool_finished(result):
            await self._carry_out(action, wait=False)

    async def _report(self, event: RealtimeEvent) -> None:
        """Show the delegate's tool calls and results like any tool call's."""
        await self._carry_out(Deliver(event), wait=False)


def _status(kind: ContinuityEvents, details: dict[str, Any]) -> RealtimeEvent:
    return RealtimeEvent(service_type=kind, service_event={"type": kind.value, **details})
