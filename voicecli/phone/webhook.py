"""The HTTP side of ACS: the Event Grid webhook that answers calls, and the call-events callback.

Event Grid posts a JSON array of events (Event Grid or CloudEvents schema) to
`/api/incomingCall?secret=S`; without the operator's secret (compared in constant time) nothing is
read. A subscription validation is answered with its code; `IncomingCall` is answered through the
SDK with media streaming to `<public-url>/ws/<token>` and callbacks to
`<public-url>/api/callbacks/<token>`, where the token is minted here for that one call and is
unguessable. A callback must carry ACS's signed token too, and acts on the call its URL's token was
issued to and on nothing else: the call connection id comes from ACS's answer, never from a body.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from voicecli.phone.auth import log_refusal, require_acs_token
from voicecli.phone.calls import MAX_ID_CHARS, CallState, printable

if TYPE_CHECKING:
    from voicecli.phone.service import PhoneService

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
INCOMING_CALL_EVENT = "Microsoft.Communication.IncomingCall"
SECRET_PARAMETER = "secret"
MAX_EVENTS_BYTES = 256 * 1024
"""Event Grid delivers IncomingCall events one or a few at a time; a bigger body is not from it."""
_log = logging.getLogger("voicecli.phone")


def add_webhook_routes(app: web.Application, service: PhoneService) -> None:
    async def incoming_call(request: web.Request) -> web.Response:
        _require_secret(service, request)
        events = await _events(request)
        for event in events:
            kind, data = _kind(event), _data(event)
            if kind == VALIDATION_EVENT:
                _log.info("Event Grid subscription validated")
                return web.json_response({"validationResponse": data.get("validationCode")})
            if kind == INCOMING_CALL_EVENT:
                if service.draining:
                    raise web.HTTPServiceUnavailable(text="this bridge is shutting down; no new calls")
                await _answer(service, data)
        return web.Response(status=200)

    async def call_event(request: web.Request) -> web.Response:
        await require_acs_token(service.verifier, request, "call-events callback")
        record = service.registry.by_token(request.match_info["token"])
        if record is None:
            raise web.HTTPNotFound(text="no such call")
        for event in await _events(request):
            change = call_event_change(event)
            if change.state is None:
                service.registry.note(record, change.text)
            else:
                service.registry.set_state(record, change.state, change.text)
        return web.Response(status=200)

    app.router.add_post("/api/incomingCall", incoming_call)
    app.router.add_post("/api/callbacks/{token}", call_event)


@dataclass(frozen=True, slots=True)
class CallChange:
    """What one call event does to its call: a new state with its reason, or (`state` None) a note."""

    state: CallState | None
    text: str


def call_event_change(event: dict[str, Any]) -> CallChange:
    """What ACS's call `event` does to the call whose callback URL it was posted to.

    A plain function so that the rule reads (and is tested) apart from HTTP: which call it applies
    to is the route's business (its URL's token), never the event's; its text is made printable.
    """
    kind = _kind(event).removeprefix("Microsoft.Communication.")
    match kind:
        case "CallConnected":
            return CallChange("connected", "")
        case "CallDisconnected":
            return CallChange("ended", "disconnected")
        case "MediaStreamingFailed" | "AnswerFailed":
            return CallChange("failed", f"{kind}: {_result_message(_data(event))}")
        case _:
            return CallChange(None, kind or "an event without a type")


def _require_secret(service: PhoneService, request: web.Request) -> None:
    """The webhook's URL must carry the operator's secret; compared in constant time, refusals logged throttled."""
    given = request.query.get(SECRET_PARAMETER, "").encode()
    expected = service.webhook_secret.encode()
    if not expected or not hmac.compare_digest(given, expected):
        log_refusal("webhook delivery", request.remote or "?", "wrong or missing webhook secret")
        raise web.HTTPUnauthorized(text="wrong or missing webhook secret\n")


async def _answer(service: PhoneService, data: dict[str, Any]) -> None:
    context = data.get("incomingCallContext")
    if not isinstance(context, str) or not context:
        raise web.HTTPBadRequest(text="IncomingCall without incomingCallContext")
    if service.acs is None:
        raise web.HTTPServiceUnavailable(text="this bridge has no ACS connection string; it cannot answer calls")
    if service.at_capacity:
        _log.warning("call refused (busy): %d calls at once is the limit", service.limits.max_calls)
        try:
            await service.acs.reject(context)
        except Exception as exc:  # the SDK's errors vary; not answering refuses the call too
            _log.warning("rejecting a call at ACS failed: %s", printable(str(exc), 300))
        return
    record = service.registry.open(uuid.uuid4().hex[:12], _caller(data))
    token = secrets.token_urlsafe(32)
    service.registry.bind(record, token)
    try:
        record.connection_id = await service.acs.answer(
            context,
            callback_url=f"{service.public_http}/api/callbacks/{token}",
            transport_url=f"{service.public_ws}/ws/{token}",
        )
    except Exception as exc:  # the SDK's HttpResponseError and transport errors alike
        service.registry.set_state(record, "failed", f"answering failed: {exc}")
        raise web.HTTPBadGateway(text="answering the call failed") from None
    service.registry.set_state(record, "answered")


async def _events(request: web.Request) -> list[dict[str, Any]]:
    if (request.content_length or 0) > MAX_EVENTS_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_EVENTS_BYTES, actual_size=request.content_length or 0)
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    events = body if isinstance(body, list) else [body]
    return [event for event in events if isinstance(event, dict)]


def _data(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    return data if isinstance(data, dict) else {}


def _kind(event: dict[str, Any]) -> str:
    return printable(str(event.get("eventType") or event.get("type") or ""), MAX_ID_CHARS)


def _caller(data: dict[str, Any]) -> str:
    caller = data.get("from")
    caller = caller if isinstance(caller, dict) else {}
    phone = caller.get("phoneNumber")
    number = phone.get("value") if isinstance(phone, dict) else None
    return str(number or caller.get("rawId") or data.get("callerDisplayName") or "unknown")


def _result_message(data: dict[str, Any]) -> str:
    info = data.get("resultInformation")
    info = info if isinstance(info, dict) else {}
    return printable(str(info.get("message") or info.get("code") or "no reason given"), 200)
