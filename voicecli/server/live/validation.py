"""Check GPT-Live events against `openai.types.live`, the oracle of that protocol, both ways.

Like the Realtime checks (`voicecli.server.validation`): the SDK's unions are rebuilt as pydantic
discriminated unions on `type`, and fields the types do not know are refused at any depth
(`unknown_parameter`, with the dotted path as `param`), since the SDK's models accept them silently.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import pydantic

from voicecli.server.unknown_fields import first_unknown_field
from voicecli.server.validation import ProtocolViolation, _client_violation, _discriminated, _Validator

__all__ = ["build_live_validators", "validate_live_client_event", "validate_live_server_event"]


@functools.cache
def _server_validator() -> _Validator:
    from openai.types.live import ServerEvent

    return _discriminated(ServerEvent)


@functools.cache
def _client_validator() -> _Validator:
    from openai.types.live import ClientEvent

    return _discriminated(ClientEvent)


def build_live_validators() -> None:
    """Build both validators now (importing the types takes a while), not at a client's first event."""
    _client_validator()
    _server_validator()


def validate_live_server_event(event: Mapping[str, Any]) -> None:
    """Raise `ProtocolViolation` unless `event` is a valid GPT-Live `ServerEvent` without unknown fields."""
    try:
        model = _server_validator()(event)
    except pydantic.ValidationError as exc:
        raise ProtocolViolation(f"live server event {event.get('type')!r} is invalid: {exc}") from None
    unknown = first_unknown_field(model)
    if unknown is not None:
        raise ProtocolViolation(
            f"live server event {event.get('type')!r} has an unknown field: {unknown!r}",
            code="unknown_parameter",
            param=unknown,
        )


def validate_live_client_event(event: Any) -> None:
    """Raise `ProtocolViolation` (with the error's `code` and `param`) unless `event` is a valid
    GPT-Live `ClientEvent` without unknown fields."""
    if not isinstance(event, dict):
        raise ProtocolViolation("Invalid type for event: expected an object.", code="invalid_type")
    try:
        model = _client_validator()(event)
    except pydantic.ValidationError as exc:
        raise _client_violation(exc) from None
    unknown = first_unknown_field(model)
    if unknown is not None:
        raise ProtocolViolation(f"Unknown parameter: '{unknown}'.", code="unknown_parameter", param=unknown)
