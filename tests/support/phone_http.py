"""The phone bridge's HTTP routes without a socket: a request goes through the app's router to its
handler as aiohttp would deliver it (`make_mocked_request`), and ACS's Call Automation records what
the bridge asked of it instead of sending it.

What the handlers decide (status, body, call state, log lines) is the same as over loopback, a
WebSocket handshake included up to its 101 (the socket is prepared on a mocked transport, so no
frame can flow); what only a server shows (the status on the wire, the SDK's REST requests, the
media stream's frames) stays tested over real sockets in the same test modules.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from voicecli.phone import auth
from voicecli.phone.acs import CallAutomation

STRANGER_ADDRESS = ("203.0.113.9", 40000)
"""The peer address requests seem to come from (a documentation address: nobody's)."""
WEBSOCKET_UPGRADE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
}
"""The headers of a WebSocket handshake request (RFC 6455's sample key)."""


@pytest.fixture
def fresh_refusal_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused requests are logged once per reason every 10 s, process-wide: a test that reads those
    lines starts from a log no earlier test wrote to. A test module imports it to use it."""
    monkeypatch.setattr(auth, "_refusals", auth._RefusalLog())


@dataclass
class Reply:
    status: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def _payload(body: bytes) -> StreamReader:
    reader = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
    if body:
        reader.feed_data(body)
    reader.feed_eof()
    return reader


def _transport() -> mock.Mock:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda key, default=None: STRANGER_ADDRESS if key == "peername" else default
    return transport


async def request(
    app: web.Application,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """`method path` (with `body` as JSON) handled by `app`'s route for it, as the server would answer."""
    raw = b"" if body is None else json.dumps(body).encode()
    all_headers = {**(headers or {})}
    if raw:
        all_headers |= {"Content-Type": "application/json", "Content-Length": str(len(raw))}
    probe = make_mocked_request(method, path, app=app)
    match_info = await app.router.resolve(probe)
    match_info.add_app(app)
    handled = make_mocked_request(
        method,
        path,
        headers=all_headers,
        app=app,
        match_info=match_info,
        payload=_payload(raw),
        transport=_transport(),
    )
    try:
        response = await match_info.handler(handled)
    except web.HTTPException as refused:
        return Reply(refused.status, refused.text or "")
    text = (response.text or "") if isinstance(response, web.Response) else ""
    return Reply(response.status, text)


class RecordingCallAutomation(CallAutomation):
    """ACS's Call Automation as the bridge uses it, recording each request instead of sending it.

    `answer` returns `conn-1`, `conn-2`, … as ACS returns a call connection id.
    """

    def __init__(self) -> None:  # no SDK client: nothing is sent
        self.requests: list[tuple[str, dict[str, str]]] = []

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.requests]

    async def answer(self, incoming_call_context: str, *, callback_url: str, transport_url: str) -> str:
        context = {"context": incoming_call_context, "callback_url": callback_url, "transport_url": transport_url}
        self.requests.append(("answer", context))
        return f"conn-{self.kinds().count('answer')}"

    async def reject(self, incoming_call_context: str) -> None:
        self.requests.append(("reject", {"context": incoming_call_context}))

    async def hang_up(self, connection_id: str) -> None:
        self.requests.append(("terminate", {"connection_id": connection_id}))

    async def close(self) -> None:
        return None
