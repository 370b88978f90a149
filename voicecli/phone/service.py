"""`PhoneService`: what every call of this bridge process shares, and the calls in flight.

It counts the calls in progress so that a shutdown can stop accepting new calls and wait for those in
progress to end (draining) without hanging any up. It also holds who may come in: the verifier of
ACS's tokens (None only in local test mode, on loopback) and the Event Grid webhook's secret. The
routes (`app`, `webhook`) use it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiohttp import web

from voicecli.phone.acs import CallAutomation
from voicecli.phone.auth import AcsTokenVerifier
from voicecli.phone.bridge import BridgeTimings, CallBridge, ClientFactory
from voicecli.phone.calls import CallRecord, CallRegistry
from voicecli.phone.limits import CallLimits
from voicecli.realtime import RealtimeSettings

_log = logging.getLogger("voicecli.phone")


@dataclass
class PhoneService:
    """Everything the routes share: how to reach the model, ACS, and the calls of this process."""

    client_factory: ClientFactory
    settings: RealtimeSettings
    public_url: str = ""
    """Where ACS reaches this bridge (`https://…`); the callback and media URLs are built on it."""
    acs: CallAutomation | None = None
    verifier: AcsTokenVerifier | None = None
    """Checks ACS's token on every media WebSocket and callback; None accepts unsigned ones (local tests)."""
    webhook_secret: str = field(default="", repr=False)
    """What the Event Grid webhook's URL must carry (`?secret=`); empty: the webhook takes nothing."""
    limits: CallLimits = field(default_factory=CallLimits)
    registry: CallRegistry = field(default_factory=CallRegistry)
    greet: bool = True
    timings: BridgeTimings | None = None
    draining: bool = False
    _calls: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)

    @property
    def public_http(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def public_ws(self) -> str:
        """The public URL with the WebSocket scheme ACS needs: https → wss, http → ws."""
        base = self.public_http
        for http, ws in (("https://", "wss://"), ("http://", "ws://")):
            if base.startswith(http):
                return ws + base.removeprefix(http)
        return base

    @property
    def calls_in_progress(self) -> int:
        return len(self._calls)

    @property
    def at_capacity(self) -> bool:
        """`max_calls` calls are answered or in progress: the next one is refused."""
        return max(self.registry.active_count, self.calls_in_progress) >= self.limits.max_calls

    async def serve_call(self, record: CallRecord, socket: web.WebSocketResponse) -> None:
        """Bridge one call to its end; counted, so that `drain()` waits for it."""
        bridge = CallBridge(
            record,
            self.registry,
            socket,
            self.client_factory,
            settings=self.settings,
            greet=self.greet,
            end_call=self.end_call if self.acs is not None else None,
            timings=self.timings,
            limits=self.limits,
        )
        task = asyncio.current_task()
        assert task is not None
        self._calls.add(task)
        try:
            await bridge.run()
        except Exception as exc:  # a bug in one call must not reach the others or the server
            _log.exception("call %s: the bridge failed", record.call_id)
            self.registry.set_state(record, "failed", f"bridge error: {exc}")
        finally:
            self._calls.discard(task)

    async def end_call(self, record: CallRecord) -> None:
        if self.acs is not None and record.connection_id:
            await self.acs.hang_up(record.connection_id)

    async def drain(self) -> None:
        """Take no new calls, and wait until every call in progress has ended by itself."""
        self.draining = True
        while self._calls:
            await asyncio.wait(set(self._calls))  # unlike gather, being cancelled leaves the calls alone

    async def abort(self) -> None:
        """End every call now: their realtime sessions close; nothing is hung up at ACS."""
        self.draining = True
        for task in self._calls:
            task.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)
