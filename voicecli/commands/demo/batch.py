"""The screen of a batch of scripts: live progress bars on a terminal (one line per finished script
otherwise), then a summary table and, for each failure, what went wrong.

Transcripts of scripts running at once would interleave, so they go only to each script's files.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Self

from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from voicecli.commands.demo.formatting import check_lines, first_audio_percentiles, ms_value, outcome_text
from voicecli.commands.demo.inputs import TurnInput
from voicecli.commands.demo.prepare import PreparedScript
from voicecli.commands.demo.results import ScriptRun, TurnRecord
from voicecli.commands.demo.script import DemoTurn
from voicecli.realtime import RealtimeEvent


class BatchProgress:
    """A `RunObserver` for many scripts; use it as a context manager around the runs."""

    def __init__(self, console: Console, scripts: Sequence[PreparedScript]) -> None:
        self.console = console
        self._live = console.is_terminal
        self._progress = Progress(
            SpinnerColumn(finished_text=" "),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("turns"),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {
            str(p.output_dir): self._progress.add_task(escape(p.script.name), total=len(p.script.turns), start=False)
            for p in scripts
        }

    def __enter__(self) -> Self:
        if self._live:
            self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._live:
            self._progress.stop()

    def run_started(self, run: ScriptRun) -> None:
        self._progress.start_task(self._task(run))
        if not self._live:
            self.console.print(f"started  {escape(str(run.script.path))}", soft_wrap=True)

    def turn_started(self, run: ScriptRun, turn: DemoTurn, sent: TurnInput) -> None:
        """Turns are counted when they finish."""

    def event(self, run: ScriptRun, event: RealtimeEvent) -> None:
        """Events go to the script's files only."""

    def turn_finished(self, run: ScriptRun, record: TurnRecord) -> None:
        self._progress.advance(self._task(run))

    def run_finished(self, run: ScriptRun) -> None:
        mark = "[green]✓[/]" if run.passed else "[red]✗[/]"
        self._progress.update(self._task(run), description=f"{mark} {escape(run.script.name)}")
        self._progress.stop_task(self._task(run))
        if not self._live:
            verdict = "passed" if run.passed else "FAILED"
            line = f"{verdict:<8} {escape(str(run.script.path))} ({escape(outcome_text(run))})"
            self.console.print(line, soft_wrap=True)

    def _task(self, run: ScriptRun) -> TaskID:
        return self._tasks[str(run.output_dir)]


def summary_table(runs: Sequence[ScriptRun]) -> Table:
    """One row per script: result, turns passed, first-audio p50 / p95, time, output folder."""
    passed = sum(run.passed for run in runs)
    table = Table(title=f"{passed} of {len(runs)} scripts passed", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("script", "left"),
        ("result", "left"),
        ("turns", "right"),
        ("first audio p50", "right"),
        ("p95", "right"),
        ("time", "right"),
        ("output", "left"),
    )
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for run in runs:
        p50, p95 = first_audio_percentiles(run)
        table.add_row(
            escape(run.script.name),
            "[green]passed[/]" if run.passed else "[red]failed[/]",
            f"{run.turns_passed}/{len(run.script.turns)}",
            ms_value(p50),
            ms_value(p95),
            f"{run.duration_s:.1f} s",
            escape(str(run.output_dir)),
        )
    return table


def failures(run: ScriptRun) -> list[tuple[str, list[str]]]:
    """What went wrong in a run: one headline per problem, with its expected / got lines."""
    if run.error:
        return [(f"{run.script.path}: {run.error}", [])]
    found: list[tuple[str, list[str]]] = []
    for record in run.records:
        where = f"{run.script.path}: turn {record.turn.number}"
        if record.result.failed:
            found.append((f"{where}: {record.result.failed}", []))
        for check in record.checks:
            if not check.passed:
                first, *rest = check_lines(check)
                found.append((f"{where}: {first}", rest))
    if not found and not run.passed:
        found.append((f"{run.script.path}: {outcome_text(run)}", []))
    return found
