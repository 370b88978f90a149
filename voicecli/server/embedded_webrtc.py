"""WebRTC to the embedded local server; kept apart from `embedded` so aiortc loads only when used."""

from __future__ import annotations

from voicecli.realtime.webrtc import OpenAIRealtimeWebRTC
from voicecli.server.embedded import EmbeddedClient


class LocalRealtimeWebRTC(EmbeddedClient, OpenAIRealtimeWebRTC):
    """WebRTC to voicecli's own realtime server, started in this process on 127.0.0.1; the arguments are
    `LocalRealtime`'s, the rest as `OpenAIRealtimeWebRTC`'s."""

    def _point_at(self, base_url: str) -> None:
        self.endpoint.point_at(base_url)
