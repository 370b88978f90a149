"""GPT-Live clients over WebSocket, for OpenAI and Azure, behind the seed's client API.

They reuse the Realtime WebSocket transports (credentials, endpoints, the reader, close codes) and
change what GPT-Live changes: the SDK's `client.live.connect()` (`…/live/sessions`, no query), a
`session.start` built from the settings as the first event, the live parse, and the rules of
`LiveProtocolSession` (what every GPT-Live client does is `live_client.LiveClient`'s).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from voicecli.realtime.azure_ws import AzureConnector
from voicecli.realtime.endpoints import AzureEndpoint, AzureRoute, OpenAIEndpoint, TokenProvider, websocket_url_for
from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.live_client import LiveClient
from voicecli.realtime.live_protocol import is_live_model, parse_live_message
from voicecli.realtime.openai_ws import OpenAIConnector
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
    "openai_live_endpoint",
]

DEFAULT_LIVE_MODEL = "gpt-live-1"


class LiveWire:
    """GPT-Live on the WebSocket transport: `client.live.connect()` (`…/live/sessions`, no query) and its events."""

    def connect(self, client: AsyncOpenAI, model: str) -> Any:
        return client.live.connect(websocket_connection_options=CONNECTION_OPTIONS)  # the model goes in session.start

    def parse(self, raw: bytes) -> RealtimeEvent:
        return parse_live_message(raw)


LIVE_WIRE = LiveWire()


class LiveWebsocketClient(LiveClient):
    """A GPT-Live client over the WebSocket transport on `connector`'s endpoint (see `LiveClient`)."""

    def __init__(self, *, connector: Connector, **kwargs: Any) -> None:
        self.connector = connector
        super().__init__(transport=WebSocketTransport(connector, LIVE_WIRE), sdk_client=connector.sdk_client, **kwargs)

    @property
    def model(self) -> str:
        return self.connector.model


def azure_live_route(endpoint: str, websocket_base_url: str | None = None) -> AzureRoute:
    """The URL `client.live.connect()` opens for an Azure resource (there is one GPT-Live route)."""
    base = websocket_base_url or websocket_url_for(endpoint.rstrip("/") or "wss://<endpoint>") + "/openai/v1"
    return AzureRoute("GPT-Live", base.rstrip("/") + "/live/sessions")


def openai_live_endpoint(api_key: str | None, model: str | None, base_url: str | None) -> OpenAIEndpoint:
    """OpenAI's endpoint for GPT-Live: `model` defaults to `OPENAI_REALTIME_MODEL_ID` when that names a
    GPT-Live model, else `gpt-live-1`."""
    from_environment = os.environ.get("OPENAI_REALTIME_MODEL_ID")
    live_default = from_environment if is_live_model(from_environment) else DEFAULT_LIVE_MODEL
    return OpenAIEndpoint.resolve(api_key, model or live_default, base_url)


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
        endpoint = openai_live_endpoint(api_key, model, base_url)
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
