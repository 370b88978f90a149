"""Azure Voice Live over WebSocket: `wss://<resource>.services.ai.azure.com/voice-live/realtime?api-version=…&model=…`.

Voice Live speaks the Realtime beta shape with Azure's own session settings, so the client builds
GA events as everywhere, `preview_shape` rewrites them to the beta shape, and `voice_live_session`
adds the Azure settings to `session.update`: an Azure voice (`{name, type}`), `azure_semantic_vad`
turn detection with filler-word removal, deep noise suppression and server echo cancellation.
Server events need little: their beta names are aliases in `protocol`; word timestamps (asked for
with `word_timestamps`) become `RealtimeWordEvent`s, and Voice Live's other extra events (visemes)
pass through as service events. A key goes in the `api-key`
header; without one an Entra ID bearer token is used, as for Azure OpenAI.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voicecli.realtime.azure_ws import AzureDeploymentConnector
from voicecli.realtime.client import RealtimeClient
from voicecli.realtime.endpoints import AzureEndpoint, TokenProvider, websocket_url_for
from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.preview_shape import to_preview
from voicecli.realtime.websocket import CONNECTION_OPTIONS, RealtimeWire, WebSocketTransport
from voicecli.realtime.word_timestamps import WORD_TIMESTAMP_DELTA, word_event

if TYPE_CHECKING:
    from openai import AsyncOpenAI

_log = logging.getLogger("voicecli.realtime")

VOICE_LIVE_API_VERSION = "2025-10-01"
"""The generally available Voice Live API version."""


@dataclass(frozen=True, slots=True)
class VoiceLiveOptions:
    """Azure's session settings. `voice_type` set (e.g. `azure-standard`): the session's voice is an
    Azure voice name such as `en-US-AvaNeural`; empty: an OpenAI voice name. A custom neural voice
    (`azure-custom`) also needs the `voice_endpoint_id` of its deployment, a personal voice
    (`azure-personal`) the neural `voice_model` it is spoken with (e.g. `DragonLatestNeural`).
    `word_timestamps` asks for each spoken word's place in the reply audio (`VoiceLiveWordEvent`)."""

    voice_type: str = ""
    voice_endpoint_id: str = ""
    voice_model: str = ""
    remove_filler_words: bool = True
    noise_suppression: bool = True
    echo_cancellation: bool = True
    word_timestamps: bool = False

    def azure_voice(self, name: str) -> dict[str, str]:
        """The session's `voice` object for an Azure voice called `name`."""
        voice = {"name": name, "type": self.voice_type}
        if self.voice_type == "azure-custom":
            voice["endpoint_id"] = self.voice_endpoint_id
        elif self.voice_type == "azure-personal":
            voice["model"] = self.voice_model
        return voice


def voice_live_session(event: dict[str, Any], options: VoiceLiveOptions) -> dict[str, Any]:
    """The Voice Live form of a GA client event (beta shape plus Azure's session settings)."""
    wire = to_preview(event)
    if wire.get("type") != "session.update" or not isinstance(wire.get("session"), dict):
        return wire
    session = dict(wire["session"])
    if options.voice_type and isinstance(session.get("voice"), str):
        session["voice"] = options.azure_voice(session["voice"])
    turn = session.get("turn_detection")
    if isinstance(turn, dict) and turn.get("type") == "semantic_vad":
        azure_turn = {key: value for key, value in turn.items() if key != "eagerness"}
        session["turn_detection"] = {
            **azure_turn,
            "type": "azure_semantic_vad",
            "remove_filler_words": options.remove_filler_words,
        }
    if options.noise_suppression:
        session["input_audio_noise_reduction"] = {"type": "azure_deep_noise_suppression"}
    if options.echo_cancellation:
        session["input_audio_echo_cancellation"] = {"type": "server_echo_cancellation"}
    if options.word_timestamps:
        session["output_audio_timestamp_types"] = ["word"]
    return {**wire, "session": session}


class VoiceLiveConnector(AzureDeploymentConnector):
    """Reaches an Azure Voice Live resource: its own path and API version, the key in `api-key` (or an
    Entra ID bearer token), and the Voice Live form of each client event."""

    def __init__(self, azure: AzureEndpoint, api_version: str, options: VoiceLiveOptions) -> None:
        super().__init__(azure)
        self.api_version = api_version
        self.options = options

    @property
    def url(self) -> str:
        """The URL this connector opens (never a secret)."""
        base = websocket_url_for(self.azure.endpoint or "wss://<endpoint>")
        return f"{base}/voice-live/realtime?api-version={self.api_version}&model={self.azure.deployment_name}"

    def wire_form(self, payload: dict[str, Any]) -> dict[str, Any]:
        return voice_live_session(payload, self.options)

    def opening(self) -> None:
        _log.info("Azure Voice Live over WebSocket: %s", self.url)

    def connect_options(self) -> dict[str, Any]:
        """What Voice Live's socket needs beyond the model: the API version, and the key in `api-key`."""
        from openai import omit

        headers: dict[str, Any] = {}
        if self.azure.api_key:  # a key goes in `api-key`; the bearer header then carries nothing
            headers = {"api-key": self.azure.api_key, "Authorization": omit}
        return {"extra_query": {"api-version": self.api_version}, "extra_headers": headers}

    def _new_sdk_client(self, endpoint: str, credential: str | TokenProvider) -> AsyncOpenAI:
        from openai import AsyncOpenAI

        # a key goes in the `api-key` header (`connect_options`); a token provider is sent as a bearer token
        return AsyncOpenAI(
            api_key=credential if not isinstance(credential, str) else "api-key header",
            base_url=f"{endpoint}/voice-live",
            websocket_base_url=websocket_url_for(endpoint) + "/voice-live",
        )


class VoiceLiveClient(RealtimeClient):
    """What the Voice Live clients share, whatever their transport: what their connector was given."""

    connector: VoiceLiveConnector

    @property
    def model(self) -> str:
        return self.connector.model

    @property
    def api_version(self) -> str:
        return self.connector.api_version

    @property
    def options(self) -> VoiceLiveOptions:
        return self.connector.options

    @property
    def url(self) -> str:
        """The URL this client opens (never a secret): for WebRTC, the call's signaling socket."""
        return self.connector.url


class VoiceLiveWire(RealtimeWire):
    """The Realtime events (in the beta shape, see `wire_form`) on a socket opened with Voice Live's
    query and headers; frames parse as everywhere else, and word timestamps become `RealtimeWordEvent`s."""

    def __init__(self, connector: VoiceLiveConnector) -> None:
        self.connector = connector

    def connect(self, client: AsyncOpenAI, model: str) -> Any:
        options = self.connector.connect_options()
        return client.realtime.connect(model=model, websocket_connection_options=CONNECTION_OPTIONS, **options)

    def parse(self, raw: bytes) -> RealtimeEvent:
        event = super().parse(raw)
        if event.service_type == WORD_TIMESTAMP_DELTA and event.service_event is not None:
            return word_event(event.service_event)
        return event


class VoiceLiveWebsocket(VoiceLiveClient):
    """Azure Voice Live over WebSocket; endpoint, key and model default to the `AZURE_OPENAI_*` variables."""

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        api_key: str | None = None,
        deployment_name: str | None = None,
        api_version: str | None = None,
        token_provider: TokenProvider | None = None,
        options: VoiceLiveOptions | None = None,
        **kwargs: Any,
    ) -> None:
        azure = AzureEndpoint.resolve(endpoint, api_key, deployment_name, None, token_provider)
        self.connector = VoiceLiveConnector(azure, api_version or VOICE_LIVE_API_VERSION, options or VoiceLiveOptions())
        super().__init__(transport=WebSocketTransport(self.connector, VoiceLiveWire(self.connector)), **kwargs)
