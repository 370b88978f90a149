"""Azure OpenAI realtime over WebSocket: the GA `/openai/v1` route, or the preview route.

The preview route (`/openai/realtime?api-version=..&deployment=..`) is chosen when an API version
is configured, since only older deployments need it; otherwise the GA route is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voicecli.realtime.endpoints import AzureEndpoint, TokenProvider, websocket_url_for
from voicecli.realtime.openai_ws import WebsocketRealtimeClient

if TYPE_CHECKING:
    from openai import AsyncOpenAI


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
