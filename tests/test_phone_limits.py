"""A call stays within bounds whatever the caller sends, ends politely at its limits, survives a drop.

Real loopback sockets all the way: a simulated ACS call ↔ the bridge (local test mode) ↔ the
local realtime server. Limits are set short here; what is checked is that the call ends, why, and
that the caller heard a goodbye first, never how fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from support.live import until
from support.phone import CONNECT_TIMEOUT_S, FRAME, SimulatedAcsCall, speech

from voicecli.config import AppConfig
from voicecli.conversation.providers import session_settings
from voicecli.phone import media
from voicecli.phone.app import create_phone_app
from voicecli.phone.calls import CallRecord
from voicecli.phone.limits import CallLimits
from voicecli.phone.service import PhoneService
from voicecli.realtime import Continuity, OpenAIRealtimeWebsocket, RealtimeClient
from voicecli.realtime.functions import ToolFunction
from voicecli.server import Faults, LocalServer
from voicecli.server.replies import Reply
from voicecli.server.session.conversation import Item

pytestmark = pytest.mark.timeout(180)


@dataclass
class Running:
    model: LocalServer
    service: PhoneService
    base: str
    sent: list[dict[str, Any]] = field(default_factory=list)

    def record(self, call_id: str) -> CallRecord:
        record = self.service.registry.get(call_id)
        assert record is not None
        return record

    def appended_bytes(self) -> list[int]:
        return [len(event["audio"]) for event in self.sent if event["type"] == "input_audio_buffer.append"]


async def running_bridge(
    model: LocalServer, limits: CallLimits, continuity: Continuity | None = None
) -> tuple[Running, web.AppRunner]:
    sent: list[dict[str, Any]] = []

    def client_factory(_: CallRecord, tools: list[ToolFunction]) -> RealtimeClient:
        client = OpenAIRealtimeWebsocket(
            api_key="sk-test",
            websocket_base_url=model.ws_base_url,
            tools=tools,
            connect_timeout_s=CONNECT_TIMEOUT_S,
            continuity=continuity,
        )
        client.observe_sent(sent.append)
        return client

    service = PhoneService(
        client_factory=client_factory, settings=session_settings(AppConfig()), limits=limits, greet=False
    )
    runner = web.AppRunner(create_phone_app(service), shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return Running(model, service, f"ws://127.0.0.1:{runner.addresses[0][1]}", sent), runner


@pytest.fixture
async def bridge() -> AsyncIterator[Running]:
    async with LocalServer(brain="echo") as model:
        running, runner = await running_bridge(model, CallLimits(max_calls=2))
        yield running
        await runner.cleanup()


# --- what a hostile caller sends --------------------------------------------------------------


async def test_a_bogus_sample_rate_is_refused_and_the_call_goes_on_at_24_khz(
    bridge: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voicecli.phone")
    async with SimulatedAcsCall(f"{bridge.base}/ws/bogus-rate") as call:
        await call.send_json({"kind": "AudioMetadata", "audioMetadata": {"sampleRate": 1, "channels": 1}})
        await call.send_json({"kind": "AudioData", "audioData": {"data": "", "silent": True}})
        await call.send_raw(media.audio_in(bytes(4000), timestamp="t", participant="p"))
        await until(lambda: len(bridge.appended_bytes()) >= 2, "the frames to reach the model")
        assert bridge.record("bogus-rate").state == "streaming"
    refused = [r.getMessage() for r in caplog.records if "media format refused" in r.getMessage()]
    assert refused == ["call bogus-rate: media format refused: PCM 1 Hz, 1 channel(s) is not 16 or 24 kHz mono PCM; "
                       "the call goes on at 24000 Hz"]  # fmt: skip
    # 20 ms of silence at 24 kHz and the 4000-byte frame as it was: base64 of 960 and 4000 bytes.
    assert bridge.appended_bytes()[:2] == [1280, 5336]


async def test_an_oversized_frame_ends_the_call_cleanly(bridge: Running) -> None:
    async with SimulatedAcsCall(f"{bridge.base}/ws/oversized") as call:
        await until(lambda: bridge.model.config.connections == 1, "the realtime session")
        await call.send_raw(media.audio_in(bytes(1_000_000), timestamp="t", participant="p"))
        await until(call.closed.is_set, "the bridge to close the socket")
    record = bridge.record("oversized")
    await until(lambda: not record.active, "the call to end")
    assert record.state == "ended"
    await until(lambda: not bridge.model.config.sockets, "the realtime session to close")


async def test_dtmf_megabytes_and_control_characters_reach_neither_memory_nor_the_log(
    bridge: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voicecli.phone")
    async with SimulatedAcsCall(f"{bridge.base}/ws/keys?caller=%1B%5B2J%0Aevil") as call:
        for digits in ("5", "7" * 10_000, "1\ncall x: ended", "\x1b[31m#"):
            await call.send_json({"kind": "DtmfData", "dtmfData": {"data": digits}})
        await call.send_json({"kind": "Forged\nline\x1b[2J", "forged": {}})
        await call.send_json({"kind": "DtmfData", "dtmfData": {"data": "9#"}})
        record = bridge.record("keys")
        await until(lambda: record.dtmf == "59#", "the valid keys")
        await call.send_raw(json.dumps({"kind": "DtmfData", "dtmfData": {"data": "8" * 2_000_000}}))
        await until(call.closed.is_set, "the 2 MB frame to end the call")
    assert record.malformed_frames == 3 and record.caller == "\\x1b[2J\\nevil"
    for line in (r.getMessage() for r in caplog.records):
        assert line.isprintable() and len(line) < 800, line


# --- limits -----------------------------------------------------------------------------------


async def test_the_call_after_max_calls_is_refused(bridge: Running) -> None:
    async with SimulatedAcsCall(f"{bridge.base}/ws/first"), SimulatedAcsCall(f"{bridge.base}/ws/second"):
        await until(lambda: bridge.model.config.connections == 2, "two realtime sessions")
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"{bridge.base}/ws/third")
        assert refused.value.status == 503
    assert bridge.model.config.connections == 2
    assert bridge.service.registry.get("third") is None


async def _send_until_closed(call: SimulatedAcsCall, *, loud: bool, timeout: float = 60.0) -> None:
    tone = (3000 * np.sin(np.arange(FRAME) * 2 * np.pi * 440 / 24_000)).astype(np.int16)
    frame = tone if loud else np.zeros(FRAME, dtype=np.int16)
    deadline = time.monotonic() + timeout
    while not call.closed.is_set():
        assert time.monotonic() < deadline, f"the bridge did not end the call (got {call.kinds()})"
        await call.send_raw(media.audio_in(frame.tobytes(), timestamp="t", participant="p", silent=not loud))
        await asyncio.sleep(FRAME / 24_000)


class BriefGoodbyes:
    """A model that says one word when asked for a goodbye: the echo brain would answer with its
    ten-second greeting, which the bridge plays out in real time before it hangs up."""

    phrases: tuple[str, ...] = ()

    async def reply(self, items: Sequence[Item], config: Mapping[str, Any]) -> Reply:
        return Reply("Goodbye." if "goodbye" in str(config.get("instructions")) else "")


@pytest.mark.parametrize(
    ("limits", "loud", "reason"),
    [
        (CallLimits(idle_timeout_s=1.0), False, "no caller audio for 1 s"),
        (CallLimits(idle_timeout_s=3600.0, max_call_s=2.0), True, "the call reached its maximum length (2 s)"),
    ],
    ids=["idle", "too long"],
)
async def test_a_call_past_a_limit_hears_a_goodbye_and_ends(limits: CallLimits, loud: bool, reason: str) -> None:
    async with LocalServer(brain=BriefGoodbyes()) as model:
        running, runner = await running_bridge(model, limits)
        try:
            async with SimulatedAcsCall(f"{running.base}/ws/limited") as call:
                await _send_until_closed(call, loud=loud)
        finally:
            await runner.cleanup()
    record = running.record("limited")
    assert (record.state, record.reason) == ("ended", reason)
    assert call.loud_audio_after(), "a goodbye was heard before the end"
    goodbye = [event for event in running.sent if event["type"] == "response.create"]
    assert goodbye and "goodbye" in goodbye[-1]["response"]["instructions"]


# --- a dropped realtime connection ------------------------------------------------------------


async def test_a_call_whose_realtime_connection_drops_goes_on_after_the_reconnect(tmp_path: Path) -> None:
    # The first connection drops after its 4th event (speech started, stopped); the next one holds.
    faults = Faults(drop_after_events=4, connections=1)
    async with LocalServer(brain="echo", faults=faults) as model:
        continuity = Continuity(delays_s=(0.0, 0.2, 0.5), attempt_timeout_s=CONNECT_TIMEOUT_S)
        running, runner = await running_bridge(model, CallLimits(), continuity)
        try:
            async with SimulatedAcsCall(f"{running.base}/ws/dropped") as call:
                await call.stream(speech(tmp_path, "Hello there."))
                await call.silence_until(lambda: model.config.connections == 2, "the reconnect")
                await call.stream(speech(tmp_path, "Are you still there?"))
                await call.silence_until(lambda: call.loud_audio_after(), "the answer after the reconnect")
                record = running.record("dropped")
                assert record.state == "streaming"
            await until(lambda: not record.active, "the call to end")
        finally:
            await runner.cleanup()
    assert (record.state, record.reason) == ("ended", "the caller hung up")
