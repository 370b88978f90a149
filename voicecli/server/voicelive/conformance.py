"""Events checked against the `azure-ai-voicelive` SDK's models, the oracle of the Voice Live protocol.

The SDK's models accept any dictionary, so conformance is checked here: the event's `type` must be
one the SDK knows (it then deserializes to that event's own class, not the base class), and every
field, at every depth the SDK models, must be one of that model's fields. An Azure voice (a union
the SDK leaves a plain dictionary) is checked against its own model by its `type`, required fields
too, so a custom voice without its `endpoint_id` or a personal voice without its `model` is refused.
Imported only when the Voice Live route is used (the SDK is the `voicelive` extra).
"""

from __future__ import annotations

import types
import typing
from typing import Any

from voicecli.server.validation import ProtocolViolation

__all__ = ["check_client_event", "check_server_event"]


def check_client_event(event: dict[str, Any]) -> None:
    """Raise `ProtocolViolation` (the service's `error` shape) for a client event the SDK does not model."""
    try:
        from azure.ai.voicelive.models import ClientEvent
    except ImportError:
        raise ProtocolViolation(
            "The local server's Voice Live route needs the azure-ai-voicelive package: "
            "pip install 'voicecli[voicelive]'.",
            code="server_error",
        ) from None
    _check(ClientEvent, event)


def check_server_event(event: dict[str, Any]) -> None:
    """Raise `ProtocolViolation` for a server event the SDK does not model: a bug of the local server."""
    from azure.ai.voicelive.models import ServerEvent

    _check(ServerEvent, event)


def _check(base: Any, event: dict[str, Any]) -> None:
    model = base._deserialize(event, [])  # the SDK's own parsing, as its connection's recv() does
    if type(model) is base:
        raise ProtocolViolation(f"Unknown event type {event.get('type')!r}.", code="invalid_event", param="type")
    _known_fields(model, event, "")
    session = event.get("session")
    if isinstance(session, dict) and isinstance(session.get("voice"), dict):
        _check_azure_voice(session["voice"], "session.voice.")


def _check_azure_voice(voice: dict[str, Any], where: str) -> None:
    """An Azure voice against the SDK's model of its `type`: known fields, and every required one present."""
    from azure.ai.voicelive.models import AzureVoice

    if voice.get("type") not in AzureVoice.__mapping__:
        return  # an OpenAI voice object, or a type the SDK does not model as an Azure voice
    model = AzureVoice._deserialize(voice, [])
    _known_fields(model, voice, where)
    for name in _required_fields(type(model)):
        if name not in voice:
            param = f"{where}{name}"
            raise ProtocolViolation(
                f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
            )


def _required_fields(model_class: type) -> list[str]:
    """The wire names of the fields the SDK types without `Optional`."""
    annotations: dict[str, Any] = {}
    for klass in reversed(model_class.__mro__):
        annotations.update(getattr(klass, "__annotations__", {}))
    fields = model_class._attr_to_rest_field  # type: ignore[attr-defined]
    return [field._rest_name for name, field in fields.items() if not _optional(annotations.get(name))]


def _optional(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def _known_fields(model: Any, data: dict[str, Any], path: str) -> None:
    fields = {field._rest_name: name for name, field in type(model)._attr_to_rest_field.items()}
    for key, value in data.items():
        where = f"{path}{key}"
        if key not in fields:
            raise ProtocolViolation(f"Unknown parameter: '{where}'.", code="unknown_parameter", param=where)
        parsed = getattr(model, fields[key])
        if isinstance(value, dict) and _is_model(parsed):
            _known_fields(parsed, value, f"{where}.")
        elif isinstance(value, list) and isinstance(parsed, list):
            for index, (entry, parsed_entry) in enumerate(zip(value, parsed, strict=False)):
                if isinstance(entry, dict) and _is_model(parsed_entry):
                    _known_fields(parsed_entry, entry, f"{where}[{index}].")


def _is_model(value: Any) -> bool:
    return hasattr(type(value), "_attr_to_rest_field")
