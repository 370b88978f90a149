"""Check GPT-Live events against `openai.types.live`, the oracle of that protocol, both ways.

Like the Realtime checks (`voicecli.server.validation`): the SDK's unions are rebuilt as pydantic
discriminated unions on `type`, and fields the types do not know are refused at any depth
(`unknown_parameter`, with the dotted path as `param`), since the SDK's models accept them silently.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import pydantic

from voicecli.server.unknown_fields import first_unknown_field
from voicecli.server.validation import ProtocolViolation, _client_violation, _discriminated, _Validator

__all__ = [
    "build_live_validators",
    "validate_live_client_event",
    "validate_live_create",
    "validate_live_create_response",
    "validate_live_server_event",
]


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


@functools.cache
def _create_validator() -> pydantic.TypeAdapter[Any]:
    from openai.types.live.live_create_params import LiveCreateParams

    return pydantic.TypeAdapter(LiveCreateParams)


def validate_live_create(body: Any) -> dict[str, Any]:
    """The body of a WebRTC `POST …/live/sessions` checked against the SDK's `LiveCreateParams`; raise
    `ProtocolViolation` for a bad value or a field the types do not know, at any depth. (The params
    are TypedDicts, which pydantic validates by dropping unknown keys: what it dropped is unknown.)"""
    if not isinstance(body, dict):
        raise ProtocolViolation("The body must be a JSON object.", code="invalid_type")
    try:
        checked: dict[str, Any] = _materialized(_create_validator().validate_python(body))
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        param = ".".join(f"[{part}]" if isinstance(part, int) else str(part) for part in first["loc"]).replace(
            ".[", "["
        )
        if first["type"] == "missing":
            raise ProtocolViolation(
                f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
            ) from None
        raise ProtocolViolation(f"Invalid value for '{param}': {first['msg']}.", param=param) from None
    unknown = next(_dropped(body, checked, ""), None)
    if unknown is not None:
        raise ProtocolViolation(f"Unknown parameter: '{unknown}'.", code="unknown_parameter", param=unknown)
    return checked


def validate_live_create_response(body: Mapping[str, Any]) -> None:
    """Raise `ProtocolViolation` unless `body` is a valid `LiveCreateResponse` without unknown fields (a server bug)."""
    from openai.types.live import LiveCreateResponse

    try:
        model = LiveCreateResponse.model_validate(body)
    except pydantic.ValidationError as exc:
        raise ProtocolViolation(f"live session answer is invalid: {exc}") from None
    unknown = first_unknown_field(model)
    if unknown is not None:
        raise ProtocolViolation(f"live session answer has an unknown field: {unknown!r}", param=unknown)


def _materialized(value: Any) -> Any:
    """The validated value with pydantic's lazy iterables (`Iterable[...]` fields) turned into lists;
    iterating them validates their items."""
    if isinstance(value, dict):
        return {key: _materialized(item) for key, item in value.items()}
    if isinstance(value, list | tuple) or type(value).__name__ == "ValidatorIterator":
        return [_materialized(item) for item in value]
    return value


def _dropped(sent: Any, kept: Any, path: str) -> Iterator[str]:
    """Dotted paths present in `sent` but not in its validated form `kept`."""
    if isinstance(sent, dict) and isinstance(kept, dict):
        for key, value in sent.items():
            dotted = f"{path}.{key}" if path else str(key)
            if key not in kept:
                yield dotted
            else:
                yield from _dropped(value, kept[key], dotted)
    elif isinstance(sent, list) and isinstance(kept, list):
        for index, (value, validated) in enumerate(zip(sent, kept, strict=False)):
            yield from _dropped(value, validated, f"{path}[{index}]")
