"""Only ACS gets in: the media WebSocket takes a call only with a token signed by ACS's key.

What each token gets is decided without a socket: the app handles the handshake request in memory
(`support.phone_http`) with ACS's keys served in memory (`AcsKeys.in_memory()`), and a client
factory that counts says whether a refused request cost a realtime session (none may). Over real
sockets stay a signed call end to end (the keys fetched over HTTP from `AcsKeys` on 127.0.0.1,
the upstream `LocalServer`) and the 401 a refused handshake gets on the wire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from support.live import until
from support.phone import CONNECT_TIMEOUT_S, RESOURCE_ID, AcsKeys, SimulatedAcsCall
from support.phone_http import (  # noqa: F401  (fresh_refusal_log: a fixture)
    STRANGER_ADDRESS,
    WEBSOCKET_UPGRADE,
    fresh_refusal_log,
    request,
)

from voicecli.config import AppConfig
from voicecli.conversation.providers import session_settings
from voicecli.phone import auth
from voicecli.phone.acs import PhoneSetupError
from voicecli.phone.app import create_phone_app
from voicecli.phone.auth import MAX_TOKEN_CHARS, AcsTokenVerifier
from voicecli.phone.calls import CallRecord
from voicecli.phone.dialer import Dialer, DialError
from voicecli.phone.service import PhoneService
from voicecli.realtime import OpenAIRealtimeWebsocket, RealtimeClient
from voicecli.realtime.functions import ToolFunction
from voicecli.server import LocalServer

pytestmark = pytest.mark.timeout(120)


@dataclass
class Guarded:
    keys: AcsKeys
    model: LocalServer
    service: PhoneService
    base: str


@pytest.fixture
async def guarded() -> AsyncIterator[Guarded]:
    async with AcsKeys() as keys, LocalServer(brain="echo") as model:

        def client_factory(_: CallRecord, tools: list[ToolFunction]) -> RealtimeClient:
            return OpenAIRealtimeWebsocket(
                api_key="sk-test",
                websocket_base_url=model.ws_base_url,
                tools=tools,
                connect_timeout_s=CONNECT_TIMEOUT_S,
            )

        verifier = AcsTokenVerifier(RESOURCE_ID, openid_config_url=keys.openid_url)
        service = PhoneService(
            client_factory=client_factory, settings=session_settings(AppConfig()), verifier=verifier, greet=False
        )
        runner = web.AppRunner(create_phone_app(service), shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield Guarded(keys, model, service, f"ws://127.0.0.1:{runner.addresses[0][1]}")
        await runner.cleanup()
        await verifier.close()


async def test_a_token_signed_by_acs_gets_a_call(guarded: Guarded) -> None:
    async with SimulatedAcsCall(f"{guarded.base}/ws/signed", headers=guarded.keys.headers()):
        await until(lambda: guarded.model.config.connections == 1, "the call's realtime session")
        record = guarded.service.registry.get("signed")
        assert record is not None
        await until(lambda: record.state == "streaming", "the call to stream")


def _other_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


REFUSED: dict[str, Any] = {
    "expired": lambda keys: keys.headers(expires_in=-120),
    "another issuer": lambda keys: keys.headers(issuer="https://attacker.example"),
    "another audience": lambda keys: keys.headers(audience="someone-elses-acs-resource"),
    "bad signature": lambda keys: keys.headers(key=_other_key()),
    "unknown key id": lambda keys: keys.headers(key_id="not-a-published-key", key=_other_key()),
    "no token": lambda keys: {},
    "not a JWT": lambda keys: {"Authorization": "Bearer not.a.jwt"},
    "not bearer": lambda keys: {"Authorization": "Basic dXNlcjpwYXNz"},
}


@dataclass
class InMemory:
    """The phone app with ACS's keys in memory; `sessions` counts the realtime sessions it asked for."""

    keys: AcsKeys
    service: PhoneService
    app: web.Application
    sessions: list[str]


@pytest.fixture
async def in_memory() -> AsyncIterator[InMemory]:
    keys = AcsKeys.in_memory()
    sessions: list[str] = []

    def client_factory(record: CallRecord, _: list[ToolFunction]) -> RealtimeClient:
        sessions.append(record.call_id)
        raise AssertionError("a refused request must not open a realtime session")

    verifier = AcsTokenVerifier(RESOURCE_ID, openid_config_url=keys.openid_url, fetch_json=keys.fetch_json)
    service = PhoneService(
        client_factory=client_factory, settings=session_settings(AppConfig()), verifier=verifier, greet=False
    )
    yield InMemory(keys, service, create_phone_app(service), sessions)
    await verifier.close()


@pytest.mark.parametrize("case", list(REFUSED))
async def test_anything_else_is_refused_before_a_realtime_session_exists(
    in_memory: InMemory, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="voicecli.phone")
    headers = REFUSED[case](in_memory.keys)
    reply = await request(in_memory.app, "GET", "/ws/intruder", headers=WEBSOCKET_UPGRADE | headers)
    assert reply.status == 401
    assert in_memory.sessions == [], "no upstream session was opened"
    assert list(in_memory.service.registry) == [], "no call was recorded"
    sent = headers.get("Authorization", "").partition(" ")[2]
    assert not sent or all(sent not in record.getMessage() for record in caplog.records), "no token in the log"


async def test_an_oversized_token_is_refused_before_its_keys_are_fetched(in_memory: InMemory) -> None:
    headers = WEBSOCKET_UPGRADE | {"Authorization": f"Bearer {'a' * (MAX_TOKEN_CHARS + 1)}"}
    assert (await request(in_memory.app, "GET", "/ws/intruder", headers=headers)).status == 401
    assert in_memory.keys.fetches == 0 and in_memory.sessions == []
    verifier = in_memory.service.verifier
    assert verifier is not None
    with pytest.raises(auth.TokenRefused, match="token too long"):
        await verifier.verify(headers["Authorization"])


async def test_keys_are_fetched_once_and_made_up_key_ids_do_not_refetch_them(in_memory: InMemory) -> None:
    verifier = in_memory.service.verifier
    assert verifier is not None
    # ACS's first requests arrive together, before the keys are known: all wait for the one fetch.
    await asyncio.gather(*(verifier.verify(f"Bearer {in_memory.keys.token()}") for _ in range(10)))
    stranger = _other_key()
    for number in range(20):
        with pytest.raises(Exception, match="unknown signing key"):
            await verifier.verify(f"Bearer {in_memory.keys.token(key_id=f'made-up-{number}', key=stranger)}")
    assert in_memory.keys.fetches == 1


def test_keys_come_over_https_or_from_loopback_only() -> None:
    with pytest.raises(PhoneSetupError, match="https"):
        AcsTokenVerifier(RESOURCE_ID, openid_config_url="http://keys.example.com/openid")
    with pytest.raises(PhoneSetupError, match="acs_resource_id"):
        AcsTokenVerifier("")
    AcsTokenVerifier(RESOURCE_ID, openid_config_url="http://127.0.0.1:9/openid")  # a test's stand-in


async def test_dialing_a_bridge_that_takes_only_acs_says_so_in_one_line(guarded: Guarded) -> None:
    with pytest.raises(DialError) as refused:
        async with Dialer(f"{guarded.base}/ws"):
            pass
    assert "takes only calls signed by ACS (401); --dial needs a bridge in local test mode" in str(refused.value)
    assert guarded.model.config.connections == 0


@pytest.mark.usefixtures("fresh_refusal_log")
async def test_a_crowd_of_strangers_leaves_one_log_line_per_reason(
    in_memory: InMemory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="voicecli.phone")
    for number in range(30):
        reply = await request(in_memory.app, "GET", f"/ws/crowd-{number}", headers=WEBSOCKET_UPGRADE)
        assert reply.status == 401
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert refused == [f"refused a media WebSocket from {STRANGER_ADDRESS[0]}: no bearer token"]
