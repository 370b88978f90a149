"""The transport-neutral realtime client: session lifecycle, sending, the typed event stream, tools.

A transport subclass only opens and closes its connection, sends one JSON payload, and feeds every
incoming event to `_dispatch`. Everything a caller sees (event order, the audio callback, automatic
tool calls, errors on a dropped connection) is decided here, so all transports behave the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any, Self

import numpy as np

from voicecli.realtime import protocol
from voicecli.realtime.continuity import Continuity, HeardMs
from voicecli.realtime.errors import RealtimeConfigurationError, RealtimeConnectionError, RealtimeError
from voicecli.realtime.events import (
    ErrorContent,
    RealtimeAudioEvent,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
)
from voicecli.realtime.functions import ToolFunction, ToolRegistry
from voicecli.realtime.protocol import ListenEvents, SendEvents
from voicecli.realtime.safe_text import shown
from voicecli.realtime.session_switch import SessionSwitch
from voicecli.realtime.settings import RealtimeSettings
from voicecli.realtime.tasks import BackgroundTasks

__all__ = [
    "AudioOutputCallback",
    "RealtimeClient",
    "RealtimeConfigurationError",
    "RealtimeConnectionError",
    "RealtimeError",
]

RECEIVE_QUEUE_EVENTS = 1000
"""How far `receive()`'s consumer may fall behind before the transport stops reading (backpressure)."""

AudioOutputCallback = Callable[[np.ndarray], Awaitable[None] | None]


_CLOSED = object()


class RealtimeClient(SessionSwitch, ABC):
    """Base of every transport; use as `async with client(settings=..., create_response=True):`."""

    transport: str = "abstract"

    def __init__(
        self,
        *,
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
        """`continuity` (off by default) reconnects after a drop and rolls over before the
        session limit, replaying the history; `heard_ms` says how much of an assistant item the
        listener heard, so the replay keeps only that (without it, all received audio counts)."""
        self.settings = settings or RealtimeSettings()
        self.audio_output_callback = audio_output_callback
        self.tools = ToolRegistry(tools, plugins, timeout_s=tool_timeout_s)
        self.auto_invoke_tools = auto_invoke_tools
        self.connect_timeout_s = connect_timeout_s
        self.session_id: str | None = None
        self.audio_item_id: str | None = None
        """The item of the chunk `audio_output_callback` is being called with (for barge-in bookkeeping)."""
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._connected = False
        self._pending_entry: tuple[RealtimeSettings | None, bool] = (None, False)
        self._tool_calls: dict[str, list[asyncio.Task[None]]] = {}
        self._function_names: dict[str, str] = {}  # function-call item id → function name
        self._background = BackgroundTasks()
        self._sent_observers: list[Callable[[dict[str, Any]], None]] = []
        self._session_ready = asyncio.Event()
        self._closed_reason: str | None = None
        self._last_fatal_error: str | None = None
        self._closing = False
        self._init_switch(continuity, heard_ms)

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

    async def create_session(self, settings: RealtimeSettings | None = None, create_response: bool = False) -> None:
        """Connect, wait for `session.created`, configure the session, optionally ask for a response.

        Raises `RealtimeConnectionError` with the service's reason when it refuses the session.
        """
        if self._connected:
            raise RealtimeError("this client already has an open session; call delete_session() first")
        self._queue = asyncio.Queue()
        self._session_ready = asyncio.Event()
        self._closed_reason = None
        self._last_fatal_error = None
        self._closing = False
        self._start_history()
        self._connected = True
        try:
            await self._prepare()
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
        if not self._connected:
            return
        self._connected = False
        await self._close()
        self._queue.put_nowait(_CLOSED)

    async def send(self, event: RealtimeEvent | dict[str, Any]) -> None:
        """Send a typed event (audio, user text, tool result) or a raw client event dict."""
        await self._transmit(_to_payload(event))

    async def receive(
        self, audio_output_callback: AudioOutputCallback | None = None, **_: Any
    ) -> AsyncGenerator[RealtimeEvent, None]:
        """Yield events as they arrive until the session ends or the connection drops."""
        if audio_output_callback is not None:
            self.audio_output_callback = audio_output_callback
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                self._queue.put_nowait(_CLOSED)  # later receive() calls end at once too
                return
            yield item

    def observe_sent(self, observer: Callable[[dict[str, Any]], None]) -> None:
        """Call `observer` with every client event just before it is sent (event logs, tests)."""
        self._sent_observers.append(observer)

    async def _transmit(self, payload: dict[str, Any]) -> None:
        if not self._connected:
            raise RealtimeConnectionError(self._closed_reason or "the realtime session is not open")
        if self.history is not None:
            self.history.on_sent(payload)
        if self._switching is not None:
            self._hold(payload)
            return
        try:
            await self._send_now(payload)
        except RealtimeConnectionError:
            if self.history is None or self._closing:
                raise
            self._hold(payload)  # the reader is about to report the drop and reconnect

    async def _send_now(self, payload: dict[str, Any]) -> None:
        payload = self._to_wire(payload)
        for observer in self._sent_observers:
            observer(payload)
        await self._send_payload(payload)

    # --- for transports ---------------------------------------------------------------------

    def _to_wire(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The event as this transport's route speaks it (observers see exactly what is sent)."""
        return payload

    async def _prepare(self) -> None:
        """Local set-up before connecting: building the SDK client, starting the embedded server.

        Not counted in `connect_timeout_s`, which bounds the wait for the service: a slow machine
        importing the `openai` package is not a service that does not answer.
        """

    @abstractmethod
    async def _open(self) -> None:
        """Open the connection and start feeding `_dispatch`."""

    @abstractmethod
    async def _send_payload(self, payload: dict[str, Any]) -> None:
        """Send one client event; raise `RealtimeConnectionError` when the connection is gone."""

    @abstractmethod
    async def _close(self) -> None:
        """Close the connection and stop the reader."""

    async def _dispatch(self, event: RealtimeEvent) -> None:
        """Handle one incoming event: audio to the callback first, then the queue, then tools."""
        if isinstance(event, RealtimeAudioEvent):
            callback = self.audio_output_callback
            if callback is not None:
                self.audio_item_id = event.audio.item_id
                result = callback(event.audio.data)
                if inspect.isawaitable(result):
                    await result
            await self._enqueue(event)
            return
        if self._is_replay_echo(event):
            return
        if self.history is not None:
            self.history.on_received(event)
        self._name_function_call(event)
        if isinstance(event, RealtimeErrorEvent) and event.error.code == "session_expired" and self.history:
            if self._switching == "rollover":
                return  # the old session expiring as the switch to the new one has begun: not news
            event.error.fatal = False  # the client rolls over to a new session
        await self._enqueue(event)
        if event.service_type == ListenEvents.SESSION_CREATED and event.service_event:
            session = event.service_event.get("session") or {}
            self.session_id = session.get("id")
            self._session_ready.set()
            self._plan_rollover(session.get("expires_at"))
        elif isinstance(event, RealtimeErrorEvent) and event.error.fatal:
            self._last_fatal_error = event.error.message
        elif isinstance(event, RealtimeFunctionCallEvent) and self.auto_invoke_tools:
            self._start_tool_call(event)
        elif event.service_type == ListenEvents.RESPONSE_DONE and event.service_event:
            response = event.service_event.get("response") or {}
            if response.get("status") == "completed":
                self._session_proved()
            calls = self._tool_calls.pop(response.get("id") or "", None)
            if calls:
                self._spawn(self._answer_after_tools(calls, response.get("status") == "completed"))

    def _name_function_call(self, event: RealtimeEvent) -> None:
        """Beta-shaped `response.function_call_arguments.done` events carry no `name`: take it from
        the `response.output_item.added` that opened the call's item."""
        if isinstance(event, RealtimeFunctionCallEvent):
            name = self._function_names.pop(event.function_call.item_id or "", "")
            event.function_call.name = event.function_call.name or name
        elif event.service_type == ListenEvents.RESPONSE_OUTPUT_ITEM_ADDED and event.service_event:
            item = event.service_event.get("item") or {}
            if item.get("type") == "function_call" and item.get("id"):
                self._function_names[item["id"]] = str(item.get("name") or "")

    async def _enqueue(self, event: RealtimeEvent) -> None:
        """Queue an incoming event for `receive()`, waiting while its consumer is far behind.

        The transport's reader then stops reading, so the socket's own flow control holds the rest:
        the queue stays bounded and nothing is dropped. (Closing and tool results never wait.)
        """
        while self._queue.qsize() >= RECEIVE_QUEUE_EVENTS and self._connected:
            await asyncio.sleep(0.005)
        self._queue.put_nowait(event)

    def _connection_lost(self, message: str, code: str = "connection_closed", *, reconnectable: bool = False) -> None:
        """Report a dropped connection once and end `receive()`; nothing already received is lost.

        With continuity, a `reconnectable` loss starts the switch to a new session instead."""
        if not self._connected:
            return
        message = shown(message)  # a close reason is the service's text: it may quote the key
        if self._lost_in_switch(message, reconnectable):
            return
        self._connected = False
        if self._last_fatal_error:
            message = shown(f"{message}: {self._last_fatal_error}")
        self._closed_reason = message
        self._session_ready.set()
        self._queue.put_nowait(
            RealtimeErrorEvent(service_type="connection", error=ErrorContent(message=message, code=code, fatal=True))
        )
        self._queue.put_nowait(_CLOSED)

    # --- tools ------------------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[None]) -> asyncio.Task[None]:
        return self._background.spawn(coroutine)

    def _start_tool_call(self, event: RealtimeFunctionCallEvent) -> None:
        call = event.function_call
        task = self._spawn(self._run_tool(call.name, call.arguments, call.call_id))
        self._tool_calls.setdefault(call.response_id or "", []).append(task)

    async def _run_tool(self, name: str, arguments: str, call_id: str) -> None:
        result = await self.tools.invoke(name, arguments, call_id)
        self._queue.put_nowait(RealtimeFunctionResultEvent(service_type="function_result", function_result=result))
        with contextlib.suppress(RealtimeConnectionError):  # a lost connection is reported by the reader
            await self._transmit(protocol.function_output_item(call_id, result.result))

    async def _answer_after_tools(self, calls: list[asyncio.Task[None]], response_completed: bool) -> None:
        """One `response.create` after every call of a response has its output."""
        await asyncio.gather(*calls, return_exceptions=True)
        if response_completed:
            with contextlib.suppress(RealtimeConnectionError):
                await self._transmit(protocol.simple_event(SendEvents.RESPONSE_CREATE))


def _to_payload(event: RealtimeEvent | dict[str, Any]) -> dict[str, Any]:
    if isinstance(event, dict):
        return event
    if isinstance(event, RealtimeAudioEvent):
        return protocol.append_audio(event.audio.data)
    if isinstance(event, RealtimeTextEvent):
        return protocol.user_text_item(event.text.text)
    if isinstance(event, RealtimeFunctionResultEvent):
        return protocol.function_output_item(event.function_result.call_id, event.function_result.result)
    if event.service_event is not None:
        return {"type": event.service_type, **event.service_event} if event.service_type else event.service_event
    if event.service_type:
        return {"type": str(event.service_type)}
    raise RealtimeError(f"cannot send {type(event).__name__} without a service_type or service_event")
