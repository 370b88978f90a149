"""The files of a run: `transcript.md`, `report.json` and one WAV per reply (`turn-01.wav`, ...).

`update()` is cheap enough to call after every turn: each WAV is written once, the two text files
are replaced whole (write to a temporary name, then rename), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from voicecli.audio.wavio import write_wav
from voicecli.commands.demo.expectations import call_arguments
from voicecli.commands.demo.formatting import first_audio_percentiles
from voicecli.commands.demo.markdown import transcript_markdown
from voicecli.commands.demo.results import ScriptRun, TurnRecord
from voicecli.realtime.events import SAMPLE_RATE
from voicecli.realtime.usage import ModelPrices, TokenUsage

TRANSCRIPT = "transcript.md"
REPORT = "report.json"
REPLY_WAV = re.compile(r"turn-\d+\.wav")


class ReportWriter:
    """Keeps a run's output folder in step with the run."""

    def __init__(self, run: ScriptRun) -> None:
        self.run = run
        self._written: set[int] = set()

    def start(self) -> None:
        """Create the folder and drop reply WAVs an earlier run left there (they would be mistaken for this run's)."""
        folder = self.run.output_dir
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            if REPLY_WAV.fullmatch(stale.name):
                stale.unlink()

    def update(self) -> None:
        folder = self.run.output_dir
        for record in self.run.records:
            if record.audio_file and record.turn.number not in self._written:
                write_wav(folder / record.audio_file, record.result.audio)
                self._written.add(record.turn.number)
        _replace_text(folder / TRANSCRIPT, transcript_markdown(self.run))
        _replace_text(folder / REPORT, json.dumps(report_data(self.run), indent=2, ensure_ascii=False) + "\n")


def _replace_text(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def report_data(run: ScriptRun) -> dict[str, Any]:
    """The JSON report: what ran, whether it passed, and per turn the latencies, tools, errors and checks."""
    p50, p95 = first_audio_percentiles(run)
    return {
        "script": str(run.script.path),
        "title": run.script.title,
        "provider": run.config.provider,
        "transport": run.config.transport,
        "tools": run.prepared.tool_names,
        "started_at": run.started_at.isoformat(timespec="seconds"),
        "duration_s": round(run.duration_s, 3),
        "passed": run.passed,
        "error": run.error,
        "turns_total": len(run.script.turns),
        "turns_run": len(run.records),
        "turns_passed": run.turns_passed,
        "first_audio_ms": {"p50": _round(p50), "p95": _round(p95)},
        "usage": _usage_data(run.usage.session, run.usage.prices) | {"priced_as": run.config.priced_model()},
        "turns": [_turn_data(record, run.usage.prices) for record in run.records],
    }


def _usage_data(usage: TokenUsage, prices: ModelPrices | None) -> dict[str, Any]:
    """Tokens by kind (cached ones are part of the input ones) and the dollars, None without a price."""
    return {
        "input_tokens": {"text": usage.text_input, "audio": usage.audio_input, "image": usage.image_input},
        "cached_tokens": {"text": usage.text_cached, "audio": usage.audio_cached, "image": usage.image_cached},
        "output_tokens": {"text": usage.text_output, "audio": usage.audio_output},
        "cost_usd": None if prices is None else round(prices.cost(usage), 6),
    }


def _turn_data(record: TurnRecord, prices: ModelPrices | None) -> dict[str, Any]:
    result = record.result
    return {
        "number": record.turn.number,
        "kind": record.turn.kind,
        "input": record.turn.content,
        "input_audio_s": round(record.input.audio_s, 3) if record.input.audio is not None else None,
        "heard": record.heard,
        "reply": record.timeline.reply,
        "reply_audio": record.audio_file,
        "reply_audio_s": round(len(result.audio) / SAMPLE_RATE, 3),
        "latency_ms": {
            "first_text": _ms(result.first_text_s),
            "first_audio": _ms(result.first_audio_s),
            "total": _ms(result.total_s),
            "tools": _ms(record.tool_s),
        },
        "tool_calls": [
            {"name": call.name, "arguments": call_arguments(call), "call_id": call.call_id}
            for call in result.tool_calls
        ],
        "tool_results": [
            {
                "name": outcome.name,
                "result": outcome.result,
                "is_error": outcome.is_error,
                "duration_ms": _ms(outcome.duration_s),
            }
            for outcome in result.tool_results
        ],
        "errors": [{"message": e.message, "code": e.code, "fatal": e.fatal} for e in result.errors],
        "failed": result.failed,
        "passed": record.passed,
        "usage": _usage_data(record.usage, prices),
        "checks": [
            {"name": c.name, "passed": c.passed, "expected": c.expected, "got": c.got, "detail": c.detail or None}
            for c in record.checks
        ],
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _round(milliseconds: float | None) -> float | None:
    return None if milliseconds is None else round(milliseconds, 1)
