"""The embedded provider: starts voicecli's own realtime server on a free loopback port and talks
to it over the same WebSocket path as OpenAI, so nothing is special-cased for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicecli.realtime.openai_ws import OpenAIRealtimeWebsocket

if TYPE_CHECKING:
    from voicecli.server import LocalServer

LOCAL_API_KEY = "local"
"""The embedded server accepts any key but, like the service, rejects a missing one."""


class LocalRealtime(OpenAIRealtimeWebsocket):
    """A realtime client whose server runs in this process on 127.0.0.1."""

    def __init__(
        self, *, brain: str = "echo", script: Path | None = None, model: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(api_key=LOCAL_API_KEY, model=model or "voicecli-local", **kwargs)
        self._brain = brain
        self._script = script
        self.server: LocalServer | None = None

    async def _open(self) -> None:
        from voicecli.server import LocalServer

        self.server = LocalServer(brain=self._brain, script=self._script)
        await self.server.start()
        self._base_url = self.server.http_url + "/v1"
        self._websocket_base_url = self.server.ws_base_url
        self._client = None
        try:
            await super()._open()
        except BaseException:
            await self._stop_server()
            raise

    async def _close(self) -> None:
        await super()._close()
        await self._stop_server()

    async def _stop_server(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop()
