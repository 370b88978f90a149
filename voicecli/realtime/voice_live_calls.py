"""Voice Live's calls path: where a WebRTC call is signalled, and the WebSocket opened there.

`/voice-live/realtime/calls?api-version=2026-01-01-preview&model=…` is the path and version of
Microsoft's announcement (the Foundry blog, 2026-04-30) and of its "Voice Live API with WebRTC"
page; the two signaling event names come from the `@azure/ai-projects` JavaScript reference.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from voicecli.realtime.endpoints import websocket_url_for
from voicecli.realtime.voice_live import VOICE_LIVE_API_VERSION, VoiceLiveConnector, VoiceLiveWire
from voicecli.realtime.websocket import CONNECTION_OPTIONS

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = [
    "SDP_CREATE",
    "SDP_CREATED",
    "VOICE_LIVE_WEBRTC_API_VERSION",
    "CallsWire",
    "VoiceLiveCallsConnector",
    "webrtc_api_version",
]

_log = logging.getLogger("voicecli.realtime")

VOICE_LIVE_WEBRTC_API_VERSION = "2026-01-01-preview"
"""The API version Microsoft's announcement of Voice Live WebRTC uses on the calls path."""


def webrtc_api_version(configured: str) -> str:
    """The API version a WebRTC call asks for: the preview's, unless another than the GA default was chosen."""
    return VOICE_LIVE_WEBRTC_API_VERSION if configured == VOICE_LIVE_API_VERSION else configured


SDP_CREATE = "rtc.call.sdp.create"
SDP_CREATED = "rtc.call.sdp.created"


class VoiceLiveCallsConnector(VoiceLiveConnector):
    """Voice Live's calls path: the same resource, credentials and dialect, another URL."""

    @property
    def url(self) -> str:
        base = websocket_url_for(self.azure.endpoint or "wss://<endpoint>")
        return f"{base}/voice-live/realtime/calls?api-version={self.api_version}&model={self.azure.deployment_name}"

    def opening(self) -> None:
        _log.info("Azure Voice Live over WebRTC, signalled at %s", self.url)

    async def credential_headers(self) -> dict[str, str]:
        credential = self.azure.credential()
        if isinstance(credential, str):
            return {"api-key": credential}
        return {"Authorization": f"Bearer {await credential()}"}


class _SignalingSocket:
    """The calls WebSocket, opened with `websockets` itself: the `openai` package only opens paths
    ending in `/realtime`. It offers what `WebSocketTransport` uses of the SDK's connection."""

    def __init__(self, connector: VoiceLiveCallsConnector) -> None:
        self.connector = connector
        self._ws: Any = None

    async def enter(self) -> _SignalingSocket:
        from websockets.asyncio.client import connect

        headers = await self.connector.credential_headers()
        self._ws = await connect(self.connector.url, additional_headers=headers, **CONNECTION_OPTIONS)
        return self

    async def recv_bytes(self) -> bytes:
        data = await self._ws.recv(decode=False)
        return bytes(data)

    async def send_raw(self, data: bytes | str) -> None:
        await self._ws.send(data if isinstance(data, str) else data.decode())  # JSON goes in text frames

    async def close(self) -> None:
        await self._ws.close()


class CallsWire(VoiceLiveWire):
    """Voice Live's events on the calls WebSocket."""

    connector: VoiceLiveCallsConnector

    def connect(self, client: AsyncOpenAI, model: str) -> Any:
        return _SignalingSocket(self.connector)
