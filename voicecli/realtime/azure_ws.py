"""Azure OpenAI realtime over WebSocket: the GA `/openai/v1` route, or the preview route.

The preview route (`/openai/realtime?api-version=..&deployment=..`) is chosen when an API version
is configured (argument or `AZURE_OPENAI_API_VERSION`), since only older deployments need it;
otherwise the GA route is used. Preview deployments speak the beta shape, so on that route the
client events that differ are rewritten by `preview_shape` just before they are sent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from voicecli.realtime.client import RealtimeClient
from voicecli.realtime.endpoints import AzureEndpoint, AzureRoute, TokenProvider, websocket_url_for
from voicecli.realtime.preview_shape import to_preview
from voicecli.realtime.websocket import WebSocketTransport

if TYPE_CHECKING:
    from openai import AsyncOpenAI

_log = logging.getLogger("voicecli.realtime")


class AzureDeploymentConnector:
    """What reaching any Azure deployment shares: the deployment is the model, and one SDK client is
    built from the endpoint and the credential (a key, or an Entra ID token provider)."""

    def __init__(self, azure: AzureEndpoint) -> None:
        self.azure = azure
        self._client: AsyncOpenAI | None = None

    @property
    def model(self) -> str:
        return self.azure.require_deployment()

    def check(self) -> None:
        self.azure.require_deployment()  # reported before any log line

    def sdk_client(self) -> AsyncOpenAI:
        if self._client is None:
            self._client = self._new_sdk_client(self.azure.require_endpoint(), self.azure.credential())
        return self._client

    def _new_sdk_client(self, endpoint: str, credential: str | TokenProvider) -> AsyncOpenAI:
        raise NotImplementedError


class AzureConnector(AzureDeploymentConnector):
    """Reaches an Azure OpenAI deployment on the GA or the preview route."""

    def __init__(self, azure: AzureEndpoint, websocket_base_url: str | None = None) -> None:
        super().__init__(azure)
        self._websocket_base_url = websocket_base_url

    @property
    def uses_preview_route(self) -> bool:
        return bool(self.azure.api_version)

    @property
    def route(self) -> AzureRoute:
        return self.azure.route(self._websocket_base_url)

    def wire_form(self, payload: dict[str, Any]) -> dict[str, Any]:
        return to_preview(payload) if self.uses_preview_route else payload

    def opening(self) -> None:
        _log.info("Azure realtime over WebSocket: %s", self.route)

    def _new_sdk_client(self, endpoint: str, credential: str | TokenProvider) -> AsyncOpenAI:
        if self.uses_preview_route:
            from openai import AsyncAzureOpenAI

            key_or_token: dict[str, Any] = (
                {"api_key": credential} if isinstance(credential, str) else {"azure_ad_token_provider": credential}
            )
            return AsyncAzureOpenAI(
                azure_endpoint=endpoint,
                api_version=self.azure.api_version,
                azure_deployment=self.model,
                websocket_base_url=self._websocket_base_url or websocket_url_for(endpoint) + "/openai",
                **key_or_token,
            )
        from openai import AsyncOpenAI

        return AsyncOpenAI(
            api_key=credential,
            base_url=f"{endpoint}/openai/v1",
            websocket_base_url=self._websocket_base_url or websocket_url_for(endpoint) + "/openai/v1",
        )


class AzureRealtimeWebsocket(RealtimeClient):
    """Azure OpenAI realtime over WebSocket; anything not passed comes from the environment."""

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
        azure = AzureEndpoint.resolve(endpoint, api_key, deployment_name, api_version, token_provider)
        self.connector = AzureConnector(azure, websocket_base_url)
        super().__init__(transport=WebSocketTransport(self.connector), **kwargs)

    @property
    def model(self) -> str:
        return self.connector.model

    @property
    def uses_preview_route(self) -> bool:
        return self.connector.uses_preview_route

    @property
    def route(self) -> AzureRoute:
        """The route and URL this client opens (for `config show`, logs and messages)."""
        return self.connector.route
