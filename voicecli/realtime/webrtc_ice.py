"""Keep WebRTC traffic on loopback when both peers are on this machine; say why ICE did not connect.

aioice gathers host candidates from every network interface *except* loopback
(`aioice.ice.get_host_addresses`), so a call between two local peers would travel over the
machine's network address. `loopback_candidates()` makes the gathering that runs inside it offer
127.0.0.1 only. It works through a context variable read by a wrapper around aioice's address
lookup: asyncio tasks copy the context when they are created, so the gathering tasks aiortc starts
inside `setLocalDescription` see the restriction, while any other peer connection of the process
gathering at the same time keeps aioice's normal behaviour.

`no_stun()` is the matching configuration: no STUN server, so no packet ever goes to the public
STUN server aiortc uses by default. Host candidates are all a call needs, on loopback and with the
service (whose media servers have public addresses and learn ours from the checks we send).

`why_not_open()` turns the states of a call that did not open in time into what a user can act on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from urllib.parse import urlsplit

import aioice.ice
from aiortc import RTCConfiguration

from voicecli.realtime.hosts import is_loopback_host

LOOPBACK_ADDRESS = "127.0.0.1"

_loopback_only: ContextVar[bool] = ContextVar("voicecli_ice_loopback_only", default=False)
_aioice_host_addresses = aioice.ice.get_host_addresses


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    if _loopback_only.get():
        return [LOOPBACK_ADDRESS] if use_ipv4 else []
    return _aioice_host_addresses(use_ipv4, use_ipv6)


@contextlib.contextmanager
def loopback_candidates(enabled: bool = True) -> Iterator[None]:
    """Within this block (and tasks started in it), ICE gathers only 127.0.0.1 when `enabled`."""
    aioice.ice.get_host_addresses = _host_addresses  # idempotent; the same for everyone outside the block
    token = _loopback_only.set(enabled)
    try:
        yield
    finally:
        _loopback_only.reset(token)


def no_stun() -> RTCConfiguration:
    """A peer-connection configuration without aiortc's default (public) STUN server."""
    return RTCConfiguration(iceServers=[])


def is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname)


_BUSY = "this machine or the service was too busy to answer in time (try again, or raise connect_timeout_s)"
_UDP_BLOCKED = "a firewall blocks UDP between here and the service (WebRTC needs it; the WebSocket transport does not)"


def why_not_open(url: str, ice_state: str, connection_state: str, waited_s: float) -> str:
    """Why a call set up at `url` has no open data channel after `waited_s`: what was seen, then the
    likely causes, most likely first. ICE still checking when time runs out is what both a busy
    machine and blocked UDP look like (aioice retries a check for far longer than the connect
    timeout: its retries back off from 0.5 s to 16 s); on loopback no firewall usually sits in
    between, so there busy comes first."""
    if ice_state in ("completed", "connected"):
        link = "data channel" if connection_state == "connected" else "encrypted link (DTLS)"
        seen = f"ICE {ice_state}, so UDP gets through, but the {link} had not opened"
        causes = [_BUSY, "the service did not open the events channel"]
    else:
        seen = f"ICE {'' if ice_state == 'failed' else 'still '}{ice_state}, no connectivity check answered"
        causes = [_BUSY, _UDP_BLOCKED] if is_loopback_url(url) else [_UDP_BLOCKED, _BUSY]
    numbered = "; ".join(f"{n}) {cause}" for n, cause in enumerate(causes, 1))
    return f"the WebRTC connection to {url} did not open in {waited_s:.1f} s: {seen}. Likely causes: {numbered}"
