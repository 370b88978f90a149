"""Server events as the transports see them: the `Send` coroutine type and the `error` shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Send", "error_event"]

Send = Callable[[dict[str, Any]], Awaitable[None]]
"""Delivers one server event (a JSON-ready dict) to the client."""


def error_event(
    code: str | None,
    message: str,
    *,
    param: str | None = None,
    event_id: str | None = None,
    error_type: str = "invalid_request_error",
) -> dict[str, Any]:
    """An `error` server event in the service's shape (`event_id` names the client event at fault)."""
    return {
        "type": "error",
        "error": {"type": error_type, "code": code, "message": message, "param": param, "event_id": event_id},
    }
