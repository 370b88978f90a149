"""A realtime client whose "service" is the test itself: no socket, no server, no clock.

`MemoryClient` is a `RealtimeClient` transport that keeps what the client sends in `sent` and lets a
test deliver service events with `arrive`, so the client's behaviour (its protocol session, tools,
history) is tested by feeding it events, in milliseconds.
"""

from __future__ import annotations

from typing import Any

from voicecli.realtime import RealtimeClient, protocol

SESSION_CREATED = {"type": "session.created", "event_id": "event_0", "session": {"id": "sess_memory"}}


class MemoryClient(RealtimeClient):
    transport = "memory"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[dict[str, Any]] = []

    async def arrive(self, payload: dict[str, Any]) -> None:
        """The service sends one event (as the WebSocket transport would parse it)."""
        await self._dispatch(protocol.parse_server_event(payload))

    def sent_types(self) -> list[str]:
        return [payload["type"] for payload in self.sent]

    async def _open(self) -> None:
        await self.arrive(SESSION_CREATED)

    async def _send_payload(self, payload: dict[str, Any]) -> None:
        self.sent.append(payload)

    async def _close(self) -> None:
        pass
