"""Bad input and broken connections: the client reports a clear error and never hangs.

Every wait is bounded; partial results received before a failure are kept. The server's refusals of
a bad event run against a server session in memory (`support.session_transport`); the client's
handling of faults, expiry and a slow consumer through its own WebSocket transport over an in-memory
connection (`support.memory_wire`); what only a connection shows (a malformed frame through the SDK,
close codes, a dropped TCP connection, keys, a port that never answers) over loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.memory_wire import MemoryRoute, memory_client_factory, over_memory
from support.servers import client_factory
from support.session_transport import echo_client, in_tones  # noqa: F401  (in_tones: a fixture)

from voicecli.config import load_config
from voicecli.conversation.exchange import exchange, send_user_turn
from voicecli.conversation.providers import build_client
from voicecli.realtime import (
    AzureRealtimeWebsocket,
    ListenEvents,
    OpenAIRealtimeWebsocket,
    RealtimeAudioEvent,
    RealtimeClient,
    RealtimeConfigurationError,
    RealtimeConnectionError,
    RealtimeErrorEvent,
    RealtimeSettings,
    event_stream,
)
from voicecli.server import UNPACED, Faults, LocalRealtime, LocalServer

pytestmark = pytest.mark.timeout(30)


async def collect_errors(client: RealtimeClient, until: str, timeout: float = 5) -> list[RealtimeErrorEvent]:
    errors: list[RealtimeErrorEvent] = []
    async with asyncio.timeout(timeout):
        async for event in client.receive():
            if isinstance(event, RealtimeErrorEvent):
                errors.append(event)
            if event.service_type == until:
                break
    return errors


async def faulty_server(**faults: object) -> LocalServer:
    server = LocalServer(brain="echo", pacing=UNPACED, faults=Faults(**faults))  # type: ignore[arg-type]
    await server.start()
    return server


@pytest.mark.usefixtures("in_tones")
async def test_malformed_frame_becomes_error_event_and_session_continues() -> None:
    """In memory, through the WebSocket transport's read loop (the next test has the frame on a socket)."""
    route = MemoryRoute(faults=Faults(malformed_after_events=2))
    client = memory_client_factory("openai_ws", route)()
    try:
        async with client(settings=RealtimeSettings(push_to_talk=True)):
            result = await exchange(client, text="after the bad frame", timeout_s=10)
    finally:
        await route.close()
    assert [(e.code, e.fatal) for e in result.errors] == [("malformed_event", False)]
    assert "after the bad frame" in result.assistant_text


async def test_malformed_frame_is_reported_with_its_code() -> None:
    server = await faulty_server(malformed_after_events=1)
    try:
        client = client_factory("openai_ws", server)()
        async with client(settings=RealtimeSettings()):
            errors = await collect_errors(client, ListenEvents.SESSION_UPDATED)
    finally:
        await server.stop()
    assert [(e.error.code, e.error.fatal) for e in errors] == [("malformed_event", False)]


@pytest.mark.usefixtures("in_tones")
async def test_unknown_client_event_gets_service_error_and_session_continues() -> None:
    client = echo_client()
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        await client.send({"type": "conversation.item.explode"})
        errors = await collect_errors(client, ListenEvents.ERROR)
        after = await exchange(client, text="still alive", timeout_s=10)
    assert errors[0].error.type == "invalid_request_error" and not errors[0].error.fatal
    assert "still alive" in after.assistant_text


@pytest.mark.usefixtures("in_tones")
async def test_wrong_audio_format_is_refused_by_the_server() -> None:
    client = echo_client()
    settings = RealtimeSettings(extra={"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}})
    async with client(settings=settings):
        errors = await collect_errors(client, ListenEvents.ERROR)
    assert errors and "rate" in (errors[0].error.message + str(errors[0].service_event)).lower()


@pytest.mark.usefixtures("in_tones")
async def test_injected_server_error_and_rate_limits_do_not_end_the_session() -> None:
    route = MemoryRoute(faults=Faults(error_after_events=3, rate_limits_after_events=4))
    client = memory_client_factory("openai_ws", route)()
    try:
        async with client(settings=RealtimeSettings(push_to_talk=True)):
            result = await exchange(client, text="through the noise", timeout_s=10)
    finally:
        await route.close()
    assert result.failed is None
    assert [e.fatal for e in result.errors] == [False]
    assert "through the noise" in result.assistant_text


@pytest.mark.parametrize("close_code", [None, 1011])
async def test_connection_dropped_mid_response_keeps_partial_audio(close_code: int | None) -> None:
    server = await faulty_server(drop_after_events=12, drop_close_code=close_code)
    try:
        client = client_factory("openai_ws", server)()
        async with client(settings=RealtimeSettings(push_to_talk=True)):
            result = await exchange(client, text="a long enough sentence to need several audio deltas", timeout_s=10)
    finally:
        await server.stop()
    assert result.failed is not None and "connection ended" in result.failed
    expected_code = str(close_code or 1006)
    assert expected_code in result.failed
    assert result.errors[-1].code == "connection_closed" and result.errors[-1].fatal
    assert not client.connected
    with pytest.raises(RealtimeConnectionError, match="connection ended"):
        await client.send({"type": "response.create"})


async def test_session_expiry_is_fatal_and_ends_receive() -> None:
    """In memory: the session reaches its lifetime when the test says so (`session_expired`, close 1001);
    test_continuity has the server's own lifetime over a socket."""
    route = MemoryRoute()
    client = memory_client_factory("openai_ws", route)()
    try:
        async with client(settings=RealtimeSettings()):
            await collect_errors(client, ListenEvents.SESSION_UPDATED)
            await route.expire()
            errors = await collect_errors(client, "never", timeout=5)
    finally:
        await route.close()
    assert errors[0].error.code == "session_expired" and errors[0].error.fatal
    assert errors[-1].error.code == "connection_closed"


def test_missing_keys_and_settings_are_clear_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME",
        "AZURE_OPENAI_DEPLOYMENT_NAME",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RealtimeConfigurationError, match="OPENAI_API_KEY"):
        asyncio.run(OpenAIRealtimeWebsocket().create_session())
    with pytest.raises(RealtimeConfigurationError, match="AZURE_OPENAI_ENDPOINT"):
        asyncio.run(AzureRealtimeWebsocket(api_key="k", deployment_name="d").create_session())
    with pytest.raises(RealtimeConfigurationError, match="AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME"):
        asyncio.run(AzureRealtimeWebsocket(api_key="k", endpoint="http://127.0.0.1:9").create_session())


async def test_wrong_api_key_refuses_the_session_with_the_reason_and_no_secret() -> None:
    server = LocalServer(pacing=UNPACED, accepted_key="the-right-key")
    await server.start()
    try:
        client = OpenAIRealtimeWebsocket(api_key="sk-wrong-secret", websocket_base_url=server.ws_base_url)
        with pytest.raises(RealtimeConnectionError) as refused:
            async with client(settings=RealtimeSettings()):
                pass
    finally:
        await server.stop()
    message = str(refused.value)
    assert "API key was missing or rejected, close code 3000" in message
    assert "Incorrect API key provided" in message
    assert "sk-wrong-secret" not in message
    assert not client.connected


async def test_nothing_listening_is_a_connection_error() -> None:
    server = LocalServer(pacing=UNPACED)
    await server.start()
    url = server.ws_base_url
    await server.stop()
    client = OpenAIRealtimeWebsocket(api_key="k", websocket_base_url=url, connect_timeout_s=5)
    with pytest.raises(RealtimeConnectionError, match="cannot reach the realtime service"):
        await client.create_session()


async def _accept_and_say_nothing(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
    await reader.read()  # holds the connection open until the client gives up


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A port that accepts connections and never answers the WebSocket handshake."""
    silent = await asyncio.start_server(_accept_and_say_nothing, "127.0.0.1", 0)
    async with silent:
        yield silent.sockets[0].getsockname()[1]


async def test_a_service_that_never_answers_times_out_with_a_clear_error(silent_port: int) -> None:
    url = f"ws://127.0.0.1:{silent_port}/v1"
    client = OpenAIRealtimeWebsocket(api_key="k", websocket_base_url=url, connect_timeout_s=0.5)
    with pytest.raises(RealtimeConnectionError, match=r"^no answer from the realtime service within 0.5 s$"):
        await client.create_session()
    assert not client.connected


async def test_the_configured_connect_timeout_bounds_the_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In memory, a handshake that is never answered (the test above has a silent port)."""
    path = tmp_path / "config.toml"
    path.write_text('provider = "openai"\nconnect_timeout_s = 0.5\n[openai]\nbase_url = "http://realtime.invalid/v1"\n')
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    client = over_memory(build_client(load_config(path)), MemoryRoute(answers=False))
    with pytest.raises(RealtimeConnectionError, match=r"^no answer from the realtime service within 0.5 s$"):
        await client.create_session()


async def test_the_embedded_servers_start_up_is_not_counted_in_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a busy machine the embedded server's imports alone can outlast the timeout meant for the service."""
    start = LocalServer.start

    async def slow_start(server: LocalServer) -> None:
        await asyncio.sleep(1.5)
        await start(server)

    monkeypatch.setattr(LocalServer, "start", slow_start)
    client = LocalRealtime(brain="echo", pacing=UNPACED, connect_timeout_s=1.0)
    async with client(settings=RealtimeSettings()):
        assert client.connected and client.server is not None
    assert client.server is None  # stopped with the session


async def reply_events(client: OpenAIRealtimeWebsocket) -> tuple[list[str], int]:
    """Read one response to its end: the events' types in order and the reply's audio samples."""
    kinds: list[str] = []
    samples = 0
    async with asyncio.timeout(20):
        async for event in client.receive():
            kinds.append(str(event.service_type))
            if isinstance(event, RealtimeAudioEvent):
                samples += len(event.audio.data)
            if event.service_type == ListenEvents.RESPONSE_DONE:
                return kinds, samples
    raise AssertionError("the session ended before the response was done")


@pytest.mark.usefixtures("in_tones")
async def test_a_consumer_far_behind_holds_the_reader_back_and_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The WebSocket transport's reader in memory: what the server sent waits on the connection."""
    monkeypatch.setattr(event_stream, "RECEIVE_QUEUE_EVENTS", 4)
    text = "a reply long enough to need many more events than the queue holds"
    route = MemoryRoute()
    clients = memory_client_factory("openai_ws", route)
    try:
        prompt = clients()
        async with prompt(settings=RealtimeSettings(push_to_talk=True)):
            await send_user_turn(prompt, text=text)
            expected = await reply_events(prompt)
        late = clients()
        async with late(settings=RealtimeSettings(push_to_talk=True)):
            await send_user_turn(late, text=text)
            async with asyncio.timeout(10):
                while len(late._stream) < 4:
                    await asyncio.sleep(0)
            for _ in range(100):  # the reader is held, not dropping what it cannot queue
                await asyncio.sleep(0)
            assert len(late._stream) == 4 and route.current.unread() > 0
            assert await reply_events(late) == expected
    finally:
        await route.close()
    assert len(expected[0]) > 4 * 3 and expected[1] > 0
