"""Where a realtime session runs and with which credential, from arguments or the environment.

Shared by the WebSocket and WebRTC transports, so both read the same variables and fail with the
same messages when something is missing. Nothing here ever puts a key into a message, and every
key found is remembered by `safe_text`, so no message from elsewhere can show it either.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from voicecli.realtime.errors import RealtimeConfigurationError
from voicecli.realtime.safe_text import remember_secret

TokenProvider = Callable[[], Awaitable[str]]
DEFAULT_OPENAI_MODEL = "gpt-realtime"
OPENAI_BASE_URL = "https://api.openai.com/v1"
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"


def websocket_url_for(http_url: str) -> str:
    """`http://` endpoints (a local server) mean `ws://`; `https://` means `wss://`."""
    if http_url.startswith("https://"):
        return "wss://" + http_url.removeprefix("https://")
    if http_url.startswith("http://"):
        return "ws://" + http_url.removeprefix("http://")
    return http_url


@dataclass(slots=True)
class OpenAIEndpoint:
    """OpenAI: `OPENAI_API_KEY`, `OPENAI_REALTIME_MODEL_ID`, `OPENAI_BASE_URL` fill what is not given."""

    api_key: str | None
    model: str
    base_url: str | None

    @classmethod
    def resolve(cls, api_key: str | None, model: str | None, base_url: str | None) -> OpenAIEndpoint:
        api_key = api_key or os.environ.get("OPENAI_API_KEY")
        remember_secret(api_key)
        return cls(
            api_key=api_key,
            model=model or os.environ.get("OPENAI_REALTIME_MODEL_ID") or DEFAULT_OPENAI_MODEL,
            base_url=base_url or os.environ.get("OPENAI_BASE_URL"),
        )

    def require_key(self) -> str:
        if not self.api_key:
            raise RealtimeConfigurationError("no OpenAI API key: set OPENAI_API_KEY or pass api_key=")
        return self.api_key


@dataclass(slots=True)
class AzureEndpoint:
    """Azure OpenAI: the `AZURE_OPENAI_*` variables fill what is not given; no key means Entra ID."""

    endpoint: str
    api_key: str | None
    deployment_name: str | None
    api_version: str | None
    token_provider: TokenProvider | None

    @classmethod
    def resolve(
        cls,
        endpoint: str | None,
        api_key: str | None,
        deployment_name: str | None,
        api_version: str | None,
        token_provider: TokenProvider | None,
    ) -> AzureEndpoint:
        api_key = api_key or os.environ.get("AZURE_OPENAI_API_KEY")
        remember_secret(api_key)
        return cls(
            endpoint=(endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT") or "").rstrip("/"),
            api_key=api_key,
            deployment_name=deployment_name
            or os.environ.get("AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME")
            or os.environ.get("AZURE_OPENAI_DEPLOYMENT_NAME"),
            # Not OPENAI_API_VERSION: Azure users export it for chat completions, and it would
            # silently move realtime sessions to the preview route.
            api_version=api_version or os.environ.get("AZURE_OPENAI_API_VERSION"),
            token_provider=token_provider,
        )

    def require_endpoint(self) -> str:
        if not self.endpoint:
            raise RealtimeConfigurationError("no Azure endpoint: set AZURE_OPENAI_ENDPOINT or pass endpoint=")
        return self.endpoint

    def require_deployment(self) -> str:
        if not self.deployment_name:
            raise RealtimeConfigurationError(
                "no Azure deployment: set AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME or pass deployment_name="
            )
        return self.deployment_name

    def route(self, websocket_base_url: str | None = None) -> AzureRoute:
        """The WebSocket route a session takes: preview when an API version is set, else GA."""
        return azure_websocket_route(self.endpoint, self.deployment_name, self.api_version, websocket_base_url)

    def credential(self) -> str | TokenProvider:
        """The API key, or else an Entra ID token provider."""
        if self.api_key:
            return self.api_key
        return self.token_provider or entra_token_provider()


@dataclass(frozen=True, slots=True)
class AzureRoute:
    """Where an Azure realtime session goes: `GA` (`/openai/v1/realtime`) or `preview`
    (`/openai/realtime?api-version=…`, spoken in the beta shape), and the full URL (never a secret)."""

    name: str
    url: str

    def __str__(self) -> str:
        shape = " (beta shape)" if self.name == "preview" else ""
        return f"{self.name} route{shape}: {self.url}"


def azure_websocket_route(
    endpoint: str, deployment: str | None, api_version: str | None, websocket_base_url: str | None = None
) -> AzureRoute:
    """The route and URL the `openai` client will open for this Azure configuration."""
    deployment = deployment or "<deployment>"
    base = websocket_url_for(endpoint.rstrip("/") or "wss://<endpoint>")
    if api_version:
        socket_base = websocket_base_url or f"{base}/openai"
        return AzureRoute("preview", f"{socket_base}/realtime?api-version={api_version}&deployment={deployment}")
    return AzureRoute("GA", f"{websocket_base_url or base + '/openai/v1'}/realtime?model={deployment}")


def azure_webrtc_route(endpoint: str) -> AzureRoute:
    """WebRTC has only the GA route: the SDP offer goes to `…/openai/v1/realtime/calls`."""
    return AzureRoute("GA", f"{endpoint.rstrip('/') or 'https://<endpoint>'}/openai/v1/realtime/calls")


def entra_token_provider() -> TokenProvider:
    """An Entra ID bearer-token provider from `azure-identity` (the optional `azure` extra)."""
    try:
        from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider
    except ImportError as exc:
        raise RealtimeConfigurationError(
            "no Azure API key: set AZURE_OPENAI_API_KEY, or `pip install 'voicecli[azure]'` to sign in with Entra ID"
        ) from exc
    return get_bearer_token_provider(DefaultAzureCredential(), ENTRA_SCOPE)


class WebRTCEndpoint(Protocol):
    """Where a WebRTC call is placed and with which credential."""

    @property
    def model(self) -> str:
        """The model (OpenAI) or deployment (Azure) the session runs on."""
        ...

    def realtime_base_url(self) -> str:
        """The URL that `/realtime/client_secrets` and `/realtime/calls` are relative to."""
        ...

    async def credential_headers(self) -> dict[str, str]:
        """Headers carrying the long-lived credential, for minting the ephemeral key."""
        ...


class OpenAIWebRTCEndpoint:
    """OpenAI (or anything speaking its API at `base_url`, such as `voicecli serve`) for WebRTC calls."""

    def __init__(self, endpoint: OpenAIEndpoint) -> None:
        self.endpoint = endpoint

    @property
    def model(self) -> str:
        return self.endpoint.model

    def point_at(self, base_url: str) -> None:
        """Use another `http(s)://…/v1` base (the embedded server's, once it listens)."""
        self.endpoint.base_url = base_url

    def realtime_base_url(self) -> str:
        return self.endpoint.base_url or OPENAI_BASE_URL

    async def credential_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.endpoint.require_key()}"}


class AzureWebRTCEndpoint:
    """An Azure OpenAI deployment on the GA `/openai/v1` route (WebRTC has no preview route here)."""

    def __init__(self, azure: AzureEndpoint) -> None:
        self.azure = azure

    @property
    def model(self) -> str:
        return self.azure.require_deployment()

    def realtime_base_url(self) -> str:
        return f"{self.azure.require_endpoint()}/openai/v1"

    async def credential_headers(self) -> dict[str, str]:
        credential = self.azure.credential()
        if isinstance(credential, str):
            return {"api-key": credential}
        return {"Authorization": f"Bearer {await credential()}"}
