"""The two HTTP calls that set up a realtime WebRTC call (OpenAI and Azure GA alike).

1. `POST {base}/realtime/client_secrets` with the long-lived credential and `{"session": {...}}`
   mints an ephemeral key (`value`) that carries the session configuration.
2. `POST {base}/realtime/calls` with `Authorization: Bearer <ephemeral key>`, `Content-Type:
   application/sdp` and the SDP offer; the reply is `201` with the SDP answer as its body and the
   call's URL in `Location`.

GPT-Live sets up its call in one request (`start_live_call`): `POST {base}/live/sessions` with the
long-lived credential and JSON `{"session": {...}, "transport": {"type": "webrtc", "sdp": <offer>}}`;
the reply is JSON `{"session": {"id"}, "transport": {"type": "webrtc", "sdp": <answer>}}`.

aiohttp is used rather than the `openai` SDK: the SDK posts the offer as multipart form data and
knows only bearer auth, while Azure keys travel in an `api-key` header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from voicecli.realtime.client import RealtimeConnectionError


@dataclass(frozen=True, slots=True)
class CallAnswer:
    sdp: str
    location: str | None


async def start_call(
    http: aiohttp.ClientSession,
    base_url: str,
    credential_headers: dict[str, str],
    session: dict[str, Any],
    offer_sdp: str,
) -> CallAnswer:
    """Mint an ephemeral key for `session`, then exchange the SDP offer for the service's answer."""
    base_url = base_url.rstrip("/")
    secret = await _post(http, f"{base_url}/realtime/client_secrets", credential_headers, json={"session": session})
    try:
        ephemeral_key = orjson.loads(secret.body)["value"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise RealtimeConnectionError(f"{base_url}/realtime/client_secrets sent no client secret") from exc
    headers = {"Authorization": f"Bearer {ephemeral_key}", "Content-Type": "application/sdp"}
    answer = await _post(http, f"{base_url}/realtime/calls", headers, data=offer_sdp.encode())
    return CallAnswer(sdp=answer.body.decode("utf-8", "replace"), location=answer.location)


async def start_live_call(
    http: aiohttp.ClientSession,
    base_url: str,
    credential_headers: dict[str, str],
    session: dict[str, Any],
    offer_sdp: str,
) -> CallAnswer:
    """Create a GPT-Live session carried by a WebRTC call; its location is the session's id."""
    url = f"{base_url.rstrip('/')}/live/sessions"
    body = {"session": session, "transport": {"type": "webrtc", "sdp": offer_sdp}}
    reply = await _post(http, url, credential_headers, json=body)
    try:
        created = orjson.loads(reply.body)
        answer, session_id = created["transport"]["sdp"], created["session"]["id"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise RealtimeConnectionError(f"{url} sent no SDP answer") from exc
    if not isinstance(answer, str) or not isinstance(session_id, str):
        raise RealtimeConnectionError(f"{url} sent no SDP answer")
    return CallAnswer(sdp=answer, location=session_id)


@dataclass(frozen=True, slots=True)
class _Reply:
    body: bytes
    location: str | None


async def _post(http: aiohttp.ClientSession, url: str, headers: dict[str, str], **body: Any) -> _Reply:
    try:
        async with http.post(url, headers=headers, **body) as response:
            content = await response.read()
            if response.status >= 400:
                hint = " (check the API key)" if response.status in (401, 403) else ""
                raise RealtimeConnectionError(
                    f"{url} refused the request: HTTP {response.status}{hint}: {_error_message(content)}"
                )
            return _Reply(content, response.headers.get("Location"))
    except aiohttp.ClientError as exc:
        raise RealtimeConnectionError(f"cannot reach the realtime service at {url}: {exc}") from exc


def _error_message(content: bytes) -> str:
    """The `error.message` of the service's JSON error body, or the start of whatever it sent."""
    try:
        message = orjson.loads(content)["error"]["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return content[:200].decode("utf-8", "replace").strip() or "(no details)"
    return str(message)
