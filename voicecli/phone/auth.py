"""Only ACS gets in: the JWT that ACS signs every media WebSocket request and mid-call callback with.

ACS publishes an OpenID configuration whose `jwks_uri` lists its signing keys. A request's
`Authorization: Bearer` token must be signed by one of them (RS256), name ACS as its issuer and the
operator's ACS resource as its audience, and be unexpired; anything else is refused before a
realtime session exists. The keys are fetched without blocking the event loop (one fetch at a
time), kept for an hour, and fetched again early when a token names a key not seen yet, but at most
once a minute, so that made-up key ids cannot make the bridge hammer the key endpoint.

Where the keys come from is a constructor argument only (no setting, flag or variable names it):
tests point it at a key server on loopback, or hand it the key endpoint's answers in memory
(`fetch_json`); either way nothing but https or loopback http URLs is accepted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

import aiohttp
from aiohttp import web

from voicecli.phone.acs import INSTALL_HINT, PhoneSetupError

ACS_OPENID_CONFIG_URL = "https://acscallautomation.communication.azure.com/calling/.well-known/acsopenidconfiguration"
ACS_ISSUER = "https://acscallautomation.communication.azure.com"
KEYS_TTL_S = 3600.0
MIN_REFETCH_S = 60.0
"""A token naming an unknown key fetches the keys again at most this often."""
LEEWAY_S = 30
"""Clock skew allowed between ACS and this machine when checking `exp` and `nbf`."""
MAX_TOKEN_CHARS = 8192
FETCH_TIMEOUT_S = 10.0
_log = logging.getLogger("voicecli.phone")

FetchJson = Callable[[str], Awaitable[Any]]
"""Gets a URL's JSON; raises `aiohttp.ClientError`, `TimeoutError` or `ValueError` when it cannot."""


class TokenRefused(Exception):
    """The request is not from ACS; the message says why in a few words (never the token)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_key_url(url: str, what: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme == "https" and parsed.hostname:
        return
    if parsed.scheme == "http" and parsed.hostname and is_loopback(parsed.hostname):
        return
    raise PhoneSetupError(f"{what} {url!r}: ACS keys are fetched over https (or from loopback, for tests) only")


class AcsTokenVerifier:
    """Checks ACS's bearer tokens against ACS's published keys; see the module doc."""

    def __init__(
        self, audience: str, *, openid_config_url: str = ACS_OPENID_CONFIG_URL, fetch_json: FetchJson | None = None
    ) -> None:
        """`fetch_json` replaces the HTTP fetch of the keys (tests serve them in memory); the URLs are checked alike."""
        try:
            import jwt
        except ImportError:
            raise PhoneSetupError(f"checking ACS's tokens needs PyJWT; {INSTALL_HINT}") from None
        if not audience:
            raise PhoneSetupError("checking ACS's tokens needs the ACS resource id ([phone] acs_resource_id)")
        _check_key_url(openid_config_url, "the ACS OpenID configuration")
        self._jwt = jwt
        self.audience = audience
        self.openid_config_url = openid_config_url
        self._keys: dict[str, Any] = {}
        self._fetched_at = -KEYS_TTL_S
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._fetch_json = fetch_json or self._get_json
        self.fetches = 0
        """How often the keys were fetched (the tests and the benchmark read it)."""

    async def verify(self, authorization: str) -> dict[str, Any]:
        """The token's claims when `authorization` is `Bearer <a valid ACS token>`; `TokenRefused` otherwise."""
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenRefused("no bearer token")
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRefused("token too long")
        jwt = self._jwt
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("malformed token") from None
        key_id = header.get("kid")
        if not isinstance(key_id, str) or not key_id:
            raise TokenRefused("token without a key id")
        key = await self._key(key_id)
        try:
            return dict(
                jwt.decode(
                    token,
                    key,
                    algorithms=["RS256"],
                    audience=self.audience,
                    issuer=ACS_ISSUER,
                    leeway=LEEWAY_S,
                    options={"require": ["exp", "iss", "aud"]},
                )
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("expired token") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused("token for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused("token from another issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("bad signature") from None
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"invalid token ({type(exc).__name__})") from None

    async def _key(self, key_id: str) -> Any:
        if self._lock.locked() or self._needs_fetch(key_id):  # a fetch under way: wait for its keys
            async with self._lock:
                if self._needs_fetch(key_id):
                    await self._refresh()
        key = self._keys.get(key_id)
        if key is None:
            raise TokenRefused("unknown signing key")
        return key

    def _needs_fetch(self, key_id: str) -> bool:
        age = time.monotonic() - self._fetched_at
        return age >= KEYS_TTL_S or (key_id not in self._keys and age >= MIN_REFETCH_S)

    async def _refresh(self) -> None:
        """Fetch the keys; a failure keeps the keys already known (and is retried a minute later)."""
        self.fetches += 1
        try:
            config = await self._fetch_json(self.openid_config_url)
            jwks_uri = config.get("jwks_uri") if isinstance(config, dict) else None
            if not isinstance(jwks_uri, str):
                raise TokenRefused("ACS's OpenID configuration has no jwks_uri")
            _check_key_url(jwks_uri, "jwks_uri")
            key_set = self._jwt.PyJWKSet.from_dict(await self._fetch_json(jwks_uri))
        except (aiohttp.ClientError, TimeoutError, ValueError, PhoneSetupError, self._jwt.PyJWTError) as exc:
            self._fetched_at = time.monotonic()
            if not self._keys:
                raise TokenRefused(f"ACS's signing keys are unavailable ({type(exc).__name__})") from None
            return
        self._keys = {key.key_id: key.key for key in key_set.keys if key.key_id}
        self._fetched_at = time.monotonic()

    async def _get_json(self, url: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S))
        async with self._session.get(url) as response:
            response.raise_for_status()
            return await response.json(content_type=None)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class _RefusalLog:
    """At most one log line per reason every `every_s`, with how many were left out: a crowd of
    strangers does not flood the operator's log."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def log(self, what: str, remote: str, reason: str) -> None:
        now = time.monotonic()
        if now - self._last.get(reason, float("-inf")) < self.every_s:
            self._left_out[reason] = self._left_out.get(reason, 0) + 1
            return
        self._last[reason] = now
        left_out = self._left_out.pop(reason, 0)
        more = f" ({left_out} more refused for this reason since the last line)" if left_out else ""
        _log.warning("refused a %s from %s: %s%s", what, remote, reason, more)


_refusals = _RefusalLog()


def log_refusal(what: str, remote: str, reason: str) -> None:
    """Say in the log that a request was refused, throttled per reason: knocking costs a stranger
    nothing, so it must not cost the operator a flooded log either."""
    _refusals.log(what, remote, reason)


async def require_acs_token(verifier: AcsTokenVerifier | None, request: web.Request, what: str) -> None:
    """Let the request on only with a valid ACS token (any request when `verifier` is None: local tests).

    Refused with 401 before anything else happens for it: no call record, no realtime session.
    """
    if verifier is None:
        return
    try:
        await verifier.verify(request.headers.get("Authorization", ""))
    except TokenRefused as exc:
        log_refusal(what, request.remote or "?", str(exc))
        raise web.HTTPUnauthorized(
            text="this endpoint takes requests from Azure Communication Services only\n"
        ) from None
