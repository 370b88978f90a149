"""The ACS side: Event Grid validation, IncomingCall answered through the real Call Automation SDK.

The SDK talks to a small aiohttp server standing in for the ACS REST API on 127.0.0.1 (the
connection string's endpoint is plain http there; the SDK signs and sends exactly as it would to
Azure). The test then plays ACS: it posts call events to the callback URL the SDK sent and opens
the media WebSocket at the transport URL the SDK sent, and the model's `hang_up` must reach the
stand-in as the SDK's terminate request.
"""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from live_support import until
from phone_support import CONNECT_TIMEOUT_S, SimulatedAcsCall, speech
from system_tools import require_module

from voicecli.config import AppConfig
from voicecli.conversation.providers import session_settings
from voicecli.phone.acs import CallAutomation, PhoneSetupError, parse_connection_string
from voicecli.phone.app import create_phone_app
from voicecli.phone.calls import CallRecord
from voicecli.phone.service import PhoneService
from voicecli.realtime import OpenAIRealtimeWebsocket, RealtimeClient
from voicecli.realtime.functions import ToolFunction
from voicecli.server import UNPACED, Faults, LocalServer

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def _call_automation_sdk() -> None:
    """The tests that drive the real SDK need it; the others here run without it."""
    require_module("azure.communication.callautomation", "the phone extra: pip install -e '.[phone]'")


ACCESS_KEY = base64.b64encode(b"not-a-real-access-key").decode()
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
            return web.json_response(
                {
                    "callConnectionId": "conn-1",
                    "serverCallId": "server-call-1",
                    "callbackUri": body["callbackUri"],
                    "callConnectionState": "connecting",
                },
                status=200,
            )

        async def terminate(request: web.Request) -> web.Response:
            self.requests.append(("terminate", request.path_qs, {}, dict(request.headers)))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/calling/callConnections:answer", answer)
        app.router.add_post("/calling/callConnections/{call_connection_id}:terminate", terminate)
        return app

    @property
    def connection_string(self) -> str:
        return f"endpoint=http://127.0.0.1:{self.port}/;accesskey={ACCESS_KEY}"


@dataclass
class Setup:
    acs: FakeAcs
    service: PhoneService
    public_url: str


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
    async with LocalServer(brain="scripted", script=script, pacing=UNPACED) as model:

        def client_factory(_: CallRecord, tools: list[ToolFunction]) -> RealtimeClient:
            return OpenAIRealtimeWebsocket(
                api_key="sk-test",
                websocket_base_url=model.ws_base_url,
                tools=tools,
                connect_timeout_s=CONNECT_TIMEOUT_S,
            )

        automation = CallAutomation(acs.connection_string)
        service = PhoneService(
            client_factory=client_factory, settings=session_settings(AppConfig()), acs=automation, greet=False
        )
        runner, port = await _serve(create_phone_app(service))
        service.public_url = f"http://127.0.0.1:{port}"
        yield Setup(acs, service, service.public_url)
        await runner.cleanup()
        await automation.close()
    await acs_runner.cleanup()


async def post(url: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        text = await response.text()
        return response.status, (await response.json() if response.content_type == "application/json" else text)


async def test_event_grid_subscription_validation(setup: Setup) -> None:
    event = {
        "id": "1",
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6", "validationUrl": "https://x"},
    }
    status, body = await post(f"{setup.public_url}/api/incomingCall", [event])
    assert (status, body) == (200, {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"})


async def test_incoming_call_answered_with_media_streaming_and_hung_up_by_the_model(
    setup: Setup, tmp_path: Path
) -> None:
    incoming = {
        "id": "2",
        "eventType": "Microsoft.Communication.IncomingCall",
        "data": {
            "to": {"kind": "phoneNumber", "rawId": "4:+18005550100", "phoneNumber": {"value": "+18005550100"}},
            "from": {"kind": "phoneNumber", "rawId": "4:+15555550123", "phoneNumber": {"value": "+15555550123"}},
            "incomingCallContext": "opaque-incoming-call-context",
            "correlationId": "corr-1",
        },
    }
    status, _ = await post(f"{setup.public_url}/api/incomingCall", [incoming])
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
    assert transport_url.startswith(f"{ws_base}/ws/") and transport_url.endswith("?caller=%2B15555550123")
    call_id = transport_url.removeprefix(f"{ws_base}/ws/").split("?")[0]
    assert body["callbackUri"] == f"{setup.public_url}/api/callbacks/{call_id}?caller=%2B15555550123"
    record = setup.service.registry.get(call_id)
    assert record is not None and record.state == "answered" and record.connection_id == "conn-1"

    connected = {"type": "Microsoft.Communication.CallConnected", "data": {"callConnectionId": "conn-1"}}
    assert (await post(body["callbackUri"], [connected]))[0] == 200
    assert record.state == "connected"
    started = {"type": "Microsoft.Communication.MediaStreamingStarted", "data": {"callConnectionId": "conn-1"}}
    assert (await post(body["callbackUri"], [started]))[0] == 200

    # ACS opens the media stream; the caller speaks; the model says goodbye and hangs up.
    async with SimulatedAcsCall(transport_url, headers={"x-ms-call-connection-id": "conn-1"}) as call:
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


@pytest.mark.parametrize("how", ["cannot start", "drops mid-call"])
async def test_a_realtime_session_lost_for_good_hangs_the_call_up_at_acs(
    setup: Setup, tmp_path: Path, how: str
) -> None:
    async with LocalServer(brain="echo", pacing=UNPACED, faults=Faults(drop_after_events=4)) as dropping:
        url = "ws://127.0.0.1:9/v1" if how == "cannot start" else dropping.ws_base_url  # port 9: nothing listens
        setup.service.client_factory = lambda _, tools: OpenAIRealtimeWebsocket(
            api_key="sk-test", websocket_base_url=url, tools=tools, connect_timeout_s=CONNECT_TIMEOUT_S
        )
        media_url = f"{setup.public_url.replace('http://', 'ws://')}/ws/lost"
        async with SimulatedAcsCall(media_url, headers={"x-ms-call-connection-id": "conn-7"}) as call:
            if how == "drops mid-call":
                await call.stream(speech(tmp_path, "Hello?"))  # speech started, stopped: the 4th event
            await call.silence_until(call.closed.is_set, "the bridge to end the call", timeout=30)
    record = setup.service.registry.get("lost")
    assert record is not None
    await until(lambda: not record.active, "the call to end")
    assert record.state == "failed" and record.reason.startswith("realtime session failed")
    assert [request[0] for request in setup.acs.requests] == ["terminate"]
    assert setup.acs.requests[0][1].startswith("/calling/callConnections/conn-7:terminate")


async def test_media_streaming_failure_is_the_calls_state(setup: Setup) -> None:
    failed = {
        "type": "Microsoft.Communication.MediaStreamingFailed",
        "data": {"callConnectionId": "conn-9", "resultInformation": {"code": 8581, "message": "transport unreachable"}},
    }
    record = setup.service.registry.open("call-9")  # answered here
    assert (await post(f"{setup.public_url}/api/callbacks/call-9", [failed]))[0] == 200
    assert (record.state, record.reason) == ("failed", "MediaStreamingFailed: transport unreachable")


async def test_incoming_call_while_draining_is_refused(setup: Setup) -> None:
    setup.service.draining = True
    incoming = {"eventType": "Microsoft.Communication.IncomingCall", "data": {"incomingCallContext": "ctx"}}
    status, _ = await post(f"{setup.public_url}/api/incomingCall", [incoming])
    assert status == 503
    assert setup.acs.requests == []


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


async def test_events_of_a_call_answered_by_another_process_are_only_logged(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voicecli.phone")
    connected = {"type": "Microsoft.Communication.CallConnected", "data": {"callConnectionId": "conn-elsewhere"}}
    assert (await post(f"{setup.public_url}/api/callbacks/elsewhere", [connected]))[0] == 200
    assert setup.service.registry.get("elsewhere") is None
    assert "call elsewhere (not served here): Microsoft.Communication.CallConnected" in caplog.text
