"""GPT-Live over WebSocket: `GET /v1/live/sessions` (OpenAI) and `/openai/v1/live/sessions` (Azure).
(WebRTC's `POST` on the same paths is `webrtc_route`'s.)

As `client.live.connect()` builds them: no query, the model comes in `session.start`. The key is
checked as on the Realtime route; every frame in is checked against `openai.types.live.ClientEvent`
and every event out against `ServerEvent`. A bad command gets the protocol's `error` event and the
session goes on; a server bug closes with 1011.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from voicecli.server.config import CONFIG_KEY, accepted_websocket, key_refusal
from voicecli.server.ids import new_id
from voicecli.server.live.chat_route import chat_completions
from voicecli.server.live.session import LiveServerSession
from voicecli.server.live.validation import validate_live_client_event, validate_live_server_event
from voicecli.server.paths import lenient
from voicecli.server.session.pacing import Pacing
from voicecli.server.validation import ProtocolViolation

__all__ = ["LIVE_PATHS", "add_live_routes", "handle_client_frame", "live_error"]

LIVE_PATHS = ("/v1/live/sessions", "/openai/v1/live/sessions")
_log = logging.getLogger("voicecli.server")


def add_live_routes(app: web.Application) -> None:
    """The GPT-Live routes (WebSocket, and WebRTC's `POST`), and the chat completions a client's delegate asks."""
    from voicecli.server.live.webrtc_route import add_live_webrtc_routes  # it needs `LIVE_PATHS` from here

    for path in LIVE_PATHS:
        app.router.add_get(lenient(path), live_websocket)
    add_live_webrtc_routes(app)
    for path in ("/v1/chat/completions", "/openai/v1/chat/completions"):
        app.router.add_post(lenient(path), chat_completions)


async def live_websocket(request: web.Request) -> web.StreamResponse:
    """One GPT-Live WebSocket connection, from upgrade to close."""
    config = request.app[CONFIG_KEY]
    ws = await accepted_websocket(request, config)
    if not isinstance(ws, web.WebSocketResponse):
        return ws
    config.sockets.add(ws)
    try:
        refusal = key_refusal(request, config)
        if refusal is not None:
            await _send(ws, asyncio.Lock(), live_error("invalid_api_key", refusal))
            await ws.close(code=3000, message=b"invalid_api_key")
            return ws
        await _LiveConnection(ws, config.brain, config.pacing, config.max_session_s).run()
    finally:
        config.sockets.discard(ws)
    return ws


class _LiveConnection:
    def __init__(self, ws: web.WebSocketResponse, brain: Any, pacing: Pacing, lifetime_s: float) -> None:
        self.ws = ws
        self._lock = asyncio.Lock()
        self.session = LiveServerSession(
            self.send, brain=brain, pacing=pacing, lifetime_s=lifetime_s, on_crash=self._crashed
        )
        self._closing: asyncio.Future[bool] | None = None

    def _crashed(self, _exc: BaseException) -> None:
        """A server bug in a session task (an invalid event, say): end loudly, as the service would."""
        self._closing = asyncio.ensure_future(self.ws.close(code=1011, message=b"internal server error"))

    async def send(self, event: dict[str, Any]) -> None:
        await _send(self.ws, self._lock, event)

    async def run(self) -> None:
        expiry = asyncio.get_running_loop().call_later(
            self.session.lifetime_s, lambda: asyncio.ensure_future(self._expire())
        )
        try:
            async for message in self.ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                await handle_client_frame(self.session, message.data, self.send, what="frame")
                if self.session.closed:
                    await self.ws.close(code=1000, message=b"session closed")
        except ProtocolViolation:
            _log.exception("the local GPT-Live server sent an invalid event")
            await self.ws.close(code=1011, message=b"internal server error")
        finally:
            expiry.cancel()
            await self.session.stop()

    async def _expire(self) -> None:
        """The session limit: `session.closed` (reason `expired`), then the socket closes, as the service's do."""
        if self.session.started and not self.session.closed:
            await self.session.finish("expired")
        await self.ws.close(code=1000, message=b"session expired")


async def handle_client_frame(
    session: LiveServerSession, data: bytes | str, send: Callable[[dict[str, Any]], Awaitable[None]], *, what: str
) -> None:
    """One client event (a WebSocket frame, a data channel message): parsed, checked against the types and
    handled; a bad one gets the protocol's `error` and the session goes on."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        await send(live_error("invalid_json", f"The {what} is not valid JSON."))
        return
    try:
        validate_live_client_event(event)
        await session.handle(event)
    except ProtocolViolation as exc:
        client_event_id = event.get("event_id") if isinstance(event, dict) else None
        await send(live_error(exc.code, exc.message, param=exc.param, client_event_id=client_event_id))


def live_error(code: str, message: str, *, param: str | None = None, client_event_id: Any = None) -> dict[str, Any]:
    """The protocol's `error` event (refused commands go on; the session does too)."""
    error: dict[str, Any] = {"type": "invalid_request_error", "code": code, "message": message}
    if param is not None:
        error["param"] = param
    if isinstance(client_event_id, str):
        error["client_event_id"] = client_event_id
    return {"type": "error", "event_id": new_id("event"), "error": error}


async def _send(ws: web.WebSocketResponse, lock: asyncio.Lock, event: dict[str, Any]) -> None:
    """Check one event against the types, then send it (a server bug raises `ProtocolViolation`)."""
    validate_live_server_event(event)
    async with lock:
        if ws.closed:
            return
        try:
            await ws.send_frame(orjson.dumps(event), WSMsgType.TEXT)
        except ConnectionError:
            return
