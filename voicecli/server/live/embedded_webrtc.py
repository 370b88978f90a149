"""The embedded provider speaking GPT-Live over WebRTC; kept apart from `embedded` so aiortc loads only when used."""

from __future__ import annotations

from typing import ClassVar

from voicecli.realtime.live_webrtc import OpenAILiveWebRTC
from voicecli.realtime.live_ws import DEFAULT_LIVE_MODEL
from voicecli.server.embedded import EmbeddedClient

__all__ = ["LocalLiveWebRTC"]


class LocalLiveWebRTC(EmbeddedClient, OpenAILiveWebRTC):
    """A GPT-Live client over WebRTC whose server runs in this process on 127.0.0.1 (the arguments are
    `LocalRealtime`'s); the server outlives reconnects and stops when the session ends."""

    default_model: ClassVar[str] = DEFAULT_LIVE_MODEL

    def _point_at(self, base_url: str) -> None:
        self.point_at(base_url)
