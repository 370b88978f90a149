"""GPT-Live clients over WebSocket, for OpenAI and Azure, behind the seed's client API.

They reuse the Realtime WebSocket transports (credentials, endpoints, the reader, close codes) and
change what GPT-Live changes: the SDK's `client.live.connect()` (`…/live/sessions`, no query), a
`session.start` built from the settings as the first event, the live parse, and the rules of
`LiveProtocolSession`. What GPT-Live fixes at startup (voice, instructions, format) cannot change
later: `update_session` appends new instructions to the context instead (append-only, up to 500
tokens an append) and `create_response` is ignored, since the model decides when it speaks.
With `continuity`, a dropped connection is followed by a new session that starts with the
conversation's transcript as its text-only `input` (within the protocol's caps); rollover before
the session limit is not implemented for GPT-Live yet.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from voicecli.realtime.azure_ws import AzureConnector
from voicecli.realtime.client import RealtimeClient, RealtimeConnectionError
from voicecli.realtime.continuity import Continuity, ContinuityEvents
from voicecli.realtime.endpoints import AzureEndpoint, AzureRoute, OpenAIEndpoint, TokenProvider, websocket_url_for
from voicecli.realtime.events import (
    FunctionCallContent,
    FunctionResultContent,
    RealtimeAudioEvent,
    RealtimeEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
)
from voicecli.realtime.live_delegate import ChatDelegate, Delegate, DelegatedTask
from voicecli.realtime.live_protocol import (
    GREETING_REQUEST,
    LiveEvents,
    context_append,
    is_live_model,
    parse_live_message,
    session_start,
)
from voicecli.realtime.live_session import DELEGATE_TOOL, LiveProtocolSession
from voicecli.realtime.openai_ws import OpenAIConnector
from voicecli.realtime.protocol_session import Deliver, Send
from voicecli.realtime.settings import RealtimeSettings
from voicecli.realtime.websocket import CONNECTION_OPTIONS, Connector, WebSocketTransport

if TYPE_CHECKING:
    from openai import AsyncOpenAI

_log = logging.getLogger("voicecli.realtime")

__all__ = [
    "DEFAULT_LIVE_MODEL",
    "LIVE_WIRE",
    "AzureLiveWebsocket",
    "LiveWebsocketClient",
    "OpenAILiveWebsocket",
    "azure_live_route",
]

DEFAULT_LIVE_MODEL = "gpt-live-1"
_MAX_APPEND_CHARS = 2000  # about 500 tokens, the protocol's cap on one append


class LiveWire:
    """GPT-Live on the WebSocket transport: `client.live.connect()` (`…/live/sessions`, no query) and its events."""

    def connect(self, client: AsyncOpenAI, model: str) -> Any:
        return client.live.connect(websocket_connection_options=CONNECTION_OPTIONS)  # the model goes in session.start

    def parse(self, raw: bytes) -> RealtimeEvent:
        return parse_live_message(raw)


LIVE_WIRE = LiveWire()


class LiveWebsocketClient(RealtimeClient):
    """What every GPT-Live WebSocket client does, over the WebSocket transport on `connector`'s endpoint.

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
        connector: Connector,
        delegate: Delegate | None = None,
        delegation_model: str | None = None,
        delegation: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        policy = kwargs.get("continuity")
        self._reconnect_policy = Continuity() if policy is True else policy if isinstance(policy, Continuity) else None
        kwargs["continuity"] = False  # the Realtime replay of items does not apply: see `_reconnect`
        self.connector = connector
        super().__init__(transport=WebSocketTransport(connector, LIVE_WIRE), **kwargs)
        self._reconnecting = False
        self._held: list[dict[str, Any]] = []
        self._starting: dict[str, Any] | None = None
        self.delegate = delegate or ChatDelegate(connector.sdk_client, delegation_model or "gpt-5-mini")
        self.delegation = delegation
        self._started_instructions: str | None = None

    @property
    def model(self) -> str:
        return self.connector.model

    def _new_protocol(self) -> LiveProtocolSession:
        return LiveProtocolSession(auto_invoke_tools=self.auto_invoke_tools, media_audio=False)

    async def _open(self) -> None:
        await super()._open()
        self._started_instructions = self.settings.instructions
        starting = [
            session_start(self.settings, self.model, delegation=self.delegation, history=self._protocol.transcript)
        ]
        if self.settings.push_to_talk:  # the model hears nothing until the key is pressed
            starting += [action.payload for action in self._protocol.mute(True) if isinstance(action, Send)]
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

    async def _reconnect(self, reason: str, policy: Continuity) -> None:
        """Open a new session with the transcript so far (text only, within the protocol's caps):
        what was said is kept; audio, the session clock, delegations in flight and muting are not
        (the new session starts unmuted, or muted for push-to-talk)."""
        transcript = list(self._protocol.transcript)
        for attempt, delay in enumerate(policy.delays_s, 1):
            status = {"attempt": attempt, "attempts": policy.attempts, "reason": reason}
            await self._report(_status(ContinuityEvents.RECONNECTING, status))
            await asyncio.sleep(delay)
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
            for payload in held:
                await self._send_now(payload)
            carried = len(transcript)
            await self._report(_status(ContinuityEvents.RECONNECTED, {"cause": "drop", "carried_turns": carried}))
            return
        self._reconnecting = False
        super()._connection_lost(f"{reason}; {policy.attempts} reconnect tries failed", reconnectable=False)

    async def _send_now(self, payload: dict[str, Any]) -> None:
        if self._reconnecting and payload is not self._starting:
            if payload["type"] != LiveEvents.INPUT_AUDIO_APPEND:
                self._held.append(payload)  # typed words and commentary go to the new session
            return  # microphone audio of the gap is lost: the new session's clock starts afresh
        await super()._send_now(payload)

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


def azure_live_route(endpoint: str, websocket_base_url: str | None = None) -> AzureRoute:
    """The URL `client.live.connect()` opens for an Azure resource (there is one GPT-Live route)."""
    base = websocket_base_url or websocket_url_for(endpoint.rstrip("/") or "wss://<endpoint>") + "/openai/v1"
    return AzureRoute("GPT-Live", base.rstrip("/") + "/live/sessions")


def _status(kind: ContinuityEvents, details: dict[str, Any]) -> RealtimeEvent:
    return RealtimeEvent(service_type=kind, service_event={"type": kind.value, **details})


class OpenAILiveWebsocket(LiveWebsocketClient):
    """GPT-Live on OpenAI over WebSocket (`wss://api.openai.com/v1/live/sessions`)."""

    connector: OpenAIConnector

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        websocket_base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        """`model` defaults to `OPENAI_REALTIME_MODEL_ID` when that names a GPT-Live model, else `gpt-live-1`."""
        from_environment = os.environ.get("OPENAI_REALTIME_MODEL_ID")
        live_default = from_environment if is_live_model(from_environment) else DEFAULT_LIVE_MODEL
        endpoint = OpenAIEndpoint.resolve(api_key, model or live_default, base_url)
        super().__init__(connector=OpenAIConnector(endpoint, websocket_base_url), **kwargs)


class AzureLiveConnector(AzureConnector):
    """An Azure deployment on the one GPT-Live route (GA `/openai/v1`; there is no preview shape of GPT-Live)."""

    def __init__(self, azure: AzureEndpoint, websocket_base_url: str | None = None) -> None:
        azure.api_version = None  # the environment's AZURE_OPENAI_API_VERSION is for the Realtime preview
        super().__init__(azure, websocket_base_url)
        self.websocket_base_url = websocket_base_url

    @property
    def route(self) -> AzureRoute:
        return azure_live_route(self.azure.require_endpoint(), self.websocket_base_url)

    def opening(self) -> None:
        _log.info("Azure GPT-Live over WebSocket: %s", self.route)


class AzureLiveWebsocket(LiveWebsocketClient):
    """GPT-Live on Azure OpenAI over WebSocket (`…/openai/v1/live/sessions`, a `gpt-live-*` deployment).

    Always the GA route: there is no preview shape of GPT-Live, so an API version is not used."""

    connector: AzureLiveConnector

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        api_key: str | None = None,
        deployment_name: str | None = None,
        api_version: str | None = None,
        token_provider: TokenProvider | None = None,
        websocket_base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        azure = AzureEndpoint.resolve(endpoint, api_key, deployment_name, None, token_provider)
        super().__init__(connector=AzureLiveConnector(azure, websocket_base_url), **kwargs)

    @property
    def route(self) -> AzureRoute:
        """The route and URL this client opens (for `config show`, logs and messages)."""
        return self.connector.route
