"""The HTTP side of ACS: the Event Grid webhook that answers calls, and the call-events callback.

Event Grid posts a JSON array of events (Event Grid or CloudEvents schema): a subscription
validation, answered with its code, or `IncomingCall`, answered through the SDK with media
streaming to `<public-url>/ws/<call id>`. The call id is ours, minted here and carried in both the
callback and the media URL, so whichever bridge process ACS reaches knows the call.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from voicecli.phone.calls import MAX_ID_CHARS, printable

if TYPE_CHECKING:
    from voicecli.phone.service import PhoneService

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
INCOMING_CALL_EVENT = "Microsoft.Communication.IncomingCall"
_log = logging.getLogger("voicecli.phone")


def add_webhook_routes(app: web.Application, service: PhoneService) -> None:
    async def incoming_call(request: web.Request) -> web.Response:
        events = await _events(request)
        for event in events:
            kind, data = _kind(event), event.get("data") or {}
            if kind == VALIDATION_EVENT:
                _log.info("Event Grid subscription validated")
                return web.json_response({"validationResponse": data.get("validationCode")})
            if kind == INCOMING_CALL_EVENT:
                if service.draining:
                    raise web.HTTPServiceUnavailable(text="this bridge is shutting down; no new calls")
                await _answer(service, data)
        return web.Response(status=200)

    async def call_event(request: web.Request) -> web.Response:
        events = await _events(request)
        record = service.registry.get(printable(request.match_info["call_id"], MAX_ID_CHARS))
        if record is None:  # answered by another bridge process: its own log has the call
            kinds = ", ".join(_kind(event) for event in events)
            _log.info("call %s (not served here): %s", printable(request.match_info["call_id"], MAX_ID_CHARS), kinds)
            return web.Response(status=200)
        for event in events:
            kind = _kind(event).removeprefix("Microsoft.Communication.")
            data = event.get("data") or {}
            record.connection_id = record.connection_id or str(data.get("callConnectionId") or "")
            match kind:
                case "CallConnected":
                    service.registry.set_state(record, "connected")
                case "CallDisconnected":
                    service.registry.set_state(record, "ended", "disconnected")
                case "MediaStreamingFailed" | "AnswerFailed":
                    service.registry.set_state(record, "failed", f"{kind}: {_result_message(data)}")
                case _:
                    service.registry.note(record, kind or "an event without a type")
        return web.Response(status=200)

    app.router.add_post("/api/incomingCall", incoming_call)
    app.router.add_post("/api/callbacks/{call_id}", call_event)


async def _answer(service: PhoneService, data: dict[str, Any]) -> None:
    context = data.get("incomingCallContext")
    if not isinstance(context, str) or not context:
        raise web.HTTPBadRequest(text="IncomingCall without incomingCallContext")
    if service.acs is None:
        raise web.HTTPServiceUnavailable(text="this bridge has no ACS connection string; it cannot answer calls")
    caller = _caller(data)
    call_id = uuid.uuid4().hex
    record = service.registry.open(call_id, caller)
    suffix = f"{call_id}?caller={quote(caller, safe='')}"
    try:
        record.connection_id = await service.acs.answer(
            context,
            callback_url=f"{service.public_http}/api/callbacks/{suffix}",
            transport_url=f"{service.public_ws}/ws/{suffix}",
        )
    except Exception as exc:  # the SDK's HttpResponseError and transport errors alike
        service.registry.set_state(record, "failed", f"answering failed: {exc}")
        raise web.HTTPBadGateway(text="answering the call failed") from None
    service.registry.set_state(record, "answered")


async def _events(request: web.Request) -> list[dict[str, Any]]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    events = body if isinstance(body, list) else [body]
    return [event for event in events if isinstance(event, dict)]


def _kind(event: dict[str, Any]) -> str:
    return str(event.get("eventType") or event.get("type") or "")


def _caller(data: dict[str, Any]) -> str:
    caller = data.get("from") or {}
    phone = (caller.get("phoneNumber") or {}).get("value")
    return str(phone or caller.get("rawId") or data.get("callerDisplayName") or "unknown")


def _result_message(data: dict[str, Any]) -> str:
    info = data.get("resultInformation") or {}
    return str(info.get("message") or info.get("code") or "no reason given")
