"""Usage and cost: the arithmetic (no I/O), the price table in the configuration, the usage the local
server reports (shaped like the service's) and the budget that ends a live session."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from openai.types.realtime import RealtimeResponseUsage
from rich.console import Console
from support.conversation_stubs import InstantSpeaker, Microphone, Screen
from support.session_transport import echo_client, in_tones  # noqa: F401  (in_tones: a fixture)

from voicecli.config import AppConfig, ConfigError, load_config
from voicecli.config.prices import DEFAULT_PRICES
from voicecli.conversation.exchange import exchange, send_user_turn
from voicecli.conversation.live import Conversation
from voicecli.conversation.providers import usage_meter
from voicecli.conversation.state import ConversationState
from voicecli.realtime import ListenEvents, RealtimeEvent
from voicecli.realtime.usage import (
    LiveUsageReader,
    ModelPrices,
    TokenUsage,
    UsageMeter,
    realtime_usage,
    usage_reader,
)
from voicecli.ui.summary import usage_table
from voicecli.ui.view import ConversationView, SessionInfo

PRICES = ModelPrices(
    text_input=4.0,
    text_cached_input=0.4,
    text_output=16.0,
    audio_input=32.0,
    audio_cached_input=0.4,
    audio_output=64.0,
    image_input=5.0,
    image_cached_input=0.5,
)


def service_usage(**details: Any) -> dict[str, Any]:
    """A `response.done` usage as the service sends it, checked against the SDK's model."""
    usage = {
        "total_tokens": 4600,
        "input_tokens": 3000,
        "output_tokens": 1600,
        "input_token_details": {
            "text_tokens": 1000,
            "audio_tokens": 2000,
            "image_tokens": 0,
            "cached_tokens": 1300,
            "cached_tokens_details": {"text_tokens": 800, "audio_tokens": 500, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": 100, "audio_tokens": 1500},
        **details,
    }
    return RealtimeResponseUsage.model_validate(usage).model_dump(exclude_none=True)


def response_done(usage: dict[str, Any] | None) -> RealtimeEvent:
    response: dict[str, Any] = {"id": "resp_1", "status": "completed"}
    if usage is not None:
        response["usage"] = usage
    return RealtimeEvent(service_type=ListenEvents.RESPONSE_DONE, service_event={"response": response})


# --- arithmetic ---------------------------------------------------------------------------------------


def test_cached_input_is_part_of_the_input_priced_at_the_cached_rate() -> None:
    usage = TokenUsage.from_realtime(service_usage())
    assert usage == TokenUsage(
        text_input=1000, text_cached=800, audio_input=2000, audio_cached=500, text_output=100, audio_output=1500
    )
    assert (usage.input_tokens, usage.cached_tokens, usage.output_tokens) == (3000, 1300, 1600)
    expected = (200 * 4.0 + 800 * 0.4 + 1500 * 32.0 + 500 * 0.4 + 100 * 16.0 + 1500 * 64.0) / 1e6
    assert PRICES.cost(usage) == pytest.approx(expected)
    assert PRICES.cost(usage) == pytest.approx(0.14692)


def test_cached_tokens_without_their_split_are_counted_as_text_then_audio() -> None:
    usage = TokenUsage.from_realtime(
        {
            "input_tokens": 300,
            "output_tokens": 0,
            "input_token_details": {"text_tokens": 100, "audio_tokens": 200, "cached_tokens": 150},
        }
    )
    assert (usage.text_cached, usage.audio_cached) == (100, 50)
    assert usage.cached_tokens == 150


@pytest.mark.parametrize(
    "usage",
    [
        {},
        {"input_tokens": "many", "input_token_details": None},
        {"input_token_details": {"text_tokens": -5, "audio_tokens": True}},
    ],
)
def test_a_usage_the_service_got_wrong_counts_nothing_instead_of_failing(usage: dict[str, Any]) -> None:
    assert TokenUsage.from_realtime(usage) == TokenUsage()


def test_the_meter_counts_each_response_and_the_session() -> None:
    meter = UsageMeter(prices=PRICES)
    assert meter.observe(response_done(service_usage())) is not None
    assert meter.observe(response_done(None)) is None  # a cancelled response with nothing produced
    assert meter.observe(RealtimeEvent(service_type=ListenEvents.RESPONSE_CREATED, service_event={})) is None
    meter.observe(response_done(service_usage()))
    assert len(meter.turns) == 2
    assert meter.session.audio_output == 3000
    assert meter.cost == pytest.approx(2 * 0.14692)
    assert meter.last_turn_cost == pytest.approx(0.14692)


def test_the_budget_is_reached_when_the_cost_gets_to_it() -> None:
    meter = UsageMeter(prices=PRICES, budget=0.25)
    meter.observe(response_done(service_usage()))
    assert not meter.over_budget
    meter.observe(response_done(service_usage()))
    assert meter.over_budget
    assert not UsageMeter(prices=None, budget=0.01).over_budget  # no price, no cost: cannot be kept
    assert realtime_usage(response_done(service_usage())) == meter.turns[0]


def test_the_cost_shows_on_the_status_line_and_in_the_summary() -> None:
    meter = UsageMeter(prices=PRICES, budget=1.0)
    view = ConversationView(SessionInfo("openai", "websocket", "gpt-realtime", "alloy"), ConversationState(), meter)
    assert "$" not in _text(view.status_line())
    meter.observe(response_done(service_usage()))
    assert "$0.1469 of $1.00" in _text(view.status_line())
    summary = _text(usage_table(meter))
    assert "cost: $0.1469" in summary
    assert "1000" in summary and "800" in summary  # text input and the cached part of it


def _text(renderable: Any) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


# --- the price table in the configuration ----------------------------------------------------------


def test_default_prices_are_known_for_the_realtime_models() -> None:
    config = AppConfig()
    assert config.prices[config.priced_model()] == PRICES
    assert config.prices["gpt-realtime-2"].text_output == 24.0
    assert config.prices["gpt-realtime-mini"].audio_output == 20.0


def test_prices_are_overridden_and_added_in_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[prices.gpt-realtime]\naudio_output = 70\n\n"
        '[prices."azure/my-deployment"]\n'
        "text_input = 5\ntext_cached_input = 0.5\ntext_output = 20\n"
        "audio_input = 40\naudio_cached_input = 0.5\naudio_output = 80\n",
        encoding="utf-8",
    )
    config = load_config(path, overrides={"provider": "azure", "azure.deployment": "my-deployment"})
    assert config.prices["gpt-realtime"].audio_output == 70.0
    assert config.prices["gpt-realtime"].audio_input == 32.0  # the rest of the default stays
    assert config.prices[config.priced_model()].audio_output == 80.0
    assert DEFAULT_PRICES["gpt-realtime"].audio_output == 64.0  # the defaults themselves are untouched


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[prices.gpt-realtime]\naudio_output = -1\n", "prices.gpt-realtime.audio_output: expected dollars"),
        ("[prices.gpt-realtime]\nvideo = 1\n", "prices.gpt-realtime.video: unknown key"),
        ("[prices.new-model]\ntext_input = 1\n", "prices.new-model: a model not in the default table needs"),
        ("prices = 3\n", "prices: expected a table of models"),
        ("[session]\nbudget = -2\n", "session.budget: must be 0"),
    ],
)
def test_a_bad_price_or_budget_is_one_line_naming_the_key(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


# --- against the local server ------------------------------------------------------------------------


@pytest.mark.usefixtures("in_tones")
async def test_the_local_server_reports_usage_shaped_like_the_service() -> None:
    """Against a server session in memory: usage is the session's, not the socket's."""
    client = echo_client()
    meter = UsageMeter(prices=PRICES)
    async with client():
        result = await exchange(client, text="What does this conversation cost?", observer=meter.observe)
        assert not result.failed
        await exchange(client, text="And now?", observer=meter.observe)
    first, second = meter.turns
    assert first.text_input > 0 and first.audio_output > 0  # the reply was spoken
    assert second.input_tokens > first.input_tokens  # the whole conversation is input again
    assert meter.cost is not None and 0 < meter.cost < 0.1


# --- the budget ends a live session ----------------------------------------------------------------------


@pytest.mark.usefixtures("in_tones")
async def test_the_session_ends_by_itself_after_the_reply_that_reached_the_budget() -> None:
    client = echo_client()
    meter = UsageMeter(prices=PRICES, budget=1e-6)
    speaker, screen = InstantSpeaker(), Screen()
    async with client():
        conversation = Conversation(client, Microphone(), speaker, screen, usage=meter)  # type: ignore[arg-type]
        running = asyncio.create_task(conversation.run())
        await send_user_turn(client, text="Tell me something.")
        await asyncio.wait_for(running, timeout=20)  # nobody called stop(): the budget did
    assert conversation.budget_spent and meter.over_budget
    assert len(meter.turns) == 1
    assert speaker.samples > 0  # the reply that reached the budget was played
    assert [e.service_type for e in screen.events].count(ListenEvents.RESPONSE_DONE) == 1


def test_a_budget_without_a_price_is_refused_with_one_line() -> None:
    config = load_config(None, overrides={"provider": "azure", "azure.deployment": "mine", "session.budget": 1.0})
    with pytest.raises(ConfigError, match=r'needs the price of .azure/mine.*\[prices\."azure/mine"\]'):
        usage_meter(config)
    assert usage_meter(load_config(None, overrides={"session.budget": 1.0})).prices == PRICES


# --- time-billed sessions (GPT-Live) ------------------------------------------------------------------------


def usage_updated(seconds: Any) -> RealtimeEvent:
    event = {"type": "session.usage.updated", "event_id": "e", "usage": {"seconds": seconds}}
    return RealtimeEvent(service_type="session.usage.updated", service_event=event)


def test_gpt_live_seconds_are_cumulative_and_priced_per_minute(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[prices."gpt-live-test"]\nper_minute = 0.06\n', encoding="utf-8")
    prices = load_config(path).prices["gpt-live-test"]
    meter = UsageMeter(prices=prices, reader=LiveUsageReader(), budget=0.05)
    assert meter.observe(usage_updated(30)) == TokenUsage(seconds=30)
    assert meter.observe(usage_updated(30)) is None  # a repeated report adds nothing
    assert meter.observe(usage_updated("soon")) is None
    assert meter.observe(usage_updated(45)) == TokenUsage(seconds=15)  # the reports are totals, not additions
    assert meter.session.seconds == 45 and meter.cost == pytest.approx(0.045)
    assert not meter.over_budget
    meter.observe(usage_updated(50))
    assert meter.over_budget
    assert "session time" in _text(usage_table(meter))


def test_a_gpt_live_client_gets_a_meter_reading_its_seconds_and_the_status_line_shows_them() -> None:
    from voicecli.realtime import OpenAILiveWebsocket, OpenAIRealtimeWebsocket

    live = OpenAILiveWebsocket(api_key="sk-test", model="gpt-live-1")
    meter = usage_meter(AppConfig(), getattr(live, "protocol", "realtime"))
    assert meter.observe(usage_updated(30)) == TokenUsage(seconds=30)
    unpriced = UsageMeter(reader=usage_reader("live"))  # no price known: the status line shows the seconds
    unpriced.observe(usage_updated(30))
    view = ConversationView(SessionInfo("openai", "websocket", "gpt-live-1", "marin"), ConversationState(), unpriced)
    assert "· 30 s" in _text(view.status_line())
    realtime = usage_meter(AppConfig(), getattr(OpenAIRealtimeWebsocket(api_key="sk-test"), "protocol", "realtime"))
    assert realtime.observe(usage_updated(30)) is None  # a Realtime session is billed per response


def test_gpt_live_has_a_published_default_price_per_minute_and_azure_deployments_none() -> None:
    """gpt-live-1 and gpt-live-1.1: $0.05 a minute, billed per second (OpenAI's model pages, 2026-12-07)."""
    config = load_config(None, overrides={"provider": "openai", "openai.model": "gpt-live-1"})
    meter = usage_meter(config, "live")
    meter.observe(usage_updated(90))
    assert meter.cost == pytest.approx(0.075)  # 90 s, not rounded up to two minutes
    assert config.prices["gpt-live-1.1"].per_minute == 0.05
    azure = load_config(None, overrides={"provider": "azure", "azure.deployment": "gpt-live-1"})
    assert azure.priced_model() not in azure.prices  # Azure prices by region and tier: the user adds them
