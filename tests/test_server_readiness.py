"""What a local server gets ready before it listens: the event checks of the protocols its clients
speak, and Whisper when audio may come. Each costs a noticeable share of a process's CPU (seconds on
a busy machine), so the embedded server of a typed turn skips what its one client will never use,
while `serve`, which cannot know, gets everything ready."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest

from voicecli.commands import talk_files
from voicecli.config import AppConfig
from voicecli.config.app_config import LocalConfig
from voicecli.conversation.providers import build_client
from voicecli.server import app, recognition_whisper
from voicecli.server.app import LocalServer

pytestmark = pytest.mark.timeout(30)


class RecordedServer:
    """Stands in for `LocalServer` in the embedded transport: records what it is asked to get ready
    for, and listens nowhere."""

    made: ClassVar[list[dict[str, Any]]] = []
    http_url = "http://127.0.0.1:9"

    def __init__(self, **options: Any) -> None:
        RecordedServer.made.append(options)

    async def start(self) -> None:
        pass


@pytest.mark.parametrize(
    ("settings", "protocol", "media"),
    [
        ({}, "realtime", False),
        ({"transport": "webrtc"}, "realtime", True),
        ({"protocol": "live"}, "live", False),
        ({"protocol": "live", "transport": "webrtc"}, "live", True),
    ],
)
@pytest.mark.parametrize("speech_input", [True, False])
async def test_an_embedded_server_gets_ready_for_its_clients_protocol_and_any_audio(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], protocol: str, media: bool, speech_input: bool
) -> None:
    """Only the client's own protocol is checked; Whisper is skipped for typed turns only, never where
    a media track streams the microphone (silence too) all along: the server would hear it and load
    Whisper in the middle of the session."""
    RecordedServer.made.clear()
    monkeypatch.setattr(app, "LocalServer", RecordedServer)
    echo = replace(AppConfig(), local=LocalConfig(brain="echo"))  # `auto` would look for a chat model
    client = build_client(replace(echo, **settings), speech_input=speech_input)
    await client.embedded.prepare()  # type: ignore[attr-defined]
    [options] = RecordedServer.made
    assert options["protocols"] == (protocol,)
    assert options["speech_input"] is (speech_input or media)


@pytest.mark.parametrize(("typed", "speech_input"), [(True, False), (False, True)])
async def test_a_typed_turn_says_no_audio_will_come_and_an_audio_file_says_it_will(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, typed: bool, speech_input: bool
) -> None:
    asked: list[bool] = []

    class Stop(Exception):
        pass

    def build(_config: AppConfig, *, speech_input: bool = True, **_options: Any) -> Any:
        asked.append(speech_input)
        raise Stop

    monkeypatch.setattr(talk_files, "build_client", build)
    wav = tmp_path / "question.wav"
    with pytest.raises(Stop):
        await talk_files.run_file_turn(
            AppConfig(), input_file=None if typed else wav, text="hi" if typed else None, output_file=None
        )
    assert asked == [speech_input]


async def test_a_server_builds_the_checks_and_loads_the_speech_model_it_was_told_its_clients_need(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The loading itself is replaced by a record of it: what is tested is what `start` asks for."""
    loaded: list[str] = []
    monkeypatch.setattr(app, "build_validators", lambda: loaded.append("realtime checks"))
    monkeypatch.setattr(app, "build_live_validators", lambda: loaded.append("live checks"))
    monkeypatch.setattr(recognition_whisper, "available", lambda: True)
    monkeypatch.setattr(recognition_whisper, "warm_up", lambda: loaded.append("whisper"))
    async with LocalServer(brain="echo"):
        assert loaded == ["realtime checks", "live checks", "whisper"]  # `serve`: anything may come
    loaded.clear()
    async with LocalServer(brain="echo", protocols=("realtime",)):
        assert loaded == ["realtime checks", "whisper"]
    loaded.clear()
    async with LocalServer(brain="echo", protocols=("live",), speech_input=False):
        assert loaded == ["live checks"]
