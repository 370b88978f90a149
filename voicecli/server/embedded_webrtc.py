"""WebRTC to the embedded local server; kept apart from `embedded` so aiortc loads only when used."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicecli.realtime.webrtc import OpenAIRealtimeWebRTC
from voicecli.server.embedded import LOCAL_API_KEY, LOCAL_MODEL, EmbeddedServer, EmbeddedServerTransport
from voicecli.server.session.config import SESSION_SECONDS
from voicecli.server.session.pacing import DEFAULT_PACING, Pacing

if TYPE_CHECKING:
    from voicecli.server.app import LocalServer
    from voicecli.server.replies import Brain


class LocalRealtimeWebRTC(OpenAIRealtimeWebRTC):
    """WebRTC to voicecli's own realtime server, started in this process on 127.0.0.1."""

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
        """As `LocalRealtime`'s arguments; the rest as `OpenAIRealtimeWebRTC`'s."""
        server = EmbeddedServer(
            brain=brain,
            script=script,
            chat_url=chat_url,
            chat_model=chat_model,
            max_session_s=max_session_s,
            pacing=pacing,
        )
        super().__init__(api_key=LOCAL_API_KEY, model=model or LOCAL_MODEL, **kwargs)
        self.embedded = EmbeddedServerTransport(self.transport_layer, self.endpoint.point_at, server)
        self.brain = server.brain
        """What answers (its `label` says which brain `auto` chose)."""
        self.transport_layer = self.embedded

    @property
    def server(self) -> LocalServer | None:
        """The local server while a session is open."""
        return self.embedded.server
