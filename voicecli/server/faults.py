"""Fault switches: make the local server misbehave on purpose, so clients can be tested for it.

A `Faults` value belongs to a `LocalServer`; each connection gets a `FaultPlan` that fires each
switch at most once, counted in server events sent on that connection (`session.created` is 1).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "EXPIRED_CLOSE_CODE",
    "EXPIRED_MESSAGE",
    "MALFORMED_FRAME",
    "MISSHAPEN_FRAMES",
    "Fault",
    "FaultPlan",
    "Faults",
    "expired_message",
    "injected_error",
    "injected_rate_limits",
]

# A frame cut off in the middle, as a broken proxy might deliver it.
MALFORMED_FRAME = b'{"type": "response.output_audio.delta", "event_id": "event_'
MISSHAPEN_FRAMES = (
    b'{"type": "error", "error": "boom"}',
    b'{"type": "output_audio_buffer.started", "event_id": "event_misshapen"}',
    b'{"type": "response.output_audio_transcript.delta", "delta": 7}',
)
"""Valid JSON of known types with the wrong shape: fields missing or of the wrong kind."""
EXPIRED_MESSAGE = "Your session hit the maximum duration of 60 minutes."
EXPIRED_CLOSE_CODE = 1001  # going away, as the service closes an expired session


def expired_message(lifetime_s: float) -> str:
    """The service's words at its limit (60 minutes), or the same sentence for another lifetime."""
    if lifetime_s == 3600:
        return EXPIRED_MESSAGE
    number, unit = (lifetime_s / 60, "minute") if lifetime_s % 60 == 0 else (lifetime_s, "second")
    amount = f"{number:g} {unit}{'' if number == 1 else 's'}"
    return f"Your session hit the maximum duration of {amount}."


@dataclass
class Faults:
    """What to break. Event counts are per connection; None switches a fault off."""

    drop_after_events: int | None = None
    drop_close_code: int | None = None  # None: cut the TCP connection, the client sees 1006
    malformed_after_events: int | None = None
    misshapen_after_events: int | None = None  # send `MISSHAPEN_FRAMES`, unchecked
    delay_per_event: float = 0.0  # seconds before each event is sent
    error_after_events: int | None = None  # inject a `server_error` event
    rate_limits_after_events: int | None = None  # inject `rate_limits.updated`
    expire_after_seconds: float | None = None  # `error` session_expired, then close 1001
    server_error_on_response: int | None = None  # the Nth `response.create` gets `server_error`, then close 1011
    rate_limits_on_response: bool = False  # `rate_limits.updated` after every `response.create`
    connections: int | None = None  # apply to the first N connections only (None: all)

    @classmethod
    def parse(cls, specs: list[str]) -> Faults:
        """Faults from `NAME=VALUE` texts (`voicecli serve --fault drop_after_events=40`);
        `ValueError` naming the problem and the known names otherwise."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for spec in specs:
            name, sep, text = spec.partition("=")
            if name not in known or not sep:
                raise ValueError(f"--fault {spec!r}: expected NAME=VALUE with NAME one of {', '.join(known)}")
            kind = float if name == "delay_per_event" or name == "expire_after_seconds" else int
            if name == "rate_limits_on_response":
                if text not in ("true", "false"):
                    raise ValueError(f"--fault {spec!r}: expected true or false")
                values[name] = text == "true"
                continue
            try:
                values[name] = kind(text)
            except ValueError:
                raise ValueError(f"--fault {spec!r}: expected a number") from None
        return cls(**values)


class Fault(enum.Enum):
    MALFORMED = "malformed"
    MISSHAPEN = "misshapen"
    ERROR = "error"
    RATE_LIMITS = "rate_limits"
    DROP = "drop"


class FaultPlan:
    """The faults of one connection, each fired once, in a fixed order (a drop comes last)."""

    def __init__(self, faults: Faults, connection_number: int) -> None:
        active = faults.connections is None or connection_number <= faults.connections
        self.delay = faults.delay_per_event if active else 0.0
        self.expire_after = faults.expire_after_seconds if active else None
        self.drop_close_code = faults.drop_close_code
        self.rate_limits_on_response = faults.rate_limits_on_response and active
        self._error_on_response = faults.server_error_on_response if active else None
        self._responses_asked = 0
        schedule = {
            Fault.MALFORMED: faults.malformed_after_events,
            Fault.MISSHAPEN: faults.misshapen_after_events,
            Fault.ERROR: faults.error_after_events,
            Fault.RATE_LIMITS: faults.rate_limits_after_events,
            Fault.DROP: faults.drop_after_events,
        }
        self._pending = {fault: count for fault, count in schedule.items() if active and count is not None}

    def due(self, sent: int) -> list[Fault]:
        """The faults to fire now that `sent` events went out on this connection."""
        fired = [fault for fault, count in self._pending.items() if sent >= count]
        for fault in fired:
            del self._pending[fault]
        return fired

    def fails_response(self) -> bool:
        """Count one `response.create`; True when this one gets the `server_error` fault."""
        self._responses_asked += 1
        return self._responses_asked == self._error_on_response


def injected_error() -> dict[str, Any]:
    """A non-fatal server error, shaped like the service's (the client must carry on)."""
    return {
        "type": "error",
        "error": {
            "type": "server_error",
            "code": "server_error",
            "message": "The server had an error while processing your request (injected fault).",
            "param": None,
            "event_id": None,
        },
    }


def injected_rate_limits() -> dict[str, Any]:
    return {
        "type": "rate_limits.updated",
        "rate_limits": [
            {"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 0.06},
            {"name": "tokens", "limit": 50000, "remaining": 49000, "reset_seconds": 1.2},
        ],
    }
