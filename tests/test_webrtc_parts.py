"""The WebRTC pieces on their own: loopback ICE, tracks, frame conversion, playback bookkeeping,
the server's reply track, the client-secret endpoint and the provider mapping."""

from __future__ import annotations

import asyncio
import fractions
import os
import subprocess
import sys
import time

import aioice.ice
import numpy as np
import pytest
from aiohttp import web
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame
from openai.types.realtime import ClientSecretCreateResponse
from support.app_requests import post

from voicecli.config import AppConfig
from voicecli.conversation.providers import build_client
from voicecli.realtime import ListenEvents, RealtimeEvent
from voicecli.realtime.webrtc import AzureRealtimeWebRTC, OpenAIRealtimeWebRTC
from voicecli.realtime.webrtc_ice import is_loopback_url, loopback_candidates, no_stun, why_not_open
from voicecli.realtime.webrtc_media import FRAME_SAMPLES, Pcm24kConverter, PcmAudioTrack
from voicecli.realtime.webrtc_playback import TAIL_FRAMES, RemotePlayback
from voicecli.server import Faults
from voicecli.server.app import ServerConfig, create_app
from voicecli.server.brains import load_brain
from voicecli.server.embedded_webrtc import LocalRealtimeWebRTC
from voicecli.server.webrtc.audio import ResponseAudioTrack

pytestmark = pytest.mark.timeout(20)

LOUD = np.full(FRAME_SAMPLES, 5000, dtype=np.int16)
QUIET = np.zeros(FRAME_SAMPLES, dtype=np.int16)


# --- ICE ---------------------------------------------------------------------------------------


async def test_gathering_inside_the_block_offers_loopback_only() -> None:
    pc = RTCPeerConnection(no_stun())
    pc.createDataChannel("oai-events")
    with loopback_candidates():
        await pc.setLocalDescription(await pc.createOffer())
    candidates = [line for line in pc.localDescription.sdp.splitlines() if line.startswith("a=candidate")]
    await pc.close()
    assert candidates and all(" 127.0.0.1 " in line and "typ host" in line for line in candidates)


async def test_the_restriction_is_confined_to_the_block_and_its_tasks() -> None:
    go = asyncio.Event()

    async def addresses() -> list[str]:
        await go.wait()
        return aioice.ice.get_host_addresses(True, False)

    elsewhere = asyncio.ensure_future(addresses())  # started outside the block, runs while it is active
    with loopback_candidates():
        inside = asyncio.ensure_future(addresses())
        go.set()
        inner, other = await inside, await elsewhere
    assert inner == ["127.0.0.1"]
    assert "127.0.0.1" not in other and "127.0.0.1" not in aioice.ice.get_host_addresses(True, False)
    assert no_stun().iceServers == []


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8765/v1", True),
        ("http://localhost/v1", True),
        ("http://[::1]:80/v1", True),
        ("https://api.openai.com/v1", False),
        ("https://10.0.0.5/openai/v1", False),
    ],
)
def test_loopback_urls(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


BUSY = "too busy to answer in time"
UDP = "a firewall blocks UDP"


@pytest.mark.parametrize(
    ("url", "ice", "connection", "seen", "causes"),
    [
        ("http://127.0.0.1:8765/v1", "checking", "connecting", "ICE still checking, no connectivity", [BUSY, UDP]),
        ("https://api.openai.com/v1", "checking", "connecting", "ICE still checking, no connectivity", [UDP, BUSY]),
        ("https://api.openai.com/v1", "failed", "failed", "ICE failed, no connectivity check", [UDP, BUSY]),
        (
            "https://api.openai.com/v1",
            "completed",
            "connecting",
            "ICE completed, so UDP gets through, but the encrypted link",
            [BUSY],
        ),
        (
            "https://api.openai.com/v1",
            "completed",
            "connected",
            "ICE completed, so UDP gets through, but the data channel",
            [BUSY],
        ),
    ],
)
def test_a_call_that_did_not_open_says_what_was_seen_and_the_likely_causes_in_order(
    url: str, ice: str, connection: str, seen: str, causes: list[str]
) -> None:
    message = why_not_open(url, ice, connection, 14.96)
    assert message.startswith(f"the WebRTC connection to {url} did not open in 15.0 s: {seen}"), message
    likely = message.split("Likely causes: ")[1]
    places = [likely.find(cause) for cause in causes]
    assert -1 not in places and places == sorted(places), likely
    assert (UDP in likely) is (UDP in causes), "ICE that got through clears UDP"


# --- the microphone track ----------------------------------------------------------------------


class SelfAdvancingClock:
    """A `Clock` whose waits pass at once and move its time on by what was waited."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_pcm_track_sends_real_time_frames_of_what_was_put() -> None:
    clock = SelfAdvancingClock()
    track = PcmAudioTrack(clock=clock)
    track.put_nowait(np.arange(FRAME_SAMPLES + 10, dtype=np.int16))
    frames = [await track.recv() for _ in range(6)]
    assert clock.waits == pytest.approx([0.02] * 5), "paced in real time: each frame after the first waits 20 ms"
    clock.now += 0.5  # the event loop stalled: the track restarts its clock rather than send a burst
    late = [await track.recv() for _ in range(2)]
    assert clock.waits[5:] == pytest.approx([0.02])
    first = frames[0].to_ndarray().reshape(-1)
    assert (frames[0].sample_rate, frames[0].samples, frames[0].layout.name) == (24_000, FRAME_SAMPLES, "stereo")
    assert np.array_equal(first[0::2], np.arange(FRAME_SAMPLES)) and np.array_equal(first[0::2], first[1::2])
    second = frames[1].to_ndarray().reshape(-1)[0::2]
    assert np.array_equal(second[:10], np.arange(FRAME_SAMPLES, FRAME_SAMPLES + 10)) and not second[10:].any()
    assert [frame.pts for frame in frames + late] == [i * FRAME_SAMPLES for i in range(8)]
    assert not frames[5].to_ndarray().any(), "silence when nothing is queued"
    track.stop()


async def test_pcm_track_bounds_its_buffer() -> None:
    track = PcmAudioTrack(max_buffered_s=0.05, clock=SelfAdvancingClock())  # 60 ms would not fit: 50 ms is 1200 samples
    track.put_nowait(np.zeros(960, dtype=np.int16))
    with pytest.raises(asyncio.QueueFull):
        track.put_nowait(np.zeros(480, dtype=np.int16))
    waiting = asyncio.ensure_future(track.put(np.zeros(480, dtype=np.int16)))
    for _ in range(5):
        await asyncio.sleep(0)  # its turn to run, several times over
    assert not waiting.done()
    await track.recv()  # 20 ms leave: now it fits
    await asyncio.wait_for(waiting, 1)
    drained = asyncio.ensure_future(track.drained())
    for _ in range(3):
        await track.recv()
    await asyncio.wait_for(drained, 1)
    track.put_nowait(np.ones(480, dtype=np.int16))
    track.clear()
    assert track.buffered_ms == 0
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.put(np.zeros(480, dtype=np.int16))
    with pytest.raises(MediaStreamError):
        await track.recv()


# --- incoming frames ---------------------------------------------------------------------------


def frame_of(samples: np.ndarray, rate: int, layout: str) -> AudioFrame:
    channels = 2 if layout == "stereo" else 1
    frame = AudioFrame.from_ndarray(np.repeat(samples, channels).reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, fractions.Fraction(1, rate)
    return frame


@pytest.mark.parametrize(("rate", "layout"), [(48_000, "stereo"), (8_000, "mono"), (24_000, "mono")])
def test_converter_keeps_the_level_and_makes_24khz(rate: int, layout: str) -> None:
    converter = Pcm24kConverter()
    t = np.arange(rate) / rate
    signal = (10_000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    step = rate // 50
    chunks = [converter.convert(frame_of(signal[i : i + step], rate, layout)) for i in range(0, rate, step)]
    out = np.concatenate(chunks)
    assert out.dtype == np.int16 and 24_000 - 1_000 < len(out) <= 24_000  # the resampler lags < 42 ms
    assert 9_500 < np.abs(out[2400:-2400]).max() < 10_500


# --- the playback bookkeeping ------------------------------------------------------------------


def event(kind: str, **payload: object) -> RealtimeEvent:
    return RealtimeEvent(service_type=kind, service_event={"type": kind, **payload})


async def test_playback_delivers_a_responses_audio_without_the_silence_around_it() -> None:
    playback = RemotePlayback()
    playback.on_server_event(
        event(ListenEvents.RESPONSE_CONTENT_PART_ADDED, response_id="r1", item_id="i1", part={"type": "audio"})
    )
    assert playback.admit(LOUD) is None, "no response is playing"
    playback.on_server_event(event(ListenEvents.OUTPUT_AUDIO_BUFFER_STARTED, response_id="r1"))
    assert playback.admit(QUIET) is None, "silence before the reply is dropped"
    assert playback.admit(LOUD) == (LOUD, "i1")
    assert playback.admit(QUIET) is not None, "a pause within the reply is kept"
    playback.on_server_event(event(ListenEvents.OUTPUT_AUDIO_BUFFER_STOPPED, response_id="r1"))
    assert playback.admit(QUIET) is None  # held: it counts only if sound follows
    delivered = playback.admit(LOUD)
    assert delivered is not None and len(delivered[0]) == 2 * FRAME_SAMPLES, "held silence comes with it"
    for _ in range(TAIL_FRAMES - 2):
        assert playback.admit(QUIET) is None
    await asyncio.wait_for(playback.played("r1"), 0.1)
    assert playback.admit(LOUD) is None, "the tail is over"


async def test_playback_clear_and_stall_end_a_response() -> None:
    playback = RemotePlayback(stall_s=0.05)
    playback.on_server_event(event(ListenEvents.OUTPUT_AUDIO_BUFFER_STARTED, response_id="r1"))
    assert playback.admit(LOUD) is not None
    playback.clear()
    assert playback.admit(LOUD) is None
    await asyncio.wait_for(playback.played("r1"), 0.1)
    playback.on_server_event(event(ListenEvents.OUTPUT_AUDIO_BUFFER_STARTED, response_id="r2"))
    started = time.monotonic()
    await asyncio.wait_for(playback.played("r2"), 1)  # no sound at all: given up after stall_s
    assert time.monotonic() - started >= 0.04, "it waited for the stall time before giving up"
    await asyncio.wait_for(playback.played(None), 0.1)


# --- the server's reply track ------------------------------------------------------------------


async def test_reply_track_plays_segments_in_order_and_announces_them() -> None:
    announced: list[tuple[str, str]] = []
    track = ResponseAudioTrack(
        lambda kind, response_id: announced.append((kind.rsplit(".", 1)[1], response_id)), clock=SelfAdvancingClock()
    )
    await track.put("r1", b"\1\0" * 600)
    await track.put("r2", b"\2\0" * 300)
    assert announced == [("started", "r1")]
    track.finish_response("r1")
    first = (await track.recv()).to_ndarray().reshape(-1)[0::2]
    assert (first == 1).all()
    second = (await track.recv()).to_ndarray().reshape(-1)[0::2]
    assert (second[:120] == 1).all() and (second[120:420] == 2).all() and not second[420:].any()
    assert announced == [("started", "r1"), ("stopped", "r1"), ("started", "r2")]
    track.finish_response("r2")
    assert announced[-1] == ("stopped", "r2")
    await track.put("r3", b"\3\0" * 100)
    assert track.clear() == ["r3"]
    assert not (await track.recv()).to_ndarray().any()
    track.stop()


# --- the client-secret endpoint ----------------------------------------------------------------


@pytest.fixture
def app() -> web.Application:
    """The local server's app, reached without a socket (`support.app_requests`)."""
    return create_app(ServerConfig(brain=load_brain("echo"), faults=Faults()))


async def mint(app: web.Application, body: object) -> tuple[int, dict[str, object]]:
    reply = await post(app, "/v1/realtime/client_secrets", json=body, headers={"api-key": "k"})
    return reply.status, reply.json()


async def test_client_secret_carries_the_checked_session(app: web.Application) -> None:
    status, body = await mint(app, {"session": {"type": "realtime", "model": "m", "instructions": "hi"}})
    assert status == 200
    assert str(body["value"]).startswith("ek_")
    checked = ClientSecretCreateResponse.model_validate(body)
    assert checked.expires_at > time.time()
    assert (checked.session.model, checked.session.instructions) == ("m", "hi")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"session": {"type": "realtime", "audio": {"output": {"voice": 7}}}}, "session.audio.output.voice"),
        ({"session": {"type": "transcription"}}, "session.type"),
        ({"session": {"type": "realtime"}, "colour": "red"}, "colour"),
        ({"session": {"type": "realtime"}, "expires_after": 60}, None),
    ],
)
async def test_client_secret_refuses_bad_sessions(app: web.Application, body: object, param: str | None) -> None:
    status, reply = await mint(app, body)
    assert status == 400
    assert reply["error"]["param"] == param  # type: ignore[index]


# --- providers ---------------------------------------------------------------------------------


def test_build_client_picks_the_webrtc_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-x")
    config = AppConfig(transport="webrtc")
    config.local.brain = "echo"  # `auto` would look for a chat server nearby
    assert type(build_client(config)) is LocalRealtimeWebRTC
    config.provider = "openai"
    assert type(build_client(config)) is OpenAIRealtimeWebRTC
    config.provider = "azure"
    config.azure.endpoint, config.azure.deployment = "https://res.openai.azure.com", "dep"
    client = build_client(config)
    assert type(client) is AzureRealtimeWebRTC and client.endpoint_description.endswith("/openai/v1")


@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
def test_a_remote_provider_does_not_load_the_local_server(transport: str) -> None:
    """The local server takes a third of a second to import: only the local provider pays for it."""
    code = (
        "import sys\n"
        "from voicecli.config import AppConfig\n"
        "from voicecli.conversation.providers import build_client\n"
        "import voicecli.commands.talk_files, voicecli.commands.talk_live\n"
        f"build_client(AppConfig(provider='openai', transport='{transport}'))\n"
        "print(sorted(name for name in sys.modules if name.startswith('voicecli.server')))\n"
    )
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
