"""What the transports of one local server share: its configuration and the key check.

Kept apart from `app` (WebSocket) and `webrtc` (HTTP + WebRTC) so that both depend on it and
neither on the other.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from voicecli.server.events import Send
from voicecli.server.faults import Faults
from voicecli.server.replies import Brain
from voicecli.server.session.audio_out import AudioOut
from voicecli.server.session.config import SESSION_SECONDS
from voicecli.server.session.pacing import DEFAULT_PACING, Pacing
from voicecli.server.session.session import ServerSession

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_MAX_SESSIONS",
    "MISSING_KEY_MESSAGE",
    "WRONG_KEY_MESSAGE",
    "ServerConfig",
    "api_key_of",
    "key_refusal",
    "session_limit_refusal",
]

_log = logging.getLogger("voicecli.server")

MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. Provide it in an Authorization header using Bearer auth "
    "(Authorization: Bearer YOUR_KEY) or in an api-key header."
)
WRONG_KEY_MESSAGE = "Incorrect API key provided. You can find your API key in your account settings."
DEFAULT_MAX_SESSIONS = 32
"""WebSocket sessions a server holds at a time: each holds a socket, its audio and its conversation."""


@dataclass
class ServerConfig:
    """What every transport of one server shares (WebSocket and WebRTC)."""

    brain: Brain
    faults: Faults
    pacing: Pacing = DEFAULT_PACING  # how fast replies are generated
    accepted_key: str | None = None  # None: any key is accepted, as long as there is one
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    connections: int = 0  # connections accepted so far; numbers them for fault plans
    max_session_s: float = SESSION_SECONDS  # a session ends after this, as the service's do
    max_sessions: int = DEFAULT_MAX_SESSIONS  # WebSocket sessions at a time; more get HTTP 429

    def new_session(
        self,
        send: Send,
        *,
        model: str,
        audio_out: AudioOut | None = None,
        on_crash: Callable[[BaseException], None] | None = None,
        intercept: Callable[[dict[str, Any]], Awaitable[bool]] | None = None,
    ) -> ServerSession:
        """A session configured like every other session of this server."""
        return ServerSession(
            send,
            brain=self.brain,
            model=model,
            audio_out=audio_out,
            pacing=self.pacing,
            on_crash=on_crash,
            intercept=intercept,
            lifetime_s=self.max_session_s,
        )


CONFIG_KEY = web.AppKey("voicecli_server_config", ServerConfig)


def api_key_of(request: web.Request) -> str | None:
    """The key from `Authorization: Bearer …` or `api-key: …`; None when missing or empty."""
    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("api-key", "").strip() or None


def key_refusal(request: web.Request, config: ServerConfig, *, minted: bool = False) -> str | None:
    """Why the service would refuse this request's key (missing, or not the server's own key
    when it has one; a `minted` ephemeral key is always right); None when it is accepted."""
    key = api_key_of(request)
    if key is None:
        return MISSING_KEY_MESSAGE
    if not minted and config.accepted_key is not None and key != config.accepted_key:
        return WRONG_KEY_MESSAGE
    return None


def session_limit_refusal(request: web.Request, config: ServerConfig) -> web.Response | None:
    """HTTP 429 when the server holds `max_sessions` WebSocket sessions already (Realtime and
    GPT-Live count together: each holds a socket, its audio and its conversation); None otherwise."""
    if len(config.sockets) < config.max_sessions:
        return None
    _log.info("connection from %s refused: %d sessions open already", request.remote, len(config.sockets))
    message = f"The local server takes at most {config.max_sessions} sessions at a time."
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": "too_many_sessions"}
    return web.json_response({"error": error}, status=429)


MAX_FRAME = 32 * 1024 * 1024  # a 15 MiB append, base64-encoded, fits
"""The largest WebSocket frame a session takes."""


async def accepted_websocket(request: web.Request, config: ServerConfig) -> web.WebSocketResponse | web.Response:
    """The WebSocket, prepared, for a session the server takes; else the answer refusing it (HTTP 426
    when the request is no WebSocket upgrade, 429 over the session limit)."""
    ws = web.WebSocketResponse(timeout=2.0, compress=False, max_msg_size=MAX_FRAME, decode_text=False)
    if not ws.can_prepare(request).ok:
        return web.Response(status=426, text="This endpoint speaks WebSocket only.\n")
    refused = session_limit_refusal(request, config)
    if refused is not None:
        return refused
    await ws.prepare(request)
    return ws
