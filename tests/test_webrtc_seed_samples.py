"""The Semantic Kernel WebRTC samples of the specification run as written against voicecli.

Only the import lines differ from the specification document. The samples leave two classes to the
reader: `AudioRecorderWebRTC` gets a minimal body (silence, where a real recorder reads the
microphone), and `AudioPlayer` is supplied (the first sample never defines it).

The second sample passes `audio_player.play_audio` with `audio_player = AudioPlayer`, the class,
so the method is called unbound with the audio as its only argument. With the sample's signature
`play_audio(self, content)` that call raises `TypeError: missing 1 required positional argument:
'content'` (in Semantic Kernel as well); voicecli then ends the session with a fatal `client_error`
event and the sample's loop ends by itself, as the last test shows. The player supplied here takes
`content=None`, so the audio arriving as `self` is played.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
from test_seed_samples import greeting_finished, run_sample_until

from voicecli.realtime import RealtimeClient
from voicecli.server import LocalServer

pytestmark = pytest.mark.timeout(30)

RECORDER = """
class AudioRecorderWebRTC(MediaStreamTrack):
    # implement the MediaStreamTrack methods.
    kind = "audio"

    def __init__(self):
        super().__init__()
        from aiortc.mediastreams import AudioStreamTrack

        self._silence = AudioStreamTrack()  # a real recorder would read the microphone here

    async def recv(self):
        return await self._silence.recv()
"""

SETTINGS = '''
realtime_client = OpenAIRealtimeWebRTC(audio_track=AudioRecorderWebRTC())
# Create the settings for the session
settings = OpenAIRealtimeExecutionSettings(
    instructions="""
You are a chat bot. Your name is Mosscap and
you have one goal: figure out what people need.
Your full name, should you need to know it, is
Splendid Speckled Mosscap. You communicate
effectively, but you tend to answer with long
flowery prose.
""",
    voice="shimmer",
)
audio_player = AudioPlayer
'''

IMPORTS = """
from voicecli.realtime import (
    ListenEvents,
    OpenAIRealtimeExecutionSettings,
    OpenAIRealtimeWebRTC,
)
from aiortc.mediastreams import MediaStreamTrack
"""

MATCH_EVENT_TYPE_SAMPLE = (
    IMPORTS
    + RECORDER
    + SETTINGS
    + """
async with realtime_client(settings=settings, create_response=True):
    async for event in realtime_client.receive():
        match event.event_type:
            # receiving a piece of audio (and send it to a undefined audio player)
            case "audio":
                await audio_player.add_audio(event.audio)
            case "text":
                # the model returns both audio and transcript of the audio, which we will print
                print(event.text.text, end="")
            case "service":
                # OpenAI Specific events
                if event.service_type == ListenEvents.SESSION_UPDATED:
                    print("Session updated")
                if event.service_type == ListenEvents.RESPONSE_CREATED:
                    print("\\nMosscap (transcript): ", end="")
"""
)


def callback_sample(play_audio_signature: str) -> str:
    return (
        IMPORTS
        + RECORDER
        + f"""
class AudioPlayer:
    async def play_audio({play_audio_signature}):
        # implement the audio player
        # `audio_player = AudioPlayer` is the class: the call is unbound and the audio is `self`.
        PLAYED.append(self if content is None else content)
"""
        + SETTINGS
        + """
async with realtime_client(settings=settings, create_response=True):
    async for event in realtime_client.receive(audio_output_callback=audio_player.play_audio):
        match event.event_type:
            # no need to handle case: "audio"
            case "text":
                # the model returns both audio and transcript of the audio, which we will print
                print(event.text.text, end="")
            case "service":
                # OpenAI Specific events
                if event.service_type == ListenEvents.SESSION_UPDATED:
                    print("Session updated")
                if event.service_type == ListenEvents.RESPONSE_CREATED:
                    print("\\nMosscap (transcript): ", end="")
"""
    )


ONE_SECOND = 24_000


class ClassAudioPlayer:
    """The first sample's `AudioPlayer`, used as a class: `AudioPlayer.add_audio(event.audio)`."""

    chunks: ClassVar[list[np.ndarray]] = []

    @classmethod
    async def add_audio(cls, audio: Any) -> None:
        assert audio.data.dtype == np.int16 and audio.sample_rate == 24_000
        cls.chunks.append(audio.data)

    @classmethod
    def samples(cls) -> int:
        return sum(len(chunk) for chunk in cls.chunks)


@pytest.fixture
def sample_env(echo_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sample-key")
    monkeypatch.setenv("OPENAI_BASE_URL", echo_server.http_url + "/v1")
    monkeypatch.delenv("OPENAI_REALTIME_MODEL_ID", raising=False)


@pytest.mark.usefixtures("sample_env")
async def test_match_event_type_sample_runs_as_written() -> None:
    ClassAudioPlayer.chunks = []
    output = await run_sample_until(
        MATCH_EVENT_TYPE_SAMPLE,
        {"AudioPlayer": ClassAudioPlayer},
        done=lambda out: greeting_finished(out) and ClassAudioPlayer.samples() > ONE_SECOND,
    )
    assert output.startswith("Session updated\n\nMosscap (transcript): ")


@pytest.mark.usefixtures("sample_env")
async def test_audio_output_callback_sample_runs_as_written() -> None:
    played: list[np.ndarray] = []
    output = await run_sample_until(
        callback_sample("self, content: np.ndarray | None = None"),
        {"np": np, "PLAYED": played},
        done=lambda out: greeting_finished(out) and sum(map(len, played)) > ONE_SECOND,
    )
    assert output.startswith("Session updated\n\nMosscap (transcript): ")
    assert all(chunk.dtype == np.int16 for chunk in played)


@pytest.mark.usefixtures("sample_env")
async def test_callback_sample_with_its_own_signature_ends_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    lost: list[str] = []
    report = RealtimeClient._connection_lost

    def record(self: RealtimeClient, message: str, code: str = "connection_closed", **how: bool) -> None:
        lost.append(f"{code}: {message}")
        report(self, message, code, **how)

    monkeypatch.setattr(RealtimeClient, "_connection_lost", record)
    played: list[np.ndarray] = []
    output = await run_sample_until(
        callback_sample("self, content: np.ndarray"), {"np": np, "PLAYED": played}, done=lambda out: False
    )  # returns when the sample's loop has ended by itself
    assert "Session updated" in output
    assert played == []
    assert len(lost) == 1 and lost[0].startswith("client_error: ") and "missing 1 required positional" in lost[0]


@pytest.mark.usefixtures("sample_env")
async def test_callback_sample_runs_with_the_gpt_live_webrtc_client_class() -> None:
    """The same sample with `OpenAILiveWebRTC` in place of `OpenAIRealtimeWebRTC`: the model speaks first
    (as `create_response` asks, in instructions) and its voice arrives on the media track."""
    sample = callback_sample("self, content: np.ndarray | None = None").replace(
        "OpenAIRealtimeWebRTC", "OpenAILiveWebRTC"
    )
    played: list[np.ndarray] = []
    output = await run_sample_until(
        sample,
        {"np": np, "PLAYED": played},
        done=lambda out: out.rstrip().endswith(".") and sum(map(len, played)) > ONE_SECOND,
    )
    assert "Hello! I am the local echo assistant" in output
    assert "Session updated" not in output  # GPT-Live fixes its session at startup: no session.updated
