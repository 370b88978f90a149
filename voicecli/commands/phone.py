"""`voicecli phone`: run the ACS phone bridge until Ctrl-C, which drains instead of hanging up.

The first Ctrl-C (or SIGTERM, as a load balancer's rollout sends) closes the listening socket,
answers new calls and `/health` with 503, and waits for the calls in progress to end by
themselves; a second one ends them at once (their realtime sessions close, no call is hung up at
ACS). The ACS connection string comes only from `ACS_CONNECTION_STRING` and is never printed.

Who gets in: with ACS, every media WebSocket and callback must carry ACS's signed token for the
`[phone] acs_resource_id`, and the Event Grid webhook the secret in `ACS_WEBHOOK_SECRET`. Without
ACS and on loopback only, the bridge is in local test mode: it takes unsigned media connections
(`voicecli phone --dial`), and says so. Calls reconnect after a drop as `talk` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlparse

from aiohttp import web

from voicecli.config import AppConfig, ConfigError
from voicecli.conversation.approvals import set_up_approvals
from voicecli.conversation.mcp_config import configured_mcp_servers
from voicecli.conversation.mcp_tools import McpTools
from voicecli.conversation.providers import build_client, session_continuity, session_settings, usage_meter
from voicecli.conversation.tools import configured_tools
from voicecli.phone.acs import CallAutomation
from voicecli.phone.app import create_phone_app
from voicecli.phone.auth import AcsTokenVerifier, is_loopback
from voicecli.phone.bridge import ClientFactory
from voicecli.phone.calls import CallRecord, CallRegistry
from voicecli.phone.limits import CallLimits
from voicecli.phone.service import PhoneService
from voicecli.phone.webhook import SECRET_PARAMETER
from voicecli.realtime import RealtimeClient
from voicecli.realtime.functions import ToolFunction, ToolRegistry
from voicecli.ui.logs import configure_logging

CONNECTION_STRING_ENV = "ACS_CONNECTION_STRING"
WEBHOOK_SECRET_ENV = "ACS_WEBHOOK_SECRET"
MIN_SECRET_CHARS = 16
STARTUP_CONNECT_TIMEOUT_S = 60.0
"""The startup check also pays for loading the provider's modules the first time; a caller never waits for it."""
_log = logging.getLogger("voicecli.phone")


async def run_phone(
    config: AppConfig,
    *,
    host: str,
    port: int,
    public_url: str | None,
    greet: bool = True,
    log_file: Path | None = None,
) -> int:
    """Serve calls until interrupted; returns the exit code (setup problems are raised as ConfigError)."""
    limits = _limits(config)
    acs = _call_automation(public_url)
    try:
        verifier, webhook_secret = _access(config, host)
    except ConfigError:
        await _close(acs, None)
        raise
    live = sys.stdout.isatty()
    configure_logging(log_file, live=live)
    _log.setLevel(logging.INFO)
    async with phone_mcp(config) as catalog:  # one set of MCP servers for every call, while the bridge runs
        client_factory = phone_client_factory(config, catalog)
        await _check_provider(config)
        service = PhoneService(
            client_factory=client_factory,
            settings=session_settings(config),
            public_url=public_url or "",
            acs=acs,
            verifier=verifier,
            webhook_secret=webhook_secret,
            limits=limits,
            registry=CallRegistry(),
            greet=greet,
        )
        runner = web.AppRunner(create_phone_app(service), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await _close(acs, verifier)
            await runner.cleanup()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound = runner.addresses[0]
        try:
            # Before the lines that say it is ready: a Ctrl-C right after them drains.
            with _interrupts() as interrupted:
                print(f"voicecli phone: listening on http://{bound[0]}:{bound[1]}", flush=True)
                print(_where_acs_reaches(service), flush=True)
                with _calls_view(service, live):
                    await _serve_until_drained(service, site, interrupted)
        finally:
            await runner.cleanup()
            await _close(acs, verifier)
        print("voicecli phone: stopped", flush=True)
        return 0


def phone_client_factory(config: AppConfig, catalog: ToolRegistry | None = None) -> ClientFactory:
    """Each call's realtime client: the configured tools and the call's own, the MCP servers' tools
    (`catalog`, from `phone_mcp`), and `talk`'s reconnect and replay (`[session] reconnect_tries`),
    so a dropped connection costs the caller a short silence instead of the call. Nobody can be
    asked on a phone line: `[tools] approve` decides, else a call that needs approval is refused."""
    tools = configured_tools(config)

    def client_factory(record: CallRecord, call_tools: list[ToolFunction]) -> RealtimeClient:
        client = build_client(config, tools=[*tools, *call_tools], continuity=session_continuity(config))
        record.usage = usage_meter(config, client.protocol, with_budget=False)  # the call's cost
        if catalog is not None:
            for described in catalog.described():
                if described.name not in client.tools:  # a call's own tool outranks a shared one
                    client.tools.add_tool(described)
            client.tools.hosted = list(catalog.hosted)
        set_up_approvals(client.tools, config)
        return client

    return client_factory


@contextlib.asynccontextmanager
async def phone_mcp(config: AppConfig) -> AsyncIterator[ToolRegistry]:
    """The configured MCP servers, started once for every call (their tools in the registry yielded);
    each problem is one log line and the bridge goes on. A call gets the tools offered when it starts."""
    catalog = ToolRegistry(configured_tools(config))  # so that a clash with a Python tool is named
    async with McpTools(configured_mcp_servers(config), catalog, notice=_log.warning):
        yield catalog


async def _check_provider(config: AppConfig) -> None:
    """Open and close one realtime session before taking calls.

    A wrong key or endpoint fails here, in one line, instead of at the first call; and the first
    caller does not wait in silence while this process loads and connects for the first time.
    """
    print(f"voicecli phone: checking the realtime provider ({config.provider}, {config.transport})", flush=True)
    probe = build_client(config, connect_timeout_s=STARTUP_CONNECT_TIMEOUT_S)
    async with probe(settings=session_settings(config)):
        pass


async def _close(acs: CallAutomation | None, verifier: AcsTokenVerifier | None) -> None:
    if acs is not None:
        await acs.close()
    if verifier is not None:
        await verifier.close()


def _limits(config: AppConfig) -> CallLimits:
    phone = config.phone
    if phone.max_calls < 1 or phone.idle_timeout_s <= 0 or phone.max_call_s <= 0:
        raise ConfigError("[phone] max_calls, idle_timeout_s and max_call_s must be above 0")
    return CallLimits(max_calls=phone.max_calls, idle_timeout_s=phone.idle_timeout_s, max_call_s=phone.max_call_s)


def _access(config: AppConfig, host: str) -> tuple[AcsTokenVerifier | None, str]:
    """ACS's token verifier (None: local test mode, loopback only) and the webhook secret."""
    resource_id = config.phone.acs_resource_id
    secret = os.environ.get(WEBHOOK_SECRET_ENV, "")
    if os.environ.get(CONNECTION_STRING_ENV):
        if not resource_id:
            raise ConfigError(
                f"{CONNECTION_STRING_ENV} is set: [phone] acs_resource_id is needed to check that calls come from ACS"
            )
        if len(secret) < MIN_SECRET_CHARS:
            raise ConfigError(
                f"{CONNECTION_STRING_ENV} is set: {WEBHOOK_SECRET_ENV} must hold the Event Grid webhook's secret "
                f"(at least {MIN_SECRET_CHARS} characters)"
            )
    elif not resource_id and not is_loopback(host):
        raise ConfigError(
            f"listening on {host} needs [phone] acs_resource_id, so that only ACS gets in; "
            "unsigned test calls are taken on loopback (127.0.0.1) only"
        )
    return (AcsTokenVerifier(resource_id) if resource_id else None), secret


def _call_automation(public_url: str | None) -> CallAutomation | None:
    if public_url is not None:
        parsed = urlparse(public_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"--public-url {public_url!r}: expected https://host[:port] (where ACS reaches this)")
    connection_string = os.environ.get(CONNECTION_STRING_ENV, "")
    if not connection_string:
        return None
    if public_url is None:
        raise ConfigError(f"{CONNECTION_STRING_ENV} is set: --public-url is needed so ACS can reach this bridge")
    return CallAutomation(connection_string)


@contextlib.contextmanager
def _calls_view(service: PhoneService, live: bool) -> Iterator[None]:
    """On a terminal, the live table of calls; elsewhere the log lines on stderr are the view."""
    if not live:
        yield
        return
    from voicecli.ui.calls_view import CallsTable, live_calls_table

    def status() -> str:
        doing = "draining, no new calls" if service.draining else "taking calls"
        return f"voicecli phone: {doing} · {service.calls_in_progress} in progress · Ctrl-C to stop"

    with live_calls_table(CallsTable(service.registry, status)):
        yield


def _where_acs_reaches(service: PhoneService) -> str:
    if service.verifier is None:
        return (
            "voicecli phone: local test mode: media connections without ACS's signature are accepted, "
            "because this bridge listens on loopback only (try `voicecli phone --dial ws://HOST:PORT/ws`)"
        )
    if service.acs is None:
        return (
            f"voicecli phone: {CONNECTION_STRING_ENV} is not set: no incoming calls are answered; "
            "media connections need ACS's signed token"
        )
    return (
        f"voicecli phone: Event Grid webhook {service.public_http}/api/incomingCall?{SECRET_PARAMETER}="
        f"<{WEBHOOK_SECRET_ENV}>, "
        f"media {service.public_ws}/ws/<call token>; only requests signed by ACS get in"
    )


@contextlib.contextmanager
def _interrupts() -> Iterator[asyncio.Event]:
    """SIGINT and SIGTERM set the yielded event; a second one cancels the task that installed them."""
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    task = asyncio.current_task()
    assert task is not None

    def on_signal() -> None:
        if interrupted.is_set():
            task.cancel()
        interrupted.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    try:
        yield interrupted
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _serve_until_drained(service: PhoneService, site: web.TCPSite, interrupted: asyncio.Event) -> None:
    """Wait for the first interrupt, drain, and give up on the calls at the second."""
    await interrupted.wait()
    service.draining = True
    await site.stop()
    print(
        f"voicecli phone: draining: no new calls; waiting for {service.calls_in_progress} call(s) "
        "to end (Ctrl-C again to end them now)",
        flush=True,
    )
    try:
        await service.drain()
    except asyncio.CancelledError:
        print(f"voicecli phone: ending {service.calls_in_progress} call(s) now", flush=True)
        await service.abort()
