"""The screen of a single-script demo: what runs, each turn's conversation as it streams, the checks,
and at the end the verdict and where the files are.

The conversation itself is printed by `PlainTranscript`, the same lines as `voicecli talk --text`;
this class adds the frame around it. Colours appear only on a terminal.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from voicecli.commands.demo.formatting import (
    check_lines,
    first_audio_percentiles,
    input_text,
    latency_text,
    ms_value,
    outcome_text,
    provider_text,
)
from voicecli.commands.demo.inputs import TurnInput
from voicecli.commands.demo.report import REPORT, TRANSCRIPT
from voicecli.commands.demo.results import ScriptRun, TurnRecord
from voicecli.commands.demo.script import DemoTurn
from voicecli.realtime import RealtimeEvent
from voicecli.realtime.safe_text import shown
from voicecli.ui.plain import PlainTranscript


class ScriptScreen:
    """A `RunObserver` that streams one script's run to `console`."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._transcript = PlainTranscript(console.file)

    def _line(self, text: str = "") -> None:
        """One line, never wrapped by Rich: long lines stay whole in files and logs. It may quote the
        service or a tool, so it passes `shown` (no secrets, no terminal control sequences)."""
        self.console.print(shown(text), soft_wrap=True)

    def run_started(self, run: ScriptRun) -> None:
        tools = ", ".join(run.prepared.tool_names) or "none"
        self._line(f"[bold]voicecli demo[/] · {escape(run.script.title)}")
        for label, value in (
            ("script", f"{run.script.path} · {len(run.script.turns)} turns"),
            ("provider", provider_text(run.config)),
            ("tools", tools),
            ("output", f"{run.output_dir}/"),
        ):
            self._line(f"  [dim]{label:<10}[/]{escape(value)}")

    def turn_started(self, run: ScriptRun, turn: DemoTurn, sent: TurnInput) -> None:
        self._line()
        self.console.rule(f"Turn {turn.number}/{len(run.script.turns)} · {turn.label}", align="left", style="dim")
        self._transcript.user(input_text(turn, sent))

    def event(self, run: ScriptRun, event: RealtimeEvent) -> None:
        self._transcript(event)

    def turn_finished(self, run: ScriptRun, record: TurnRecord) -> None:
        self.console.file.flush()
        if record.result.failed:
            self._line(f"  [red]✗ {escape(record.result.failed)}[/]")
        for check in record.checks:
            first, *rest = check_lines(check)
            mark = "[green]✓[/]" if check.passed else "[red]✗[/]"
            self._line(f"  {mark} {escape(first)}")
            for line in rest:
                self._line(f"      {escape(line)}")
        where = f" → {record.audio_file}" if record.audio_file else ""
        self._line(f"  [dim]{escape(latency_text(record) + where)}[/]")

    def run_finished(self, run: ScriptRun) -> None:
        p50, p95 = first_audio_percentiles(run)
        colour = "green" if run.passed else "red"
        self._line()
        self.console.rule(style="dim")
        self._line(
            f"[bold {colour}]{'✓' if run.passed else '✗'} {escape(outcome_text(run))}[/] · "
            f"first audio p50 {ms_value(p50)}, p95 {ms_value(p95)} · {run.duration_s:.2f} s"
        )
        self._line(f"Files in {escape(str(run.output_dir))}/")
        for name, what in self._files(run):
            self._line(f"  {escape(name):<27}[dim]{escape(what)}[/]")

    @staticmethod
    def _files(run: ScriptRun) -> list[tuple[str, str]]:
        files = [
            (TRANSCRIPT, "the conversation, as Markdown"),
            (REPORT, "latencies, tool calls, checks and cost per turn"),
        ]
        wavs = [record.audio_file for record in run.records if record.audio_file]
        if wavs:
            names = wavs[0] if len(wavs) == 1 else f"{wavs[0]} … {wavs[-1]}"
            files.append((names, "the assistant's replies (24 kHz mono WAV)"))
        return files
