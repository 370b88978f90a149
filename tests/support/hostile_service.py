"""A realtime service that misbehaves on purpose, on 127.0.0.1: each test writes what it does.

The local server's fault switches cover faults of a well-meaning service; these are the things a
hostile or broken gateway does (closing during the handshake, quoting keys, sending escapes).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from websockets.asyncio.server import ServerConnection, serve

Behaviour = Callable[[ServerConnection], Awaitable[None]]


@dataclass
class HostileService:
    """Where the service listens and how many connections it has accepted."""

    port: int = 0
    connections: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ws_base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def hostile_service(behaviour: Behaviour) -> AsyncIterator[HostileService]:
    """Serve `behaviour` for every connection until the block ends."""
    service = HostileService()

    async def handler(connection: ServerConnection) -> None:
        service.connections += 1
        await behaviour(connection)

    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        service.port = next(iter(server.sockets)).getsockname()[1]
        yield service


def session_created(session_id: str = "sess_hostile") -> bytes:
    return orjson.dumps(
        {
            "type": "session.created",
            "event_id": "event_1",
            "session": {"id": session_id, "object": "realtime.session", "type": "realtime", "model": "gpt-realtime"},
        }
    )


async def events_until(connection: ServerConnection, event_type: str) -> dict[str, Any]:
    """Read client events until one of `event_type` arrives; return it."""
    async for raw in connection:
        event = orjson.loads(raw)
        if event.get("type") == event_type:
            return dict(event)
    raise ConnectionError(f"the client closed before sending {event_type}")


def response_started(response_id: str = "resp_1", item_id: str = "item_a") -> list[bytes]:
    """`response.created` and the assistant item it speaks into."""
    return [
        orjson.dumps({"type": "response.created", "event_id": "event_2", "response": {"id": response_id}}),
        orjson.dumps(
            {
                "type": "response.output_item.added",
                "event_id": "event_3",
                "response_id": response_id,
                "output_index": 0,
                "item": {"id": item_id, "type": "message", "role": "assistant", "content": []},
            }
        ),
    ]


def audio_delta(samples: int, response_id: str = "resp_1", item_id: str = "item_a", level: int = 3000) -> bytes:
    """One `response.output_audio.delta` of `samples` samples of a square wave at `level`."""
    pcm = np.where(np.arange(samples) % 48 < 24, level, -level).astype("<i2")
    return orjson.dumps(
        {
            "type": "response.output_audio.delta",
            "event_id": "event_audio",
            "response_id": response_id,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "delta": base64.b64encode(pcm.tobytes()).decode("ascii"),
        }
    )
