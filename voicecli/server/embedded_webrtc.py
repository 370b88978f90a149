"""WebRTC to the embedded local server; kept apart from `embedded` so aiortc loads only when used."""

from voicecli.realtime.webrtc import OpenAIRealtimeWebRTC
from voicecli.server.embedded import EmbeddedServer


class LocalRealtimeWebRTC(EmbeddedServer, OpenAIRealtimeWebRTC):
    """WebRTC to voicecli's own realtime server, started in this process on 127.0.0.1."""
