"""What the local server's HTTP call endpoints share: the service's JSON errors, and answering an offer in time.

Kept free of aiortc, so a server only ever used over WebSocket imports it with its routes and starts fast.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from aiohttp import web

__all__ = ["ANSWER_TIMEOUT_S", "answer_or_refuse", "json_error"]

ANSWER_TIMEOUT_S = 10.0
_log = logging.getLogger("voicecli.server")


class _Answering(Protocol):
    def answer(self, offer_sdp: str) -> Awaitable[str]: ...

    def close(self, reason: str) -> Awaitable[None]: ...


def json_error(
    status: int, code: str | None, message: str, param: str | None = None, *, kind: str = "invalid_request_error"
) -> web.Response:
    """The service's error body: `{"error": {message, type, param, code}}`."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return web.json_response(body, status=status, dumps=dumps)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def answer_or_refuse(
    call: _Answering, offer: str, *, label: str, forget: Callable[[], object], param: str | None = None
) -> str | web.Response:
    """The call's SDP answer, or the error response to send; every failure closes the call and frees its
    slot (`forget`), even one while closing it. `param` names the offer in a 400; `label` the call in the log."""
    answer = None
    try:
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            answer = await call.answer(offer)
    except (ValueError, TimeoutError) as exc:
        return json_error(400, "invalid_offer", f"The SDP offer cannot be answered: {exc}.", param)
    except Exception:
        _log.exception("%s: answering the offer failed", label)
        return json_error(
            500, "server_error", "The server had an error while answering the offer.", kind="server_error"
        )
    finally:
        if answer is None:
            try:
                await call.close("offer refused")
            finally:
                forget()
    return answer
