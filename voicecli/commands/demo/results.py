"""What a demo run produced: per turn the exchange's result, what happened in order, and the checks.

The report writer, the screen and the summary all read these records, so they agree on what passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from voicecli.commands.demo.expectations import CheckResult
from voicecli.commands.demo.inputs import TurnInput
from voicecli.commands.demo.prepare import PreparedScript
from voicecli.commands.demo.script import DemoScript, DemoTurn
from voicecli.config import AppConfig
from voicecli.conversation.exchange import TurnResult
from voicecli.conversation.state import ConversationState
from voicecli.realtime.usage import TokenUsage, UsageMeter
from voicecli.ui.entries import AssistantTurn, Entry, Notice, ToolCallEntry

EntryKind = Literal["assistant", "tool_call", "tool_result", "error"]


@dataclass(slots=True)
class TimelineEntry:
    kind: EntryKind
    text: str


class Timeline:
    """A turn's answer in order, each response's text apart (`TurnResult.assistant_text` runs them
    together): read from the conversation state's entries the turn added, not rebuilt from the events."""

    def __init__(self, entries: list[Entry] | None = None) -> None:
        self.entries: list[TimelineEntry] = []
        for entry in entries or []:
            self._add(entry)

    def _add(self, entry: Entry) -> None:
        match entry:
            case AssistantTurn() if entry.text:
                self.entries.append(TimelineEntry("assistant", entry.text))
            case ToolCallEntry():
                self.entries.append(TimelineEntry("tool_call", f"{entry.name}({entry.arguments})"))
                if entry.result is not None:
                    verb = "failed" if entry.is_error else "returned"
                    self.entries.append(TimelineEntry("tool_result", f"{entry.name} {verb}: {entry.result}"))
            case Notice() if entry.error:
                self.entries.append(TimelineEntry("error", entry.message + (f" [{entry.code}]" if entry.code else "")))

    @property
    def reply(self) -> str:
        """The assistant's words of the whole turn, one response after the other."""
        return " ".join(entry.text.strip() for entry in self.entries if entry.kind == "assistant").strip()


def heard_text(sent: TurnInput, result: TurnResult) -> str | None:
    """What the service transcribed of the audio `sent`, if it was audio and a transcript came."""
    return result.user_text or None if sent.audio is not None else None


@dataclass(slots=True)
class TurnRecord:
    turn: DemoTurn
    input: TurnInput
    result: TurnResult
    timeline: Timeline
    checks: list[CheckResult]
    usage: TokenUsage = field(default_factory=TokenUsage)
    """Tokens of the turn's responses (a tool call takes two)."""

    @property
    def passed(self) -> bool:
        return self.result.failed is None and all(check.passed for check in self.checks)

    @property
    def heard(self) -> str | None:
        """The service's transcript of a spoken turn; None for typed text or when none came."""
        return heard_text(self.input, self.result)

    @property
    def tool_s(self) -> float:
        return sum((outcome.duration_s for outcome in self.result.tool_results), 0.0)

    @property
    def audio_file(self) -> str | None:
        """The name of the reply's WAV in the output folder, if any audio arrived."""
        return f"turn-{self.turn.number:02d}.wav" if self.result.audio_chunks else None


@dataclass(slots=True)
class ScriptRun:
    """One script's run so far; `error` is a failure outside any turn (connecting, for instance)."""

    prepared: PreparedScript
    started_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    records: list[TurnRecord] = field(default_factory=list)
    error: str | None = None
    duration_s: float = 0.0
    usage: UsageMeter = field(default_factory=UsageMeter)
    conversation: ConversationState = field(default_factory=ConversationState)
    """The run's one conversation state: each turn's exchange feeds it, the timelines read it."""

    @property
    def script(self) -> DemoScript:
        return self.prepared.script

    @property
    def config(self) -> AppConfig:
        return self.prepared.config

    @property
    def output_dir(self) -> Path:
        return self.prepared.output_dir

    @property
    def passed(self) -> bool:
        complete = len(self.records) == len(self.script.turns)
        return self.error is None and complete and all(record.passed for record in self.records)

    @property
    def turns_passed(self) -> int:
        return sum(record.passed for record in self.records)

    @property
    def first_audio_ms(self) -> list[float]:
        return [1000 * r.result.first_audio_s for r in self.records if r.result.first_audio_s is not None]
