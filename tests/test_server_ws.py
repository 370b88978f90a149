"""The local realtime server: the protocol's rules against a session in memory (`SessionPeer`), and
what only the connection does (routes, keys, close codes, the beta shape, faults) over real loopback
sockets, driven by the real `openai` client.

Every event received is checked against `openai.types.realtime.RealtimeServerEvent` (no unknown
keys); every wait is bounded. Replies are spoken in tones (no espeak-ng process): no test here
listens to their words.
"""

from __future__ import annotations

import asyncio
import base64
import math
import subprocess
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import orjson
import pytest
import soundfile
import soxr
import websockets
from openai import AsyncAzureOpenAI, AsyncOpenAI
from support.server_session import SessionPeer, session_peer
from support.session_transport import in_tones  # noqa: F401  (a fixture)
from support.system_tools import require_program
from support.virtual_pacing import PacingClock, VirtualPacing
from websockets.exceptions import ConnectionClosed

from voicecli.server import UNPACED, Faults, LocalServer, recognition, recognition_whisper
from voicecli.server.brains import ECHO_GREETING, Reply, ToolCall
from voicecli.server.session.conversation import Item
from voicecli.server.validation import Shape, validate_server_event

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("in_tones")]

RATE = 24_000
NO_VAD = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather of a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


class Peer:
    """The `openai` realtime connection, with validated and time-bounded receives."""

    def __init__(self, connection: Any, shape: Shape = "ga") -> None:
        self.connection = connection
        self.shape = shape

    async def send(self, event: dict[str, Any]) -> None:
        await self.connection.send_raw(orjson.dumps(event).decode())

    async def send_raw(self, data: str | bytes) -> None:
        await self.connection.send_raw(data)

    async def raw(self, timeout: float = 5.0) -> bytes:
        async with asyncio.timeout(timeout):
            return bytes(await self.connection.recv_bytes())

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        event = orjson.loads(await self.raw(timeout))
        validate_server_event(event, self.shape)
        return event

    async def expect(self, kind: str) -> dict[str, Any]:
        event = await self.recv()
        assert event["type"] == kind, event
        return event

    async def until(self, kind: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """All events up to and including the first of `kind`."""
        events: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while not events or events[-1]["type"] != kind:
                events.append(await self.recv())
        return events

    async def closed_with(self) -> int | None:
        """Read until the server closes; the close code received (None: no close frame, 1006)."""
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                while True:
                    await self.connection.recv_bytes()
        return closed.value.rcvd.code if closed.value.rcvd else None


@asynccontextmanager
async def openai_peer(server: LocalServer, **connect: Any) -> AsyncIterator[Peer]:
    async with (
        AsyncOpenAI(api_key="test", websocket_base_url=server.ws_base_url, base_url=server.http_url + "/v1") as client,
        client.realtime.connect(model="gpt-realtime", **connect) as connection,
    ):
        yield Peer(connection)


@pytest.fixture
async def server() -> AsyncIterator[LocalServer]:
    async with LocalServer(pacing=UNPACED) as running:  # these tests want replies fast, not timed
        yield running


@pytest.fixture
async def peer() -> AsyncIterator[SessionPeer]:
    """A session of the server driven directly (no socket): the protocol's rules. What the connection
    adds (routes, keys, close codes, the beta shape, faults) is tested over loopback with `server`."""
    async with session_peer(LocalServer(pacing=UNPACED).config) as connected:
        await connected.expect("session.created")
        yield connected


@pytest.fixture
async def hearing_peer() -> AsyncIterator[SessionPeer]:
    """As `peer`, with the recognisers loaded first: for the tests that send speech to transcribe."""
    async with session_peer(LocalServer(pacing=UNPACED).config, hears=True) as connected:
        await connected.expect("session.created")
        yield connected


@pytest.fixture
async def free_speech_peer() -> AsyncIterator[SessionPeer]:
    """As `hearing_peer`, for speech with no phrase expected: only Whisper loaded where it is installed."""
    async with session_peer(LocalServer(pacing=UNPACED).config, hears=True, phrases=False) as connected:
        await connected.expect("session.created")
        yield connected


@pytest.fixture
def clock() -> PacingClock:
    return PacingClock()


@pytest.fixture
async def paced_peer(clock: PacingClock) -> AsyncIterator[SessionPeer]:
    """Paced like the service (the default pacing) on `clock`: a reply is in flight, whatever the
    machine's load, until the test moves time on."""
    async with session_peer(LocalServer(pacing=VirtualPacing(clock=clock)).config) as connected:
        await connected.expect("session.created")
        yield connected


def user_text(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


def appends(pcm: np.ndarray, ms: int = 20) -> Iterable[dict[str, Any]]:
    step = RATE * ms // 1000
    for start in range(0, len(pcm), step):
        chunk = pcm[start : start + step].astype("<i2").tobytes()
        yield {"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()}


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * 300 * t) * 0.3 * 32767).astype(np.int16)


def squeeze(kinds: Iterable[str]) -> list[str]:
    """Event types with runs of the same delta collapsed into one."""
    out: list[str] = []
    for kind in kinds:
        if not (out and kind == out[-1] and kind.endswith(".delta")):
            out.append(kind)
    return out


SPOKEN = "What is the weather like in Paris today"


@pytest.fixture(scope="module")
def speech_pcm(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """`SPOKEN`, spoken by espeak-ng, 24 kHz int16."""
    require_program("espeak-ng", "the test speech")
    wav = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), SPOKEN], check=True)
    samples, rate = soundfile.read(wav, dtype="int16")
    return np.asarray(soxr.resample(samples, rate, RATE), dtype=np.int16)


# --- connecting -------------------------------------------------------------------------------------


async def test_session_created_comes_first_with_the_full_default_session() -> None:
    async with session_peer(LocalServer().config) as other:
        created = await other.recv()
    assert created["type"] == "session.created"
    session = created["session"]
    assert session["id"].startswith("sess_") and created["event_id"].startswith("event_")
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert session["output_modalities"] == ["audio"]


@asynccontextmanager
async def azure_preview_peer(server: LocalServer) -> AsyncIterator[Peer]:
    """A peer on the Azure preview route, built by the `openai` client as for a preview deployment."""
    client = AsyncAzureOpenAI(
        azure_endpoint=server.http_url,
        api_version="2025-04-01-preview",
        api_key="k",
        azure_deployment="gpt-realtime",
        websocket_base_url=server.http_url.replace("http://", "ws://") + "/openai",
    )
    async with client, client.realtime.connect(model="gpt-realtime") as connection:
        yield Peer(connection, shape="beta")


async def test_azure_ga_route_runs_a_turn(server: LocalServer) -> None:
    ws_root = server.http_url.replace("http://", "ws://")
    client = AsyncOpenAI(
        api_key="k", websocket_base_url=ws_root + "/openai/v1", base_url=server.http_url + "/openai/v1"
    )
    async with client, client.realtime.connect(model="gpt-realtime") as connection:
        azure = Peer(connection)
        await azure.expect("session.created")
        await azure.send(user_text("over Azure"))
        await azure.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        done = (await azure.until("response.done"))[-1]
    assert done["response"]["output"][0]["content"][0] == {"type": "output_text", "text": "You said: over Azure"}


async def test_azure_preview_route_speaks_the_beta_shape(server: LocalServer) -> None:
    async with azure_preview_peer(server) as azure:
        created = (await azure.expect("session.created"))["session"]
        assert created["input_audio_format"] == "pcm16" and created["modalities"] == ["audio", "text"]
        await azure.send({"type": "session.update", "session": {"type": "realtime", "audio": {"output": {}}}})
        refused = (await azure.expect("error"))["error"]
        assert (refused["code"], refused["param"]) == ("unknown_parameter", "session.type")


async def test_a_beta_shaped_session_turn() -> None:
    """What the preview route does with the beta shape (its rewriting both ways), on a session in memory."""
    async with session_peer(LocalServer(pacing=UNPACED).config, shape="beta") as azure:
        await azure.expect("session.created")
        beta_session = {"voice": "shimmer", "turn_detection": None, "modalities": ["audio", "text"]}
        await azure.send({"type": "session.update", "session": {**beta_session, "input_audio_format": "pcm16"}})
        updated = (await azure.expect("session.updated"))["session"]
        assert updated == {**updated, **beta_session}
        await azure.send(user_text("over Azure"))
        created_item = await azure.expect("conversation.item.created")
        assert created_item["item"]["content"] == [{"type": "input_text", "text": "over Azure"}]
        await azure.send({"type": "response.create", "response": {"voice": "shimmer", "output_audio_format": "pcm16"}})
        events = await azure.until("response.done")
    kinds = {event["type"] for event in events}
    assert {"response.audio.delta", "response.audio_transcript.delta", "response.audio.done"} <= kinds
    assert not {kind for kind in kinds if "output_audio" in kind or kind == "conversation.item.done"}
    response = events[-1]["response"]
    assert (response["voice"], response["output_audio_format"]) == ("shimmer", "pcm16")
    assert response["output"][0]["content"][0]["type"] == "audio"
    assert response["output"][0]["content"][0]["transcript"] == "You said: over Azure"


async def test_missing_key_gets_invalid_api_key_and_close_3000(server: LocalServer) -> None:
    async with websockets.connect(f"{server.ws_base_url}/realtime?model=gpt-realtime") as ws:
        async with asyncio.timeout(5):
            event = orjson.loads(await ws.recv())
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
    validate_server_event(event)
    assert event["error"]["code"] == "invalid_api_key"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 3000


async def test_beta_header_gets_beta_api_shape_disabled_and_close_4000(server: LocalServer) -> None:
    async with openai_peer(server, extra_headers={"OpenAI-Beta": "realtime=v1"}) as beta:
        event = await beta.recv()
        assert event["error"]["code"] == "beta_api_shape_disabled"
        assert await beta.closed_with() == 4000


# --- session ----------------------------------------------------------------------------------------


async def test_session_update_merges_and_answers_with_the_full_session(peer: SessionPeer) -> None:
    await peer.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "instructions": "Be brief.",
                "tools": [WEATHER_TOOL],
                "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.7}}},
            },
        }
    )
    first = (await peer.expect("session.updated"))["session"]
    voice = {"type": "realtime", "audio": {"output": {"voice": "marin"}}}
    await peer.send({"type": "session.update", "session": voice})
    second = (await peer.expect("session.updated"))["session"]
    assert first["instructions"] == second["instructions"] == "Be brief."
    assert second["tools"][0]["name"] == "get_weather"
    assert second["audio"]["output"]["voice"] == "marin"
    turn_detection = second["audio"]["input"]["turn_detection"]
    assert turn_detection["threshold"] == 0.7 and turn_detection["silence_duration_ms"] == 500
    assert second["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}


@pytest.mark.parametrize(
    ("audio", "param"),
    [
        ({"input": {"format": {"type": "audio/pcm", "rate": 16000}}}, "session.audio.input.format.rate"),
        ({"output": {"format": {"rate": 16000}}}, "session.audio.output.format.rate"),
        ({"output": {"format": {"type": "audio/pcmu"}}}, "session.audio.output.format.type"),
    ],
)
async def test_session_update_refuses_other_audio_formats(peer: SessionPeer, audio: dict[str, Any], param: str) -> None:
    await peer.send({"type": "session.update", "event_id": "evt_fmt", "session": {"type": "realtime", "audio": audio}})
    error = (await peer.expect("error"))["error"]
    assert error == {**error, "type": "invalid_request_error", "code": "invalid_value", "param": param}
    assert error["event_id"] == "evt_fmt"
    await peer.send({"type": "session.update", "session": NO_VAD})
    await peer.expect("session.updated")


# --- turns ------------------------------------------------------------------------------------------

ITEM = ["conversation.item.added", "conversation.item.done"]
HEAD = ["response.created", "response.output_item.added", "conversation.item.added", "response.content_part.added"]
TAIL = ["response.content_part.done", "response.output_item.done", "conversation.item.done", "response.done"]


async def test_text_turn_in_text_modality(peer: SessionPeer) -> None:
    await peer.send(user_text("hello there"))
    await peer.send({"type": "response.create", "response": {"output_modalities": ["text"], "instructions": "x"}})
    events = await peer.until("response.done")
    assert squeeze(e["type"] for e in events) == [
        *ITEM,
        *HEAD,
        "response.output_text.delta",
        "response.output_text.done",
        *TAIL,
    ]
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    done = events[-1]["response"]
    assert text == "You said: hello there" == done["output"][0]["content"][0]["text"]
    assert done["status"] == "completed" and done["output_modalities"] == ["text"]
    assert done["usage"]["output_tokens"] > 0
    assert {e["response_id"] for e in events[2:-1] if "response_id" in e} == {done["id"]}


async def test_text_turn_in_audio_modality_streams_100ms_deltas(peer: SessionPeer) -> None:
    await peer.send(user_text("hello there"))
    await peer.send({"type": "response.create"})
    events = await peer.until("response.done")
    kinds = [e["type"] for e in events]
    body = squeeze(k for k in kinds[len(ITEM) + len(HEAD) : -len(TAIL)] if k.endswith(".delta"))
    assert set(body) == {"response.output_audio_transcript.delta", "response.output_audio.delta"}
    assert kinds[: len(ITEM) + len(HEAD)] == ITEM + HEAD
    assert kinds[-len(TAIL) - 2 :] == ["response.output_audio.done", "response.output_audio_transcript.done", *TAIL]
    chunks = [base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"]
    assert all(len(chunk) == 4800 for chunk in chunks[:-1]) and len(chunks) > 3
    pcm = np.frombuffer(b"".join(chunks), "<i2")
    assert np.abs(pcm).max() > 1000, "the reply is silent"
    transcript = "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")
    assert transcript == "You said: hello there"
    assert events[-1]["response"]["output"][0]["content"][0] == {"type": "output_audio", "transcript": transcript}


async def test_audio_turn_with_server_vad_answers_by_itself(hearing_peer: SessionPeer, speech_pcm: np.ndarray) -> None:
    peer = hearing_peer
    transcription = {"model": "whisper-1", "keywords": ["Hello there", SPOKEN]}  # what the listener expects
    session = {"type": "realtime", "audio": {"input": {"transcription": transcription}}}
    await peer.send({"type": "session.update", "session": session})
    await peer.expect("session.updated")
    stream = np.concatenate([np.zeros(RATE // 2, np.int16), speech_pcm, np.zeros(RATE, np.int16)])
    for append in appends(stream):
        await peer.send(append)
    events = await peer.until("response.done")
    kinds = squeeze(e["type"] for e in events)
    assert kinds[:9] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        *ITEM,
        "response.created",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "response.output_item.added",
    ]
    started, stopped, committed = events[:3]
    voiced = np.nonzero(np.abs(speech_pcm) > 300)[0]
    onset_ms, end_ms = 500 + voiced[0] * 1000 // RATE, 500 + voiced[-1] * 1000 // RATE
    assert abs(started["audio_start_ms"] - (onset_ms - 300)) <= 40
    assert abs(stopped["audio_end_ms"] - (end_ms + 500)) <= 40
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    heard = (stopped["audio_end_ms"] - started["audio_start_ms"]) / 1000
    deltas = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.delta"]
    completed = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert completed["item_id"] == committed["item_id"] and completed["transcript"] == SPOKEN
    assert "".join(e["delta"] for e in deltas) == SPOKEN
    assert completed["usage"] == {"type": "duration", "seconds": pytest.approx(heard, abs=0.001)}
    reply = events[-1]["response"]["output"][0]["content"][0]["transcript"]
    assert reply == f"I heard {heard:.1f} seconds of audio. You said: {SPOKEN}"
    await peer.send({"type": "conversation.item.retrieve", "item_id": committed["item_id"]})
    retrieved = await peer.expect("conversation.item.retrieved")
    assert retrieved["item"]["content"][0]["transcript"] == SPOKEN


async def test_a_turn_without_words_gets_transcription_failed(free_speech_peer: SessionPeer) -> None:
    peer = free_speech_peer
    audio = {"input": {"turn_detection": None, "transcription": {"model": "gpt-4o-transcribe"}}}
    await peer.send({"type": "session.update", "session": {"type": "realtime", "audio": audio}})
    await peer.expect("session.updated")
    for append in appends(np.zeros(RATE // 2, np.int16)):  # half a second of silence
        await peer.send(append)
    await peer.send({"type": "input_audio_buffer.commit"})
    await peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    events = await peer.until("response.done")
    committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
    (failed,) = [e for e in events if "input_audio_transcription" in e["type"]]
    assert failed["type"] == "conversation.item.input_audio_transcription.failed"
    assert failed["item_id"] == committed["item_id"]
    assert failed["error"]["message"] == "No speech was recognised in the audio."
    reply = events[-1]["response"]["output"][0]["content"][0]["text"]
    assert reply == "I heard 0.5 seconds of audio, but no words I know."


async def test_without_a_recogniser_speech_is_described_by_its_duration(
    peer: SessionPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recognition, "available", lambda: False)  # as where the packages are not installed
    monkeypatch.setattr(recognition_whisper, "available", lambda: False)
    audio = {"input": {"turn_detection": None, "transcription": {"model": "whisper-1"}}}
    await peer.send({"type": "session.update", "session": {"type": "realtime", "audio": audio}})
    await peer.expect("session.updated")
    for append in appends(tone(0.4)):
        await peer.send(append)
    await peer.send({"type": "input_audio_buffer.commit"})
    await peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    events = await peer.until("response.done")
    (completed,) = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert completed["transcript"] == "[0.4 s of audio]"  # what was heard, not invented words
    reply = events[-1]["response"]["output"][0]["content"][0]["text"]
    assert reply == "I heard 0.4 seconds of audio, but no words I know."


async def test_manual_commit_then_response(peer: SessionPeer) -> None:
    await peer.send({"type": "session.update", "session": NO_VAD})
    await peer.expect("session.updated")
    for append in appends(tone(0.3)):
        await peer.send(append)
    await peer.send({"type": "input_audio_buffer.commit"})
    committed = await peer.expect("input_audio_buffer.committed")
    added = await peer.expect("conversation.item.added")
    assert added["item"]["id"] == committed["item_id"] and added["item"]["content"][0]["type"] == "input_audio"
    await peer.expect("conversation.item.done")
    await peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    events = await peer.until("response.done")
    assert not [e for e in events if "input_audio_transcription" in e["type"]]  # the session did not ask for it
    done = events[-1]
    assert done["response"]["output"][0]["content"][0]["text"].startswith("I heard 0.3 seconds of audio")


async def test_commit_under_100ms_is_commit_empty_and_clear_works(peer: SessionPeer) -> None:
    await peer.send({"type": "session.update", "session": NO_VAD})
    await peer.expect("session.updated")
    for append in appends(tone(0.06)):
        await peer.send(append)
    await peer.send({"type": "input_audio_buffer.commit", "event_id": "evt_commit"})
    error = (await peer.expect("error"))["error"]
    assert (error["code"], error["event_id"]) == ("input_audio_buffer_commit_empty", "evt_commit")
    assert "60.00ms" in error["message"]
    await peer.send({"type": "input_audio_buffer.clear"})
    await peer.expect("input_audio_buffer.cleared")


async def test_function_call_round_trip_with_the_scripted_brain() -> None:
    async with session_peer(LocalServer(brain="scripted", pacing=UNPACED).config) as peer:
        await peer.expect("session.created")
        await peer.send({"type": "session.update", "session": {**NO_VAD, "tools": [WEATHER_TOOL]}})
        await peer.expect("session.updated")
        await peer.send(user_text("What's the weather today?"))
        await peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        events = await peer.until("response.done")
        message_done = [e["type"] for e in events].index("response.output_item.done")
        assert squeeze(e["type"] for e in events[message_done + 2 :]) == [
            "response.output_item.added",
            "conversation.item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
        args = next(e for e in events if e["type"] == "response.function_call_arguments.done")
        assert (args["name"], args["arguments"]) == ("get_weather", '{"city":"Paris"}')
        output = events[-1]["response"]["output"]
        assert [item["type"] for item in output] == ["message", "function_call"]
        assert output[0]["content"][0]["text"] == "Let me check the weather in Paris."
        assert output[1]["call_id"] == args["call_id"] and args["call_id"].startswith("call_")
        await peer.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": args["call_id"], "output": "sunny, 21 C"},
            }
        )
        await peer.until("conversation.item.done")
        await peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        final = (await peer.until("response.done"))[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "Here is the weather in Paris: sunny, 21 C"


async def test_function_call_output_needs_a_known_call_id(peer: SessionPeer) -> None:
    await peer.send(
        {"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "nope", "output": "x"}}
    )
    assert (await peer.expect("error"))["error"]["param"] == "item.call_id"


async def test_cancel_ends_the_response_as_cancelled(paced_peer: SessionPeer, clock: PacingClock) -> None:
    peer = paced_peer
    await peer.send(user_text("please talk for a while, I will interrupt you"))
    await peer.send({"type": "response.create"})
    await clock.advance(0.5)  # the first audio is due, the rest is not
    await peer.until("response.output_audio.delta")
    await peer.send({"type": "response.cancel"})
    events = await peer.until("response.done")
    response = events[-1]["response"]
    assert response["status"] == "cancelled"
    assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert response["output"][0]["status"] == "incomplete"
    said = response["output"][0]["content"][0]["transcript"]
    assert said and "You said: please talk for a while, I will interrupt you".startswith(said)
    assert said != "You said: please talk for a while, I will interrupt you"
    await peer.send({"type": "response.cancel"})
    assert (await peer.expect("error"))["error"]["code"] == "response_cancel_not_active"


async def test_speech_interrupts_the_response_and_gets_its_own_answer(
    paced_peer: SessionPeer, clock: PacingClock
) -> None:
    peer = paced_peer
    await peer.send(user_text("a long answer, please, one that I will interrupt"))
    await peer.send({"type": "response.create"})
    await clock.advance(0.5)  # the first audio is due, the rest is not
    first = (await peer.until("response.output_audio.delta"))[0]["item"]["id"]
    for append in appends(np.concatenate([tone(0.5), np.zeros(RATE, np.int16)])):
        await peer.send(append)
    events = await peer.until("input_audio_buffer.speech_started")
    events += await peer.until("response.done")
    interrupted = events[-1]["response"]
    events += await peer.until("response.created")
    await clock.advance(math.inf)  # the answer to the speech streams out
    events += await peer.until("response.done")
    kinds = [e["type"] for e in events]
    assert interrupted["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert kinds.index("input_audio_buffer.speech_stopped") > kinds.index("response.done")
    # 0.5 s of speech plus the 500 ms of silence that confirmed its end, as the service commits it
    assert events[-1]["response"]["output"][0]["content"][0]["transcript"].startswith("I heard 1.0 seconds of audio")
    assert first != events[-1]["response"]["output"][0]["id"]


async def test_second_response_create_while_active_is_refused(paced_peer: SessionPeer, clock: PacingClock) -> None:
    peer = paced_peer
    await peer.send(user_text(" ".join(["word"] * 20)))
    await peer.until("conversation.item.done")
    await peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    created = await peer.expect("response.created")  # its text is not due yet: it is still active
    await peer.send({"type": "response.create"})
    error = await peer.expect("error")
    await clock.advance(math.inf)
    events = [error, *await peer.until("response.done")]
    errors = [e["error"] for e in events if e["type"] == "error"]
    assert [e["code"] for e in errors] == ["conversation_already_has_active_response"]
    assert created["response"]["id"] in errors[0]["message"]
    assert events[-1]["response"]["status"] == "completed"


async def test_truncate_retrieve_and_errors(peer: SessionPeer) -> None:
    await peer.send(user_text("truncate me"))
    await peer.send({"type": "response.create"})
    events = await peer.until("response.done")
    user_id = events[0]["item"]["id"]
    item = events[-1]["response"]["output"][0]
    deltas = [base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"]
    audio_ms = sum(map(len, deltas)) // 48
    truncate = {"type": "conversation.item.truncate", "item_id": item["id"], "content_index": 0}
    await peer.send({**truncate, "audio_end_ms": 200})
    truncated = await peer.expect("conversation.item.truncated")
    assert (truncated["item_id"], truncated["audio_end_ms"]) == (item["id"], 200)
    await peer.send({"type": "conversation.item.retrieve", "item_id": item["id"]})
    retrieved = (await peer.expect("conversation.item.retrieved"))["item"]
    assert len(base64.b64decode(retrieved["content"][0]["audio"])) == 200 * 48
    assert retrieved["content"][0]["transcript"] is None

    too_far = {**truncate, "audio_end_ms": 300}
    await peer.send(too_far)
    error = (await peer.expect("error"))["error"]
    assert error["message"] == "Audio content of 200ms is already shorter than 300ms" and audio_ms > 300
    await peer.send({**too_far, "item_id": user_id, "audio_end_ms": 0})
    assert (await peer.expect("error"))["error"]["code"] == "unsupported_content_type"
    await peer.send({**too_far, "item_id": "item_missing"})
    assert (await peer.expect("error"))["error"]["code"] == "item_truncate_invalid_item_id"


async def test_delete(peer: SessionPeer) -> None:
    await peer.send(user_text("delete me"))
    item_id = (await peer.expect("conversation.item.added"))["item"]["id"]
    await peer.expect("conversation.item.done")
    await peer.send({"type": "conversation.item.delete", "item_id": item_id})
    assert (await peer.expect("conversation.item.deleted"))["item_id"] == item_id
    await peer.send({"type": "conversation.item.delete", "item_id": item_id})
    assert (await peer.expect("error"))["error"]["code"] == "item_delete_invalid_item_id"
    await peer.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    done = (await peer.until("response.done"))[-1]
    assert done["response"]["output"][0]["content"][0]["text"] == ECHO_GREETING


async def test_out_of_band_response_uses_its_input_and_stays_out_of_the_conversation(peer: SessionPeer) -> None:
    await peer.send(user_text("in the conversation"))
    item_id = (await peer.until("conversation.item.done"))[-1]["item"]["id"]
    await peer.send(
        {
            "type": "response.create",
            "response": {
                "conversation": "none",
                "output_modalities": ["text"],
                "input": [{"type": "item_reference", "id": item_id}],
                "metadata": {"purpose": "summary"},
            },
        }
    )
    events = await peer.until("response.done")
    assert not any(e["type"].startswith("conversation.") for e in events)
    response = events[-1]["response"]
    assert response["conversation_id"] is None and response["metadata"] == {"purpose": "summary"}
    assert response["output"][0]["content"][0]["text"] == "You said: in the conversation"


# --- bad input --------------------------------------------------------------------------------------


async def test_malformed_json_gets_an_error_and_the_connection_stays_usable(peer: SessionPeer) -> None:
    await peer.send_raw('{"type": "session.update", "session": ')
    error = (await peer.expect("error"))["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_json")
    await peer.send({"type": "session.update", "session": NO_VAD})
    await peer.expect("session.updated")


@pytest.mark.parametrize(
    ("event", "code", "param"),
    [
        ({"type": "response.explode", "event_id": "evt_x"}, "invalid_value", "type"),
        ({"type": "conversation.item.retrieve", "event_id": "evt_x"}, "missing_required_parameter", "item_id"),
        ({"type": "input_audio_buffer.clear", "event_id": "evt_x", "colour": 1}, "unknown_parameter", "colour"),
        ({"type": "input_audio_buffer.append", "event_id": "evt_x", "audio": "not base64!"}, "invalid_value", "audio"),
        ({"type": "output_audio_buffer.clear", "event_id": "evt_x"}, "invalid_value", "type"),
    ],
)
async def test_invalid_events_get_the_service_error_shape(
    peer: SessionPeer, event: dict[str, Any], code: str, param: str
) -> None:
    await peer.send_raw(orjson.dumps(event))
    error = (await peer.expect("error"))["error"]
    assert error["type"] == "invalid_request_error"
    assert (error["code"], error["param"], error["event_id"]) == (code, param, "evt_x")
    await peer.send({"type": "input_audio_buffer.clear"})
    await peer.expect("input_audio_buffer.cleared")


class BuggyBrain:
    """Names a tool with a number: the event the server builds from it cannot validate."""

    phrases: tuple[str, ...] = ()

    async def reply(self, items: list[Item], config: dict[str, Any]) -> Reply:
        return Reply(calls=(ToolCall(name=42, arguments="{}"),))  # type: ignore[arg-type]


async def test_an_invalid_server_event_is_a_loud_failure() -> None:
    async with LocalServer(brain=BuggyBrain()) as buggy, openai_peer(buggy) as peer:
        await peer.expect("session.created")
        await peer.send({"type": "response.create"})
        await peer.expect("response.created")
        assert await peer.closed_with() == 1011


# --- faults -----------------------------------------------------------------------------------------


@asynccontextmanager
async def faulty(**switches: Any) -> AsyncIterator[Peer]:
    async with LocalServer(faults=Faults(**switches)) as running, openai_peer(running) as connected:
        yield connected


async def test_fault_drop_after_events_cuts_the_connection() -> None:
    async with faulty(drop_after_events=2) as peer:
        await peer.expect("session.created")
        await peer.send({"type": "session.update", "session": NO_VAD})
        await peer.expect("session.updated")
        assert await peer.closed_with() is None  # no close frame: 1006


async def test_fault_drop_with_a_close_code() -> None:
    async with faulty(drop_after_events=1, drop_close_code=1011) as peer:
        await peer.expect("session.created")
        assert await peer.closed_with() == 1011


async def test_fault_malformed_frame_then_normal_service() -> None:
    async with faulty(malformed_after_events=1) as peer:
        await peer.expect("session.created")
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(await peer.raw())
        await peer.send({"type": "session.update", "session": NO_VAD})
        await peer.expect("session.updated")


async def test_fault_injected_error_and_rate_limits() -> None:
    async with faulty(error_after_events=1, rate_limits_after_events=1) as peer:
        await peer.expect("session.created")
        error = (await peer.expect("error"))["error"]
        assert (error["type"], error["code"]) == ("server_error", "server_error")
        limits = (await peer.expect("rate_limits.updated"))["rate_limits"]
        assert [limit["name"] for limit in limits] == ["requests", "tokens"]
        await peer.send({"type": "input_audio_buffer.clear"})
        await peer.expect("input_audio_buffer.cleared")


async def test_fault_delay_per_event() -> None:
    async with faulty(delay_per_event=0.1) as peer:
        await peer.expect("session.created")
        began = time.monotonic()
        await peer.send({"type": "input_audio_buffer.clear"})
        await peer.expect("input_audio_buffer.cleared")
        assert time.monotonic() - began >= 0.1


async def test_fault_session_expiry() -> None:
    async with faulty(expire_after_seconds=0.1) as peer:
        await peer.expect("session.created")
        error = (await peer.expect("error"))["error"]
        assert error["code"] == "session_expired"
        assert await peer.closed_with() == 1001


async def test_faults_can_spare_later_connections() -> None:
    async with LocalServer(faults=Faults(drop_after_events=1, connections=1)) as running:
        async with openai_peer(running) as first:
            await first.expect("session.created")
            assert await first.closed_with() is None
        running.faults.error_after_events = 1  # still only the first connection is faulty
        async with openai_peer(running) as second:
            await second.expect("session.created")
            await second.send({"type": "input_audio_buffer.clear"})
            await second.expect("input_audio_buffer.cleared")
