"""The cost of a one-turn `talk --text` and of each phone call: the same meter as live talk, shown in
the turn's status lines, the call's last log line and the calls table."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from live_support import until
from phone_support import SimulatedAcsCall
from rich.console import Console

from voicecli.commands.phone import phone_client_factory
from voicecli.commands.talk_files import run_file_turn
from voicecli.config import AppConfig, load_config
from voicecli.conversation.providers import session_settings
from voicecli.phone.app import create_phone_app
from voicecli.phone.service import PhoneService
from voicecli.realtime.usage import TokenUsage, UsageMeter
from voicecli.ui.calls_view import CallsTable
from voicecli.ui.summary import dollars, usage_cell, usage_line

pytestmark = pytest.mark.timeout(120)


def _local_config(**overrides: object) -> AppConfig:
    return load_config(None, overrides={"local.brain": "echo", **overrides})


def _billed(events_file: Path) -> TokenUsage:
    """The usage the service reported in the turn's `response.done` events, summed."""
    total = TokenUsage()
    for line in events_file.read_text(encoding="utf-8").splitlines():
        record = orjson.loads(line)
        event = record.get("event") or record
        if event.get("type") == "response.done" and (event.get("response") or {}).get("usage"):
            total = total + TokenUsage.from_realtime(event["response"]["usage"])
    return total


async def test_a_one_turn_file_mode_prints_its_usage_and_cost(tmp_path: Path) -> None:
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


async def test_each_phone_call_is_metered_in_its_row_and_its_last_log_line(caplog: pytest.LogCaptureFixture) -> None:
    config = _local_config()
    service = PhoneService(client_factory=phone_client_factory(config), settings=session_settings(config), greet=True)
    runner = web.AppRunner(create_phone_app(service), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with caplog.at_level(logging.INFO, logger="voicecli.phone"):
            async with SimulatedAcsCall(f"ws://127.0.0.1:{port}/ws/call-cost") as call:
                record = service.registry.get("call-cost")
                assert record is not None
                await call.silence_until(lambda: bool(record.usage and record.usage.turns), "the greeting's usage")
            await until(lambda: not record.active, "the call to end")
    finally:
        await runner.cleanup()
    assert record.usage is not None and record.usage.cost is not None and record.usage.cost > 0
    [ended] = [r.getMessage() for r in caplog.records if "call-cost: ended" in r.getMessage()]
    assert f"cost: {dollars(record.usage.cost)}" in ended and "input tokens" in ended
    console = Console(record=True, width=160, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(CallsTable(service.registry, lambda: "status"))
    assert dollars(record.usage.cost) in console.export_text()
