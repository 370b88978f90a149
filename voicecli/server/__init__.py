"""The local realtime server: the OpenAI Realtime GA protocol on loopback, for tests and offline use.

`LocalRealtime` (and, loaded on first use with aiortc, `LocalRealtimeWebRTC`) are realtime clients
that start this server in-process: the embedded default provider.
"""

from typing import Any

from voicecli.server.app import LocalServer, serve_forever
from voicecli.server.embedded import LocalRealtime
from voicecli.server.faults import Faults
from voicecli.server.session.pacing import DEFAULT_PACING, UNPACED, Pacing


def __getattr__(name: str) -> Any:
    """Load the WebRTC client (and aiortc) only when asked for."""
    if name == "LocalRealtimeWebRTC":
        from voicecli.server.embedded_webrtc import LocalRealtimeWebRTC

        return LocalRealtimeWebRTC
    raise AttributeError(f"module 'voicecli.server' has no attribute {name!r}")


__all__ = [
    "DEFAULT_PACING",
    "UNPACED",
    "Faults",
    "LocalRealtime",
    "LocalRealtimeWebRTC",
    "LocalServer",
    "Pacing",
    "serve_forever",
]
