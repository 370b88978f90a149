"""Events checked against the `azure-ai-voicelive` SDK's models, the oracle of the Voice Live protocol.

The SDK's models accept any dictionary, so conformance is checked here: the event's `type` must be
one the SDK knows (it then deserializes to that event's own class, not the base class), and every
field, at every depth the SDK models, must be one of that model's fields. Imported only when the
Voice Live route is used (the SDK is the `voicelive` extra).
"""

from __future__ import annotations

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
