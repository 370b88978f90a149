"""GPT-Live over WebRTC on the local server: `POST /v1/live/sessions` (and Azure's `/openai/v1/…`).

As `client.live.create()` sends it: JSON `{"session": {...}, "transport": {"type": "webrtc", "sdp":
<offer>}}` with the long-lived key, answered with `{"session": {"id"}, "transport": {"type":
"webrtc", "sdp": <answer>}}`. The body is checked against the SDK's `LiveCreateParams` (unknown
fields refused at any depth) and the answer against `LiveCreateResponse`. Errors are the service's
JSON error bodies; keys follow the WebSocket route's rules. Calls count towards `max_sessions` with
the WebSocket sessions. aiortc is imported with the first call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from voicecli.server.config import CONFIG_KEY, key_refusal
from voicecli.server.live.route import LIVE_PATHS
from voicecli.server.live.validation import validate_live_create, validate_live_create_response
from voicecli.server.paths import lenient
from voicecli.server.validation import ProtocolViolation
from voicecli.server.webrtc.http import answer_or_refuse, dumps
from voicecli.server.webrtc.http import json_error as _error

if TYPE_CHECKING:
    from voicecli.server.live.webrtc_call import LiveRtcCall

__all__ = ["LIVE_CALLS_KEY", "add_live_webrtc_routes"]

LIVE_CALLS_KEY = web.AppKey("voicecli_live_calls", dict)
"""The GPT-Live calls in progress, by session id."""


def add_live_webrtc_routes(app: web.Application) -> None:
    app[LIVE_CALLS_KEY] = {}
    for path in LIVE_PATHS:
        app.router.add_post(lenient(path), create_live_session)
    app.on_shutdown.append(_close_calls)


async def _close_calls(app: web.Application) -> None:
    calls: dict[str, LiveRtcCall] = app[LIVE_CALLS_KEY]
    for call in list(calls.values()):
        await call.close("server shutting down")


async def create_live_session(request: web.Request) -> web.Response:
    """Check the request, answer the SDP offer, and start the session the call will carry."""
    config = request.app[CONFIG_KEY]
    calls: dict[str, LiveRtcCall] = request.app[LIVE_CALLS_KEY]
    refusal = key_refusal(request, config)
    if refusal is not None:
        return _error(401, "invalid_api_key", refusal)
    try:
        checked = validate_live_create(orjson.loads(await request.read()))
    except orjson.JSONDecodeError as exc:
        return _error(400, "invalid_json", f"The body is not valid JSON: {exc}.")
    except ProtocolViolation as exc:
        return _error(400, exc.code, exc.message, exc.param)
    offer = checked["transport"]["sdp"]
    if not offer.startswith("v=0") or "m=application" not in offer:
        return _error(400, "invalid_offer", "transport.sdp is not an SDP offer with a data channel.", "transport.sdp")
    if len(calls) + len(config.sockets) >= config.max_sessions:
        return _error(429, "too_many_sessions", f"The local server takes at most {config.max_sessions} sessions.")
    from voicecli.server.live.webrtc_call import LiveRtcCall

    def forget(ended: LiveRtcCall) -> None:
        calls.pop(ended.id, None)

    call = LiveRtcCall(config, session_config=checked["session"], peer_host=request.remote, on_closed=forget)
    calls[call.id] = call
    answer = await answer_or_refuse(
        call, offer, label=f"GPT-Live call {call.id}", forget=lambda: calls.pop(call.id, None), param="transport.sdp"
    )
    if isinstance(answer, web.Response):
        return answer
    body = {"session": {"id": call.id}, "transport": {"type": "webrtc", "sdp": answer}}
    validate_live_create_response(body)
    return web.json_response(body, dumps=dumps)
