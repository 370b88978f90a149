"""The local server's HTTP routes without a socket: a request goes through the app's router to its
handler in this process (aiohttp's `make_mocked_request`), and the handler's response comes back.

`post` is for a test of a route (`started(app)` first when a client with a connect timeout will
call it); `AppSession` stands in for the `aiohttp.ClientSession` the
WebRTC signaling (`voicecli.realtime.webrtc_signaling`) posts with, so the client's reading of a
reply meets the server's own answer. What a real connection adds (the wire, an unreachable port)
stays with the end-to-end tests.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from unittest import mock

import orjson
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from voicecli.server.validation import build_validators


@dataclass(frozen=True)
class AppReply:
    """A route's response as a client would read it."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    async def read(self) -> bytes:
        return self.body


async def post(
    app: web.Application,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    data: bytes | str | None = None,
    json: Any = None,
) -> AppReply:
    """`POST url` (a path, or a full URL whose path is used) handled by `app`, as aiohttp would route it."""
    headers = dict(headers or {})
    body = b""
    if json is not None:
        body = orjson.dumps(json)
        headers.setdefault("Content-Type", "application/json")
    elif data is not None:
        body = data.encode() if isinstance(data, str) else data
    payload = StreamReader(mock.Mock(), 2**16, loop=asyncio.get_running_loop())
    payload.feed_data(body)
    payload.feed_eof()
    headers["Content-Length"] = str(len(body))
    request = make_mocked_request("POST", URL(url).path_qs, headers=headers, app=app, payload=payload)
    response = await app._handle(request)
    assert isinstance(response, web.Response), f"{url} answered with a stream, not a response"
    content = response.body or b""
    assert isinstance(content, bytes | bytearray), f"{url} answered with a payload object, not bytes"
    return AppReply(response.status, CIMultiDictProxy(CIMultiDict(response.headers)), bytes(content))


async def started(app: web.Application) -> web.Application:
    """`app` as `LocalServer.start` leaves it before a client comes: the validators built and the
    startup hooks run (GPT-Live's validators). They take seconds of imports the first time, which
    must not fall inside a client's connect timeout on a loaded machine."""
    await asyncio.to_thread(build_validators)
    app.freeze()
    await app.startup()
    return app


class AppSession:
    """An `aiohttp.ClientSession` for `post` only, whose requests `app` handles without a socket."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.posted: list[str] = []
        """The URLs posted to, in order."""

    def post(self, url: str, *, headers: dict[str, str] | None = None, **body: Any) -> _Posting:
        self.posted.append(url)
        return _Posting(post(self.app, url, headers=headers, **body))


class _Posting:
    """`async with session.post(...) as response:`, as aiohttp spells it."""

    def __init__(self, reply: Any) -> None:
        self._reply = reply

    async def __aenter__(self) -> AppReply:
        return await self._reply

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None
