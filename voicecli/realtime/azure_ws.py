"""Azure OpenAI realtime over WebSocket: the GA `/openai/v1` route, or the preview route.

The preview route (`/openai/realtime?api-version=..&deployment=..`) is chosen when an API version
is configured (argument or `AZURE_OPENAI_API_VERSION`), since only older deployments need it;
otherwise the GA route is used. Preview deployments speak the beta shape, so on that route the
client events that differ are rewritten by `preview_shape` just before they are sent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from voicecli.realtime.endpoints import AzureEndpoint, AzureRoute, TokenProvider, websocket_url_for
from voicecli.realtime.openai_ws import WebsocketRealtimeClient
from voicecli.realtime.preview_shape import to_preview

if TYPE_CHECKING:
    from openai import AsyncOpenAI

_log = logging.getLogger("voicecli.realtime")


class AzureRealtimeWebsocket(WebsocketRealtimeClient):
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
        super().__init__(**kwargs)
        self._azure = AzureEndpoint.resolve(endpoint, api_key, deployment_name, api_version, token_provider)
        self._websocket_base_url = websocket_base_url
        self._client: AsyncOpenAI | None = None

    @property
    def model(self) -> str:
        return self._azure.require_deployment()

    @property
    def uses_preview_route(self) -> bool:
        return bool(self._azure.api_version)

    @property
    def route(self) -> AzureRoute:
        """The route and URL this client opens (for `config show`, logs and messages)."""
        return self._azure.route(self._websocket_base_url)

    async def _prepare(self) -> None:
        await super()._prepare()  # what is missing (endpoint, deployment, key) is reported before any log line
        self._azure.require_deployment()

    async def _open(self) -> None:
        _log.info("Azure realtime over WebSocket: %s", self.route)
        await super()._open()

    def _to_wire(self, payload: dict[str, Any]) -> dict[str, Any]:
        return to_preview(payload) if self.uses_preview_route else payload

    def _sdk_client(self) -> AsyncOpenAI:
        if self._client is not None:
            return self._client
        endpoint = self._azure.require_endpoint()
        credential = self._azure.credential()
        if self.uses_preview_route:
            from openai import AsyncAzureOpenAI

            key_or_token: dict[str, Any] = (
                {"api_key": credential} if isinstance(credential, str) else {"azure_ad_token_provider": credential}
            )
            self._client = AsyncAzureOpenAI(
                azure_endpoint=endpoint,
                api_version=self._azure.api_version,
                azure_deployment=self.model,
                websocket_base_url=self._websocket_base_url or websocket_url_for(endpoint) + "/openai",
                **key_or_token,
            )
        else:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                api_key=credential,
                base_url=f"{endpoint}/openai/v1",
                websocket_base_url=self._websocket_base_url or websocket_url_for(endpoint) + "/openai/v1",
            )
        return self._client
