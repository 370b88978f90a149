"""The phone bridge's live table: one row per call (caller, duration, state, last words, latency, cost).

`CallsTable` only reads the call records, so Rich may render it on its refresh thread while the
bridge updates them; it is tested by rendering into a recording console. `live_calls_table` shows
it on the terminal for as long as the bridge runs.
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from voicecli.realtime.usage import UsageMeter
from voicecli.ui.summary import usage_cell


class CallRow(Protocol):
    """What the table shows of a call (the phone bridge's `CallRecord` is one)."""

    @property
    def call_id(self) -> str: ...
    @property
    def caller(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def last_words(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def turn_latencies_ms(self) -> list[float]: ...
    @property
    def usage(self) -> UsageMeter | None: ...


_STATE_STYLES = {
    "ringing": "yellow",
    "answered": "yellow",
    "connected": "cyan",
    "streaming": "bold green",
    "ended": "dim",
    "failed": "bold red",
}
MAX_ROWS = 30


class CallsTable:
    """Renders `calls` (iterated afresh at each redraw, newest last) under a one-line `status()`."""

    def __init__(self, calls: Iterable[CallRow], status: Callable[[], str]) -> None:
        self._calls = calls
        self._status = status

    def __rich__(self) -> RenderableType:
        calls = list(self._calls)[-MAX_ROWS:]
        metered = any(record.usage is not None and record.usage.turns for record in calls)
        table = Table(expand=True, show_edge=False, pad_edge=False)
        table.add_column("call", no_wrap=True, max_width=14)
        table.add_column("caller", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        table.add_column("last words", ratio=1, overflow="ellipsis", no_wrap=True)
        table.add_column("latency", justify="right", no_wrap=True)
        if metered:  # once a call has billed something: the last words keep the room until then
            table.add_column("cost", justify="right", no_wrap=True)
        for record in calls:
            cells: list[RenderableType] = [  # Text, not str: callers' ids and words are never read as Rich markup
                Text(record.call_id),
                Text(record.caller or "—"),
                Text(record.state, style=_STATE_STYLES.get(record.state, "")),
                _duration(record.duration_s),
                Text(record.last_words or record.reason),
                _latency(record.turn_latencies_ms),
            ]
            if metered:
                cells.append(usage_cell(record.usage))
            table.add_row(*cells)
        return Group(Text(self._status(), style="bold"), table)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


def _latency(latencies_ms: list[float]) -> str:
    """The last turn's latency and the call's median, e.g. `640 ms (med 700)`."""
    if not latencies_ms:
        return "—"
    return f"{latencies_ms[-1]:.0f} ms (med {statistics.median(latencies_ms):.0f})"


@contextlib.contextmanager
def live_calls_table(table: CallsTable, console: Console | None = None) -> Iterator[None]:
    """Show the table on the terminal, redrawn a few times a second, until the block ends."""
    with Live(table, console=console, refresh_per_second=4, transient=False):
        yield
