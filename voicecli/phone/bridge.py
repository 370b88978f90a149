"""One phone call: the ACS media WebSocket on one side, one realtime session on the other.

The caller's `AudioData` frames go out as `input_audio_buffer.append` as they arrive (silent
frames too: the service's VAD needs time to pass to hear the caller stop). The model's audio comes
through the client's `audio_item_callback`, before anything else looks at the event, and goes to
ACS as `AudioData`. When the service hears the caller start speaking, the same `BargeInPolicy` as
`talk`'s cuts the reply off: ACS gets `StopAudio` at once (the `CallPlayout` sink's flush) and the
client is told what the caller heard (see `playout`), as its transport needs.

Nothing one call does reaches another: a malformed frame is logged and skipped, a failing tool
is an error text for the model (the client's tool registry), and the call ends only when the
caller hangs up, the `hang_up` tool is called, a limit is reached (`limits`: silence, length; the
model says goodbye first), or the realtime session's `receive()` ends. Reconnecting belongs to the
realtime client (its `continuity`): while it reconnects, the caller hears silence and what they
say is dropped (the replayed history carries the conversation); as long as `receive()` goes on, so
does the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
from aiohttp import WSMessage, WSMsgType

from voicecli.conversation.interruption import BargeInPolicy
from voicecli.conversation.state import ConversationState
from voicecli.phone import media
from voicecli.phone.calls import CallRecord, CallRegistry
from voicecli.phone.limits import CallLimits, goodbye_instructions
from voicecli.phone.playout import CallPlayout
from voicecli.realtime import (
    AudioContent,
    ContinuityEvents,
    ListenEvents,
    RealtimeClient,
    RealtimeConnectionError,
    RealtimeError,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeSettings,
)
from voicecli.realtime.functions import ToolFunction
from voicecli.realtime.tasks import BackgroundTasks
from voicecli.records.latency import LatencyTracker

if TYPE_CHECKING:
    from voicecli.audio.resample import StreamResampler

MAX_GOODBYE_S = 15.0
"""After `hang_up`, the bridge lets the audio already sent play out, but never longer than this."""
_log = logging.getLogger("voicecli.phone")


class MediaSocket(Protocol):
    """What the bridge needs of the ACS media WebSocket (aiohttp's `WebSocketResponse` is one)."""

    async def send_str(self, data: str, compress: int | None = None) -> None: ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...

    def __aiter__(self) -> AsyncIterator[WSMessage]: ...


ClientFactory = Callable[[CallRecord, list[ToolFunction]], RealtimeClient]
"""Builds the realtime client of this call, with these extra tools (the call's own `hang_up`)."""
EndCall = Callable[[CallRecord], Awaitable[None]]
"""Ends the call at ACS (the SDK's hang-up); the bridge then closes the media socket itself."""


@dataclass(slots=True)
class BridgeTimings:
    """Bridge-added latency in ms, for the benchmark: frame in → appended, model audio → frame out."""

    inbound_ms: list[float] = field(default_factory=list)
    outbound_ms: list[float] = field(default_factory=list)


class CallBridge:
    """Runs one call from the media socket's first frame to its end; see the module doc."""

    def __init__(
        self,
        record: CallRecord,
        registry: CallRegistry,
        socket: MediaSocket,
        client_factory: ClientFactory,
        *,
        settings: RealtimeSettings,
        greet: bool = True,
        end_call: EndCall | None = None,
        timings: BridgeTimings | None = None,
        limits: CallLimits | None = None,
    ) -> None:
        self.record = record
        self.registry = registry
        self.socket = socket
        self.client = client_factory(record, [self.hang_up_tool()])
        self.settings = settings
        self.greet = greet
        self.end_call = end_call
        self.timings = timings
        self.limits = limits or CallLimits()
        self.playout = CallPlayout(socket)
        self.latency = LatencyTracker()
        self.state = ConversationState(self.latency, self.client.received_audio)
        """The call's conversation, fed once per event: who speaks, the reply items, the turn latencies."""
        self.policy = BargeInPolicy(self.playout, self.state)
        self._latency_reported = 0  # the turns whose latency went to the registry
        self._resampler: StreamResampler | None = None
        self._frame_samples = media.SAMPLE_RATE * media.FRAME_MS // 1000
        self._hang_up: asyncio.Task[None] | None = None
        self._caller_sound_at = self._model_done_at = time.monotonic()
        self._goodbye_said = asyncio.Event()
        self._tasks = BackgroundTasks()
        self._end_reason = ""

    async def run(self) -> None:
        """Bridge until the call ends; never raises for anything a caller or the service does."""
        self.client.audio_item_callback = self._to_caller
        self.client.heard_ms = self.policy.heard_ms  # a replay after a drop keeps what the caller heard, as talk's
        try:
            try:
                async with self.client(settings=self.settings, create_response=self.greet):
                    self.registry.set_state(self.record, "streaming")
                    model_gone = await self._bridge()
            except RealtimeError as exc:
                model_gone = True
                self._end_reason = self._end_reason or f"realtime session failed: {exc}"
            if model_gone and self.end_call is not None:
                await self._end_at_acs()  # else the caller would hear silence until they hang up
        finally:
            await self._tasks.close()
            await self.socket.close()
        failed = self._end_reason.startswith("realtime")
        self.registry.set_state(self.record, "failed" if failed else "ended", self._end_reason)

    async def _bridge(self) -> bool:
        """Run both directions until one ends; True when the model's side ended (not the caller, not `hang_up`)."""
        from_caller = asyncio.create_task(self._from_caller(), name=f"call {self.record.call_id} caller")
        from_model = asyncio.create_task(self._from_model(), name=f"call {self.record.call_id} model")
        self._tasks.spawn(self._watch_limits())
        done, pending = await asyncio.wait({from_caller, from_model}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()  # a bug in the bridge itself surfaces (and is logged by the route)
        if from_caller in done:
            self._end_reason = self._end_reason or "the caller hung up"
            return False
        self._end_reason = self._end_reason or "realtime session ended"
        if self._hang_up is not None:
            await self._hang_up  # `hang_up` was called: it finishes the call at ACS
            return False
        return True

    # --- the caller → the model ---------------------------------------------------------------

    async def _from_caller(self) -> None:
        async for message in self.socket:
            received = time.perf_counter()
            if message.type == WSMsgType.TEXT:
                await self._handle_frame(message.data, received)
            elif message.type == WSMsgType.BINARY:
                self._malformed("a binary WebSocket message (ACS sends JSON text)")

    async def _handle_frame(self, text: str, received: float) -> None:
        try:
            frame = media.parse_frame(text)
        except media.MediaFrameError as exc:
            self._malformed(str(exc))
            return
        match frame:
            case media.AudioFrame():
                await self._append(frame, received)
            case media.AudioMetadata():
                self._use_format(frame)
            case media.DtmfFrame():
                self._caller_sound_at = time.monotonic()
                self.registry.pressed(self.record, frame.digit)
            case _:
                _log.debug("call %s: %s frame passed over", self.record.call_id, type(frame).__name__)

    async def _append(self, frame: media.AudioFrame, received: float) -> None:
        pcm = np.frombuffer(frame.pcm, dtype="<i2")
        if not frame.silent:
            self._caller_sound_at = time.monotonic()
        if not len(pcm) and frame.silent:
            pcm = np.zeros(self._frame_samples, dtype=np.int16)
        if self._resampler is not None:
            pcm = self._resampler.process(pcm)
        if not len(pcm):
            return
        try:
            await self.client.send_audio(pcm)
        except RealtimeConnectionError:
            return  # reconnecting, or gone: `receive()` tells which
        if self.timings is not None:
            self.timings.inbound_ms.append((time.perf_counter() - received) * 1000)

    def _use_format(self, metadata: media.AudioMetadata) -> None:
        """16 or 24 kHz mono PCM is taken; anything else is refused in one line, the call goes on as it was."""
        problem = media.format_problem(metadata)
        if problem is not None:
            rate = self._frame_samples * 1000 // media.FRAME_MS
            self.registry.note(
                self.record, f"media format refused: {problem}; the call goes on at {rate} Hz", level=logging.WARNING
            )
            return
        self.registry.note(self.record, f"media: PCM {metadata.sample_rate} Hz mono")
        self._resampler = None
        self._frame_samples = media.SAMPLE_RATE * media.FRAME_MS // 1000
        if metadata.sample_rate != media.SAMPLE_RATE:
            from voicecli.audio.resample import StreamResampler

            self._resampler = StreamResampler(metadata.sample_rate, media.SAMPLE_RATE)
            self._frame_samples = metadata.sample_rate * media.FRAME_MS // 1000

    def _malformed(self, why: str) -> None:
        self.record.malformed_frames += 1
        self.registry.note(self.record, f"malformed media frame skipped: {why}", level=logging.WARNING)

    # --- the model → the caller ---------------------------------------------------------------

    async def _to_caller(self, audio: AudioContent) -> None:
        """The client's `audio_item_callback`: runs for each chunk before its event is queued."""
        started = time.perf_counter()
        reply = self.policy.reply_for(audio)
        if reply is None:
            return  # a late delta of an item the caller talked over
        self.policy.play(reply, audio)
        await self.playout.drain()
        if self.timings is not None:
            self.timings.outbound_ms.append((time.perf_counter() - started) * 1000)

    async def _from_model(self) -> None:
        async for event in self.client.receive():
            if self.record.usage is not None:
                self.record.usage.observe(event)
            await self._react(event)

    async def _react(self, event: RealtimeEvent) -> None:
        payload = event.service_event or {}
        self.state.handle(event)
        self._report_latency()
        match event:
            case RealtimeEvent(service_type=ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STARTED):
                await self._barge_in()
            case RealtimeEvent(service_type=ListenEvents.RESPONSE_OUTPUT_AUDIO_TRANSCRIPT_DONE):
                self.registry.said(self.record, "assistant", str(payload.get("transcript") or ""))
            case RealtimeEvent(service_type=ListenEvents.RESPONSE_OUTPUT_TEXT_DONE):
                self.registry.said(self.record, "assistant", str(payload.get("text") or ""))
            case RealtimeEvent(service_type=ListenEvents.INPUT_AUDIO_TRANSCRIPTION_COMPLETED):
                self.registry.said(self.record, "caller", str(payload.get("transcript") or ""))
            case RealtimeFunctionCallEvent():
                self.registry.note(self.record, f"tool {event.function_call.name} called")
            case RealtimeFunctionResultEvent() if event.function_result.is_error:
                result = event.function_result
                self.registry.note(self.record, f"tool {result.name}: {result.result}", level=logging.WARNING)
            case RealtimeEvent(service_type=ListenEvents.RESPONSE_DONE):
                self._model_done_at = time.monotonic()
                if self._hang_up is not None:
                    self._goodbye_said.set()
            case RealtimeEvent(service_type=ContinuityEvents.RECONNECTING):
                attempt = f"try {payload.get('attempt')} of {payload.get('attempts')}"
                self.registry.note(self.record, f"realtime connection lost; reconnecting ({attempt})", logging.WARNING)
            case RealtimeEvent(service_type=ContinuityEvents.RECONNECTED):
                self.registry.note(self.record, "realtime session resumed; the conversation goes on")
            case RealtimeErrorEvent():
                level = logging.ERROR if event.error.fatal else logging.WARNING
                self.registry.note(self.record, f"realtime error: {event.error.message}", level=level)
                if event.error.fatal:
                    self._end_reason = f"realtime session failed: {event.error.message}"

    def _report_latency(self) -> None:
        """A turn's first reply audio came (from the caller's last word, as the state's latency tracker counts)."""
        turn = self.latency.current
        if turn is not None and turn.number > self._latency_reported and turn.first_audio_ms is not None:
            self._latency_reported = turn.number
            self.registry.turn_latency(self.record, turn.first_audio_ms)

    async def _barge_in(self) -> None:
        """The caller started speaking: ACS stops playing at once, then the model learns what was heard."""
        barge_in = await self.policy.interrupt(self.client, "vad", flushed=self.playout.drain)
        if barge_in is not None:
            self.registry.note(self.record, "caller spoke over the reply: StopAudio", level=logging.DEBUG)

    # --- hanging up ---------------------------------------------------------------------------

    def hang_up_tool(self) -> ToolFunction:
        """The call's built-in `hang_up` tool, bound to this call."""

        async def hang_up() -> str:
            """End the phone call. Say goodbye first; use it when the caller is done or asks to hang up."""
            if self._hang_up is None:
                self._end_reason = "the assistant hung up"
                self._hang_up = self._tasks.spawn(self._hang_up_after_goodbye())
            return "The call is being ended."

        return hang_up

    async def _watch_limits(self) -> None:
        """End the call politely once it is past a limit (`limits`)."""
        while self._hang_up is None:
            await asyncio.sleep(self.limits.check_every_s)
            reason = self.limit_reached(time.monotonic())
            if reason is not None and self._hang_up is None:
                self._end_reason = reason
                self.registry.note(self.record, f"ending the call: {reason}")
                self._hang_up = self._tasks.spawn(self._say_goodbye_and_hang_up(reason))

    def limit_reached(self, now: float) -> str | None:
        """Why the call must end at `now` (monotonic), or None; silence counts only while the model
        neither works on a reply nor plays one."""
        quiet_since = now if self.state.response_active else max(self._caller_sound_at, self._model_done_at)
        quiet_since = max(quiet_since, self.playout.ends_at)
        return self.limits.reached(now=now, started=self.record.started, quiet_since=quiet_since)

    async def _say_goodbye_and_hang_up(self, reason: str) -> None:
        """Ask the model for a short goodbye, let it play, then hang up (without one, after `goodbye_wait_s`)."""
        goodbye = {"type": "response.create", "response": {"instructions": goodbye_instructions(reason)}}
        with contextlib.suppress(RealtimeConnectionError, TimeoutError):
            await self.client.send(goodbye)
            async with asyncio.timeout(self.limits.goodbye_wait_s):
                await self._goodbye_said.wait()
        await self._hang_up_after_goodbye()

    async def _hang_up_after_goodbye(self) -> None:
        await asyncio.sleep(min(self.playout.remaining_s(time.monotonic()), MAX_GOODBYE_S))
        if self.end_call is not None:
            await self._end_at_acs()
        await self.socket.close()

    async def _end_at_acs(self) -> None:
        assert self.end_call is not None
        try:
            await self.end_call(self.record)
        except Exception as exc:  # the SDK's errors vary; the call still ends on our side
            self.registry.note(self.record, f"hanging up at ACS failed: {exc}", level=logging.WARNING)
