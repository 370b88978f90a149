"""The cost of a one-turn `talk --text` and of each phone call: the same meter as live talk, shown in
the turn's status lines, the call's last log line and the calls table; and input transcription,
billed apart at its own model's prices."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import soundfile
from openai.types.realtime import ConversationItemInputAudioTranscriptionCompletedEvent
from rich.console import Console
from support.phone import MemoryMediaSocket
from support.session_transport import RealtimeSessionTransport, in_tones  # noqa: F401  (in_tones: a fixture)

from voicecli.commands import phone as commands_phone
from voicecli.commands import talk_files
from voicecli.commands.phone import phone_client_factory
from voicecli.commands.talk_files import run_file_turn
from voicecli.config import AppConfig, load_config
from voicecli.config.prices import DEFAULT_PRICES
from voicecli.conversation.providers import session_settings, usage_meter
from voicecli.phone.service import PhoneService
from voicecli.realtime import RealtimeClient, RealtimeEvent
from voicecli.realtime.usage import TokenUsage, UsageMeter, transcription_usage
from voicecli.server.brains import EchoBrain
from voicecli.server.synth import speak
from voicecli.ui.calls_view import CallsTable
from voicecli.ui.summary import dollars, usage_cell, usage_line

pytestmark = pytest.mark.timeout(120)


def _local_config(**overrides: object) -> AppConfig:
    return load_config(None, overrides={"local.brain": "echo", **overrides})


def _in_memory_echo_client(_: AppConfig, **options: Any) -> RealtimeClient:
    """`build_client`'s stand-in: the client the command builds, bound in memory to an echo server's session
    (`speech_input` is for an embedded server, which this one replaces)."""
    options.pop("speech_input", None)
    return RealtimeClient(transport=RealtimeSessionTransport.of(EchoBrain()), **options)


def _billed(events_file: Path) -> TokenUsage:
    """The usage the service reported in the turn's `response.done` events, summed."""
    total = TokenUsage()
    for line in events_file.read_text(encoding="utf-8").splitlines():
        record = orjson.loads(line)
        event = record.get("event") or record
        if event.get("type") == "response.done" and (event.get("response") or {}).get("usage"):
            total = total + TokenUsage.from_realtime(event["response"]["usage"])
    return total


@pytest.mark.usefixtures("in_tones")
async def test_a_one_turn_file_mode_prints_its_usage_and_cost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """File mode's own code meters the turn; its client reaches an echo server's session in memory
    instead of the embedded server's socket (what is metered does not change)."""
    monkeypatch.setattr(talk_files, "build_client", _in_memory_echo_client)
    events = tmp_path / "events.jsonl"
    config = _local_config(**{"recording.json_events": str(events), "session.budget": 5.0})
    out, status = io.StringIO(), io.StringIO()
    code = await run_file_turn(config, input_file=None, text="hello there", output_file=None, out=out, status=status)
    assert code == 0, status.getvalue()
    billed = _billed(events)
    assert billed.input_tokens > 0 and billed.output_tokens > 0
    [line] = [line for line in status.getvalue().splitlines() if line.startswith("usage:")]
    cost = config.prices["gpt-realtime"].cost(billed)
    assert line == (
        f"usage: {billed.input_tokens} input tokens ({billed.audio_input} audio, {billed.cached_tokens} cached), "
        f"{billed.output_tokens} output tokens ({billed.audio_output} audio); cost: {dollars(cost)} "
        "(priced as gpt-realtime)"
    )


def test_without_a_price_the_line_says_so_and_the_cell_shows_tokens() -> None:
    meter = UsageMeter()
    assert usage_cell(meter) == "—"  # nothing billed yet
    meter.turns.append(TokenUsage(text_input=10, text_output=5))
    meter.session = meter.turns[0]
    assert usage_line(meter).endswith("cost: no price known")
    assert usage_cell(meter) == "15 tok"


@pytest.mark.usefixtures("in_tones")
async def test_each_phone_call_is_metered_in_its_row_and_its_last_log_line(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The phone command's own client factory meters the call; its client reaches an echo server's
    session in memory instead of the embedded server's socket (what is metered does not change)."""

    monkeypatch.setattr(commands_phone, "build_client", _in_memory_echo_client)
    config = _local_config()
    service = PhoneService(client_factory=phone_client_factory(config), settings=session_settings(config), greet=True)
    record = service.registry.open("call-cost")
    socket = MemoryMediaSocket()
    with caplog.at_level(logging.INFO, logger="voicecli.phone"):
        call = asyncio.create_task(service.serve_call(record, socket))  # type: ignore[arg-type]
        async with asyncio.timeout(60):  # the greeting's usage; every step is in memory
            while not (record.usage and record.usage.turns):
                await asyncio.sleep(0)
        socket.hang_up()
        await asyncio.wait_for(call, 60)
    assert not record.active and any(frame["kind"] == "AudioData" for frame in socket.frames)
    assert record.usage is not None and record.usage.cost is not None and record.usage.cost > 0
    [ended] = [r.getMessage() for r in caplog.records if "call-cost: ended" in r.getMessage()]
    assert f"cost: {dollars(record.usage.cost)}" in ended and "input tokens" in ended
    console = Console(record=True, width=160, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(CallsTable(service.registry, lambda: "status"))
    assert dollars(record.usage.cost) in console.export_text()


# --- input transcription, billed apart ------------------------------------------------------------


def _transcribed(usage: dict[str, object]) -> RealtimeEvent:
    event = {
        "type": "conversation.item.input_audio_transcription.completed",
        "event_id": "event_1",
        "item_id": "item_1",
        "content_index": 0,
        "transcript": "hello",
        "usage": usage,
    }
    ConversationItemInputAudioTranscriptionCompletedEvent.model_validate(event)  # the service's shape
    return RealtimeEvent(service_type=str(event["type"]), service_event=event)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            {"type": "tokens", "input_tokens": 30, "output_tokens": 4, "total_tokens": 34,
             "input_token_details": {"text_tokens": 10, "audio_tokens": 20}},
            TokenUsage(text_input=10, audio_input=20, text_output=4),
        ),
        (
            {"type": "tokens", "input_tokens": 30, "output_tokens": 4, "total_tokens": 34},
            TokenUsage(audio_input=30, text_output=4),
        ),
        ({"type": "duration", "seconds": 2.5}, TokenUsage(seconds=2.5)),
    ],
)  # fmt: skip
def test_a_transcriptions_usage_is_read_in_both_shapes(usage: dict[str, object], expected: TokenUsage) -> None:
    assert transcription_usage(_transcribed(usage)) == expected


def test_input_transcription_is_priced_at_its_own_models_prices_and_is_not_a_turn() -> None:
    prices = DEFAULT_PRICES["gpt-realtime"]
    meter = UsageMeter(prices=prices, transcription_prices=DEFAULT_PRICES["gpt-4o-transcribe"])
    response = RealtimeEvent(
        service_type="response.done",
        service_event={"type": "response.done", "response": {"usage": {"input_tokens": 100, "output_tokens": 50}}},
    )
    meter.observe(response)
    tokens = {"type": "tokens", "input_tokens": 1000, "output_tokens": 100, "total_tokens": 1100}
    assert meter.observe(_transcribed(tokens)) is None
    assert len(meter.turns) == 1
    # 1000 audio tokens at $2.50 and 100 text tokens at $10 per million, on top of the response
    assert meter.cost == pytest.approx(prices.cost(meter.session) + (1000 * 2.5 + 100 * 10.0) / 1e6)
    meter.observe(_transcribed({"type": "duration", "seconds": 60.0}))
    whisper = UsageMeter(prices=prices, transcription_prices=DEFAULT_PRICES["whisper-1"])
    whisper.observe(_transcribed({"type": "duration", "seconds": 90.0}))
    assert whisper.cost == pytest.approx(0.009)  # 1.5 minutes at $0.006
    unpriced = UsageMeter(prices=prices)
    unpriced.observe(_transcribed({"type": "duration", "seconds": 90.0}))
    assert unpriced.cost == 0.0 and "input transcription 90.0 s (not priced)" in usage_line(unpriced)


def test_the_transcription_price_is_looked_up_by_the_session_model_on_azure_by_deployment() -> None:
    config = _local_config(**{"session.input_transcription_model": "gpt-4o-mini-transcribe"})
    assert usage_meter(config).transcription_prices == DEFAULT_PRICES["gpt-4o-mini-transcribe"]
    config.provider = "azure"
    assert usage_meter(config).transcription_prices is None  # "azure/gpt-4o-mini-transcribe": the user's to add


async def test_a_spoken_file_turn_counts_the_transcription_at_its_price(tmp_path: Path) -> None:
    wav = tmp_path / "question.wav"
    soundfile.write(wav, np.asarray(speak("What is the weather like today?")), 24_000, subtype="PCM_16")
    path = tmp_path / "config.toml"
    path.write_text('[local]\nbrain = "echo"\n[prices."pocketsphinx"]\nper_minute = 6.0\n', encoding="utf-8")
    config = load_config(path)
    out, status = io.StringIO(), io.StringIO()
    code = await run_file_turn(config, input_file=wav, text=None, output_file=None, out=out, status=status)
    assert code == 0, status.getvalue()
    [line] = [line for line in status.getvalue().splitlines() if line.startswith("usage:")]
    transcribed = re.search(r"input transcription (\d+\.\d) s;", line)
    assert transcribed is not None, line
    seconds = float(transcribed.group(1))
    assert 1.0 < seconds < 5.0  # about the question's length
    cost = float(re.search(r"cost: \$(\d+\.\d+)", line).group(1))  # type: ignore[union-attr]
    assert cost >= seconds / 60 * 6.0 - 0.01  # the transcription's $6 a minute is in it
