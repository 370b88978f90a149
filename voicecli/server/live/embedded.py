"""The embedded provider speaking GPT-Live: the local server in this process, reached at `/v1/live/sessions`."""

from __future__ import annotations

from typing import Any

from voicecli.realtime.live_ws import DEFAULT_LIVE_MODEL, OpenAILiveWebsocket
from voicecli.server.embedded import EmbeddedServer

__all__ = ["LocalLive"]


class LocalLive(EmbeddedServer, OpenAILiveWebsocket):
    """A GPT-Live client over WebSocket whose server runs in this process on 127.0.0.1."""

    def __init__(self, *, model: str | None = None, **kwargs: Any) -> None:
        super().__init__(model=model or DEFAULT_LIVE_MODEL, **kwargs)
