"""The two signaling events of Voice Live's WebRTC calls, strictly modelled (unknown fields refused).

The `azure-ai-voicelive` Python SDK has no model of them (1.3 models only the avatar's WebRTC), so
these pydantic models are written from the `@azure/ai-projects` JavaScript reference on
learn.microsoft.com: VoiceAgentClientEventRtcCallSdpCreate (`type`, `sdp_offer`, optional `session`
and `event_id`) and VoiceAgentServerEventRtcCallSdpCreated (`type`, `event_id`, `rtc_call_id`,
`sdp_answer`). The `session` is a Voice Live session and is checked by the SDK's own session model,
as in `session.update`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from voicecli.server.validation import ProtocolViolation
from voicecli.server.voicelive.conformance import check_client_event

__all__ = [
    "SDP_CREATE",
    "SDP_CREATED",
    "RtcCallSdpCreate",
    "RtcCallSdpCreated",
    "check_sdp_create",
    "check_sdp_created",
]

SDP_CREATE = "rtc.call.sdp.create"
SDP_CREATED = "rtc.call.sdp.created"


class RtcCallSdpCreate(BaseModel):
    """The client's offer: begins the call's signaling."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["rtc.call.sdp.create"]
    sdp_offer: StrictStr
    session: dict[str, Any] | None = None
    event_id: StrictStr | None = None


class RtcCallSdpCreated(BaseModel):
    """The service's answer: completes the negotiation."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["rtc.call.sdp.created"]
    event_id: StrictStr
    rtc_call_id: StrictStr
    sdp_answer: StrictStr


def check_sdp_create(event: Any) -> None:
    """Raise `ProtocolViolation` (the service's `error` shape) unless `event` is a well-formed offer."""
    if not isinstance(event, dict):
        raise ProtocolViolation("An event must be a JSON object.", code="invalid_event")
    if event.get("type") != SDP_CREATE:
        raise ProtocolViolation(
            f"The call is not set up yet: send {SDP_CREATE} first (got {event.get('type')!r}).",
            code="invalid_event",
            param="type",
        )
    try:
        offer = RtcCallSdpCreate.model_validate(event)
    except ValidationError as exc:
        error = exc.errors()[0]
        param = ".".join(str(part) for part in error["loc"])
        code = "unknown_parameter" if error["type"] == "extra_forbidden" else "invalid_value"
        raise ProtocolViolation(f"Invalid '{param}': {error['msg']}.", code=code, param=param) from None
    if offer.session is not None:
        check_client_event({"type": "session.update", "session": offer.session})


def check_sdp_created(event: dict[str, Any]) -> None:
    """Raise `ValidationError` for an answer the model refuses: a bug of the local server."""
    RtcCallSdpCreated.model_validate(event)
