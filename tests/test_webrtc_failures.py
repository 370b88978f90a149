"""WebRTC failures: refused signaling, ICE that never connects, a closed channel, an ended track.

Each ends in a `RealtimeConnectionError` or a fatal `RealtimeErrorEvent` within a bounded time,
and leaves no peer connection or task of ours behind.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey
from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription
from support.app_requests import AppReply, AppSession, post
from support.memory_peer import MemoryChannel, MemoryPeer, use_memory_peers

from voicecli.realtime import (
    OpenAIRealtimeWebRTC,
    RealtimeConfigurationError,
    RealtimeConnectionError,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeSettings,
)
from voicecli.realtime.webrtc_ice import loopback_candidates, no_stun
from voicecli.realtime.webrtc_signaling import start_call
from voicecli.server import Faults
from voicecli.server.app import ServerConfig, create_app
from voicecli.server.brains import load_brain
from voicecli.server.config import CONFIG_KEY
from voicecli.server.events import error_event
from voicecli.server.faults import MALFORMED_FRAME, injected_error
from voicecli.server.webrtc import call as rtc_call
from voicecli.server.webrtc import routes as server_webrtc
from voicecli.server.webrtc.routes import RTC_KEY

pytestmark = pytest.mark.timeout(30)

TEXT_ONLY = RealtimeSettings(output_modalities=["text"], push_to_talk=True)
BASE_URL = "http://127.0.0.1:8765/v1"
"""Where a client without a socket (its requests or its peer stand-ins) believes the service is."""


@pytest_asyncio.fixture
async def app_server() -> AsyncIterator[TestServer]:
    """The local server's app on loopback, with its WebRTC calls in reach (`app[RTC_KEY]`)."""
    server = TestServer(create_app(ServerConfig(brain=load_brain("echo"), faults=Faults())), host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


def client_for(url: str, api_key: str = "sk-test", **kwargs: object) -> OpenAIRealtimeWebRTC:
    return OpenAIRealtimeWebRTC(api_key=api_key, base_url=url, **kwargs)  # type: ignore[arg-type]


async def events_until_end(client: OpenAIRealtimeWebRTC, timeout: float = 5.0) -> list[RealtimeEvent]:
    events: list[RealtimeEvent] = []
    async with asyncio.timeout(timeout):
        async for event in client.receive():
            events.append(event)
    return events


async def fake_signaling(answer: Callable[[str], Awaitable[str]]) -> TestServer:
    """A service that mints keys and answers offers with `answer(offer)`."""

    async def client_secrets(request: web.Request) -> web.Response:
        return web.json_response({"value": "ek_fake", "expires_at": 0, "session": {}})

    async def calls(request: web.Request) -> web.Response:
        return web.Response(status=201, text=await answer(await request.text()), content_type="application/sdp")

    app = web.Application()
    app.router.add_post("/v1/realtime/client_secrets", client_secrets)
    app.router.add_post("/v1/realtime/calls", calls)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def answer_from_a_closed_peer(offer: str) -> str:
    """A valid answer whose candidates are ports that were closed before it was sent."""
    pc = RTCPeerConnection(no_stun())
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    with loopback_candidates():
        await pc.setLocalDescription(await pc.createAnswer())
    await pc.close()
    return pc.localDescription.sdp


@pytest.fixture
def app() -> web.Application:
    """The local server's app, reached without a socket (`support.app_requests`)."""
    return create_app(ServerConfig(brain=load_brain("echo"), faults=Faults()))


@pytest.mark.parametrize("prefix", ["/v1", "/openai/v1"])
@pytest.mark.parametrize("endpoint", ["client_secrets", "calls"])
async def test_missing_key_gets_the_services_401(app: web.Application, prefix: str, endpoint: str) -> None:
    reply = await post(app, f"{prefix}/realtime/{endpoint}", data=b"{}")
    body = reply.json()
    assert reply.status == 401
    assert body["error"]["code"] == "invalid_api_key" and body["error"]["type"] == "invalid_request_error"


async def test_wrong_key_is_a_connection_error(app: web.Application, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's 401 reaches the caller as one line; the key minted with the right key opens the call."""
    app[CONFIG_KEY].accepted_key = "the-right-key"
    with pytest.raises(RealtimeConnectionError, match=r"HTTP 401 \(check the API key\): Incorrect API key"):
        await start_call(AppSession(app), BASE_URL, bearer("a-wrong-key"), {}, AN_OFFER)  # type: ignore[arg-type]
    minted = (await post(app, "/v1/realtime/client_secrets", headers=bearer("the-right-key"), json={})).json()
    monkeypatch.setattr(rtc_call.RtcCall, "answer", canned_answer)
    assert (await post_offer(app, AN_OFFER, key="ek_not_minted_here")).status == 401
    # the ephemeral key it minted is accepted for the call
    await answered_with_its_location(app, await post_offer(app, AN_OFFER, key=minted["value"]))


async def test_missing_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(RealtimeConfigurationError, match="OPENAI_API_KEY"):
        await OpenAIRealtimeWebRTC(base_url="http://127.0.0.1:9/v1").create_session()


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        ("application/sdp", "hello", "invalid_offer"),
        ("application/sdp", "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", "invalid_offer"),
        ("text/plain", "", "invalid_content_type"),
    ],
)
async def test_bad_offer_gets_400(app: web.Application, content_type: str, body: str, code: str) -> None:
    headers = {**bearer("sk-test"), "Content-Type": content_type}
    reply = await post(app, "/v1/realtime/calls", data=body.encode(), headers=headers)
    error = reply.json()["error"]
    assert reply.status == 400
    assert error["code"] == code and error["message"]
    assert app[RTC_KEY].active == {}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


AN_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n"
)
"""What the route checks before it answers (`v=0`, a data channel); answering is `RtcCall.answer`'s."""


async def post_offer(app: web.Application, offer: str, key: str = "sk-test") -> AppReply:
    return await post(app, "/v1/realtime/calls", data=offer, headers={**bearer(key), "Content-Type": "application/sdp"})


CANNED_ANSWER = "v=0\r\nthe answer\r\n"


async def canned_answer(self: rtc_call.RtcCall, offer: str) -> str:
    """`RtcCall.answer` for a test of the route, which opens no peer (real calls: the end-to-end tests)."""
    return CANNED_ANSWER


async def answered_with_its_location(app: web.Application, reply: AppReply) -> None:
    """The route's 201: the answer, and the location of the one call it holds (closed here)."""
    assert reply.status == 201 and reply.body == CANNED_ANSWER.encode(), reply.body
    (call,) = app[RTC_KEY].active.values()
    assert reply.headers["Location"] == f"/v1/realtime/calls/{call.id}"
    await call.close("the test is over")
    assert app[RTC_KEY].active == {}


async def test_malformed_offers_are_refused_and_free_their_slots(
    app: web.Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More bogus offers than there are call slots: each gets the service's 400, and a call still fits."""
    bogus = "v=0\r\nm=application 9 x\r\n"  # passes the first look; aiortc's parser trips over it
    for _ in range(server_webrtc.MAX_CALLS + 1):
        reply = await post_offer(app, bogus)
        assert reply.status == 400, reply.body
        error = reply.json()["error"]
        assert error["code"] == "invalid_offer" and error["type"] == "invalid_request_error"
    assert app[RTC_KEY].active == {}
    monkeypatch.setattr(rtc_call.RtcCall, "answer", canned_answer)
    await answered_with_its_location(app, await post_offer(app, AN_OFFER))


async def test_a_server_failure_while_answering_frees_the_slot(
    app: web.Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_answer(self: rtc_call.RtcCall, offer: str) -> str:
        raise RuntimeError("a bug")

    monkeypatch.setattr(rtc_call.RtcCall, "answer", broken_answer)
    reply = await post_offer(app, AN_OFFER)
    body = reply.json()
    assert reply.status == 500
    assert body["error"]["type"] == "server_error" and "a bug" not in body["error"]["message"]
    assert app[RTC_KEY].active == {}


async def test_calls_beyond_the_limit_get_429(app: web.Application, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_webrtc, "MAX_CALLS", 0)
    with pytest.raises(RealtimeConnectionError, match="HTTP 429"):
        await start_call(AppSession(app), BASE_URL, bearer("sk-test"), {}, AN_OFFER)  # type: ignore[arg-type]
    assert app[RTC_KEY].active == {}


async def test_ice_that_never_connects_fails_in_bounded_time() -> None:
    service = await fake_signaling(answer_from_a_closed_peer)
    client = client_for(str(service.make_url("/v1")), connect_timeout_s=1.5)
    try:
        with pytest.raises(RealtimeConnectionError) as failed:
            await client.create_session()
    finally:
        await service.close()
    # Bounded by the connect timeout (the test's own timeout catches a hang); says what it saw.
    # On a loaded machine ICE may not have started checking yet: any state short of connected fits.
    seen = re.search(r"did not open in (\d+\.\d) s: ICE still (new|gathering|checking)", str(failed.value))
    assert seen is not None, str(failed.value)
    waited_s = float(seen[1])
    assert 1.0 <= waited_s <= 1.5
    assert "Likely causes: 1) this machine or the service was too busy" in str(failed.value)  # on loopback
    assert client.webrtc.peer_connection is None and not client.webrtc.tasks and not client.connected


async def test_unusable_answer_is_a_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    use_memory_peers(monkeypatch, answer="this is not SDP")
    client = client_for(BASE_URL)
    with pytest.raises(RealtimeConnectionError, match="SDP answer that cannot be used"):
        await client.create_session()
    assert client.webrtc.peer_connection is None and not client.webrtc.tasks and not client.connected


class Unreachable:
    """An `aiohttp.ClientSession` whose every connection is refused, as aiohttp reports it."""

    def post(self, url: str, **_: object) -> object:
        raise aiohttp.ClientConnectorError(
            ConnectionKey("127.0.0.1", 9, False, True, None, None, None),
            ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)"),
        )


async def test_unreachable_service_is_a_connection_error() -> None:
    """Refused for real: `test_an_unreachable_service_is_one_connection_error` (Voice Live)."""
    with pytest.raises(
        RealtimeConnectionError, match=re.escape("cannot reach the realtime service at http://127.0.0.1:9/v1/")
    ) as failed:
        await start_call(Unreachable(), "http://127.0.0.1:9/v1", bearer("sk-test"), {}, AN_OFFER)  # type: ignore[arg-type]
    assert "\n" not in str(failed.value)


def the_service(peers: list[MemoryPeer]) -> MemoryChannel:
    """The data channel of the one call made so far, where the test speaks for the service."""
    (peer,) = peers
    assert peer.channel is not None
    return peer.channel


async def test_server_closing_the_data_channel_is_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    peers = use_memory_peers(monkeypatch)
    client = client_for(BASE_URL)
    async with client(settings=TEXT_ONLY):
        the_service(peers).arrive({"type": "session.updated", "event_id": "event_1", "session": {}})
        the_service(peers).close()
        events = await events_until_end(client)
    errors = [event for event in events if isinstance(event, RealtimeErrorEvent)]
    assert [error.error.fatal for error in errors] == [True]
    assert "closed the realtime data channel" in errors[0].error.message
    assert peers[0].connectionState == "closed"


async def test_events_sent_before_the_call_ends_are_not_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    peers = use_memory_peers(monkeypatch)
    client = client_for(BASE_URL)
    async with client(settings=TEXT_ONLY):
        expired = error_event("session_expired", "Your session hit the maximum duration.", event_id=None)
        the_service(peers).arrive({**expired, "event_id": "event_2"})
        the_service(peers).close()  # at once: the error is still queued when the channel's close is seen
        events = await events_until_end(client)
    errors = [event.error for event in events if isinstance(event, RealtimeErrorEvent)]
    assert [(error.code, error.fatal) for error in errors] == [("session_expired", True), ("connection_closed", True)]


async def test_malformed_and_injected_errors_are_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's own fault frames (`voicecli.server.faults`), then a reply: the session goes on."""
    peers = use_memory_peers(monkeypatch)
    client = client_for(BASE_URL)
    async with client(settings=TEXT_ONLY):
        the_service(peers).arrive(MALFORMED_FRAME.decode())
        the_service(peers).arrive({**injected_error(), "event_id": "event_2"})
        delta = {"type": "response.output_text.delta", "event_id": "event_3", "response_id": "resp_1"}
        the_service(peers).arrive({**delta, "item_id": "item_1", "output_index": 0, "content_index": 0, "delta": "Hi"})
        the_service(peers).close()
        events = await events_until_end(client)
    assert [(e.error.code, e.error.fatal) for e in events if isinstance(e, RealtimeErrorEvent)] == [
        ("malformed_event", False),
        ("server_error", False),
        ("connection_closed", True),
    ]
    assert "response.output_text.delta" in [event.service_type for event in events]


async def test_remote_track_ending_is_fatal(app_server: TestServer) -> None:
    client = client_for(str(app_server.make_url("/v1")))
    async with client(settings=TEXT_ONLY):
        (call,) = app_server.app[RTC_KEY].active.values()
        await call.pc.getSenders()[0].stop()  # RTCP BYE: the client's remote track ends
        events = await events_until_end(client)
    assert [(e.error.message, e.error.fatal) for e in events if isinstance(e, RealtimeErrorEvent)] == [
        ("the service's audio track ended", True)
    ]


async def test_server_ends_the_call_when_the_client_hangs_up(app_server: TestServer) -> None:
    client = client_for(str(app_server.make_url("/v1")))
    async with client(settings=TEXT_ONLY):
        (call,) = app_server.app[RTC_KEY].active.values()
    async with asyncio.timeout(5):
        await call.closed.wait()
    assert not app_server.app[RTC_KEY].active
    assert call.pc.connectionState == "closed"


async def test_server_gives_up_a_call_that_never_connects(
    app_server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rtc_call, "SETUP_TIMEOUT_S", 0.3)
    pc = RTCPeerConnection(no_stun())
    pc.addTransceiver("audio")
    pc.createDataChannel("oai-events")
    with loopback_candidates():
        await pc.setLocalDescription(await pc.createOffer())
    await pc.close()  # the offer's candidates now point nowhere
    headers = {"Authorization": "Bearer sk-test", "Content-Type": "application/sdp"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(app_server.make_url("/v1/realtime/calls"), data=pc.localDescription.sdp, headers=headers) as reply,
    ):
        assert reply.status == 201
    (call,) = app_server.app[RTC_KEY].active.values()
    async with asyncio.timeout(5):
        await call.closed.wait()
    assert not app_server.app[RTC_KEY].active
