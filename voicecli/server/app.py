"""The local realtime server over HTTP: aiohttp routes, WebSocket transport, `LocalServer`.

Routes (GA WebSocket, as the `openai` client builds them):
  GET /v1/realtime?model=…                             OpenAI
  GET /openai/v1/realtime?model=…                      Azure GA
  GET /openai/realtime?api-version=…&deployment=…      Azure preview, in the beta shape (`preview_route.py`)
  GET /voice-live/realtime?api-version=…&model=…       Azure Voice Live (`voicelive/route.py`)
  GET /voice-live/realtime/calls?api-version=…&model=… Voice Live WebRTC, signalled here (`voicelive/webrtc_route.py`)
WebRTC (POST …/realtime/client_secrets and …/realtime/calls) is in `webrtc/` (`routes.py`).
Authentication follows the service: any non-empty key is accepted (`Authorization: Bearer` or
`api-key`); a missing one, or the retired `OpenAI-Beta: realtime=v1` header, gets the service's
`error` event and close code after the upgrade.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import orjson
from aiohttp import WSMsgType, web

from voicecli.realtime.hosts import is_loopback_host
from voicecli.server import recognition_whisper
from voicecli.server.brains import Brain, load_brain
from voicecli.server.config import (
    CONFIG_KEY,
    DEFAULT_MAX_SESSIONS,
    ServerConfig,
    accepted_websocket,
    key_refusal,
)
from voicecli.server.events import error_event
from voicecli.server.faults import EXPIRED_CLOSE_CODE, Faults
from voicecli.server.ids import new_id
from voicecli.server.live.route import add_live_routes
from voicecli.server.live.validation import build_live_validators
from voicecli.server.native_memory import return_large_buffers
from voicecli.server.paths import lenient, normalized
from voicecli.server.preview_route import PREVIEW_PATH, handle_preview_frame, to_beta_server_event
from voicecli.server.session.config import DEFAULT_MODEL, SESSION_SECONDS
from voicecli.server.session.pacing import DEFAULT_PACING, Pacing
from voicecli.server.session.session import ServerSession
from voicecli.server.transport import SessionTransport
from voicecli.server.validation import build_validators, validate_server_event
from voicecli.server.voicelive.route import VOICE_LIVE_CALLS_PATH, VOICE_LIVE_PATH, VOICE_LIVE_PATHS, VoiceLiveShape
from voicecli.server.webrtc.routes import add_webrtc_routes

__all__ = ["CONFIG_KEY", "PROTOCOLS", "LocalServer", "ServedProtocol", "ServerConfig", "create_app", "serve_forever"]

_log = logging.getLogger("voicecli.server")

ServedProtocol = Literal["realtime", "live"]
PROTOCOLS: tuple[ServedProtocol, ...] = ("realtime", "live")
"""The protocols whose event checks a server builds before it listens, unless told its clients speak fewer."""


def create_app(config: ServerConfig) -> web.Application:
    app = web.Application()
    app[CONFIG_KEY] = config
    for path in ("/v1/realtime", "/openai/v1/realtime", PREVIEW_PATH, VOICE_LIVE_PATH, VOICE_LIVE_CALLS_PATH):
        app.router.add_get(lenient(path), realtime_websocket)
    add_webrtc_routes(app)  # POST …/realtime/client_secrets and …/realtime/calls
    add_live_routes(app)  # GPT-Live: GET …/live/sessions (and the chat completions its delegates ask)
    return app


async def realtime_websocket(request: web.Request) -> web.StreamResponse:
    """One realtime WebSocket connection, from upgrade to close."""
    config = request.app[CONFIG_KEY]
    ws = await accepted_websocket(request, config)
    if not isinstance(ws, web.WebSocketResponse):
        return ws
    config.connections += 1
    config.sockets.add(ws)
    try:
        refusal = key_refusal(request, config)
        if refusal is not None:
            await _reject(request, ws, "invalid_api_key", refusal, 3000)
        elif request.headers.get("OpenAI-Beta", "").lower().startswith("realtime"):
            await _reject(
                request,
                ws,
                "beta_api_shape_disabled",
                "The Realtime API beta shape is disabled; remove the 'OpenAI-Beta: realtime=v1' header "
                "to use the GA interface.",
                4000,
            )
        elif normalized(request.path) == VOICE_LIVE_CALLS_PATH:
            from voicecli.server.voicelive.webrtc_route import VoiceLiveCall  # aiortc only when called

            await VoiceLiveCall(request, ws, config, config.connections).run()
        else:
            await _Connection(request, ws, config, config.connections).run()
    finally:
        config.sockets.discard(ws)
    return ws


async def _reject(request: web.Request, ws: web.WebSocketResponse, code: str, message: str, close_code: int) -> None:
    _log.info("connection from %s %s refused: %s, close code %d", request.remote, request.path, code, close_code)
    event = {"event_id": new_id("event"), **error_event(code, message)}
    validate_server_event(event)
    await ws.send_frame(orjson.dumps(event), WSMsgType.TEXT)
    await ws.close(code=close_code, message=code.encode())


class _Connection(SessionTransport):
    """The WebSocket transport of one session: frames in, validated events out."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, config: ServerConfig, number: int) -> None:
        super().__init__(config.faults, number, "connection", config.max_session_s)
        self.request = request
        self.ws = ws
        self.model = request.query.get("model") or request.query.get("deployment") or DEFAULT_MODEL
        self.beta_shape = normalized(request.path) == PREVIEW_PATH
        self.voice_live = VoiceLiveShape() if normalized(request.path) in VOICE_LIVE_PATHS else None
        self.session = self._new_session(config)
        self._lock = asyncio.Lock()

    def _new_session(self, config: ServerConfig) -> ServerSession:
        """The connection's session (a Voice Live call gives it an RTP audio output)."""
        return config.new_session(self.send, model=self.model, on_crash=self._crashed, intercept=self._intercept)

    async def run(self) -> None:
        started = time.monotonic()
        self._start_expiry()
        try:
            await self._serve(self._read_frames())
        finally:
            await self._stop_background()
            await self.session.close()
            _log.info(
                "connection %d from %s %s model=%s: %d events in, %d out, %.1f s, close code %s",
                self.number,
                self.request.remote,
                self.request.path,
                self.model,
                self.received,
                self.sent,
                time.monotonic() - started,
                self.ws.close_code,
            )

    async def _read_frames(self) -> None:
        await self.session.start()
        async for message in self.ws:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                self.received += 1
                if self.voice_live is not None:
                    await self.voice_live.handle_frame(self.session, message.data)
                elif self.beta_shape:
                    await handle_preview_frame(self.session, message.data)
                else:
                    await self.session.handle_raw(message.data)

    async def send(self, event: dict[str, Any]) -> None:
        """Send one (already validated) event in the route's dialect, then fire the faults now due."""
        if self.voice_live is not None:
            for wire in self.voice_live.to_wire_events(event):  # with word timestamps, several frames
                await self._send_frame(wire)
            return
        if self.beta_shape:
            beta = to_beta_server_event(event)
            if beta is None:
                return
            event = beta
        await self._send_frame(event)

    async def _send_frame(self, event: dict[str, Any]) -> None:
        data = orjson.dumps(event)
        async with self._lock:
            if self.plan.delay:
                await asyncio.sleep(self.plan.delay)
            if not await self._write(data):
                return
            sent = self._count_sent()
        await self._fire_faults(sent)

    async def _write(self, data: bytes) -> bool:
        if self.ws.closed:
            return False
        try:
            await self.ws.send_frame(data, WSMsgType.TEXT)
        except ConnectionError:
            return False  # the peer is gone; the reader loop ends the session
        return True

    async def _write_unchecked(self, frame: bytes) -> None:
        async with self._lock:
            await self._write(frame)

    async def _drop(self) -> None:
        if self.plan.drop_close_code is not None:
            await self.ws.close(code=self.plan.drop_close_code, message=b"dropped (fault)")
        elif self.request.transport is not None:
            self.request.transport.abort()  # no close frame: the client sees 1006

    async def _end_expired(self, message: str) -> None:
        await self.ws.close(code=EXPIRED_CLOSE_CODE, message=message.encode())

    async def _end_after_error(self) -> None:
        await self.ws.close(code=1011, message=b"internal server error")


class LocalServer:
    """The local realtime server on a loopback port (0 picks a free one); an async context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        brain: str | Brain = "echo",
        script: Path | None = None,
        faults: Faults | None = None,
        pacing: Pacing = DEFAULT_PACING,
        accepted_key: str | None = None,
        max_session_s: float = SESSION_SECONDS,
        chat_url: str | None = None,
        chat_model: str | None = None,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        protocols: Collection[ServedProtocol] = PROTOCOLS,
        speech_input: bool = True,
    ) -> None:
        """`brain` is `echo`, `scripted` (`script` defaults to the bundled weather example), `chat`
        (the chat completions API at `chat_url`, asking for `chat_model`) or a `Brain`; `faults` may
        be changed while running and applies to connections opened after; `pacing` is how fast replies
        are generated (`UNPACED` for tests that want speed, not behaviour). `accepted_key` makes
        every other key fail like a wrong key does on the service; a session ends after
        `max_session_s` (`error` session_expired, then close 1001), as the service's do; beyond
        `max_sessions` WebSocket sessions at a time, a connection gets HTTP 429.
        `protocols` are those its clients will speak: their event checks (seconds of imports on a busy
        machine) are built before it listens, another's at its first event. Without `speech_input`
        (no client will send audio: a typed turn) Whisper is not loaded at start, only if audio comes.
        A brain that cannot be built (a missing or malformed script, no chat URL) raises `ValueError`,
        and so does a `host` off loopback without an `accepted_key`: anyone who reaches it could use
        the brain (and the chat model behind it)."""
        if accepted_key is None and not is_loopback_host(host):
            raise ValueError(
                f"listening on {host or 'every address'} lets other machines in: "
                "set the key its clients must present (--api-key)"
            )
        self.host = host
        self.brain_name = brain if isinstance(brain, str) else type(brain).__name__
        self._requested_port = port
        self.faults = faults if faults is not None else Faults()
        if isinstance(brain, str):
            brain = load_brain(brain, script, chat_url=chat_url, chat_model=chat_model)
        self.brain_label: str = getattr(brain, "label", self.brain_name)
        """What answers, as the server's start line says it (e.g. which chat model `auto` found)."""
        self.config = ServerConfig(
            brain=brain,
            faults=self.faults,
            pacing=pacing,
            accepted_key=accepted_key,
            max_session_s=max_session_s,
            max_sessions=max_sessions,
        )
        self.protocols = frozenset(protocols)
        self.speech_input = speech_input
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    async def start(self) -> None:
        """Listen; Whisper (when installed, and audio may come) loads in the background, so the first
        turn need not wait for it."""
        return_large_buffers()
        await asyncio.to_thread(self._build_checks)  # seconds of imports: not inside a first client's connect timeout
        if self.speech_input and recognition_whisper.available():
            recognition_whisper.warm_up()
        self._runner = web.AppRunner(create_app(self.config), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    def _build_checks(self) -> None:
        """Build the event checks of the protocols the clients will speak (in a fixed order)."""
        if "realtime" in self.protocols:
            build_validators()
        if "live" in self.protocols:
            build_live_validators()

    async def stop(self) -> None:
        """Close open connections (1001, going away) and the listening socket."""
        if self._runner is None:
            return
        for ws in list(self.config.sockets):
            await ws.close(code=1001, message=b"server shutting down")
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_base_url(self) -> str:
        return f"ws://{self.host}:{self.port}/v1"


async def serve_forever(server: LocalServer, *, verbose: bool = False) -> None:
    """Run the server until cancelled (Ctrl-C) or sent SIGTERM (`voicecli serve`); logs one line per
    connection, no keys, and with `verbose` each item a client creates (what a replayed history
    holds, for instance) and each client event refused, with its type and error code.

    Without logging configured by the caller, log lines go to stderr: voicecli's own, and only with
    `verbose` the libraries' (aioice alone logs every ICE check of every WebRTC call).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(name)s: %(message)s"
        )
        logging.getLogger("voicecli").setLevel(logging.INFO)
    if verbose:
        _log.setLevel(logging.DEBUG)
    brain = server.brain_label
    async with server:
        pacing = server.config.pacing.describe()
        _log.info("voicecli local realtime server: %s/realtime (brain: %s; %s)", server.ws_base_url, brain, pacing)
        await _terminated()
    _log.info("stopped on SIGTERM")


async def _terminated() -> None:
    """Wait for SIGTERM (a service manager's stop), so that it ends the server as Ctrl-C does: each
    session closed with 1001, then a clean exit."""
    loop = asyncio.get_running_loop()
    terminated = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, terminated.set)
    try:
        await terminated.wait()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
