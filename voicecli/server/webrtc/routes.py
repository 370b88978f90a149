"""The local server's WebRTC endpoints, shaped like the service's.

  POST /v1/realtime/client_secrets          (and /openai/v1/… for Azure GA)
       JSON `{"session": {...}, "expires_after": {...}}` → `{"value": "ek_…", "expires_at", "session"}`
  POST /v1/realtime/calls                   (and /openai/v1/…)
       `Content-Type: application/sdp`, the offer → 201, the answer, `Location: …/calls/rtc_…`

Keys follow the WebSocket rules: any non-empty key (`Authorization: Bearer` or `api-key`) is
accepted unless the server was given one, and a missing key gets the service's 401 JSON error.
An ephemeral key minted here also carries its session: the call starts with it. A session is
checked exactly as `session.update` would be, by a `ServerSession`, so both paths agree.
aiortc is imported with the first call, so a server only ever used over WebSocket starts fast.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from voicecli.server.config import CONFIG_KEY, ServerConfig, api_key_of, key_refusal
from voicecli.server.paths import lenient, normalized
from voicecli.server.session.config import DEFAULT_MODEL
from voicecli.server.webrtc.http import answer_or_refuse, dumps
from voicecli.server.webrtc.http import json_error as _error

if TYPE_CHECKING:
    from voicecli.server.webrtc.call import RtcCall

__all__ = ["RTC_KEY", "RtcCalls", "add_webrtc_routes"]

MAX_CALLS = 16
"""Concurrent calls; more get HTTP 429 (each call holds sockets, threads and a session)."""
MAX_SECRETS = 256
DEFAULT_SECRET_TTL_S = 600
_SECRET_TTL_RANGE_S = (10, 7200)


@dataclass(frozen=True, slots=True)
class _Secret:
    session: dict[str, Any]
    model: str
    expires_at: int


class RtcCalls:
    """The server's WebRTC state: minted ephemeral keys and the calls in progress."""

    def __init__(self) -> None:
        self.active: dict[str, RtcCall] = {}
        self._secrets: dict[str, _Secret] = {}

    def mint(self, secret: _Secret) -> str:
        now = time.time()
        for value in [value for value, known in self._secrets.items() if known.expires_at <= now]:
            del self._secrets[value]
        while len(self._secrets) >= MAX_SECRETS:
            del self._secrets[next(iter(self._secrets))]
        value = f"ek_{secrets.token_urlsafe(24)}"
        self._secrets[value] = secret
        return value

    def secret(self, key: str | None) -> _Secret | None:
        known = self._secrets.get(key or "")
        return known if known is not None and known.expires_at > time.time() else None

    async def close_all(self) -> None:
        for call in list(self.active.values()):
            await call.close("server shutting down")


RTC_KEY = web.AppKey("voicecli_rtc_calls", RtcCalls)


def add_webrtc_routes(app: web.Application) -> None:
    app[RTC_KEY] = RtcCalls()
    for prefix in ("/v1", "/openai/v1"):
        app.router.add_post(lenient(f"{prefix}/realtime/client_secrets"), create_client_secret)
        app.router.add_post(lenient(f"{prefix}/realtime/calls"), create_call)
    app.on_shutdown.append(_close_calls)


async def _close_calls(app: web.Application) -> None:
    await app[RTC_KEY].close_all()


async def create_client_secret(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    refused = _refusal(request, config, minted=False)
    if refused is not None:
        return refused
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        return _error(400, "invalid_json", f"The body is not valid JSON: {exc}.")
    if not isinstance(body, dict):
        return _error(400, "invalid_type", "The body must be a JSON object.")
    unknown = sorted(set(body) - {"session", "expires_after"})
    if unknown:
        return _error(400, "unknown_parameter", f"Unknown parameter: '{unknown[0]}'.", unknown[0])
    session = body.get("session") or {"type": "realtime"}
    expires_after = body.get("expires_after") or {}
    ttl = expires_after.get("seconds", DEFAULT_SECRET_TTL_S) if isinstance(expires_after, dict) else None
    if not isinstance(session, dict) or not isinstance(ttl, int):
        return _error(400, "invalid_type", "Expected 'session' to be an object and 'expires_after.seconds' an integer.")
    requested = session.get("model")
    model = requested if isinstance(requested, str) else DEFAULT_MODEL
    effective = await _checked_session(config, session, model)
    if effective.get("type") == "error":
        error = effective["error"]
        return _error(400, error["code"], error["message"], error["param"])
    expires_at = int(time.time()) + min(max(ttl, _SECRET_TTL_RANGE_S[0]), _SECRET_TTL_RANGE_S[1])
    value = request.app[RTC_KEY].mint(_Secret(session=session, model=model, expires_at=expires_at))
    return web.json_response({"value": value, "expires_at": expires_at, "session": effective["session"]}, dumps=dumps)


async def create_call(request: web.Request) -> web.Response:
    config, calls = request.app[CONFIG_KEY], request.app[RTC_KEY]
    secret = calls.secret(api_key_of(request))
    refused = _refusal(request, config, minted=secret is not None)
    if refused is not None:
        return refused
    if request.content_type != "application/sdp":
        return _error(400, "invalid_content_type", "Send the SDP offer with 'Content-Type: application/sdp'.")
    offer = await request.text()
    if not offer.startswith("v=0") or "m=application" not in offer:
        return _error(400, "invalid_offer", "The body is not an SDP offer with a data channel.")
    if len(calls.active) >= MAX_CALLS:
        return _error(429, "too_many_calls", f"The local server takes at most {MAX_CALLS} calls at a time.")
    from voicecli.server.webrtc.call import RtcCall

    config.connections += 1
    call = RtcCall(
        config,
        number=config.connections,
        model=secret.model if secret else DEFAULT_MODEL,
        session_update=secret.session if secret else None,
        peer_host=request.remote,
        on_closed=lambda ended: calls.active.pop(ended.id, None),
    )
    calls.active[call.id] = call
    answer = await answer_or_refuse(
        call, offer, label=f"call {call.number}", forget=lambda: calls.active.pop(call.id, None)
    )
    if isinstance(answer, web.Response):
        return answer
    return web.Response(
        status=201,
        text=answer,
        content_type="application/sdp",
        headers={"Location": f"{normalized(request.path)}/{call.id}"},
    )


def _refusal(request: web.Request, config: ServerConfig, *, minted: bool) -> web.Response | None:
    """The service's 401 for a missing or wrong key (ephemeral keys minted here are right); None to go on."""
    message = key_refusal(request, config, minted=minted)
    return None if message is None else _error(401, "invalid_api_key", message)


async def _checked_session(config: ServerConfig, session: dict[str, Any], model: str) -> dict[str, Any]:
    """`session.updated` (with the effective session) or `error`, from a scratch session."""
    events: list[dict[str, Any]] = []

    async def collect(event: dict[str, Any]) -> None:
        events.append(event)

    scratch = config.new_session(collect, model=model)
    await scratch.handle({"type": "session.update", "session": session})
    return events[-1]
