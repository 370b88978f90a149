"""The embedded provider speaking GPT-Live: the local server in this process, reached at `/v1/live/sessions`."""

from __future__ import annotations

from typing import ClassVar

from voicecli.realtime.live_ws import DEFAULT_LIVE_MODEL, OpenAILiveWebsocket
from voicecli.server.embedded import EmbeddedClient

__all__ = ["LocalLive"]


class LocalLive(EmbeddedClient, OpenAILiveWebsocket):
    """A GPT-Live client over WebSocket whose server runs in this process on 127.0.0.1.

    The arguments are `LocalRealtime`'s; the server outlives reconnects and stops when the session ends."""

    default_model: ClassVar[str] = DEFAULT_LIVE_MODEL

    def _point_at(self, base_url: str) -> None:
        self.connector.point_at(base_url)
