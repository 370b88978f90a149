"""The embedded provider: voicecli's own realtime server, started in this process on a free
loopback port, reached over exactly the same path as OpenAI so nothing is special-cased for it.

It lives with the server, not in `voicecli.realtime`, so the client library depends on nothing above
it. `EmbeddedServerTransport` wraps the transport that reaches the server; `LocalRealtimeWebRTC` is
in `embedded_webrtc` so that aiortc loads only when it is used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from voicecli.realtime.openai_ws import OpenAIRealtimeWebsocket
from voicecli.realtime.transport import Transmit, Transport, TransportName, TransportSink
from voicecli.server.session.config import SESSION_SECONDS
from voicecli.server.session.pacing import DEFAULT_PACING, Pacing

if TYPE_CHECKING:
    from voicecli.server.app import LocalServer, ServedProtocol
    from voicecli.server.replies import Brain

LOCAL_API_KEY = "local"
"""The embedded server accepts any key but, like the service, rejects a missing one."""
LOCAL_MODEL = "voicecli-local"


class EmbeddedServer:
    """What the local server runs (a brain, a session limit, pacing) and for whom (the one protocol its
    client speaks; whether audio may come); as for `LocalServer`: a malformed script raises `ValueError`
    here, before anything is opened."""

    def __init__(
        self,
        *,
        brain: str | Brain = "echo",
        script: Path | None = None,
        chat_url: str | None = None,
        chat_model: str | None = None,
        max_session_s: float = SESSION_SECONDS,
        pacing: Pacing = DEFAULT_PACING,
        protocol: ServedProtocol = "realtime",
        speech_input: bool = True,
    ) -> None:
        from voicecli.server.brains import load_brain

        if isinstance(brain, str):
            brain = load_brain(brain, script, chat_url=chat_url, chat_model=chat_model)
        self.brain = brain
        self.max_session_s = max_session_s
        self.pacing = pacing
        self.protocol = protocol
        self.speech_input = speech_input


class EmbeddedServerTransport:
    """Starts the local server before the first connection and stops it when the session ends.

    The server outlives a connection, as the service does: a reconnect or a rollover to a new
    session opens a new connection (through `inner`) to the same server. `aim` points `inner`'s
    endpoint at the server's `http://…/v1` base once it listens."""

    def __init__(self, inner: Transport, aim: Callable[[str], None], server: EmbeddedServer) -> None:
        self.inner = inner
        self.name: TransportName = inner.name
        self.media_audio = inner.media_audio
        self._aim = aim
        self._server_spec = server
        self.server: LocalServer | None = None

    def describe(self) -> str:
        return self.inner.describe()

    def wire_form(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self.inner.wire_form(payload)

    async def prepare(self) -> None:
        """Start the server (outside the connect timeout: on a busy machine its imports alone take seconds)."""
        from voicecli.server.app import LocalServer

        spec = self._server_spec
        self.server = LocalServer(
            brain=spec.brain,
            max_session_s=spec.max_session_s,
            pacing=spec.pacing,
            protocols=(spec.protocol,),
            speech_input=spec.speech_input or self.media_audio,  # a media track carries audio (silence) all along
        )
        await self.server.start()
        self._aim(self.server.http_url + "/v1")
        await self.inner.prepare()

    async def open(self, sink: TransportSink) -> None:
        await self.inner.open(sink)

    async def send(self, payload: dict[str, Any]) -> None:
        await self.inner.send(payload)

    async def send_event(self, payload: dict[str, Any], transmit: Transmit) -> None:
        await self.inner.send_event(payload, transmit)

    async def stream_audio(self, pcm: np.ndarray, transmit: Transmit) -> None:
        await self.inner.stream_audio(pcm, transmit)

    async def close(self) -> None:
        await self.inner.close()

    async def end(self) -> None:
        await self.inner.end()
        server, self.server = self.server, None
        if server is not None:
            await server.stop()


class EmbeddedClient:
    """Mixed in before a client class: starts the local server for it and reaches it through the
    client's own transport, so each protocol/transport pair needs only the hook `_point_at`.

    `brain`, `script`, `chat_url`, `chat_model`, `max_session_s` and `pacing` are `EmbeddedServer`'s;
    `speech_input` False says no audio will be sent (typed turns only), so the server need not load
    its speech recogniser; `model` defaults to `default_model`; the rest go to the client class.
    Sessions end after `max_session_s`, as the service's do."""

    default_model: ClassVar[str] = LOCAL_MODEL
    protocol: str
    transport_layer: Transport

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
        speech_input: bool = True,
        **kwargs: Any,
    ) -> None:
        server = EmbeddedServer(
            brain=brain,
            script=script,
            chat_url=chat_url,
            chat_model=chat_model,
            max_session_s=max_session_s,
            pacing=pacing,
            protocol="live" if self.protocol == "live" else "realtime",
            speech_input=speech_input,
        )
        super().__init__(api_key=LOCAL_API_KEY, model=model or self.default_model, **kwargs)  # type: ignore[call-arg]
        self.embedded = EmbeddedServerTransport(self.transport_layer, self._point_at, server)
        self.brain = server.brain
        """What answers (its `label` says which brain `auto` chose)."""
        self.transport_layer = self.embedded

    def _point_at(self, base_url: str) -> None:
        """Aim the client's endpoint at the server's `http://…/v1` base once it listens."""
        raise NotImplementedError

    @property
    def server(self) -> LocalServer | None:
        """The local server while a session is open."""
        return self.embedded.server


class LocalRealtime(EmbeddedClient, OpenAIRealtimeWebsocket):
    """A realtime client over WebSocket whose server runs in this process on 127.0.0.1."""

    def _point_at(self, base_url: str) -> None:
        self.connector.point_at(base_url)
