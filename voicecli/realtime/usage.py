"""Token usage and its cost, per turn and per session, from what the service reports.

The Realtime protocol bills each response: `response.done` carries `usage` with input and output
tokens split by modality. Cached input tokens are a part of the input tokens (billed at the cached
price instead of the full one), never extra tokens, and audio and text tokens have prices of their
own. GPT-Live bills session time instead: `session.usage.updated` reports the seconds so far
(`LiveUsageReader`). Input transcription runs on a model of its own and is billed at that model's
prices: `conversation.item.input_audio_transcription.completed` carries its usage (tokens, or
seconds of audio), which the meter keeps apart (`transcription`) and prices with
`transcription_prices`. Pure arithmetic, no I/O: the meter is fed events and read by the screen, the
summary and the budget rule. Another protocol plugs in a `UsageReader` of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from voicecli.realtime.events import RealtimeEvent
from voicecli.realtime.protocol import ListenEvents

PER_TOKENS = 1_000_000
"""Prices are given per million tokens, as the providers publish them."""


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens of one response (or a sum of responses), and billed seconds where time is billed (GPT-Live).
    `*_cached` counts are parts of the `*_input` ones."""

    text_input: int = 0
    text_cached: int = 0
    audio_input: int = 0
    audio_cached: int = 0
    image_input: int = 0
    image_cached: int = 0
    text_output: int = 0
    audio_output: int = 0
    seconds: float = 0.0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def input_tokens(self) -> int:
        return self.text_input + self.audio_input + self.image_input

    @property
    def cached_tokens(self) -> int:
        return self.text_cached + self.audio_cached + self.image_cached

    @property
    def output_tokens(self) -> int:
        return self.text_output + self.audio_output

    @classmethod
    def from_realtime(cls, usage: Mapping[str, Any]) -> TokenUsage:
        """From the `usage` of a Realtime `response.done` (GA shape; the beta shape lacks only image counts).

        When the split of cached tokens by modality is missing, they are counted as cached text first,
        then audio (each never more than the input of its kind), so the total cached count is kept."""
        details = _mapping(usage.get("input_token_details"))
        out = _mapping(usage.get("output_token_details"))
        text, audio = _count(details, "text_tokens"), _count(details, "audio_tokens")
        image = _count(details, "image_tokens")
        if not details and not out:  # no split at all: all text, as the service bills an unsplit count
            text = _count(usage, "input_tokens")
        cached_split = _mapping(details.get("cached_tokens_details"))
        if cached_split:
            text_cached = min(_count(cached_split, "text_tokens"), text)
            audio_cached = min(_count(cached_split, "audio_tokens"), audio)
            image_cached = min(_count(cached_split, "image_tokens"), image)
        else:
            cached = _count(details, "cached_tokens")
            text_cached = min(cached, text)
            audio_cached = min(cached - text_cached, audio)
            image_cached = min(cached - text_cached - audio_cached, image)
        text_output, audio_output = _count(out, "text_tokens"), _count(out, "audio_tokens")
        if not out:
            text_output = _count(usage, "output_tokens")
        return cls(text, text_cached, audio, audio_cached, image, image_cached, text_output, audio_output)


@dataclass(frozen=True, slots=True)
class ModelPrices:
    """What a model costs, in dollars per million tokens of each kind."""

    text_input: float
    text_cached_input: float
    text_output: float
    audio_input: float
    audio_cached_input: float
    audio_output: float
    image_input: float = 0.0
    image_cached_input: float = 0.0
    per_minute: float = 0.0
    """Dollars per minute of billed session time (GPT-Live)."""

    def cost(self, usage: TokenUsage) -> float:
        """Dollars for `usage`: uncached input at the input price, cached input at the cached price."""
        dollars = (
            (usage.text_input - usage.text_cached) * self.text_input
            + usage.text_cached * self.text_cached_input
            + (usage.audio_input - usage.audio_cached) * self.audio_input
            + usage.audio_cached * self.audio_cached_input
            + (usage.image_input - usage.image_cached) * self.image_input
            + usage.image_cached * self.image_cached_input
            + usage.text_output * self.text_output
            + usage.audio_output * self.audio_output
        )
        return dollars / PER_TOKENS + usage.seconds / 60 * self.per_minute


UsageReader = Callable[[RealtimeEvent], TokenUsage | None]
"""Reads the usage one event reports, if it reports any: one per protocol."""


def realtime_usage(event: RealtimeEvent) -> TokenUsage | None:
    """The Realtime protocol's reader: the `usage` of `response.done` (absent on a cancelled response
    that produced nothing)."""
    if event.service_type != ListenEvents.RESPONSE_DONE or not event.service_event:
        return None
    usage = _mapping(_mapping(event.service_event.get("response")).get("usage"))
    return TokenUsage.from_realtime(usage) if usage else None


def transcription_usage(event: RealtimeEvent) -> TokenUsage | None:
    """What one input transcription used: tokens (`type: tokens`, input split into text and audio)
    or seconds of audio (`type: duration`), from its `...input_audio_transcription.completed`."""
    if event.service_type != ListenEvents.INPUT_AUDIO_TRANSCRIPTION_COMPLETED or not event.service_event:
        return None
    usage = _mapping(event.service_event.get("usage"))
    if usage.get("type") == "duration":
        seconds = usage.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= 0:
            return None
        return TokenUsage(seconds=float(seconds))
    if usage.get("type") != "tokens":
        return None
    details = _mapping(usage.get("input_token_details"))
    text, audio = _count(details, "text_tokens"), _count(details, "audio_tokens")
    if not details:  # no split: the input of a transcription is its audio
        audio = _count(usage, "input_tokens")
    return TokenUsage(text_input=text, audio_input=audio, text_output=_count(usage, "output_tokens"))


class LiveUsageReader:
    """GPT-Live's reader: `session.usage.updated` reports the billed seconds of the session so far
    (never to be summed), so each report counts as the seconds added since the one before."""

    def __init__(self) -> None:
        self._seconds = 0.0

    def __call__(self, event: RealtimeEvent) -> TokenUsage | None:
        if event.service_type != "session.usage.updated" or not event.service_event:
            return None
        seconds = _mapping(event.service_event.get("usage")).get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds <= self._seconds:
            return None  # nothing new (or a report out of order)
        added, self._seconds = seconds - self._seconds, float(seconds)
        return TokenUsage(seconds=added)


def usage_reader(protocol: str = "realtime") -> UsageReader:
    """The reader for a client's protocol: its public `protocol` attribute (`"live"` on the GPT-Live
    clients; the Realtime clients have none, hence the default). A fresh one per session."""
    return LiveUsageReader() if protocol == "live" else realtime_usage


@dataclass(slots=True)
class UsageMeter:
    """Usage per turn (each billed response) and for the session, and its cost when prices are known.

    `budget` in dollars (0: none): `over_budget` turns true once the session's cost reached it."""

    prices: ModelPrices | None = None
    budget: float = 0.0
    reader: UsageReader = realtime_usage
    turns: list[TokenUsage] = field(default_factory=list)
    session: TokenUsage = field(default_factory=TokenUsage)
    transcription_prices: ModelPrices | None = None
    """The input transcription model's prices (None: its usage is shown, not priced)."""
    transcription: TokenUsage = field(default_factory=TokenUsage)
    """What input transcription used over the session (billed apart from the responses)."""

    def observe(self, event: RealtimeEvent) -> TokenUsage | None:
        """Count the usage `event` reports; returns a response's (None when the event reports none)."""
        transcribed = transcription_usage(event)
        if transcribed is not None:
            self.transcription = self.transcription + transcribed
            return None
        usage = self.reader(event)
        if usage is not None:
            self.turns.append(usage)
            self.session = self.session + usage
        return usage

    @property
    def transcription_cost(self) -> float | None:
        return None if self.transcription_prices is None else self.transcription_prices.cost(self.transcription)

    @property
    def cost(self) -> float | None:
        """The responses' cost plus, when its prices are known, the input transcription's."""
        if self.prices is None:
            return None
        return self.prices.cost(self.session) + (self.transcription_cost or 0.0)

    @property
    def last_turn_cost(self) -> float | None:
        return None if self.prices is None or not self.turns else self.prices.cost(self.turns[-1])

    @property
    def over_budget(self) -> bool:
        cost = self.cost
        return self.budget > 0 and cost is not None and cost >= self.budget


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(values: Mapping[str, Any], key: str) -> int:
    """A token count, or 0 for anything that is not a non-negative whole number (a service bug must not crash)."""
    value = values.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
