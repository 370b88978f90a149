"""The embedded provider speaking GPT-Live: the local server in this process, reached at `/v1/live/sessions`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicecli.realtime.live_ws import DEFAULT_LIVE_MODEL, OpenAILiveWebsocket
from voicecli.server.embedded import LOCAL_API_KEY, EmbeddedServer, EmbeddedServerTransport
from voicecli.server.session.config import SESSION_SECONDS
from voicecli.server.session.pacing import DEFAULT_PACING, Pacing

if TYPE_CHECKING:
    from voicecli.server.app import LocalServer
    from voicecli.server.replies import Brain

__all__ = ["LocalLive"]


class LocalLive(OpenAILiveWebsocket):
    """A GPT-Live client over WebSocket whose server runs in this process on 127.0.0.1.

    The arguments are `LocalRealtime`'s; the server outlives reconnects and stops when the session ends."""

    def __init__(
        self,
        *,
        brain: str | Brain = "echo",
        script: Path | None = None,
        chat_url: str | None = None,
        chat_model: str | None = None,
        model: str | None = None,
        max_session_s: float = SESSION_SECONDS,
        pacing: Pacing = DEFAULT_PACING,
        **kwargs: Any,
    ) -> None:
        server = EmbeddedServer(
            brain=brain,
            script=script,
            chat_url=chat_url,
            chat_model=chat_model,
            max_session_s=max_session_s,
            pacing=pacing,
        )
        super().__init__(api_key=LOCAL_API_KEY, model=model or DEFAULT_LIVE_MODEL, **kwargs)
        self.embedded = EmbeddedServerTransport(self.transport_layer, self.connector.point_at, server)
        self.transport_layer = self.embedded

    @property
    def server(self) -> LocalServer | None:
        """The local server while a session is open."""
        return self.embedded.server
