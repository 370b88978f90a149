"""Short texts about a run, shared by the screen, the batch summary and the Markdown transcript.

They say the same thing in the same words everywhere: where a check failed, how long a turn took.
"""

from __future__ import annotations

from voicecli.commands.demo.expectations import CheckResult
from voicecli.commands.demo.inputs import TurnInput
from voicecli.commands.demo.results import ScriptRun, TurnRecord
from voicecli.commands.demo.script import DemoTurn
from voicecli.config import AppConfig
from voicecli.realtime.events import SAMPLE_RATE
from voicecli.records.latency import percentile


def ms_value(milliseconds: float | None) -> str:
    return "–" if milliseconds is None else f"{milliseconds:.0f} ms"


def ms(seconds: float | None) -> str:
    return ms_value(None if seconds is None else seconds * 1000)


def provider_text(config: AppConfig) -> str:
    """Which service answered, e.g. `local (scripted brain: tour.toml) · websocket`."""
    match config.provider:
        case "local":
            script = f": {config.local.script}" if config.local.brain == "scripted" and config.local.script else ""
            detail = f"{config.local.brain} brain{script}"
        case "openai":
            detail = f"model {config.openai.model}"
        case _:
            detail = f"deployment {config.azure.deployment or '(from the environment)'}"
    return f"{config.provider} ({detail}) · {config.transport}"


def check_lines(check: CheckResult) -> list[str]:
    """`expect.NAME` with its outcome; for a failure, `expected` / `got` (/ `diff`) lines to indent under it."""
    if check.passed:
        return [f"expect.{check.name}: {check.expected}"]
    lines = [f"expect.{check.name} failed", f"  expected  {check.expected}", f"  got       {check.got}"]
    if check.detail:
        lines.append(f"  diff      {check.detail}")
    return lines


def latency_text(record: TurnRecord) -> str:
    """`first text 12 ms · first audio 40 ms · tools 1 ms · total 0.35 s · 2.1 s of reply audio`."""
    result = record.result
    parts = [f"first text {ms(result.first_text_s)}", f"first audio {ms(result.first_audio_s)}"]
    if result.tool_results:
        parts.append(f"tools {ms(record.tool_s)}")
    parts.append(f"total {result.total_s:.2f} s")
    if record.audio_file:
        parts.append(f"{len(result.audio) / SAMPLE_RATE:.1f} s of reply audio")
    return " · ".join(parts)


def input_text(turn: DemoTurn, sent: TurnInput) -> str:
    """What the user sent, as the transcript shows it."""
    match turn.kind:
        case "text":
            return turn.content
        case "wav":
            return f"[{turn.content}: {sent.audio_s:.1f} s of audio]"
    return f'[spoken by espeak-ng: "{turn.content}" · {sent.audio_s:.1f} s of audio]'


def first_audio_percentiles(run: ScriptRun) -> tuple[float | None, float | None]:
    """p50 and p95 of the time to the first reply audio over the run's turns, in milliseconds."""
    values = run.first_audio_ms
    return percentile(values, 50), percentile(values, 95)


def outcome_text(run: ScriptRun) -> str:
    """`3/3 turns passed`, or why the run stopped early."""
    total = len(run.script.turns)
    if run.error:
        done = len(run.records)
        return f"stopped after turn {done}/{total}: {run.error}" if done else f"could not run: {run.error}"
    stopped = next((r for r in run.records if r.result.failed), None)
    if stopped is not None and len(run.records) < total:
        return f"stopped at turn {stopped.turn.number}/{total}: {stopped.result.failed}"
    return f"{run.turns_passed}/{total} turns passed"
