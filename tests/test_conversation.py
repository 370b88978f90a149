"""`Conversation` in-process: the real local server, a real output stream, a paced microphone stand-in.

The microphone is replaced by `SpeechSource` so each test decides exactly when speech starts; the
real capture path is covered by the end-to-end tests of `voicecli talk` (test_live_cli.py).
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import pytest
from support.audio import PulseAudio, Recorder, speech_wav, wait_until
from support.audio import pulse_audio as pulse_audio  # session fixture
from support.live import assert_truncate_matches_speaker, until

from voicecli.audio.echo import EchoStatus
from voicecli.audio.errors import DeviceError
from voicecli.audio.player import Player
from voicecli.audio.wavio import read_audio_24k_mono
from voicecli.conversation.interruption import truncate_end_ms
from voicecli.conversation.live import Conversation, Taps
from voicecli.realtime import (
    ListenEvents,
    OpenAIRealtimeWebsocket,
    RealtimeClient,
    RealtimeConnectionError,
    RealtimeEvent,
    RealtimeSettings,
    SendEvents,
    TurnDetection,
)
from voicecli.records.latency import LatencySummary, LatencyTracker
from voicecli.server import LocalRealtime, LocalServer, Pacing
from voicecli.server.faults import Faults
from voicecli.server.synth import speak

LONG_REPLY = (
    "Once upon a time there was a little voice assistant that loved to talk for a very long time "
    "about everything and nothing at all, and it never stopped talking until somebody interrupted it."
)
VAD = RealtimeSettings(turn_detection=TurnDetection(type="server_vad"))
PUSH_TO_TALK = RealtimeSettings(push_to_talk=True)
CHUNK = 480  # 20 ms at 24 kHz


class SpeechSource:
    """A microphone stand-in: 20 ms chunks in real time, silence unless speech was queued with `say`.

    Each chunk is heard at its time and stamped with it; with `lag_s` it arrives that much later,
    as from a busy machine's audio stack.
    """

    def __init__(self, lag_s: float = 0.0) -> None:
        self.mute = False
        self.level = -math.inf
        self.chunk_at = -math.inf
        self.echo_status = EchoStatus("off", "off", None)
        self.stalled = False
        self.lag_s = lag_s
        self._pending = np.zeros(0, dtype=np.int16)

    def say(self, pcm: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, pcm])

    @property
    def speaking(self) -> bool:
        return len(self._pending) > 0

    def __aiter__(self) -> AsyncIterator[np.ndarray]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[np.ndarray]:
        due = time.monotonic()
        on_the_way: deque[tuple[np.ndarray, float]] = deque()
        while True:
            if self.stalled:
                await asyncio.Event().wait()  # a device that stopped calling back
            due += CHUNK / 24_000
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            # Stamped when its samples were taken: a loop running late must not stamp words said
            # after a key press with a time before it.
            on_the_way.append((self._hear(), max(due, time.monotonic())))
            while on_the_way and on_the_way[0][1] + self.lag_s <= time.monotonic():
                chunk, self.chunk_at = on_the_way.popleft()
                yield chunk

    def _hear(self) -> np.ndarray:
        chunk = np.zeros(CHUNK, dtype=np.int16)
        take = self._pending[:CHUNK]
        chunk[: len(take)] = take
        self._pending = self._pending[CHUNK:]
        self.level = -20.0 if take.any() else -math.inf
        return np.zeros_like(chunk) if self.mute else chunk


class ScreenLog:
    """A `ConversationScreen` that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[RealtimeEvent] = []
        self.states: list[str] = []
        self.muted: list[bool] = []
        self.levels = 0
        self.echo: EchoStatus | None = None
        self.typing: list[str | None] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        pass

    def handle(self, event: RealtimeEvent) -> None:
        self.events.append(event)

    def set_state(self, state: Any) -> None:
        self.states.append(state)

    def set_level(self, dbfs: float) -> None:
        self.levels += 1

    def set_muted(self, muted: bool) -> None:
        self.muted.append(muted)

    def set_echo(self, status: EchoStatus) -> None:
        self.echo = status

    def set_typing(self, text: str | None) -> None:
        self.typing.append(text)

    def show_summary(self, summary: LatencySummary) -> None:
        pass

    def seen(self, event_type: str) -> list[dict[str, Any]]:
        return [e.service_event or {} for e in self.events if e.service_type == event_type]


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    folder = tmp_path_factory.mktemp("speech")
    return {
        name: read_audio_24k_mono(speech_wav(folder / f"{name}.wav", text))
        for name, text in (
            ("question", "hello there, tell me a story"),
            ("interruption", "stop please"),
            ("hello", "hello"),
        )
    }


@pytest.fixture
def long_script(tmp_path: Path) -> Path:
    script = tmp_path / "long.toml"
    script.write_text(f'[[turn]]\nreply = "{LONG_REPLY}"\n')
    return script


@pytest.fixture
def player(pulse_audio: PulseAudio) -> Iterator[Player]:
    with Player(pulse_audio.device) as started:
        wait_until(lambda: started._counters.snapshot().device_frames > 0, what="the first output callback")
        yield started


def sent_log(client: RealtimeClient) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    client.observe_sent(sent.append)
    return sent


def note_flushes_and_sends(player: Player, client: RealtimeClient) -> list[str]:
    """One list, in order, of the player's flushes and the types of the events the client sent."""
    order: list[str] = []
    flush = player.flush

    def flush_and_note(*args: Any, **kwargs: Any) -> None:
        flush(*args, **kwargs)
        order.append("player flushed")

    player.flush = flush_and_note  # type: ignore[method-assign]
    client.observe_sent(lambda payload: order.append(payload["type"]))
    return order


def of_type(sent: list[dict[str, Any]], event_type: SendEvents) -> list[dict[str, Any]]:
    return [payload for payload in sent if payload["type"] == event_type]


class Running:
    """`Conversation.run()` as a background task for the length of a `with` block."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Conversation:
        self.task = asyncio.create_task(self.conversation.run())
        return self.conversation

    async def __aexit__(self, *exc: object) -> None:
        self.conversation.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, timeout=5)


# --- the truncate arithmetic ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heard", "received", "complete", "expected"),
    [
        (1234.4, 5000.0, False, 1234),
        (1234.6, 5000.0, True, 1235),
        (0.0, 5000.0, False, None),  # nothing heard: no truncate
        (0.4, 5000.0, False, None),  # rounds to nothing
        (999.6, 999.6, False, 999),  # never past the whole ms the service has
        (3000.0, 3000.0, True, None),  # played to its end: nothing to cut
        (2999.0, 3000.0, True, 2999),
        (3000.0, 3000.0, False, 3000),  # more audio was on its way: cut at what was heard
    ],
)
def test_truncate_end_ms(heard: float, received: float, complete: bool, expected: int | None) -> None:
    assert truncate_end_ms(heard, received, complete=complete) == expected


# --- server VAD ---------------------------------------------------------------------------------------


@pytest.mark.audio
async def test_speech_during_the_reply_stops_it_and_truncates_at_what_the_speaker_played(
    pulse_audio: PulseAudio, player: Player, speech: dict[str, np.ndarray], long_script: Path, tmp_path: Path
) -> None:
    client = LocalRealtime(brain="scripted", script=long_script)
    sent = sent_log(client)
    source, screen, tracker = SpeechSource(), ScreenLog(), LatencyTracker()
    played: list[tuple[int, float]] = []
    taps = Taps(played=lambda pcm, at: played.append((len(pcm), at)))
    speaker = Recorder(pulse_audio, tmp_path / "speaker.raw", rate=player.sample_rate)
    order = note_flushes_and_sends(player, client)
    async with client(settings=VAD):
        conversation = Conversation(client, source, player, screen, tracker=tracker, taps=taps)
        async with Running(conversation):
            source.say(speech["question"])
            await until(lambda: bool(screen.seen(ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE)), "the whole reply")
            item_id = screen.seen(ListenEvents.RESPONSE_OUTPUT_AUDIO_DONE)[0]["item_id"]
            assert player.is_playing, "the reply arrives faster than real time; the player holds the rest"
            await until(lambda: player.heard_ms(item_id) >= 1500, "1.5 s of the reply to be heard")
            assert screen.states[-1:] != ["listening"]
            source.say(speech["interruption"])
            await until(lambda: bool(conversation.barge_ins), "the barge-in")
            await until(lambda: bool(screen.seen(ListenEvents.CONVERSATION_ITEM_TRUNCATED)), "the truncation")
            await until(lambda: speaker.quiet_for_s() >= 0.3, "the speaker recording to catch up with the cut")
            recorded = speaker.stop()
    barge_in = conversation.barge_ins[0]
    assert barge_in.source == "vad"
    # The speaker is cut first, then the service is told (how fast: benchmarks/bench_live.py).
    assert barge_in.at <= barge_in.flushed_at
    assert order.index("player flushed") < order.index(SendEvents.CONVERSATION_ITEM_TRUNCATE)
    [(truncated_item, audio_end_ms)] = barge_in.truncates
    assert truncated_item == item_id
    [truncate] = of_type(sent, SendEvents.CONVERSATION_ITEM_TRUNCATE)
    assert truncate == {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                        "audio_end_ms": audio_end_ms}  # fmt: skip
    assert screen.seen(ListenEvents.CONVERSATION_ITEM_TRUNCATED)[0]["audio_end_ms"] == audio_end_ms
    assert 1500 <= audio_end_ms < len(speak(LONG_REPLY)) / 24
    assert_truncate_matches_speaker(recorded, player.sample_rate, np.asarray(speak(LONG_REPLY)), audio_end_ms)
    assert sum(n for n, _ in played) == len(speak(LONG_REPLY))  # every chunk was recorded as played
    turn = tracker.turns[0]
    assert turn.first_audio is not None and turn.first_audible is not None


@pytest.mark.audio
async def test_a_reply_that_finished_playing_is_not_truncated(player: Player, speech: dict[str, np.ndarray]) -> None:
    client = LocalRealtime(brain="echo")
    sent = sent_log(client)
    source, screen = SpeechSource(), ScreenLog()
    async with client(settings=VAD), Running(Conversation(client, source, player, screen)) as conversation:
        source.say(speech["hello"])  # the shortest echo to wait out: any reply played to its end will do
        await until(lambda: bool(screen.seen(ListenEvents.RESPONSE_DONE)), "the reply")
        await until(lambda: screen.states[-1:] == ["listening"], "the player to drain", timeout=15)
        source.say(speech["interruption"])
        await until(lambda: len(screen.seen(ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STARTED)) == 2, "more speech")
        await asyncio.sleep(0.1)
    assert conversation.barge_ins == []
    assert of_type(sent, SendEvents.CONVERSATION_ITEM_TRUNCATE) == []
    appends = of_type(sent, SendEvents.INPUT_AUDIO_BUFFER_APPEND)
    assert len(appends) > 50 and {len(p["audio"]) for p in appends} == {1280}  # base64 of 20 ms (960 bytes)


@pytest.mark.audio
async def test_over_webrtc_a_barge_in_clears_the_output_buffer_instead_of_truncating(
    player: Player, speech: dict[str, np.ndarray], long_script: Path
) -> None:
    from voicecli.server import LocalRealtimeWebRTC

    client = LocalRealtimeWebRTC(brain="scripted", script=long_script)
    sent = sent_log(client)
    source, screen = SpeechSource(), ScreenLog()
    async with client(settings=VAD), Running(Conversation(client, source, player, screen)) as conversation:
        source.say(speech["question"])
        await until(lambda: player.is_playing, "the reply to play", timeout=15)
        await asyncio.sleep(1.0)
        source.say(speech["interruption"])
        await until(lambda: bool(conversation.barge_ins), "the barge-in", timeout=15)
        await until(lambda: bool(screen.seen(ListenEvents.OUTPUT_AUDIO_BUFFER_CLEARED)), "the cleared buffer")
        await until(lambda: not player.is_playing, "the speaker to fall silent")  # order, not a deadline
    assert conversation.barge_ins[0].truncates == []
    assert of_type(sent, SendEvents.CONVERSATION_ITEM_TRUNCATE) == []
    assert of_type(sent, SendEvents.RESPONSE_CANCEL) == []  # the service's VAD cancels by itself
    assert len(of_type(sent, SendEvents.OUTPUT_AUDIO_BUFFER_CLEAR)) == 1


# --- push to talk -------------------------------------------------------------------------------------


@pytest.fixture
async def paced_server(long_script: Path) -> AsyncIterator[LocalServer]:
    """Streams its reply in real time (100 ms per 100 ms delta), so a response is still running when cut."""
    server = LocalServer(brain="scripted", script=long_script, pacing=Pacing(speed=1.0))
    await server.start()
    yield server
    await server.stop()


@pytest.mark.audio
async def test_push_to_talk_sends_on_the_second_press_and_a_press_during_the_reply_cancels_it(
    player: Player, speech: dict[str, np.ndarray], paced_server: LocalServer
) -> None:
    client = OpenAIRealtimeWebsocket(api_key="sk-test", websocket_base_url=paced_server.ws_base_url)
    sent = sent_log(client)
    source, screen, tracker = SpeechSource(), ScreenLog(), LatencyTracker()
    async with client(settings=PUSH_TO_TALK):
        conversation = Conversation(client, source, player, screen, tracker=tracker, push_to_talk=True)
        async with Running(conversation):
            await asyncio.sleep(0.2)
            assert of_type(sent, SendEvents.INPUT_AUDIO_BUFFER_APPEND) == [], "nothing is sent before SPACE"
            conversation.on_key(" ")
            await until(lambda: conversation.talking, "talking")
            source.say(speech["question"])
            await until(lambda: not source.speaking, "the question to be spoken")
            conversation.on_key(" ")
            await until(lambda: bool(of_type(sent, SendEvents.RESPONSE_CREATE)), "the response request")
            await until(lambda: bool(screen.seen(ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA)), "the reply audio")
            item_id = screen.seen(ListenEvents.RESPONSE_OUTPUT_AUDIO_DELTA)[0]["item_id"]
            await until(lambda: player.heard_ms(item_id) >= 700, "some of the reply to be heard")
            conversation.on_key(" ")  # talk again while the assistant speaks
            await until(lambda: bool(screen.seen(ListenEvents.CONVERSATION_ITEM_TRUNCATED)), "the truncation")
            await until(lambda: bool(screen.seen(ListenEvents.RESPONSE_DONE)), "the cancelled response")
    types = [p["type"] for p in sent if p["type"] != SendEvents.INPUT_AUDIO_BUFFER_APPEND]
    assert types == [
        "session.update",
        "input_audio_buffer.clear",
        "input_audio_buffer.commit",
        "response.create",
        "response.cancel",
        "conversation.item.truncate",
        "input_audio_buffer.clear",
    ]
    [barge_in] = conversation.barge_ins
    assert barge_in.source == "key"
    [(_, audio_end_ms)] = barge_in.truncates
    assert 700 <= audio_end_ms < 2000
    assert screen.seen(ListenEvents.RESPONSE_DONE)[0]["response"]["status"] == "cancelled"
    assert screen.states.count("user_speaking") == 2 and "thinking" in screen.states
    assert tracker.turns[0].first_audible is not None


@pytest.mark.audio
async def test_push_to_talk_sends_what_was_said_between_the_presses_when_the_microphone_lags(
    player: Player, speech: dict[str, np.ndarray]
) -> None:
    """A busy machine can hold microphone audio back for half a second: the second press still sends
    all that was said before it, and the first does not send what was said before it."""
    client = LocalRealtime(brain="echo")
    sent = sent_log(client)
    source = SpeechSource(lag_s=0.5)
    async with client(settings=PUSH_TO_TALK):
        conversation = Conversation(client, source, player, ScreenLog(), push_to_talk=True)
        async with Running(conversation):
            source.say(speech["interruption"])
            await until(lambda: not source.speaking, "the words before the first press")
            await conversation.toggle_talk()
            source.say(speech["question"])
            await until(lambda: not source.speaking, "the question")
            await conversation.toggle_talk()
            await until(lambda: bool(of_type(sent, SendEvents.RESPONSE_CREATE)), "the response request")
    appends = of_type(sent, SendEvents.INPUT_AUDIO_BUFFER_APPEND)
    sent_audio = np.concatenate([np.frombuffer(base64.b64decode(p["audio"]), dtype=np.int16) for p in appends])
    assert np.array_equal(np.trim_zeros(sent_audio), np.trim_zeros(speech["question"]))


@pytest.mark.audio
async def test_mute_sends_silence_and_shows_it(player: Player, speech: dict[str, np.ndarray]) -> None:
    client = LocalRealtime(brain="echo")
    source, screen = SpeechSource(), ScreenLog()
    async with client(settings=VAD), Running(Conversation(client, source, player, screen)) as conversation:
        conversation.on_key("m")
        source.say(speech["question"])
        await until(lambda: not source.speaking, "the question to be spoken")
        await asyncio.sleep(0.3)
        conversation.on_key("m")
    assert screen.muted == [True, False]
    assert not source.mute
    assert screen.seen(ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STARTED) == []
    assert screen.levels > 5


@pytest.mark.audio
async def test_a_press_too_short_to_commit_clears_the_buffer(player: Player) -> None:
    client = LocalRealtime(brain="echo")
    sent = sent_log(client)
    async with client(settings=PUSH_TO_TALK):
        conversation = Conversation(client, SpeechSource(), player, ScreenLog(), push_to_talk=True)
        async with Running(conversation):
            await conversation.toggle_talk()
            await conversation.toggle_talk()
    types = [p["type"] for p in sent if p["type"] != SendEvents.INPUT_AUDIO_BUFFER_APPEND]
    assert types == ["session.update", "input_audio_buffer.clear", "input_audio_buffer.clear"]


# --- failures -----------------------------------------------------------------------------------------


@pytest.mark.audio
async def test_a_dropped_connection_ends_the_session_with_the_reason(player: Player) -> None:
    server = LocalServer(brain="echo", faults=Faults(drop_after_events=2))
    async with server:
        client = OpenAIRealtimeWebsocket(api_key="sk-test", websocket_base_url=server.ws_base_url)
        async with client(settings=VAD):
            conversation = Conversation(client, SpeechSource(), player, ScreenLog())
            with pytest.raises(RealtimeConnectionError, match="start again"):
                await asyncio.wait_for(conversation.run(), timeout=10)


@pytest.mark.audio
async def test_a_microphone_that_stops_delivering_is_reported(player: Player, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("voicecli.conversation.live.STALL_S", 0.3)
    source = SpeechSource()
    client = LocalRealtime(brain="echo")
    async with client(settings=VAD):
        conversation = Conversation(client, source, player, ScreenLog())
        task = asyncio.create_task(conversation.run())
        await asyncio.sleep(0.2)
        assert not task.done()
        source.stalled = True
        with pytest.raises(DeviceError, match="microphone delivered no audio"):
            await asyncio.wait_for(task, timeout=5)
