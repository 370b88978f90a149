"""Azure Voice Live's custom and personal voices and its word timestamps: the client against a local
server session driven as the `/voice-live/realtime` route drives one, in memory
(`VoiceLiveSessionTransport`; the route over a socket is `test_voice_live.py`'s), every event checked
against the `azure-ai-voicelive` models. The replies are spoken in tones: their words are counted and
timed, never heard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from support.session_transport import VoiceLiveSessionTransport, in_tones  # noqa: F401  (in_tones: a fixture)
from support.virtual_pacing import PacingClock, VirtualPacing
from support.voice_live import Wire

from voicecli.config import ConfigError, load_config
from voicecli.conversation.exchange import exchange
from voicecli.conversation.providers import build_client
from voicecli.conversation.state import ConversationState
from voicecli.realtime import (
    ListenEvents,
    RealtimeAudioEvent,
    RealtimeClient,
    RealtimeEvent,
    RealtimeSettings,
    RealtimeWordEvent,
    SendEvents,
    WordTimestampContent,
)
from voicecli.realtime.voice_live import VoiceLiveOptions, VoiceLiveWebsocket
from voicecli.realtime.word_timestamps import heard_text
from voicecli.server.brains import DEFAULT_SCRIPT, EchoBrain, ScriptedBrain
from voicecli.server.validation import ProtocolViolation
from voicecli.server.voicelive.conformance import check_client_event
from voicecli.ui.entries import AssistantTurn
from voicecli.ui.view import ConversationView, SessionInfo

CUSTOM = VoiceLiveOptions(voice_type="azure-custom", voice_endpoint_id="0f3c-custom-endpoint")
PERSONAL = VoiceLiveOptions(voice_type="azure-personal", voice_model="DragonLatestNeural")
LONG_TEXT = "Once upon a time there was a little voice assistant that loved to talk for a very long time"


pytestmark = pytest.mark.usefixtures("in_tones")


def voice_live(options: VoiceLiveOptions) -> RealtimeClient:
    """A Voice Live client bound in memory to a session of an unpaced default-script server."""
    return RealtimeClient(
        transport=VoiceLiveSessionTransport.of(ScriptedBrain.from_toml(DEFAULT_SCRIPT), options=options)
    )


# --- custom and personal voices ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "voice"),
    [
        (CUSTOM, {"name": "MyBrandVoice", "type": "azure-custom", "endpoint_id": "0f3c-custom-endpoint"}),
        (PERSONAL, {"name": "MyBrandVoice", "type": "azure-personal", "model": "DragonLatestNeural"}),
    ],
)
async def test_a_custom_or_personal_voice_is_sent_as_the_sdk_models_it(
    options: VoiceLiveOptions, voice: dict[str, str]
) -> None:
    client = voice_live(options)
    wire = Wire(client)
    async with client(settings=RealtimeSettings(voice="MyBrandVoice")):
        result = await exchange(client, text="Hello, who are you?", observer=wire)
    assert not result.failed and not result.errors
    [update, *_] = [event for event in wire.sent if event["type"] == "session.update"]
    assert update["session"]["voice"] == voice
    assert wire.of_type(ListenEvents.SESSION_UPDATED)[-1]["session"]["voice"] == voice  # shown back


@pytest.mark.parametrize(
    ("voice", "param"),
    [
        ({"name": "v", "type": "azure-custom"}, "session.voice.endpoint_id"),
        ({"name": "v", "type": "azure-personal"}, "session.voice.model"),
        ({"name": "v", "type": "azure-standard", "endpoint_id": "e"}, "session.voice.endpoint_id"),
    ],
)
def test_an_azure_voice_missing_a_required_field_or_with_a_foreign_one_is_refused(
    voice: dict[str, str], param: str
) -> None:
    with pytest.raises(ProtocolViolation) as caught:
        check_client_event({"type": "session.update", "session": {"voice": voice}})
    assert caught.value.param == param


def _azure_config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        'provider = "azure"\n[azure]\nendpoint = "https://example.services.ai.azure.com"\ndeployment = "gpt-realtime"\n'
        f'service = "voice-live"\n{extra}',
        encoding="utf-8",
    )
    return path


def test_custom_and_personal_voices_come_from_the_azure_section(tmp_path: Path) -> None:
    client = build_client(
        load_config(_azure_config(tmp_path, 'voice_type = "azure-custom"\nvoice_endpoint_id = "0f3c"\n'))
    )
    assert isinstance(client, VoiceLiveWebsocket) and client.options.voice_endpoint_id == "0f3c"
    personal = 'voice_type = "azure-personal"\npersonal_voice_model = "PhoenixV2Neural"\nword_timestamps = true\n'
    client = build_client(load_config(_azure_config(tmp_path, personal)))
    assert isinstance(client, VoiceLiveWebsocket)
    assert (client.options.voice_model, client.options.word_timestamps) == ("PhoenixV2Neural", True)


@pytest.mark.parametrize(
    ("voice_type", "needed"), [("azure-custom", "voice_endpoint_id"), ("azure-personal", "personal_voice_model")]
)
def test_a_custom_or_personal_voice_without_its_id_is_one_line(tmp_path: Path, voice_type: str, needed: str) -> None:
    config = load_config(_azure_config(tmp_path, f'voice_type = "{voice_type}"\n'))
    with pytest.raises(ConfigError, match=needed) as caught:
        build_client(config)
    assert "\n" not in str(caught.value)


# --- word timestamps -------------------------------------------------------------------------------


def test_heard_text_is_the_words_at_least_half_played() -> None:
    words = [
        WordTimestampContent("Once", 0, 200),
        WordTimestampContent("upon", 200, 200),
        WordTimestampContent("a", 400, 100),
    ]
    assert heard_text(words, 0) == ""
    assert heard_text(words, 300) == "Once upon"  # "upon" is half played at 300 ms
    assert heard_text(words, 299) == "Once"
    assert heard_text(words, 10_000) == "Once upon a"


async def test_word_timestamps_come_as_typed_events_spanning_the_reply_audio() -> None:
    client = voice_live(VoiceLiveOptions(word_timestamps=True))
    wire = Wire(client)
    async with client():
        result = await exchange(client, text="Hello, who are you?", observer=wire)
    assert not result.failed and not result.errors
    [update, *_] = [event for event in wire.sent if event["type"] == "session.update"]
    assert update["session"]["output_audio_timestamp_types"] == ["word"]
    words = wire.words()
    assert " ".join(word.text for word in words) == result.assistant_text  # every word, in order
    offsets = [word.audio_offset_ms for word in words]
    assert offsets == sorted(offsets) and all(word.audio_duration_ms > 0 for word in words)
    audio_ms = 1000 * len(result.audio) / 24_000
    assert words[0].audio_offset_ms == 0 and words[-1].audio_end_ms <= audio_ms + 1  # within the reply's audio
    assert len(wire.of_type("response.audio_timestamp.done")) == 1


async def test_without_the_setting_no_word_timestamps_come() -> None:
    client = voice_live(VoiceLiveOptions())
    wire = Wire(client)
    async with client():
        await exchange(client, text="Hello, who are you?", observer=wire)
    assert not wire.words() and not wire.of_type("response.audio_timestamp.done")


async def test_an_interrupted_reply_shows_the_words_heard_before_the_cut() -> None:
    """The reply paced at twice real time on a virtual clock: its first 2.5 s are due (the first audio
    after 0.5 s), the rest in flight when the user cuts in after 1.5 s of it, a few words in (the
    reply is spoken in tones, a word every half second or so)."""
    clock = PacingClock()
    options = VoiceLiveOptions(word_timestamps=True)
    client = RealtimeClient(
        transport=VoiceLiveSessionTransport.of(EchoBrain(), VirtualPacing(speed=2.0, clock=clock), options)
    )
    wire = Wire(client)
    state = ConversationState()
    view = ConversationView(SessionInfo("azure", "websocket", "gpt-realtime", "alloy"), state)
    async with client(settings=RealtimeSettings(push_to_talk=True)):
        await client.send({"type": "conversation.item.create", "item": _user_text(LONG_TEXT)})
        await client.send({"type": SendEvents.RESPONSE_CREATE})
        await clock.advance(0.5 + 2.5 / 2)
        item_id, audio_ms = None, 0
        async for event in client.receive():
            wire(event)
            state.handle(event)
            if isinstance(event, RealtimeAudioEvent):
                audio_ms += event.audio.duration_ms
            if item_id is None and len(wire.words()) >= 4 and audio_ms >= 1600:  # a few words: the user cuts in
                item_id = wire.words()[0].item_id
                await client.interrupt([(str(item_id), 1500)], cancel=True)
            if wire.of_type(ListenEvents.RESPONSE_DONE) and wire.of_type(ListenEvents.CONVERSATION_ITEM_TRUNCATED):
                break
    [turn] = [entry for entry in view.entries if isinstance(entry, AssistantTurn)]
    assert turn.interrupted and turn.heard == heard_text(wire.words(), 1500)
    assert turn.heard and turn.heard.startswith("You said") and len(turn.heard) < len(turn.text)
    console = Console(width=200, record=True, color_system=None)
    console.print(view.render())
    assert turn.heard.split()[-1] in console.export_text()


def _user_text(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def test_the_unheard_rest_of_an_interrupted_reply_is_struck_through() -> None:
    state = ConversationState()
    view = ConversationView(SessionInfo("azure", "websocket", "gpt-realtime", "alloy"), state)
    said = "Once upon a time there was"
    for at, word in enumerate(said.split()):
        state.handle(
            RealtimeWordEvent(word=WordTimestampContent(word, at * 300, 300, item_id="a1"), service_type="word")
        )
    for event in (
        _service("response.output_audio_transcript.done", item_id="a1", transcript=said),
        _service("conversation.item.truncated", item_id="a1", content_index=0, audio_end_ms=800),
    ):
        state.handle(event)
    console = Console(width=100, record=True, color_system="standard", force_terminal=True)
    console.print(view.render())
    shown = console.export_text(styles=True)
    assert "Once upon a\x1b[2;9m time there was" in shown  # "a" was half played at 800 ms; the rest dim, struck
    assert "\x1b[2;9mOnce" not in shown and "[interrupted]" in shown


def _service(event_type: str, **fields: Any) -> RealtimeEvent:
    return RealtimeEvent(service_type=event_type, service_event={"type": event_type, **fields})
