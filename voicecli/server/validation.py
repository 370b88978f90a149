"""Check events against the `openai` package's Realtime types, the oracle of the wire protocol.

The server validates every event it receives and every event it sends. Client mistakes become a
`ProtocolViolation` carrying the service's error `code` and `param`; server mistakes are bugs and
surface loudly as the same exception.

The SDK unions are tagged with the SDK's own `PropertyInfo(discriminator=...)`, which pydantic
ignores, so validating against them tries all ~46 members (about 100 µs per event). We rebuild the
top-level unions as pydantic discriminated unions on `type` (a few µs per audio delta), lazily,
because importing `openai.types.realtime` takes over a second: a server builds them when it starts
(`build_validators`), before any client's connect timeout runs.
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Union

import pydantic

from voicecli.server.unknown_fields import SERVICE_FIELDS_MISSING_FROM_SDK, first_unknown_field

__all__ = [
    "MAX_NESTING",
    "MAX_STRING_CHARS",
    "ProtocolViolation",
    "Shape",
    "build_validators",
    "validate_client_event",
    "validate_server_event",
]


class ProtocolViolation(ValueError):
    """An event does not match the Realtime GA protocol (as defined by the `openai` types)."""

    def __init__(self, message: str, *, code: str = "invalid_value", param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


MAX_NESTING = 64
"""How deeply a client event may nest objects and arrays (a tool's JSON schema included): far beyond
any real schema, yet copying, checking and echoing the event (orjson stops at 254) never exhausts
Python's stack."""

MAX_STRING_CHARS = 10_485_760
"""The longest string a client event may hold (base64 audio aside), the OpenAI API's limit on a string
input (10 MiB), refused as the service refuses it (`string_above_max_length`)."""

_Validator = Callable[[Any], pydantic.BaseModel]
Shape = Literal["ga", "beta"]


def _discriminated(union_alias: Any) -> _Validator:
    members = typing.get_args(typing.get_args(union_alias)[0])
    # A union built at run time is a value to a type checker, not a type form: hence the Any.
    union: Any = Annotated[Union[tuple(members)], pydantic.Field(discriminator="type")]  # noqa: UP007
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(union)
    return functools.partial(adapter.validate_python, strict=True)


@functools.cache
def _server_validator(shape: Shape = "ga") -> _Validator:
    if shape == "beta":
        from openai.types.beta.realtime import RealtimeServerEvent as BetaServerEvent

        return _discriminated(BetaServerEvent)
    from openai.types.realtime import RealtimeServerEvent

    return _discriminated(RealtimeServerEvent)


@functools.cache
def _client_validator(shape: Shape = "ga") -> _Validator:
    if shape == "beta":
        from openai.types.beta.realtime import RealtimeClientEvent as BetaClientEvent

        return _discriminated(BetaClientEvent)
    from openai.types.realtime import RealtimeClientEvent

    return _discriminated(RealtimeClientEvent)


def build_validators(shape: Shape = "ga") -> None:
    """Build the protocol's validators now rather than at the first event (the beta ones, for the
    Azure preview route only, stay lazy unless asked for)."""
    _client_validator(shape)
    _server_validator(shape)


@functools.cache
def _item_reference_validator() -> _Validator:
    from openai.types.realtime import ResponseItemReference

    return functools.partial(ResponseItemReference.model_validate, strict=True)


def validate_server_event(event: Mapping[str, Any], shape: Shape = "ga") -> None:
    """Raise `ProtocolViolation` unless `event` is a valid `RealtimeServerEvent` without unknown fields
    (at any depth, apart from what the service sends beyond the SDK's types); `shape="beta"`
    checks against the beta types of `openai.types.beta.realtime` (the Azure preview route)."""
    try:
        model = _server_validator(shape)(event)
    except pydantic.ValidationError as exc:
        raise ProtocolViolation(f"server event {event.get('type')!r} is invalid: {exc}") from None
    unknown = first_unknown_field(model, SERVICE_FIELDS_MISSING_FROM_SDK)
    if unknown is not None:
        raise ProtocolViolation(
            f"server event {event.get('type')!r} has an unknown field: {unknown!r}",
            code="unknown_parameter",
            param=unknown,
        )


def validate_client_event(event: Any, shape: Shape = "ga") -> None:
    """Raise `ProtocolViolation` (with the service's error code and param) unless `event` is valid.

    Beyond `RealtimeClientEvent`, `response.create` may reference existing items in its `input`
    (`{"type": "item_reference", "id": ...}`), as the SDK's send parameters allow (the beta types
    of `shape="beta"` have item references of their own).
    """
    if not isinstance(event, dict):
        raise ProtocolViolation(
            f"Invalid type for event: expected an object, but got {_json_kind(event)} instead.",
            code="invalid_type",
        )
    beyond = _beyond_limits(event)
    if beyond is not None:
        raise beyond
    references = shape == "ga" and event.get("type") == "response.create"
    checked = _without_item_references(event) if references else event
    try:
        model = _client_validator(shape)(checked)
    except pydantic.ValidationError as exc:
        raise _client_violation(exc) from None
    unknown = first_unknown_field(model)
    if unknown is not None:
        raise ProtocolViolation(f"Unknown parameter: '{unknown}'.", code="unknown_parameter", param=unknown)


def _beyond_limits(event: dict[str, Any]) -> ProtocolViolation | None:
    """The service's error for the first place `event` nests deeper than `MAX_NESTING` objects and
    arrays or holds a string (other than base64 audio) longer than `MAX_STRING_CHARS`; None if none.
    Walked with a stack, not recursion, since the point is to refuse what would recurse."""
    pending: list[tuple[Any, str, int]] = [(event, "", 1)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            if len(value) > MAX_STRING_CHARS and not path.endswith("audio"):
                return ProtocolViolation(
                    f"Invalid '{path}': string too long. Expected a string with maximum length "
                    f"{MAX_STRING_CHARS}, but got a string with length {len(value)} instead.",
                    code="string_above_max_length",
                    param=path,
                )
            continue
        if isinstance(value, dict):
            children = [(child, f"{path}.{key}" if path else str(key)) for key, child in value.items()]
        elif isinstance(value, list):
            children = [(child, f"{path}[{index}]") for index, child in enumerate(value)]
        else:
            continue
        if depth > MAX_NESTING:
            return ProtocolViolation(
                f"Invalid '{path}': the event nests more than {MAX_NESTING} levels deep.", param=path
            )
        pending.extend((child, child_path, depth + 1) for child, child_path in children)
    return None


def _without_item_references(event: dict[str, Any]) -> dict[str, Any]:
    response = event.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("input"), list):
        return event
    kept = []
    for index, entry in enumerate(response["input"]):
        if isinstance(entry, dict) and entry.get("type") == "item_reference":
            try:
                reference = _item_reference_validator()(entry)
            except pydantic.ValidationError as exc:
                raise _client_violation(exc, prefix=("response", "input", index)) from None
            unknown = first_unknown_field(reference)
            if unknown is not None:
                param = f"response.input[{index}].{unknown}"
                raise ProtocolViolation(f"Unknown parameter: '{param}'.", code="unknown_parameter", param=param)
        else:
            kept.append(entry)
    return {**event, "response": {**response, "input": kept}}


# --- pydantic errors → the service's error shape -------------------------------------------------

_FIELD = re.compile(r"^[a-z_][a-z0-9_]*$")
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "list", "dict", "object"})
_DISCRIMINATING_FIELDS = frozenset({"type", "role"})
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a decimal",
    "bool_type": "a boolean",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _is_branch(segment: object) -> bool:
    """Pydantic names union members in error locations (`AudioPCM`, `literal['auto']`, `str`)."""
    return isinstance(segment, str) and (not _FIELD.match(segment) or segment in _TYPE_TAGS)


def _client_violation(exc: pydantic.ValidationError, prefix: tuple[Any, ...] = ()) -> ProtocolViolation:
    errors = exc.errors(include_url=False)
    first = errors[0]
    if first["type"] == "union_tag_invalid":
        return ProtocolViolation(
            f"Invalid value: '{first['ctx']['tag']}'. Supported values are: {first['ctx']['expected_tags']}.",
            param="type",
        )
    if first["type"] == "union_tag_not_found":
        return ProtocolViolation("Missing required parameter: 'type'.", code="missing_required_parameter", param="type")
    return _violation_for(_best_error(errors, prefix))


def _best_error(errors: list[Any], prefix: tuple[Any, ...]) -> tuple[dict[str, Any], list[Any]]:
    """Pick the error of the union member the client most likely meant.

    Errors are grouped by the union members named in their location; a group that failed on a
    discriminating field (`type`, `role`) is the wrong member; otherwise fewer errors is closer.
    """
    groups: dict[tuple[str, ...], list[tuple[dict[str, Any], list[Any]]]] = {}
    for error in errors:
        # The first segment of a discriminated-union error location is the event's type tag.
        loc = list(prefix) + list(error["loc"][0 if prefix else 1 :])
        branch = tuple(s for s in loc if _is_branch(s))
        groups.setdefault(branch, []).append((error, [s for s in loc if not _is_branch(s)]))

    def on_discriminator(choice: tuple[dict[str, Any], list[Any]]) -> bool:
        error, path = choice
        return error["type"] in ("literal_error", "missing") and bool(path) and path[-1] in _DISCRIMINATING_FIELDS

    def rank(group: list[tuple[dict[str, Any], list[Any]]]) -> tuple[bool, int]:
        return any(map(on_discriminator, group)), len(group)

    best = min(groups.values(), key=rank)
    # When no member fits, the discriminator itself is the mistake worth reporting.
    return next((choice for choice in best if on_discriminator(choice)), best[0])


def _violation_for(choice: tuple[dict[str, Any], list[Any]]) -> ProtocolViolation:
    error, path = choice
    param = _param(path)
    kind = error["type"]
    if kind == "missing":
        return ProtocolViolation(
            f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
        )
    if kind in ("literal_error", "enum"):
        return ProtocolViolation(
            f"Invalid value: {_show(error['input'])}. Supported values are: {error['ctx']['expected']}.",
            param=param,
        )
    if kind in _EXPECTED:
        return ProtocolViolation(
            f"Invalid type for '{param}': expected {_EXPECTED[kind]}, but got {_json_kind(error['input'])} instead.",
            code="invalid_type",
            param=param,
        )
    return ProtocolViolation(f"Invalid '{param}': {error['msg']}.", param=param)


def _param(path: list[Any]) -> str:
    text = ""
    for segment in path:
        text += f"[{segment}]" if isinstance(segment, int) else f".{segment}" if text else str(segment)
    return text


def _show(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else repr(value)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
