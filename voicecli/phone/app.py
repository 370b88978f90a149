"""The phone bridge as an aiohttp app: the ACS webhook, the call-events callback, the media WebSocket.

Routes:
  POST /api/incomingCall?secret=S   Event Grid: subscription validation, IncomingCall (answers it)
  POST /api/callbacks/{token}       ACS call events for the one call `token` was issued to
  GET  /ws/{token}                  that call's media stream (ACS)
  GET  /ws, /ws/{name}              local test mode only (no ACS): a new call, `voicecli phone --dial`
  GET  /health                      200 while accepting calls, 503 while draining (load balancers)

Every media WebSocket and callback must carry ACS's token (`auth`) unless the bridge runs in local
test mode; it is checked before anything else, so a refused request never opens a realtime session.
A call's identity comes only from the token in its URL, never from a header or a body.
What the routes share is a `PhoneService` (`service.py`).
"""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from voicecli.phone.auth import require_acs_token
from voicecli.phone.calls import MAX_ID_CHARS, CallRecord, printable
from voicecli.phone.media import MAX_MESSAGE_BYTES
from voicecli.phone.service import PhoneService
from voicecli.phone.webhook import add_webhook_routes

_log = logging.getLogger("voicecli.phone")


def create_phone_app(service: PhoneService) -> web.Application:
    app = web.Application()

    async def media(request: web.Request) -> web.StreamResponse:
        if service.draining:
            raise web.HTTPServiceUnavailable(text="this bridge is shutting down; no new calls")
        await require_acs_token(service.verifier, request, "media WebSocket")
        socket = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES)
        if not socket.can_prepare(request).ok:
            raise web.HTTPBadRequest(text="this endpoint speaks WebSocket only")
        record = _claim_call(service, request)  # no await since the checks: one socket per call
        try:
            await socket.prepare(request)
        except Exception:
            service.registry.set_state(record, "failed", "the media WebSocket could not be opened")
            raise
        await service.serve_call(record, socket)
        return socket

    async def health(_: web.Request) -> web.Response:
        if service.draining:
            return web.Response(status=503, text=f"draining: {service.calls_in_progress} call(s) in progress\n")
        return web.Response(text=f"ok: {service.calls_in_progress} call(s) in progress\n")

    app.router.add_get("/ws", media)
    app.router.add_get("/ws/{call_id}", media)
    app.router.add_get("/health", health)
    add_webhook_routes(app, service)
    return app


def _claim_call(service: PhoneService, request: web.Request) -> CallRecord:
    """The call this media socket serves, marked as having its media; an HTTP error when it has none.

    With ACS, the path names a call answered here by its token, and only once. In local test mode
    (no ACS) a socket is a new call, under the name in its path if that name is free.
    """
    named = request.match_info.get("call_id", "")
    if service.acs is not None:
        record = service.registry.by_token(named) if named else None
        if record is None or not record.active:
            raise web.HTTPNotFound(text="no such call")
        if record.media:
            raise web.HTTPConflict(text="this call's media stream is already open")
    else:
        call_id = printable(named, MAX_ID_CHARS) or uuid.uuid4().hex[:12]
        existing = service.registry.get(call_id)
        if existing is not None and existing.active:
            raise web.HTTPConflict(text="a call of that name is in progress")
        if service.at_capacity:
            _log.warning("refused a call: %d calls at once is the limit", service.limits.max_calls)
            raise web.HTTPServiceUnavailable(text="busy: this bridge takes no more calls at the moment")
        record = service.registry.open(call_id, request.query.get("caller", ""))
    record.media = True
    return record
