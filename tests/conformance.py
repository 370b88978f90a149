"""Checks our wire traffic against the `openai` package's own event types (the oracle)."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter


@functools.cache
def _client_adapter() -> TypeAdapter[Any]:
    from openai.types.realtime import RealtimeClientEvent

    return TypeAdapter(RealtimeClientEvent)


def assert_valid_client_event(payload: dict[str, Any]) -> None:
    """Fail unless `payload` is a valid GA client event with no unknown top-level keys."""
    model = _client_adapter().validate_python(payload)
    assert not (model.model_extra or {}), f"unknown keys in {payload['type']}: {sorted(model.model_extra or {})}"
