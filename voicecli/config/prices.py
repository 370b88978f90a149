"""The price table: what each known realtime model costs, and how the configuration overrides it.

Defaults are OpenAI's published prices in dollars per million tokens, as read from the model pages of
developers.openai.com (https://developers.openai.com/api/docs/models/<model>) on 2026-12-07; prices
change, so every figure can be overridden, and a model the table does not know (an Azure deployment)
is added, in a `[prices."<model>"]` table. GPT-Live is billed by session time, per second: gpt-live-1
and gpt-live-1.1 at $0.05 a minute (their model pages, read the same day). gpt-live-1.1 has a lower
standby rate ($0.02) for WebRTC sessions whose inference is paused (a wake policy and idle timeout),
which voicecli never configures, so the active rate applies throughout.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from voicecli.realtime.usage import ModelPrices

_FULL = ModelPrices(4.0, 0.4, 16.0, 32.0, 0.4, 64.0, 5.0, 0.5)
_MINI = ModelPrices(0.6, 0.06, 2.4, 10.0, 0.3, 20.0, 0.8, 0.08)
_REASONING = replace(_FULL, text_output=24.0)
_PER_MINUTE_LIVE = ModelPrices(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, per_minute=0.05)

DEFAULT_PRICES: dict[str, ModelPrices] = {
    "gpt-realtime": _FULL,
    "gpt-realtime-1.5": _FULL,
    "gpt-realtime-mini": _MINI,
    "gpt-realtime-2": _REASONING,
    "gpt-realtime-2.1": _REASONING,
    "gpt-realtime-2.1-mini": _MINI,
    # input transcription models, billed apart from the realtime model (read on 2026-12-07 from
    # developers.openai.com/api/docs/models/<model>; the token models list one input price)
    "gpt-4o-transcribe": ModelPrices(2.5, 0.0, 10.0, 2.5, 0.0, 0.0),
    "gpt-4o-mini-transcribe": ModelPrices(1.25, 0.0, 5.0, 1.25, 0.0, 0.0),
    "whisper-1": ModelPrices(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, per_minute=0.006),
    "gpt-realtime-whisper": ModelPrices(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, per_minute=0.017),
    "gpt-live-1": _PER_MINUTE_LIVE,
    "gpt-live-1.1": _PER_MINUTE_LIVE,
}
"""Prices per model name, dollars per million tokens (per minute for models billed by time, GPT-Live included)."""

PRICE_KEYS = tuple(f.name for f in fields(ModelPrices))
TOKEN_KEYS = tuple(key for key in PRICE_KEYS if not key.startswith("image_") and key != "per_minute")


def merged_prices(table: dict[str, ModelPrices], values: Any, origin: str, name: str) -> dict[str, ModelPrices]:
    """`table` with the `[prices.<model>]` tables of a configuration layer merged in; each problem is one
    line (ValueError) naming the key. A known model may override some figures; a new one must give
    the six text and audio figures (image ones default to 0)."""
    if not isinstance(values, dict):
        raise ValueError(f"{origin}: {name}: expected a table of models, e.g. [prices.gpt-realtime]")
    merged = dict(table)
    for model, figures in values.items():
        where = f"{origin}: {name}.{model}"
        if not isinstance(figures, dict):
            raise ValueError(f"{where}: expected a table of prices ({', '.join(PRICE_KEYS)})")
        for key, value in figures.items():
            if key not in PRICE_KEYS:
                raise ValueError(f"{where}.{key}: unknown key (known: {', '.join(PRICE_KEYS)})")
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{where}.{key}: expected dollars per million tokens (0 or more), got {value!r}")
        numbers = {key: float(value) for key, value in figures.items()}
        if model in merged:
            merged[model] = replace(merged[model], **numbers)
            continue
        missing = [key for key in TOKEN_KEYS if key not in numbers]
        if missing and "per_minute" not in numbers:
            raise ValueError(
                f"{where}: a model not in the default table needs {', '.join(missing)} "
                "(or per_minute, if it is billed by time)"
            )
        merged[model] = ModelPrices(**{key: 0.0 for key in TOKEN_KEYS} | numbers)
    return merged
