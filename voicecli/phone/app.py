"""The phone bridge as an aiohttp app: the ACS webhook, the call-events callback, the media WebSocket.

Routes:
  POST /api/incomingCall            Event Grid: subscription validation, IncomingCall (answers it)
  POST /api/callbacks/{call_id}     ACS call events for one call
  GET  /ws/{call_id}  or  /ws?call= the call's media stream (ACS, or `voicecli phone --dial`)
  GET  /health                      200 while accepting calls, 503 while draining (load balancers)

What the routes share is a `PhoneService` (`service.py`).
"""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from voicecli.phone.service import PhoneService
from voicecli.phone.webhook import add_webhook_routes

CONNECTION_ID_HEADER = "x-ms-call-connection-id"
"""ACS names the call connection in the media WebSocket's upgrade request."""
MAX_MEDIA_FRAME = 4 * 1024 * 1024
_log = logging.getLogger("voicecli.phone")


def create_phone_app(service: PhoneService) -> web.Application:
    app = web.Application()

    async def media(request: web.Request) -> web.StreamResponse:
        if service.draining:
            raise web.HTTPServiceUnavailable(text="this bridge is shutting down; no new calls")
        call_id = request.match_info.get("call_id") or request.query.get("call") or uuid.uuid4().hex
        socket = web.WebSocketResponse(max_msg_size=MAX_MEDIA_FRAME)
        await socket.prepare(request)
        record = service.registry.open(call_id, request.query.get("caller", ""))
        record.media = True
        record.connection_id = record.connection_id or request.headers.get(CONNECTION_ID_HEADER, "")
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
