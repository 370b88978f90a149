"""Checks our wire traffic against the `openai` package's own event types (the oracle).

It uses the local server's validation, so the tests and the server judge traffic the same way:
full validation, and unknown fields refused at any depth, as the service does.
"""

from __future__ import annotations

from typing import Any

from voicecli.server.validation import ProtocolViolation, Shape, validate_client_event


def assert_valid_client_event(payload: dict[str, Any], shape: Shape = "ga") -> None:
    """Fail unless `payload` is a valid client event (GA, or beta on Azure's preview route) with no
    unknown field at any depth."""
    try:
        validate_client_event(payload, shape)
    except ProtocolViolation as violation:
        raise AssertionError(
            f"{payload.get('type')}: {violation.code} at {violation.param}: {violation.message}"
        ) from None
