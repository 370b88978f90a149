"""The latency table printed when a conversation ends."""

from __future__ import annotations

from rich.table import Table

from voicecli.realtime.usage import TokenUsage, UsageMeter
from voicecli.records.latency import LatencySummary


def latency_table(summary: LatencySummary) -> Table:
    """p50 / p95 per measure, in milliseconds from the end of the user's speech."""
    table = Table(title=f"Latency over {summary.turns} turn{'s' if summary.turns != 1 else ''}", title_justify="left")
    table.add_column("measure")
    table.add_column("p50", justify="right")
    table.add_column("p95", justify="right")
    table.add_column("turns", justify="right")
    rows = [
        ("first audio received", summary.first_audio_ms),
        ("first audio heard", summary.first_audible_ms),
        ("time in tools", summary.tool_ms),
    ]
    for label, values in rows:
        table.add_row(label, _ms(values.p50), _ms(values.p95), str(values.count))
    return table


def usage_table(meter: UsageMeter) -> Table:
    """Tokens of the session by kind (cached input is part of input), and the cost when prices are known."""
    turns = len(meter.turns)
    table = Table(title=f"Usage over {turns} response{'s' if turns != 1 else ''}", title_justify="left")
    table.add_column("tokens")
    table.add_column("text", justify="right")
    table.add_column("audio", justify="right")
    table.add_column("image", justify="right")
    used = meter.session
    table.add_row("input", str(used.text_input), str(used.audio_input), str(used.image_input))
    table.add_row("  of it cached", str(used.text_cached), str(used.audio_cached), str(used.image_cached))
    table.add_row("output", str(used.text_output), str(used.audio_output), "–")
    if used.seconds:
        table.add_row("session time", f"{used.seconds:.0f} s", "", "")
    heard = meter.transcription
    if heard != TokenUsage():  # input transcription, billed apart at its model's prices
        table.add_row("transcription", str(heard.text_input + heard.text_output), str(heard.audio_input), "–")
        if heard.seconds:
            table.add_row("  audio transcribed", f"{heard.seconds:.0f} s", "", "")
    cost = meter.cost
    table.caption = "cost: no price known for this model" if cost is None else f"cost: {dollars(cost)}"
    if cost is not None and heard != TokenUsage() and meter.transcription_prices is None:
        table.caption += " (input transcription not priced: no price known for its model)"
    if meter.over_budget:
        table.caption += f" (budget {dollars(meter.budget)} reached: the session ended)"
    table.caption_justify = "left"
    return table


def usage_line(meter: UsageMeter) -> str:
    """The usage in one line, for the one-turn mode's status and the phone bridge's log: tokens in and
    out (cached and audio are parts of them), billed seconds where time is billed, and the cost."""
    used = meter.session
    parts = [
        f"{used.input_tokens} input tokens ({used.audio_input} audio, {used.cached_tokens} cached)",
        f"{used.output_tokens} output tokens ({used.audio_output} audio)",
    ]
    if used.seconds:
        parts.append(f"{used.seconds:.0f} s billed")
    heard = meter.transcription
    if heard != TokenUsage():
        tokens = heard.input_tokens + heard.output_tokens
        transcribed = f"{heard.seconds:.1f} s" if heard.seconds else f"{tokens} tokens"
        parts.append(f"input transcription {transcribed}{'' if meter.transcription_prices else ' (not priced)'}")
    cost = meter.cost
    return f"usage: {', '.join(parts)}; cost: {'no price known' if cost is None else dollars(cost)}"


def usage_cell(meter: UsageMeter | None) -> str:
    """The cost so far in a few characters: dollars, else the tokens (or seconds) when no price is known."""
    if meter is None or not meter.turns:
        return "—"
    cost = meter.cost
    if cost is not None:
        return dollars(cost)
    used = meter.session
    return f"{used.seconds:.0f} s" if used.seconds else f"{used.input_tokens + used.output_tokens} tok"


def dollars(amount: float) -> str:
    """Cents and tenths of a cent below a dollar, where realtime costs mostly are."""
    return f"${amount:.4f}" if amount < 1 else f"${amount:.2f}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"
