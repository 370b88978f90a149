"""The embedded provider: voicecli's own realtime server, started in this process on a free
loopback port, reached over exactly the same path as OpenAI so nothing is special-cased for it.

It lives with the server, not in `voicecli.realtime`, so the client library depends on nothing above
it. `LocalRealtimeWebRTC` is in `embedded_webrtc` so that aiortc loads only when it is used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicecli.realtime.client import RealtimeClient
from voicecli.realtime.openai_ws import OpenAIRealtimeWebsocket
from voicecli.server.session.config import SESSION_SECONDS
from voicecli.server.session.pacing import DEFAULT_PACING, Pacing

if TYPE_CHECKING:
    from voicecli.server.app import LocalServer
    from voicecli.server.replies import Brain

LOCAL_API_KEY = "local"
"""The embedded server accepts any key but, like the service, rejects a missing one."""
LOCAL_MODEL = "voicecli-local"


class EmbeddedServer(RealtimeClient):
    """Starts the local server when the session opens and stops it when the session closes.

    The server outlives a connection, as the service does: a reconnect or a rollover to a new
    session opens a new connection to the same server.

    Mixed in before an OpenAI transport class, whose `_point_at(base_url)` aims it at the server.
    """

    _point_at: Callable[[str], None]

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
        """`brain`, `script` and `pacing` as for `LocalServer`; a malformed script raises `ValueError`
        here, before anything is opened. Sessions end after `max_session_s`, as the service's do."""
        super().__init__(api_key=LOCAL_API_KEY, model=model or LOCAL_MODEL, **kwargs)
        from voicecli.server.brains import load_brain

        if isinstance(brain, str):
            brain = load_brain(brain, script, chat_url=chat_url, chat_model=chat_model)
        self._brain = brain
        self._max_session_s = max_session_s
        self._pacing = pacing
        self.server: LocalServer | None = None

    async def _prepare(self) -> None:
        """Start the server (outside the connect timeout: on a busy machine its imports alone take seconds)."""
        from voicecli.server.app import LocalServer

        self.server = LocalServer(brain=self._brain, max_session_s=self._max_session_s, pacing=self._pacing)
        await self.server.start()
        self._point_at(self.server.http_url + "/v1")
        await super()._prepare()

    async def delete_session(self) -> None:
        await super().delete_session()
        await self._stop_server()

    async def _abandon(self) -> None:
        await super()._abandon()
        await self._stop_server()

    async def _stop_server(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop()


class LocalRealtime(EmbeddedServer, OpenAIRealtimeWebsocket):
    """A realtime client over WebSocket whose server runs in this process on 127.0.0.1."""
