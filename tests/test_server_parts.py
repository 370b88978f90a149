"""The local server's pure parts: validation, VAD, synthesis, brains, conversation, the session's
audio seam (driven directly, without a socket)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from voicecli.realtime.events import SAMPLE_RATE
from voicecli.server.brains import DEFAULT_SCRIPT, ECHO_GREETING, EchoBrain, Reply, ScriptedBrain, load_brain
from voicecli.server.session.config import default_session_config
from voicecli.server.session.conversation import ConversationItems, Item
from voicecli.server.session.session import AudioRef, ServerSession
from voicecli.server.session.vad import EnergyVad, SpeechStarted, SpeechStopped, VadConfig
from voicecli.server.synth import speak, tones
from voicecli.server.validation import ProtocolViolation, validate_client_event, validate_server_event

pytestmark = pytest.mark.timeout(20)


def tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return (np.sin(2 * np.pi * 300 * t) * level * 32767).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(SAMPLE_RATE * seconds), np.int16)


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "code", "param"),
    [
        ({"type": "bogus.event"}, "invalid_value", "type"),
        ({"event_id": "evt_1"}, "missing_required_parameter", "type"),
        ({"type": "conversation.item.delete"}, "missing_required_parameter", "item_id"),
        ({"type": "response.create", "respnse": {}}, "unknown_parameter", "respnse"),
        (
            {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": "5"},
            "invalid_type",
            "audio_end_ms",
        ),
        (
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
            },
            "invalid_value",
            "session.audio.input.format.rate",
        ),
        (
            {"type": "conversation.item.create", "item": {"type": "function_call_output", "output": "x"}},
            "missing_required_parameter",
            "item.call_id",
        ),
        (
            {"type": "response.create", "response": {"input": [{"type": "item_reference"}]}},
            "missing_required_parameter",
            "response.input[0].id",
        ),
        (["not", "an", "object"], "invalid_type", None),
        # Unknown fields are refused at any depth, named by their dotted path, as the service does.
        (
            {"type": "session.update", "session": {"type": "realtime", "turn_detection": {"type": "server_vad"}}},
            "unknown_parameter",
            "session.turn_detection",
        ),
        (
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "x": 1}}}},
            },
            "unknown_parameter",
            "session.audio.input.turn_detection.x",
        ),
        (
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "tools": [
                        {"type": "function", "name": "f", "parameters": {"type": "object", "anything": 1}},
                        {
                            "type": "function",
                            "name": "g",
                            "strict": True,
                        },
                    ],
                },
            },
            "unknown_parameter",
            "session.tools[1].strict",
        ),
        (
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi", "x": 1}]},
            },
            "unknown_parameter",
            "item.content[0].x",
        ),
        (
            {"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "i", "x": 1}]}},
            "unknown_parameter",
            "response.input[0].x",
        ),
    ],
)
def test_client_violations_carry_the_service_code_and_param(event: Any, code: str, param: str | None) -> None:
    with pytest.raises(ProtocolViolation) as caught:
        validate_client_event(event)
    assert (caught.value.code, caught.value.param) == (code, param)


def test_valid_client_events_pass_including_item_references() -> None:
    validate_client_event({"type": "response.create", "response": {"input": [{"type": "item_reference", "id": "x"}]}})
    validate_client_event({"type": "input_audio_buffer.append", "audio": "AAAA", "event_id": "evt_1"})


def test_a_beta_shaped_session_update_is_refused_at_its_first_beta_field() -> None:
    beta_session = {
        "type": "realtime",
        "voice": "alloy",
        "input_audio_format": "pcm16",
        "turn_detection": {"type": "server_vad"},
        "modalities": ["audio", "text"],
    }
    with pytest.raises(ProtocolViolation) as caught:
        validate_client_event({"type": "session.update", "session": beta_session})
    assert (caught.value.code, caught.value.param) == ("unknown_parameter", "session.voice")
    assert caught.value.message == "Unknown parameter: 'session.voice'."


def test_server_events_are_checked_strictly() -> None:
    validate_server_event({"type": "input_audio_buffer.cleared", "event_id": "event_1"})
    with pytest.raises(ProtocolViolation, match="unknown field: 'extra'"):
        validate_server_event({"type": "input_audio_buffer.cleared", "event_id": "event_1", "extra": 1})
    item = {"id": "item_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    added = {"type": "conversation.item.added", "event_id": "event_1", "item": item}
    validate_server_event(added)
    with pytest.raises(ProtocolViolation) as caught:
        validate_server_event({**added, "item": {**item, "content": [{"type": "input_text", "text": "hi", "x": 1}]}})
    assert caught.value.param == "item.content[0].x"


STARTED_SERVER = """
import asyncio
from voicecli.server import LocalServer
from voicecli.server import validation

async def main() -> None:
    async with LocalServer():
        print(validation._client_validator.cache_info().currsize, validation._server_validator.cache_info().currsize)

asyncio.run(main())
"""


def test_a_started_server_has_its_protocol_checks_ready_before_any_client_comes() -> None:
    """Building them imports the `openai` types: seconds, more on a busy machine, which the first
    client otherwise spends inside its connect timeout (the WebRTC example once ran out of it so)."""
    done = subprocess.run([sys.executable, "-c", STARTED_SERVER], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]


def test_only_the_listed_service_fields_missing_from_the_sdk_pass() -> None:
    session = default_session_config()
    assert {"id", "object", "expires_at"} <= session.keys()
    validate_server_event({"type": "session.created", "event_id": "event_1", "session": session})
    with pytest.raises(ProtocolViolation) as caught:
        validate_server_event({"type": "session.updated", "event_id": "event_1", "session": {**session, "voice": "x"}})
    assert caught.value.param == "session.voice"
    with pytest.raises(ProtocolViolation):
        validate_server_event({"type": "conversation.item.deleted", "event_id": "event_1", "item_id": 7})


# --- VAD --------------------------------------------------------------------------------------------


def test_vad_reports_padded_start_and_silence_confirmed_stop() -> None:
    vad = EnergyVad(VadConfig(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500))
    stream = np.concatenate([silence(1.0), tone(1.0), silence(1.0)])
    events = [event for start in range(0, len(stream), 480) for event in vad.process(stream[start : start + 480])]
    assert events == [SpeechStarted(int(0.7 * SAMPLE_RATE)), SpeechStopped(int(2.5 * SAMPLE_RATE))]


def test_vad_threshold_and_clicks() -> None:
    quiet = tone(0.5, level=0.003)  # about -53 dBFS
    assert EnergyVad(VadConfig(threshold=0.5)).process(quiet) == []
    assert EnergyVad(VadConfig(threshold=0.1)).process(quiet) == [SpeechStarted(0)]
    click = np.concatenate([silence(0.2), tone(0.02), silence(0.2)])
    assert EnergyVad(VadConfig()).process(click) == []


def test_vad_config_from_session() -> None:
    assert VadConfig.from_turn_detection({"type": "server_vad", "threshold": 0.8, "silence_duration_ms": None}) == (
        VadConfig(threshold=0.8)
    )
    assert VadConfig.from_turn_detection({"type": "semantic_vad", "eagerness": "high"}).silence_duration_ms == 250


# --- synthesis ----------------------------------------------------------------------------------------


def test_tones_are_deterministic_and_timed_like_speech() -> None:
    pcm = tones("hello wide world")
    assert pcm.dtype == np.int16
    assert len(pcm) == SAMPLE_RATE * 16 // 8  # 16 characters at 8 per second
    assert np.array_equal(pcm, tones("hello wide world"))
    assert len(tones("")) == 0


def test_speak_gives_24khz_int16_cached_and_read_only() -> None:
    pcm = speak("testing one two")
    assert pcm.dtype == np.int16 and 0.3 * SAMPLE_RATE < len(pcm) < 5 * SAMPLE_RATE
    assert np.abs(pcm).max() > 1000
    assert speak("testing one two") is pcm
    assert not pcm.flags.writeable
    if shutil.which("espeak-ng"):
        assert not np.array_equal(pcm, tones("testing one two")), "expected espeak-ng speech"


# --- brains -------------------------------------------------------------------------------------------


def user(text: str | None = None, audio_ms: int = 0) -> Item:
    content = [{"type": "input_text", "text": text}] if text is not None else [{"type": "input_audio"}]
    audio = {0: b"\0\0" * 24 * audio_ms} if text is None else {}
    return Item({"id": f"item_{id(content)}", "type": "message", "role": "user", "content": content}, audio)


def call(name: str, call_id: str) -> Item:
    return Item({"id": f"item_{call_id}", "type": "function_call", "name": name, "call_id": call_id, "arguments": "{}"})


def output(call_id: str, text: str) -> Item:
    return Item({"id": f"item_out_{call_id}", "type": "function_call_output", "call_id": call_id, "output": text})


def assistant(text: str) -> Item:
    content = [{"type": "output_text", "text": text}]
    return Item({"id": "item_a", "type": "message", "role": "assistant", "content": content})


async def test_echo_brain() -> None:
    brain = EchoBrain()
    assert (await brain.reply([user("hi there")], {})).text == "You said: hi there"
    assert (await brain.reply([user(audio_ms=1234)], {})).text == "I heard 1.2 seconds of audio, but no words I know."
    spoken = user(audio_ms=2000)
    spoken.data["content"][0]["transcript"] = "what time is it"  # as the recogniser fills it in
    assert (await brain.reply([spoken], {})).text == "I heard 2.0 seconds of audio. You said: what time is it"
    tool_turn = [user("x"), call("f", "call_1"), output("call_1", "42")]
    assert (await brain.reply(tool_turn, {})).text == "The tool answered: 42"
    assert (await brain.reply([*tool_turn, assistant("done")], {})).text == "You said: x"
    assert (await brain.reply([], {})).text == ECHO_GREETING


WEATHER_TOOLS = {"tools": [{"type": "function", "name": "get_weather"}], "tool_choice": "auto"}


async def test_scripted_brain_matches_calls_and_answers_after_the_tool() -> None:
    brain = ScriptedBrain.from_toml(DEFAULT_SCRIPT)
    first = await brain.reply([user("How is the WEATHER?")], WEATHER_TOOLS)
    assert first.text == "Let me check the weather in Paris."
    assert [(c.name, c.arguments) for c in first.calls] == [("get_weather", '{"city":"Paris"}')]
    items = [user("How is the WEATHER?"), assistant(first.text)]
    items += [call("get_weather", "call_1"), output("call_1", "sunny")]
    assert await brain.reply(items, WEATHER_TOOLS) == Reply("Here is the weather in Paris: sunny")


async def test_scripted_brain_calls_only_declared_tools() -> None:
    brain = ScriptedBrain.from_toml(DEFAULT_SCRIPT)
    assert (await brain.reply([user("weather?")], {"tools": []})).calls == ()
    assert (await brain.reply([user("weather?")], {**WEATHER_TOOLS, "tool_choice": "none"})).calls == ()


async def test_scripted_brain_fallbacks_go_in_order_and_the_last_repeats() -> None:
    brain = ScriptedBrain.from_toml(DEFAULT_SCRIPT)
    items: list[Item] = []
    replies = []
    for text in ("one", "hello", "two", "three"):
        items.append(user(text))
        replies.append((await brain.reply(items, {})).text)
    assert replies == [
        "I am a scripted assistant. Ask me about the weather.",
        "Hello! Ask me about the weather.",
        "I can only talk about the weather, I am afraid.",
        "I can only talk about the weather, I am afraid.",
    ]


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ("", "at least one"),
        ("[[turn]]\nwhen_contains = 'x'\n", "needs a reply"),
        ("[[turn]]\nreply = 'x'\ncolour = 'red'\n", "unknown keys"),
        ("[[turn]]\n[[turn.call]]\narguments = {}\n", "string name"),
    ],
)
def test_bad_scripts_are_refused_with_a_reason(tmp_path: Path, script: str, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(script)
    with pytest.raises(ValueError, match=problem):
        load_brain("scripted", path)


def test_unknown_brain_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown brain"):
        load_brain("oracle")


# --- conversation -------------------------------------------------------------------------------------


def test_conversation_inserts_where_asked() -> None:
    conversation = ConversationItems()
    a, b, c = (Item({"id": name}) for name in "abc")
    assert conversation.insert(a) is None
    assert conversation.insert(b, "root") is None
    assert conversation.insert(c, "b") == "b"
    assert [item.id for item in conversation] == ["b", "c", "a"]
    with pytest.raises(KeyError):
        conversation.insert(Item({"id": "d"}), "nope")
    assert conversation.remove("c") and not conversation.remove("c")


# --- the session's audio seam, without a transport -------------------------------------------------


class RecordingAudioOut:
    def __init__(self) -> None:
        self.pcm: list[bytes] = []

    async def send(self, ref: AudioRef, pcm: bytes) -> None:
        self.pcm.append(pcm)

    async def clear(self, response_id: str | None) -> None:
        self.pcm.clear()


async def test_audio_out_strategy_replaces_audio_deltas() -> None:
    events: list[dict[str, Any]] = []

    async def send(event: dict[str, Any]) -> None:
        events.append(event)

    audio_out = RecordingAudioOut()
    session = ServerSession(send, brain=EchoBrain(), audio_out=audio_out)
    await session.start()
    await session.handle({"type": "response.create"})
    async with asyncio.timeout(5):
        while events[-1]["type"] != "response.done":
            await asyncio.sleep(0.01)
    kinds = [event["type"] for event in events]
    assert "response.output_audio.delta" not in kinds
    assert "response.output_audio.done" in kinds
    assert sum(map(len, audio_out.pcm)) == len(speak(ECHO_GREETING)) * 2
    assert all(len(chunk) == 4800 for chunk in audio_out.pcm[:-1])
    await session.handle({"type": "output_audio_buffer.clear"})
    assert audio_out.pcm == []


async def test_push_to_talk_buffer_keeps_a_bounded_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import voicecli.server.session.input_audio as input_audio_module

    monkeypatch.setattr(input_audio_module, "_MAX_UNCOMMITTED_MS", 200)
    events: list[dict] = []

    async def send(event: dict) -> None:
        events.append(event)

    session = ServerSession(send, brain=EchoBrain())
    await session.start()
    await session.handle(
        {"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}}}
    )
    for _ in range(10):  # 1 s of audio in 100 ms appends
        await session.append_audio(np.full(2400, 1000, dtype="<i2").tobytes())
    await session.handle({"type": "input_audio_buffer.commit"})
    committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
    item = next(e for e in events if e["type"] == "conversation.item.added" and e["item"]["id"] == committed["item_id"])
    assert session.conversation.get(item["item"]["id"]).audio_ms() == 200


def test_the_recognition_worker_expects_the_protocol_s_rate() -> None:
    """The worker runs as a plain script that imports no voicecli, so it writes the rate out itself."""
    from voicecli.server import recognition_worker

    assert recognition_worker.INPUT_RATE == SAMPLE_RATE
