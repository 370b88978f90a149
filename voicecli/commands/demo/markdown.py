"""A run as a Markdown transcript: what ran, then each turn's words, tool calls, timings and checks.

It is written for people (a README, a bug report, a review), so it says in words what the JSON
report says in numbers.
"""

from __future__ import annotations

from voicecli.commands.demo.formatting import (
    check_lines,
    first_audio_percentiles,
    input_text,
    latency_text,
    ms_value,
    outcome_text,
    provider_text,
)
from voicecli.commands.demo.results import ScriptRun, TimelineEntry, TurnRecord


def transcript_markdown(run: ScriptRun) -> str:
    p50, p95 = first_audio_percentiles(run)
    lines = [
        f"# {run.script.title}",
        "",
        f"- Script: `{run.script.path}`",
        f"- Provider: {provider_text(run.config)}",
        f"- Tools: {', '.join(run.prepared.tool_names) or 'none'}",
        f"- Started: {run.started_at:%Y-%m-%d %H:%M:%S %z}, took {run.duration_s:.2f} s",
        f"- Result: **{'✓' if run.passed else '✗'} {outcome_text(run)}**"
        f" · first audio p50 {ms_value(p50)}, p95 {ms_value(p95)}",
    ]
    for record in run.records:
        lines += ["", *_turn_lines(record, len(run.script.turns))]
    not_run = run.script.turns[len(run.records) :]
    if not_run:
        numbers = ", ".join(str(turn.number) for turn in not_run)
        lines += ["", f"_Not run: turn{'s' if len(not_run) > 1 else ''} {numbers}._"]
    return "\n".join(lines) + "\n"


def _turn_lines(record: TurnRecord, total: int) -> list[str]:
    turn = record.turn
    mark = "✓" if record.passed else "✗"
    lines = [f"## {mark} Turn {turn.number}/{total} · {turn.label}", "", f"**You:** {input_text(turn, record.input)}"]
    if record.heard is not None:
        lines += ["", f"**Heard:** {record.heard}"]
    for entry in record.timeline.entries:
        lines += ["", _entry_line(entry)]
    if record.result.failed:
        lines += ["", f"**Failed:** {record.result.failed}"]
    audio = f"[{record.audio_file}]({record.audio_file}) · " if record.audio_file else "no reply audio · "
    lines += ["", f"_{audio}{latency_text(record)}_"]
    if record.checks:
        lines.append("")
        for result in record.checks:
            first, *rest = check_lines(result)
            lines.append(f"- {'✓' if result.passed else '✗'} {first}")
            lines += [f"  - {line.strip()}" for line in rest]
    return lines


def _entry_line(entry: TimelineEntry) -> str:
    match entry.kind:
        case "assistant":
            return f"**Assistant:** {entry.text.strip()}"
        case "tool_call":
            return f"> tool call `{entry.text}`"
        case "tool_result":
            return f"> ↳ {entry.text}"
    return f"> **error:** {entry.text}"
