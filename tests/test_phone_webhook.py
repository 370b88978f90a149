"""The ACS side: Event Grid validation, IncomingCall answered through the real Call Automation SDK.

The SDK talks to a small aiohttp server standing in for the ACS REST API on 127.0.0.1 (the
connection string's endpoint is plain http there; the SDK signs and sends exactly as it would to
Azure). The test then plays ACS: it posts call events to the callback URL the SDK sent and opens
the media WebSocket at the transport URL the SDK sent, signed by `AcsKeys` (ACS's key endpoint,
stood in for on loopback), and the model's `hang_up` must reach the stand-in as the SDK's
terminate request. Strangers play too: without the webhook's secret or ACS's signature, or with
another call's URL, they change nothing.

The routes' rules (what a request with this body, secret or token gets, and what it changes) run
without a socket: the app handles each request in memory (`support.phone_http`), ACS's keys are
served in memory and Call Automation records what it was asked. Over real sockets stay what only
a server shows: the statuses on the wire, the SDK's REST requests, the media stream.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from support.live import until
from support.phone import CONNECT_TIMEOUT_S, RESOURCE_ID, AcsKeys, SimulatedAcsCall, speech
from support.phone_http import (  # noqa: F401  (fresh_refusal_log: a fixture)
    STRANGER_ADDRESS,
    WEBSOCKET_UPGRADE,
    RecordingCallAutomation,
    Reply,
    fresh_refusal_log,
    request,
)
from support.system_tools import require_module

from voicecli.config import AppConfig
from voicecli.conversation.providers import session_settings
from voicecli.phone.acs import CallAutomation, PhoneSetupError, parse_connection_string
from voicecli.phone.app import create_phone_app
from voicecli.phone.auth import AcsTokenVerifier
from voicecli.phone.calls import CallRecord
from voicecli.phone.limits import CallLimits
from voicecli.phone.service import PhoneService
from voicecli.phone.webhook import MAX_EVENTS_BYTES, CallChange, call_event_change
from voicecli.realtime import MemoryTransport, OpenAIRealtimeWebsocket, RealtimeClient, RealtimeConnectionError
from voicecli.realtime.functions import ToolFunction
from voicecli.server import UNPACED, Faults, LocalServer

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def _call_automation_sdk() -> None:
    """The tests that drive the real SDK need it; the others here run without it."""
    require_module("azure.communication.callautomation", "the phone extra: pip install -e '.[phone]'")


ACCESS_KEY = base64.b64encode(b"not-a-real-access-key").decode()
WEBHOOK_SECRET = "the-operators-webhook-secret-0123"
GOODBYE_SCRIPT = """
[[turn]]
reply = "Thank you for calling. Goodbye!"
[[turn.call]]
name = "hang_up"
"""


@dataclass
class FakeAcs:
    """Stands in for the ACS Call Automation REST API: records requests, answers like the service."""

    requests: list[tuple[str, str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    port: int = 0

    def app(self) -> web.Application:
        async def answer(request: web.Request) -> web.Response:
            body = await request.json()
            self.requests.append(("answer", request.path_qs, body, dict(request.headers)))
            answered = sum(1 for request in self.requests if request[0] == "answer")
            return web.json_response(
                {
                    "callConnectionId": f"conn-{answered}",
                    "serverCallId": "server-call-1",
                    "callbackUri": body["callbackUri"],
                    "callConnectionState": "connecting",
                },
                status=200,
            )

        async def terminate(request: web.Request) -> web.Response:
            self.requests.append(("terminate", request.path_qs, {}, dict(request.headers)))
            return web.Response(status=204)

        async def reject(request: web.Request) -> web.Response:
            self.requests.append(("reject", request.path_qs, await request.json(), dict(request.headers)))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/calling/callConnections:answer", answer)
        app.router.add_post("/calling/callConnections:reject", reject)
        app.router.add_post("/calling/callConnections/{call_connection_id}:terminate", terminate)
        return app

    @property
    def connection_string(self) -> str:
        return f"endpoint=http://127.0.0.1:{self.port}/;accesskey={ACCESS_KEY}"


@dataclass
class Setup:
    acs: FakeAcs
    keys: AcsKeys
    service: PhoneService
    public_url: str

    @property
    def webhook_url(self) -> str:
        return f"{self.public_url}/api/incomingCall?secret={WEBHOOK_SECRET}"

    def kinds(self) -> list[str]:
        return [request[0] for request in self.acs.requests]


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


@pytest.fixture
async def setup(tmp_path: Path, _call_automation_sdk: None) -> AsyncIterator[Setup]:
    script = tmp_path / "goodbye.toml"
    script.write_text(GOODBYE_SCRIPT)
    acs = FakeAcs()
    acs_runner, acs.port = await _serve(acs.app())
    async with AcsKeys() as keys, LocalServer(brain="scripted", script=script, pacing=UNPACED) as model:

        def client_factory(_: CallRecord, tools: list[ToolFunction]) -> RealtimeClient:
            return OpenAIRealtimeWebsocket(
                api_key="sk-test",
                websocket_base_url=model.ws_base_url,
                tools=tools,
                connect_timeout_s=CONNECT_TIMEOUT_S,
            )

        automation = CallAutomation(acs.connection_string)
        verifier = AcsTokenVerifier(RESOURCE_ID, openid_config_url=keys.openid_url)
        service = PhoneService(
            client_factory=client_factory,
            settings=session_settings(AppConfig()),
            acs=automation,
            verifier=verifier,
            webhook_secret=WEBHOOK_SECRET,
            greet=False,
        )
        runner, port = await _serve(create_phone_app(service))
        service.public_url = f"http://127.0.0.1:{port}"
        yield Setup(acs, keys, service, service.public_url)
        await runner.cleanup()
        await automation.close()
        await verifier.close()
    await acs_runner.cleanup()


async def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as response:
        text = await response.text()
        return response.status, (await response.json() if response.content_type == "application/json" else text)


def incoming_call(caller: str = "+15555550123", context: str = "opaque-incoming-call-context") -> dict[str, Any]:
    return {
        "id": "2",
        "eventType": "Microsoft.Communication.IncomingCall",
        "data": {
            "to": {"kind": "phoneNumber", "rawId": "4:+18005550100", "phoneNumber": {"value": "+18005550100"}},
            "from": {"kind": "phoneNumber", "rawId": f"4:{caller}", "phoneNumber": {"value": caller}},
            "incomingCallContext": context,
            "correlationId": "corr-1",
        },
    }


@dataclass
class Answered:
    record: CallRecord
    callback_url: str
    transport_url: str


async def answer(setup: Setup, caller: str = "+15555550123") -> Answered:
    """Deliver an IncomingCall as Event Grid does; the call as the bridge answered it at the stand-in."""
    answers = [request for request in setup.acs.requests if request[0] == "answer"]
    status, _ = await post(setup.webhook_url, [incoming_call(caller)])
    assert status == 200
    _, _, body, _ = [request for request in setup.acs.requests if request[0] == "answer"][len(answers)]
    token = body["callbackUri"].rsplit("/", 1)[1]
    record = setup.service.registry.by_token(token)
    assert record is not None
    return Answered(record, body["callbackUri"], body["mediaStreamingOptions"]["transportUrl"])


async def test_incoming_call_answered_with_media_streaming_and_hung_up_by_the_model(
    setup: Setup, tmp_path: Path
) -> None:
    status, _ = await post(setup.webhook_url, [incoming_call()])
    assert status == 200
    kind, path, body, headers = setup.acs.requests[0]
    assert kind == "answer" and path.startswith("/calling/callConnections:answer?api-version=")
    assert headers["Authorization"].startswith("HMAC-SHA256 SignedHeaders=")
    assert body["incomingCallContext"] == "opaque-incoming-call-context"
    streaming = body["mediaStreamingOptions"]
    transport_url = streaming.pop("transportUrl")
    assert streaming == {
        "transportType": "websocket",
        "contentType": "audio",
        "audioChannelType": "mixed",
        "startMediaStreaming": True,
        "enableBidirectional": True,
        "audioFormat": "pcm24KMono",
    }
    ws_base = setup.public_url.replace("http://", "ws://")
    assert transport_url.startswith(f"{ws_base}/ws/")
    token = transport_url.removeprefix(f"{ws_base}/ws/")
    assert len(token) >= 40 and "?" not in token, "an unguessable token, nothing else"
    assert body["callbackUri"] == f"{setup.public_url}/api/callbacks/{token}"
    record = setup.service.registry.by_token(token)
    assert record is not None and record.state == "answered" and record.connection_id == "conn-1"
    assert token not in record.call_id, "the token is not shown in the table or the log"

    connected = {"type": "Microsoft.Communication.CallConnected", "data": {"callConnectionId": "conn-1"}}
    assert (await post(body["callbackUri"], [connected], setup.keys.headers()))[0] == 200
    assert record.state == "connected"
    started = {"type": "Microsoft.Communication.MediaStreamingStarted", "data": {"callConnectionId": "conn-1"}}
    assert (await post(body["callbackUri"], [started], setup.keys.headers()))[0] == 200

    # ACS opens the media stream; the caller speaks; the model says goodbye and hangs up.
    async with SimulatedAcsCall(transport_url, headers=setup.keys.headers()) as call:
        await call.stream(speech(tmp_path, "That is all, thank you."))
        await call.silence_until(lambda: call.closed.is_set() or len(setup.acs.requests) > 1, "the hang-up")
        await until(call.closed.is_set, "the bridge to close the media stream", timeout=30)
    assert call.loud_audio_after(), "the goodbye was heard before the hang-up"
    assert setup.acs.requests[1][:2] == (
        "terminate",
        "/calling/callConnections/conn-1:terminate?api-version=2026-03-12",
    )
    await until(lambda: not record.active, "the call to end")
    assert (record.state, record.reason, record.caller) == ("ended", "the assistant hung up", "+15555550123")


@pytest.mark.parametrize("how", ["drops mid-call"])  # "cannot start": in memory, below
async def test_a_realtime_session_lost_for_good_hangs_the_call_up_at_acs(
    setup: Setup, tmp_path: Path, how: str
) -> None:
    async with LocalServer(brain="echo", pacing=UNPACED, faults=Faults(drop_after_events=4)) as dropping:
        url = "ws://127.0.0.1:9/v1" if how == "cannot start" else dropping.ws_base_url  # port 9: nothing listens
        setup.service.client_factory = lambda _, tools: OpenAIRealtimeWebsocket(
            api_key="sk-test", websocket_base_url=url, tools=tools, connect_timeout_s=CONNECT_TIMEOUT_S
        )
        lost = await answer(setup)
        async with SimulatedAcsCall(lost.transport_url, headers=setup.keys.headers()) as call:
            if how == "drops mid-call":
                await call.stream(speech(tmp_path, "Hello?"))  # speech started, stopped: the 4th event
            await call.silence_until(call.closed.is_set, "the bridge to end the call", timeout=30)
    record = lost.record
    await until(lambda: not record.active, "the call to end")
    assert record.state == "failed" and record.reason.startswith("realtime session failed")
    assert setup.kinds() == ["answer", "terminate"]
    assert setup.acs.requests[1][1].startswith("/calling/callConnections/conn-1:terminate")


async def test_over_the_wire_strangers_get_401_and_a_flood_of_events_413(setup: Setup) -> None:
    """What the server itself answers; the rules behind each answer are tested without a socket below."""
    validation = {"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "data": {"validationCode": "c"}}
    assert (await post(f"{setup.public_url}/api/incomingCall", [validation]))[0] == 401
    mine = await answer(setup)
    hang_up = {"type": "Microsoft.Communication.CallDisconnected", "data": {}}
    assert (await post(mine.callback_url, [hang_up], setup.keys.headers(audience="another-resource")))[0] == 401
    flood = [validation] * (MAX_EVENTS_BYTES // len(json.dumps(validation)) + 1)
    assert (await post(setup.webhook_url, flood))[0] == 413
    assert mine.record.state == "answered" and setup.kinds() == ["answer"]


async def test_a_call_refused_as_busy_is_rejected_at_acs_with_reason_busy(setup: Setup) -> None:
    setup.service.limits = CallLimits(max_calls=1)
    await answer(setup, "+15555550001")
    status, _ = await post(setup.webhook_url, [incoming_call("+15555550002", context="second-call")])
    assert status == 200
    assert setup.kinds() == ["answer", "reject"]
    assert setup.acs.requests[1][2] == {"incomingCallContext": "second-call", "callRejectReason": "busy"}


# --- the routes' rules, without a socket: requests handled by the app in memory ----------------------


@dataclass
class Bridge:
    """The phone app with ACS's Call Automation recording, ACS's keys in memory, and no model."""

    app: web.Application
    service: PhoneService
    acs: RecordingCallAutomation
    keys: AcsKeys

    webhook = f"/api/incomingCall?secret={WEBHOOK_SECRET}"

    async def post(self, url: str, body: Any, headers: dict[str, str] | None = None) -> Reply:
        return await request(self.app, "POST", _path(url), body=body, headers=headers)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _no_realtime_session(_: CallRecord, __: list[ToolFunction]) -> RealtimeClient:
    raise AssertionError("these requests must not open a realtime session")


@pytest.fixture
async def bridge() -> AsyncIterator[Bridge]:
    keys = AcsKeys.in_memory()
    verifier = AcsTokenVerifier(RESOURCE_ID, openid_config_url=keys.openid_url, fetch_json=keys.fetch_json)
    acs = RecordingCallAutomation()
    service = PhoneService(
        client_factory=_no_realtime_session,
        settings=session_settings(AppConfig()),
        public_url="https://bridge.example",
        acs=acs,
        verifier=verifier,
        webhook_secret=WEBHOOK_SECRET,
        greet=False,
    )
    yield Bridge(create_phone_app(service), service, acs, keys)
    await verifier.close()


async def answered(bridge: Bridge, caller: str = "+15555550123") -> Answered:
    """Deliver an IncomingCall as Event Grid does; the call as the bridge answered it."""
    answers = len([kind for kind in bridge.acs.kinds() if kind == "answer"])
    reply = await bridge.post(bridge.webhook, [incoming_call(caller)])
    assert reply.status == 200, reply
    answer = [request for kind, request in bridge.acs.requests if kind == "answer"][answers]
    token = answer["callback_url"].rsplit("/", 1)[1]
    record = bridge.service.registry.by_token(token)
    assert record is not None
    return Answered(record, answer["callback_url"], answer["transport_url"])


async def test_event_grid_subscription_validation(bridge: Bridge) -> None:
    event = {
        "id": "1",
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6", "validationUrl": "https://x"},
    }
    reply = await bridge.post(bridge.webhook, [event])
    assert (reply.status, reply.json()) == (200, {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"})


async def test_a_second_socket_for_a_call_is_refused(bridge: Bridge, monkeypatch: pytest.MonkeyPatch) -> None:
    call = await answered(bridge)
    release, serving = asyncio.Event(), list[CallRecord]()

    async def hold_the_call(record: CallRecord, _: web.WebSocketResponse) -> None:
        serving.append(record)
        if len(serving) == 1:  # the first socket stays open; a second one (a defect) returns at once
            await release.wait()

    monkeypatch.setattr(bridge.service, "serve_call", hold_the_call)
    ws_headers = WEBSOCKET_UPGRADE | bridge.keys.headers()
    first = asyncio.create_task(request(bridge.app, "GET", _path(call.transport_url), headers=ws_headers))
    for _ in range(100):  # the keys, then the handshake: a few loop turns, no waiting on time
        if serving:
            break
        await asyncio.sleep(0)
    assert serving == [call.record]
    second = await request(bridge.app, "GET", _path(call.transport_url), headers=ws_headers)
    assert second.status == 409
    release.set()
    assert (await first).status == 101
    assert serving == [call.record], "the second socket reached no call"


async def test_a_forged_callback_changes_nothing(bridge: Bridge) -> None:
    mine, victim = await answered(bridge, "+15555550001"), await answered(bridge, "+15555550002")
    hang_up = {"type": "Microsoft.Communication.CallDisconnected", "data": {"callConnectionId": "conn-2"}}
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for headers in ({}, bridge.keys.headers(key=forged_key), bridge.keys.headers(audience="another-resource")):
        assert (await bridge.post(victim.callback_url, [hang_up], headers)).status == 401
    guessed = f"/api/callbacks/{'A' * 43}"
    assert (await bridge.post(guessed, [hang_up], bridge.keys.headers())).status == 404
    # ACS's signature on my own call's URL does not reach another call through the body.
    started = {"type": "Microsoft.Communication.MediaStreamingStarted", "data": {"callConnectionId": "conn-2"}}
    connected = {"type": "Microsoft.Communication.CallConnected", "data": {"callConnectionId": "conn-2"}}
    assert (await bridge.post(mine.callback_url, [started, connected], bridge.keys.headers())).status == 200
    assert (mine.record.connection_id, mine.record.state) == ("conn-1", "connected")
    assert (victim.record.connection_id, victim.record.state) == ("conn-2", "answered")
    assert bridge.acs.kinds() == ["answer", "answer"]


@pytest.mark.parametrize("query", ["", "?secret=", "?secret=the-operators-webhook-secret-0124", "?other=x"])
async def test_the_webhook_takes_nothing_without_its_secret(bridge: Bridge, query: str) -> None:
    validation = {"eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "data": {"validationCode": "c"}}
    for event in (incoming_call(), validation):
        reply = await bridge.post(f"/api/incomingCall{query}", [event])
        assert reply.status == 401 and "validationResponse" not in reply.text
    assert bridge.acs.requests == [], "a forged IncomingCall is not answered"
    assert list(bridge.service.registry) == []


async def test_a_bridge_without_a_webhook_secret_takes_nothing(bridge: Bridge) -> None:
    bridge.service.webhook_secret = ""
    for path in ("/api/incomingCall", "/api/incomingCall?secret="):
        assert (await bridge.post(path, [incoming_call()])).status == 401
    assert bridge.acs.requests == []


async def test_the_call_after_max_calls_is_rejected_as_busy(bridge: Bridge) -> None:
    bridge.service.limits = CallLimits(max_calls=2)
    await answered(bridge, "+15555550001")
    await answered(bridge, "+15555550002")
    reply = await bridge.post(bridge.webhook, [incoming_call("+15555550003", context="third-call")])
    assert reply.status == 200
    assert bridge.acs.kinds() == ["answer", "answer", "reject"]
    assert bridge.acs.requests[2] == ("reject", {"context": "third-call"})
    assert len(list(bridge.service.registry)) == 2, "the refused call is no row"


async def test_media_streaming_failure_is_the_calls_state(bridge: Bridge) -> None:
    failed = {
        "type": "Microsoft.Communication.MediaStreamingFailed",
        "data": {"callConnectionId": "conn-1", "resultInformation": {"code": 8581, "message": "transport unreachable"}},
    }
    call = await answered(bridge)
    assert (await bridge.post(call.callback_url, [failed], bridge.keys.headers())).status == 200
    assert (call.record.state, call.record.reason) == ("failed", "MediaStreamingFailed: transport unreachable")


async def test_what_a_callback_says_is_logged_as_printable_text(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voicecli.phone")
    call = await answered(bridge)
    forged_line = {"type": "Recognize\ncall x: ended\x1b[31mred", "data": {}}
    assert (await bridge.post(call.callback_url, [forged_line], bridge.keys.headers())).status == 200
    lines = [record.getMessage() for record in caplog.records if "Recognize" in record.getMessage()]
    assert lines == [f"call {call.record.call_id}: Recognize\\ncall x: ended\\x1b[31mred"]  # shown, not acted on
    assert call.record.state == "answered"


async def test_incoming_call_while_draining_is_refused(bridge: Bridge) -> None:
    bridge.service.draining = True
    reply = await bridge.post(bridge.webhook, [incoming_call()])
    assert reply.status == 503
    assert bridge.acs.requests == []


@pytest.mark.usefixtures("fresh_refusal_log")
async def test_a_crowd_knocking_at_the_webhook_leaves_one_log_line(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="voicecli.phone")
    for number in range(30):
        assert (await bridge.post(f"/api/incomingCall?secret=guess-{number}", [incoming_call()])).status == 401
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert refused == [f"refused a webhook delivery from {STRANGER_ADDRESS[0]}: wrong or missing webhook secret"]
    assert bridge.acs.requests == []


@pytest.mark.usefixtures("fresh_refusal_log")
async def test_no_secret_or_token_reaches_the_log(bridge: Bridge, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="voicecli.phone")
    wrong = "a-strangers-guess-0123456789"
    assert (await bridge.post(f"/api/incomingCall?secret={wrong}", [incoming_call()])).status == 401
    call = await answered(bridge)
    authorization = bridge.keys.headers()
    connected = {"type": "Microsoft.Communication.CallConnected", "data": {}}
    assert (await bridge.post(call.callback_url, [connected], authorization)).status == 200
    forged = {"Authorization": authorization["Authorization"] + "x"}
    assert (await bridge.post(call.callback_url, [connected], forged)).status == 401
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "refused" in logged and "connected" in logged, "the log says what happened"
    secrets = [WEBHOOK_SECRET, wrong, call.record.token, authorization["Authorization"].split()[1]]
    assert [secret for secret in secrets if secret in logged] == []


def _cannot_start(_: CallRecord, tools: list[ToolFunction]) -> RealtimeClient:
    """A realtime client whose session is refused when it opens (as an unreachable service)."""

    async def refuse() -> None:
        raise RealtimeConnectionError("the realtime service refused the connection")

    return RealtimeClient(transport=MemoryTransport(on_open=refuse), tools=tools)


async def test_a_realtime_session_that_cannot_start_hangs_the_call_up_at_acs(bridge: Bridge) -> None:
    bridge.service.client_factory = _cannot_start
    lost = await answered(bridge)
    headers = WEBSOCKET_UPGRADE | bridge.keys.headers()
    reply = await request(bridge.app, "GET", _path(lost.transport_url), headers=headers)
    assert reply.status == 101, "the media socket was taken; the call ended on it"
    assert lost.record.state == "failed" and lost.record.reason.startswith("realtime session failed")
    assert bridge.acs.requests[1:] == [("terminate", {"connection_id": "conn-1"})]


async def test_a_socket_acts_only_on_the_call_its_token_was_issued_for(bridge: Bridge) -> None:
    bridge.service.client_factory = _cannot_start  # the session cannot start: the bridge hangs the call up at once
    mine, victim = await answered(bridge, "+15555550001"), await answered(bridge, "+15555550002")
    assert (mine.record.connection_id, victim.record.connection_id) == ("conn-1", "conn-2")
    # A header naming the victim's connection (as ACS's own header would) changes nothing.
    headers = WEBSOCKET_UPGRADE | bridge.keys.headers() | {"x-ms-call-connection-id": "conn-2"}
    assert (await request(bridge.app, "GET", _path(mine.transport_url), headers=headers)).status == 101
    terminated = [request for kind, request in bridge.acs.requests if kind == "terminate"]
    assert terminated == [{"connection_id": "conn-1"}]
    assert victim.record.state == "answered"
    for path in (f"/ws/{'x' * 43}", "/ws", _path(mine.transport_url)):  # made up, no token, the call is over
        reply = await request(bridge.app, "GET", path, headers=WEBSOCKET_UPGRADE | bridge.keys.headers())
        assert reply.status == 404, path


@pytest.mark.parametrize(
    ("event", "change"),
    [
        ({"type": "Microsoft.Communication.CallConnected", "data": {}}, CallChange("connected", "")),
        ({"eventType": "Microsoft.Communication.CallDisconnected"}, CallChange("ended", "disconnected")),
        (
            {"type": "Microsoft.Communication.AnswerFailed", "data": {"resultInformation": {"code": 8523}}},
            CallChange("failed", "AnswerFailed: 8523"),
        ),
        (
            {"type": "Microsoft.Communication.MediaStreamingFailed", "data": "junk"},
            CallChange("failed", "MediaStreamingFailed: no reason given"),
        ),
        ({"type": "Microsoft.Communication.PlayCompleted"}, CallChange(None, "PlayCompleted")),
        (  # a type that is no event of ACS's: noted, shown as text, 64 characters at most
            {"type": "CallDisconnected\x1b[2J" + "x" * 100},
            CallChange(None, "CallDisconnected\\x1b[2J" + "x" * 41),
        ),
        ({"data": {"callConnectionId": "conn-2"}}, CallChange(None, "an event without a type")),
    ],
    ids=["connected", "disconnected", "answer failed", "streaming failed", "another event", "made up", "no type"],
)
def test_each_call_event_changes_its_call_as_acs_means_it(event: dict[str, Any], change: CallChange) -> None:
    assert call_event_change(event) == change


def test_without_the_sdk_the_error_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.communication.callautomation.aio", None)  # import fails as if absent
    with pytest.raises(PhoneSetupError) as raised:
        CallAutomation(f"endpoint=https://x.example/;accesskey={ACCESS_KEY}")
    assert str(raised.value) == (
        "answering ACS calls needs azure-communication-callautomation; "
        "install the phone extra: pip install 'voicecli[phone]'"
    )


def test_connection_strings_keep_their_scheme_and_default_to_https() -> None:
    assert parse_connection_string("endpoint=https://acs.example.com/;accesskey=a2V5") == (
        "https://acs.example.com",
        "a2V5",
    )
    assert parse_connection_string("Endpoint=acs.example.com;AccessKey=a2V5") == ("https://acs.example.com", "a2V5")
    assert parse_connection_string("endpoint=http://127.0.0.1:9/;accesskey=a2V5")[0] == "http://127.0.0.1:9"
    with pytest.raises(PhoneSetupError, match="not a valid connection string") as raised:
        parse_connection_string("accesskey=secret-value-only")
    assert "secret-value-only" not in str(raised.value)
