"""The realtime client: session lifecycle, sending, the typed event stream, tools.

One concrete class, composed as httpx's `Client(transport=...)` is: a `Transport` (WebSocket,
WebRTC, in memory) moves the events; the protocol's rules (event order, the audio callback first,
when tool outputs are answered, which errors end a session) are `RealtimeProtocolSession`'s, a
sans-I/O object chosen by `_new_protocol`; this module carries out the actions it returns, so all
transports behave the same. The seed's per-provider classes only build their transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any, Self

import numpy as np

from voicecli.realtime import protocol
from voicecli.realtime.client_side import ClientSide
from voicecli.realtime.continuity import Continuity, HeardMs, History
from voicecli.realtime.errors import RealtimeConfigurationError, RealtimeConnectionError, RealtimeError
from voicecli.realtime.event_stream import EventStream
from voicecli.realtime.events import (
    AudioContent,
    ErrorContent,
    FunctionCallContent,
    McpApprovalContent,
    RealtimeAudioEvent,
    RealtimeErrorEvent,
    RealtimeEvent,
)
from voicecli.realtime.functions import ToolFunction, ToolRegistry
from voicecli.realtime.protocol import SendEvents
from voicecli.realtime.protocol_session import (
    Action,
    AskApproval,
    Completed,
    Deliver,
    Play,
    Ready,
    RealtimeProtocolSession,
    RunTool,
    Send,
    StreamAudio,
)
from voicecli.realtime.received import ReceivedAudio
from voicecli.realtime.safe_text import shown
from voicecli.realtime.session_rules import ProtocolSession
from voicecli.realtime.settings import RealtimeSettings
from voicecli.realtime.supervisor import ContinuitySupervisor
from voicecli.realtime.tasks import BackgroundTasks
from voicecli.realtime.transport import Transport

__all__ = [
    "AudioItemCallback",
    "AudioOutputCallback",
    "RealtimeClient",
    "RealtimeConfigurationError",
    "RealtimeConnectionError",
    "RealtimeError",
]

AudioOutputCallback = Callable[[np.ndarray], Awaitable[None] | None]
"""The seed's callback: each chunk of reply audio (24 kHz mono int16), nothing else."""
AudioItemCallback = Callable[[AudioContent], Awaitable[None] | None]
"""Each chunk of reply audio with the item it belongs to (`AudioContent.item_id`): what playback that
can be interrupted needs, to truncate the right item and to drop late chunks of one cut off."""


class RealtimeClient:
    """A realtime session over `transport`; use as `async with client(settings=..., create_response=True):`."""

    protocol: str = "realtime"
    """The wire protocol the session speaks: "realtime" here, "live" on the GPT-Live clients."""

    def __init__(
        self,
        *,
        transport: Transport,
        settings: RealtimeSettings | None = None,
        audio_output_callback: AudioOutputCallback | None = None,
        tools: Iterable[ToolFunction] = (),
        plugins: dict[str, object] | None = None,
        tool_timeout_s: float = 30.0,
        auto_invoke_tools: bool = True,
        connect_timeout_s: float = 15.0,
        continuity: Continuity | bool | None = False,
        heard_ms: HeardMs | None = None,
    ) -> None:
        """`transport` carries the events (`OpenAIRealtimeWebsocket` and the other seed classes build
        one for their endpoint). `continuity` (off by default) reconnects after a drop and rolls over before the
        session limit, replaying the history; `heard_ms` says how much of an assistant item the
        listener heard, so the replay keeps only that (without it, all received audio counts)."""
        self.transport_layer = transport
        self.settings = settings or RealtimeSettings()
        self.audio_output_callback = audio_output_callback
        self.tools = ToolRegistry(tools, plugins, timeout_s=tool_timeout_s)
        self.auto_invoke_tools = auto_invoke_tools
        self.connect_timeout_s = connect_timeout_s
        self.audio_item_callback: AudioItemCallback | None = None
        """Called with each reply chunk and its item, before `audio_output_callback` and before the
        event is delivered; the one way to learn which item a chunk belongs to."""
        self.received_audio = ReceivedAudio()
        """Reply audio received per item, counted here once at each chunk: what the continuity replay
        and an application's barge-in read (how much of an item arrived)."""
        self.session_id: str | None = None
        self._stream = EventStream()
        self._connected = False
        self._pending_entry: tuple[RealtimeSettings | None, bool] = (None, False)
        self._background = BackgroundTasks()
        self._sent_observers: list[Callable[[dict[str, Any]], None]] = []
        self._session_ready = asyncio.Event()
        self._closed_reason: str | None = None
        self._closing = False
        self._side = ClientSide(self)
        resolved = Continuity() if continuity is True else continuity or None
        self.supervisor = (
            ContinuitySupervisor(self._side, resolved, heard_ms, self.received_audio) if resolved is not None else None
        )
        """Reconnects and rolls over when `continuity` is on (None when it is off)."""
        self._heard_ms = heard_ms
        self._protocol = self._new_protocol()

    # --- the public API ---------------------------------------------------------------------

    def __call__(self, settings: RealtimeSettings | None = None, create_response: bool = False) -> Self:
        """Remember the session arguments for the `async with` block that follows."""
        self._pending_entry = (settings, create_response)
        return self

    async def __aenter__(self) -> Self:
        settings, create_response = self._pending_entry
        await self.create_session(settings=settings, create_response=create_response)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.delete_session()

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def continuity(self) -> Continuity | None:
        return self.supervisor.continuity if self.supervisor is not None else None

    @property
    def history(self) -> History | None:
        """What a new session is told after a drop or a rollover (None without continuity)."""
        return self.supervisor.history if self.supervisor is not None else None

    @property
    def heard_ms(self) -> HeardMs | None:
        """How much of an assistant item the listener heard, so a replay keeps only that."""
        return self._heard_ms

    @heard_ms.setter
    def heard_ms(self, heard_ms: HeardMs | None) -> None:
        self._heard_ms = heard_ms
        if self.supervisor is not None:
            self.supervisor.heard_ms = heard_ms

    @property
    def transport(self) -> str:
        """The transport's name ("websocket", "webrtc", "memory"); the object is `transport_layer`."""
        return self.transport_layer.name

    @property
    def endpoint_description(self) -> str:
        """Where this client connects, for messages (never contains a secret)."""
        return self.transport_layer.describe()

    async def create_session(self, settings: RealtimeSettings | None = None, create_response: bool = False) -> None:
        """Connect, wait for `session.created`, configure the session, optionally ask for a response.

        Raises `RealtimeConnectionError` with the service's reason when it refuses the session.
        """
        if self._connected:
            raise RealtimeError("this client already has an open session; call delete_session() first")
        if settings is not None:
            self.settings = settings  # before connecting: WebRTC sends the session when it sets up the call
        self._stream = EventStream()
        self._session_ready = asyncio.Event()
        self._closed_reason = None
        self._closing = False
        self._protocol = self._new_protocol()
        self.received_audio.clear()  # a new conversation
        if self.supervisor is not None:
            self.supervisor.start()
        self._connected = True
        try:
            await self.transport_layer.prepare()
            async with asyncio.timeout(self.connect_timeout_s):
                await self._open()
                await self._session_ready.wait()
        except TimeoutError as exc:
            await self._abandon()
            raise RealtimeConnectionError(
                f"no answer from the realtime service within {self.connect_timeout_s:g} s"
            ) from exc
        except BaseException:
            await self._abandon()
            raise
        if not self._connected:
            await self._abandon()
            raise RealtimeConnectionError(self._closed_reason or "the realtime service closed the connection")
        try:
            await self.update_session(settings=settings, create_response=create_response)
        except BaseException:
            await self._abandon()  # the rollover planned at `session.created` must not outlive the failure
            raise

    async def _abandon(self) -> None:
        """Release whatever a failed `create_session` had opened; nothing runs on after the failure."""
        self._connected = False
        await self._background.close()
        await self._close()
        await self.transport_layer.end()

    async def update_session(self, settings: RealtimeSettings | None = None, create_response: bool = False) -> None:
        """Send the (new) settings with the registered tools; optionally request a response."""
        if settings is not None:
            self.settings = settings
        await self._transmit(self.settings.with_tools(self.tools.payload()).to_session_payload())
        if create_response:
            await self._transmit(protocol.simple_event(SendEvents.RESPONSE_CREATE))

    async def delete_session(self) -> None:
        """Close the connection; `receive()` then ends after the events already received."""
        self._closing = True
        await self._background.close()
        if self._connected:
            self._connected = False
            await self._close()
            self._stream.end()
        await self.transport_layer.end()  # also after a lost connection: what outlives connections goes now

    async def send(self, event: RealtimeEvent | dict[str, Any]) -> None:
        """Send a typed event (audio, user text, tool result) or a raw client event dict."""
        if self._switching():
            await self._transmit(protocol.client_event(event))  # held or dropped while the session is replaced
        elif isinstance(event, RealtimeAudioEvent) and self.transport_layer.media_audio:
            await self._stream_audio(event.audio.data)
        else:
            await self.transport_layer.send_event(protocol.client_event(event), self._transmit)

    async def receive(
        self, audio_output_callback: AudioOutputCallback | None = None, **_: Any
    ) -> AsyncGenerator[RealtimeEvent, None]:
        """Yield events as they arrive until the session ends or the connection drops."""
        if audio_output_callback is not None:
            self.audio_output_callback = audio_output_callback
        async for event in self._stream:
            yield event

    # --- intents: what a caller wants, whatever the transport ---------------------------------

    @property
    def media_audio(self) -> bool:
        """Whether audio travels as media (WebRTC): the reply's sound then arrives after its events."""
        return self._protocol.media_audio

    async def send_audio(self, pcm: np.ndarray) -> None:
        """Microphone audio (24 kHz mono int16), as this transport carries it."""
        await self._request(self._protocol.send_audio(pcm))

    async def clear_turn(self) -> None:
        """Drop the microphone audio sent since the last commit (a push-to-talk turn starts clean)."""
        await self._request(self._protocol.clear_turn())

    async def commit_turn(self) -> None:
        """End a push-to-talk turn: commit the audio sent and ask for the answer."""
        await self._request(self._protocol.commit_turn())

    async def interrupt(self, heard: list[tuple[str, int]], *, cancel: bool) -> list[tuple[str, int]]:
        """The listener cut the reply off; `heard` holds (item id, `audio_end_ms`) per item heard in
        part. Returns the truncates sent (none where the service truncates what it played itself)."""
        actions = self._protocol.interrupt(heard, cancel=cancel)
        await self._request(actions)
        return [
            (action.payload["item_id"], action.payload["audio_end_ms"])
            for action in actions
            if isinstance(action, Send) and action.payload["type"] == SendEvents.CONVERSATION_ITEM_TRUNCATE
        ]

    async def _request(self, actions: list[Action]) -> None:
        """Carry out an intent's actions as `send()` would, so a transport's media path applies."""
        for action in actions:
            if isinstance(action, Send):
                await self.send(action.payload)
            elif isinstance(action, StreamAudio):
                await self._stream_audio(action.pcm)

    def observe_sent(self, observer: Callable[[dict[str, Any]], None]) -> None:
        """Call `observer` with every client event just before it is sent (event logs, tests)."""
        self._sent_observers.append(observer)

    async def _transmit(self, payload: dict[str, Any]) -> None:
        if not self._connected:
            raise RealtimeConnectionError(self._closed_reason or "the realtime session is not open")
        supervisor = self.supervisor
        if supervisor is not None:
            supervisor.history.on_sent(payload)
            if supervisor.switching is not None:
                supervisor.hold(payload)
                return
        try:
            await self._send_now(payload)
        except RealtimeConnectionError:
            if supervisor is None or self._closing:
                raise
            supervisor.hold(payload)  # the reader is about to report the drop and reconnect

    def _switching(self) -> bool:
        return self.supervisor is not None and self.supervisor.switching is not None

    async def _send_now(self, payload: dict[str, Any]) -> None:
        payload = self.transport_layer.wire_form(payload)
        for observer in self._sent_observers:
            observer(payload)
        await self.transport_layer.send(payload)

    # --- the transport ----------------------------------------------------------------------

    async def _open(self) -> None:
        await self.transport_layer.open(self._side)

    async def _close(self) -> None:
        await self.transport_layer.close()

    async def _stream_audio(self, pcm: np.ndarray) -> None:
        if not self._connected:
            raise RealtimeConnectionError(self._closed_reason or "the realtime session is not open")
        if self._switching():
            await self._transmit(protocol.append_audio(pcm))  # held for the new session, as appends are
            return
        await self.transport_layer.stream_audio(pcm, self._transmit)

    def _new_protocol(self) -> ProtocolSession:
        """The protocol session for a new session: the hook where a client of another protocol (other
        turn rules, other events) returns its own session class with the same methods."""
        return RealtimeProtocolSession(
            auto_invoke_tools=self.auto_invoke_tools,
            media_audio=self.transport_layer.media_audio,
            continuity=self.supervisor is not None,
        )

    async def _dispatch(self, event: RealtimeEvent) -> None:
        """Handle one incoming event: carry out what the protocol session makes of it."""
        for action in self._protocol.received(event):
            await self._carry_out(action)

    async def _carry_out(self, action: Action, *, wait: bool = True) -> None:
        """Do one action of the protocol session. `wait` holds a delivery back while `receive()`'s
        consumer is far behind (the transport's reader then stops reading); a tool's result never waits."""
        match action:
            case Play(audio):
                self.received_audio.add(audio)
                if self.audio_item_callback is not None:
                    await _called(self.audio_item_callback(audio))
                if self.audio_output_callback is not None:
                    await _called(self.audio_output_callback(audio.data))
            case Deliver(event):
                if self.supervisor is not None:
                    self.supervisor.history.on_received(event)
                if wait:  # while `receive()`'s consumer is far behind, the transport's reader waits here
                    await self._stream.put(event, flowing=lambda: self._connected)
                else:
                    self._stream.put_nowait(event)
            case Send(payload):
                with contextlib.suppress(RealtimeConnectionError):  # a lost connection is reported by the reader
                    await self._transmit(payload)
            case StreamAudio(pcm):
                await self._stream_audio(pcm)
            case RunTool(call):
                self._spawn(self._run_tool(call))
            case AskApproval(request):
                self._spawn(self._ask_approval(request))
            case Ready(session_id, expires_at):
                self.session_id = session_id
                self._session_ready.set()
                if self.supervisor is not None:
                    self.supervisor.plan_rollover(expires_at)
            case Completed():
                if self.supervisor is not None:
                    self.supervisor.session_proved()

    def _connection_lost(self, message: str, code: str = "connection_closed", *, reconnectable: bool = False) -> None:
        """Report a dropped connection once and end `receive()`; nothing already received is lost.

        With continuity, a `reconnectable` loss starts the switch to a new session instead."""
        if not self._connected:
            return
        message = shown(message)  # a close reason is the service's text: it may quote the key
        opened = self._session_ready.is_set()  # a session that never opened is refused, not dropped
        if self.supervisor is not None and self.supervisor.takes_loss(message, reconnectable, opened=opened):
            self._session_ready.set()  # a try that was waiting for its session learns it failed
            return
        self._connected = False
        if self._protocol.last_fatal_error:
            message = shown(f"{message}: {self._protocol.last_fatal_error}")
        self._closed_reason = message
        self._session_ready.set()
        self._stream.put_nowait(
            RealtimeErrorEvent(service_type="connection", error=ErrorContent(message=message, code=code, fatal=True))
        )
        self._stream.end()

    # --- tools ------------------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[None]) -> asyncio.Task[None]:
        return self._background.spawn(coroutine)

    async def _run_tool(self, call: FunctionCallContent) -> None:
        result = await self.tools.invoke(call.name, call.arguments, call.call_id)
        for action in self._protocol.tool_finished(result):
            await self._carry_out(action, wait=False)

    async def _ask_approval(self, request: McpApprovalContent) -> None:
        """A hosted MCP server's call waits for the same approver as the local tools (no approver: refused)."""
        try:
            arguments = json.loads(request.arguments or "{}")
        except ValueError:
            arguments = {"arguments": request.arguments}
        if not isinstance(arguments, dict):
            arguments = {"arguments": arguments}
        approved = await self.tools.approve(f"{request.server_label}.{request.name}", arguments)
        if isinstance(self._protocol, RealtimeProtocolSession):  # the protocol that asked (a new one may be open)
            for action in self._protocol.approval_answered(request, approved):
                await self._carry_out(action, wait=False)


async def _called(result: Awaitable[None] | None) -> None:
    """An audio callback may be a plain function or a coroutine function."""
    if inspect.isawaitable(result):
        await result
