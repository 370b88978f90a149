"""The latency table printed when a conversation ends."""

from __future__ import annotations

from rich.table import Table

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


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"
