"""Azure OpenAI realtime over WebSocket: the GA `/openai/v1` route, or the preview route.

The preview route (`/openai/realtime?api-version=..&deployment=..`) is chosen when an API version
is configured, since only older deployments need it; otherwise the GA route is used.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from voicecli.realtime.client import RealtimeConfigurationError
from voicecli.realtime.openai_ws import WebsocketRealtimeClient, websocket_url_for

if TYPE_CHECKING:
    from openai import AsyncOpenAI

TokenProvider = Callable[[], Awaitable[str]]
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"


def azure_settings_from_env() -> dict[str, str | None]:
    """The Azure environment variables DESIGN.md names, with their accepted fallbacks."""
    return {
        "endpoint": os.environ.get("AZURE_OPENAI_ENDPOINT"),
        "api_key": os.environ.get("AZURE_OPENAI_API_KEY"),
        "deployment_name": os.environ.get("AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME")
        or os.environ.get("AZURE_OPENAI_DEPLOYMENT_NAME"),
        "api_version": os.environ.get("AZURE_OPENAI_API_VERSION") or os.environ.get("OPENAI_API_VERSION"),
    }


def entra_token_provider() -> TokenProvider:
    """An Entra ID bearer-token provider from `azure-identity` (the optional `azure` extra)."""
    try:
        from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider
    except ImportError as exc:
        raise RealtimeConfigurationError(
            "no Azure API key: set AZURE_OPENAI_API_KEY, or `pip install 'voicecli[azure]'` to sign in with Entra ID"
        ) from exc
    return get_bearer_token_provider(DefaultAzureCredential(), ENTRA_SCOPE)


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
        env = azure_settings_from_env()
        self._endpoint = (endpoint or env["endpoint"] or "").rstrip("/")
        self._api_key = api_key or env["api_key"]
        self._deployment = deployment_name or env["deployment_name"]
        self._api_version = api_version or env["api_version"]
        self._token_provider = token_provider
        self._websocket_base_url = websocket_base_url
        self._client: AsyncOpenAI | None = None

    @property
    def model(self) -> str:
        if not self._deployment:
            raise RealtimeConfigurationError(
                "no Azure deployment: set AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME or pass deployment_name="
            )
        return self._deployment

    @property
    def uses_preview_route(self) -> bool:
        return bool(self._api_version)

    def _credential(self) -> str | TokenProvider:
        if self._api_key:
            return self._api_key
        return self._token_provider or entra_token_provider()

    def _sdk_client(self) -> AsyncOpenAI:
        if self._client is not None:
            return self._client
        if not self._endpoint:
            raise RealtimeConfigurationError("no Azure endpoint: set AZURE_OPENAI_ENDPOINT or pass endpoint=")
        credential = self._credential()
        if self.uses_preview_route:
            from openai import AsyncAzureOpenAI

            key_or_token: dict[str, Any] = (
                {"api_key": credential} if isinstance(credential, str) else {"azure_ad_token_provider": credential}
            )
            self._client = AsyncAzureOpenAI(
                azure_endpoint=self._endpoint,
                api_version=self._api_version,
                azure_deployment=self.model,
                websocket_base_url=self._websocket_base_url or websocket_url_for(self._endpoint) + "/openai",
                **key_or_token,
            )
        else:
            from openai import AsyncOpenAI

            self._client = AsyncOpenAI(
                api_key=credential,
                base_url=f"{self._endpoint}/openai/v1",
                websocket_base_url=self._websocket_base_url or websocket_url_for(self._endpoint) + "/openai/v1",
            )
        return self._client
