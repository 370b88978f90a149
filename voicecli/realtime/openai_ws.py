"""OpenAI Realtime over WebSocket: the endpoint's connector, and the seed's client class on it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voicecli.realtime.client import RealtimeClient
from voicecli.realtime.endpoints import OpenAIEndpoint, websocket_url_for
from voicecli.realtime.websocket import WebSocketTransport

if TYPE_CHECKING:
    from openai import AsyncOpenAI


class OpenAIConnector:
    """Reaches OpenAI (or anything speaking its API at `base_url`, such as `voicecli serve`)."""

    def __init__(self, endpoint: OpenAIEndpoint, websocket_base_url: str | None = None) -> None:
        self.endpoint = endpoint
        self._websocket_base_url = websocket_base_url
        self._client: AsyncOpenAI | None = None

    @property
    def model(self) -> str:
        return self.endpoint.model

    def check(self) -> None:
        pass  # the key is checked when the SDK client is built

    def wire_form(self, payload: dict[str, Any]) -> dict[str, Any]:
        return payload

    def opening(self) -> None:
        pass

    def point_at(self, base_url: str) -> None:
        """Use another `http(s)://…/v1` base (the embedded server's, once it listens)."""
        self.endpoint.base_url = base_url
        self._websocket_base_url = None
        self._client = None

    def sdk_client(self) -> AsyncOpenAI:
        if self._client is None:
            from openai import AsyncOpenAI

            base_url = self.endpoint.base_url
            self._client = AsyncOpenAI(
                api_key=self.endpoint.require_key(),
                base_url=base_url,
                websocket_base_url=self._websocket_base_url or (websocket_url_for(base_url) if base_url else None),
            )
        return self._client


class OpenAIRealtimeWebsocket(RealtimeClient):
    """OpenAI Realtime over WebSocket. Credentials from arguments or `OPENAI_API_KEY` etc."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        websocket_base_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.connector = OpenAIConnector(OpenAIEndpoint.resolve(api_key, model, base_url), websocket_base_url)
        super().__init__(transport=WebSocketTransport(self.connector), **kwargs)

    @property
    def model(self) -> str:
        return self.connector.model
