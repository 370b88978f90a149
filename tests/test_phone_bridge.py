"""The media WebSocket end to end: a simulated ACS call ↔ the bridge ↔ the local realtime server.

Everything is on real loopback sockets: the simulated call speaks espeak-ng speech in real time as
20 ms ACS frames; the bridge appends it to a realtime session on `LocalServer` (echo brain, server
VAD), whose spoken answer must come back as AudioData the caller hears.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from support.live import until
from support.phone import CONNECT_TIMEOUT_S, LOUD, SimulatedAcsCall, speech

from voicecli.config import AppConfig
from voicecli.conversation.providers import session_settings
from voicecli.phone.app import create_phone_app
from voicecli.phone.calls import CallRecord
from voicecli.phone.service import PhoneService
from voicecli.realtime import OpenAIRealtimeWebRTC, OpenAIRealtimeWebsocket, RealtimeClient
from voicecli.realtime.functions import ToolFunction
from voicecli.server import LocalServer

pytestmark = pytest.mark.timeout(300)


@dataclass
class Bridge:
    """A running phone app whose calls reach `server`; keeps every realtime client and what it sent."""

    server: LocalServer
    service: PhoneService
    base: str
    sent: list[list[dict[str, Any]]] = field(default_factory=list)

    def url(self, call_id: str) -> str:
        return f"{self.base}/ws/{call_id}"


async def start_bridge(
    server: LocalServer, *, greet: bool = False, transport: str = "websocket"
) -> tuple[Bridge, web.AppRunner]:
    sent: list[list[dict[str, Any]]] = []

    def client_factory(_: CallRecord, tools: list[ToolFunction]) -> RealtimeClient:
        client: RealtimeClient
        if transport == "webrtc":
            client = OpenAIRealtimeWebRTC(
                api_key="sk-test", base_url=server.http_url + "/v1", tools=tools, connect_timeout_s=CONNECT_TIMEOUT_S
            )
        else:
            client = OpenAIRealtimeWebsocket(
                api_key="sk-test",
                websocket_base_url=server.ws_base_url,
                tools=tools,
                connect_timeout_s=CONNECT_TIMEOUT_S,
            )
        log: list[dict[str, Any]] = []
        client.observe_sent(log.append)
        sent.append(log)
        return client

    service = PhoneService(client_factory=client_factory, settings=session_settings(AppConfig()), greet=greet)
    runner = web.AppRunner(create_phone_app(service), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return Bridge(server, service, f"ws://127.0.0.1:{port}", sent), runner


@pytest.fixture
async def bridge() -> AsyncIterator[Bridge]:
    async with LocalServer(brain="echo") as server:
        running, runner = await start_bridge(server)
        yield running
        await runner.cleanup()


HEARD = re.compile(r"I heard (\d+\.\d) seconds of audio")


@pytest.mark.parametrize("case", ["camelCase", "PascalCase"])
async def test_speech_in_real_time_gets_a_spoken_answer(bridge: Bridge, tmp_path: Path, case: str) -> None:
    words = speech(tmp_path, "What is the weather in Paris?")
    async with SimulatedAcsCall(bridge.url("call-1"), pascal_case=case == "PascalCase") as call:
        await call.stream(words)
        await call.silence_until(lambda: call.loud_audio_after(), "a spoken answer")
        record = bridge.service.registry.get("call-1")
        assert record is not None
        await call.silence_until(lambda: record.last_words.startswith("assistant:"), "the answer's transcript")
    heard = HEARD.search(record.last_words)
    assert heard is not None, record.last_words
    # The model heard the caller's speech, at its real length (VAD padding and silence add a little).
    assert len(words) / 24_000 - 0.2 <= float(heard.group(1)) <= len(words) / 24_000 + 1.5
    assert record.turn_latencies_ms, "a turn latency was measured"
    assert "StopAudio" not in call.kinds()


async def test_speaking_over_the_reply_stops_playback_and_truncates(bridge: Bridge, tmp_path: Path) -> None:
    async with SimulatedAcsCall(bridge.url("call-2")) as call:
        await call.stream(speech(tmp_path, "Tell me a long story about the sea."))
        await call.silence_until(lambda: call.loud_audio_after(), "the start of the answer")
        interrupted_at = call.received[-1].at
        await call.stream(speech(tmp_path, "Stop, please."))
        await call.silence_until(lambda: "StopAudio" in call.kinds(), "StopAudio")
        stop = next(item for item in call.received if item.kind == "StopAudio")
        assert stop.at >= interrupted_at
        # A new answer (to the interruption) follows the StopAudio.
        await call.silence_until(lambda: call.loud_audio_after(stop.at), "the answer after the interruption")
    truncates = [event for event in bridge.sent[0] if event["type"] == "conversation.item.truncate"]
    assert truncates, "the model's item was truncated at what the caller heard"
    assert truncates[0]["audio_end_ms"] > 0


async def test_malformed_frames_are_logged_and_the_call_goes_on(
    bridge: Bridge, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="voicecli.phone")
    async with SimulatedAcsCall(bridge.url("call-3")) as call:
        await call.send_raw("this is not JSON")
        await call.send_raw('["a", "list"]')
        await call.send_raw('{"kind": "AudioData", "audioData": {"data": "%%% not base64 %%%"}}')
        await call.send_raw('{"kind": "AudioData", "audioData": {"data": "AAAA"}}')  # 3 bytes: not int16
        await call.send_raw(b"\x00\x01binary")
        await call.send_json({"kind": "DtmfData", "dtmfData": {"data": "5", "participantRawID": "4:+1555"}})
        await call.send_json({"kind": "SomethingNew", "somethingNew": {}})
        await call.stream(speech(tmp_path, "Are you still there?"))
        await call.silence_until(lambda: call.loud_audio_after(), "an answer after the malformed frames")
    record = bridge.service.registry.get("call-3")
    assert record is not None
    assert record.malformed_frames == 5
    assert record.dtmf == "5"
    skipped = [r.getMessage() for r in caplog.records if "malformed media frame skipped" in r.getMessage()]
    assert len(skipped) == 5
    assert any("not JSON" in line for line in skipped)


async def test_caller_hanging_up_closes_the_realtime_session(bridge: Bridge, tmp_path: Path) -> None:
    async with SimulatedAcsCall(bridge.url("call-4")) as call:
        await until(lambda: len(bridge.server.config.sockets) == 1, "the realtime session to open")
        await call.stream(speech(tmp_path, "Goodbye."))
    record = bridge.service.registry.get("call-4")
    assert record is not None
    await until(lambda: not record.active, "the call to end")
    assert record.state == "ended" and record.reason == "the caller hung up"
    await until(lambda: not bridge.server.config.sockets, "the realtime session to close")
    assert bridge.service.calls_in_progress == 0


async def test_a_greeting_is_heard_before_the_caller_speaks(tmp_path: Path) -> None:
    async with LocalServer(brain="echo") as server:
        running, runner = await start_bridge(server, greet=True)
        try:
            async with SimulatedAcsCall(running.url("call-5")) as call:
                await call.silence_until(lambda: call.loud_audio_after(), "the greeting")
                greeting = call.heard()
        finally:
            await runner.cleanup()
    assert int(np.abs(greeting.astype(np.int32)).max()) > LOUD


async def test_over_webrtc_the_caller_is_answered_and_barge_in_stops_playback(tmp_path: Path) -> None:
    async with LocalServer(brain="echo") as server:
        running, runner = await start_bridge(server, transport="webrtc")
        try:
            async with SimulatedAcsCall(running.url("call-rtc")) as call:
                await call.stream(speech(tmp_path, "Tell me a long story about the sea."))
                await call.silence_until(lambda: call.loud_audio_after(), "the spoken answer over WebRTC")
                await call.stream(speech(tmp_path, "Stop, please."))
                await call.silence_until(lambda: "StopAudio" in call.kinds(), "StopAudio")
        finally:
            await runner.cleanup()
    sent_types = {event["type"] for event in running.sent[0]}
    assert "conversation.item.truncate" not in sent_types, "over WebRTC the service truncates by itself"
