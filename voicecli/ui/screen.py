"""One interface for the conversation's output, and the choice between the live screen and plain lines.

The conversation talks to a `ConversationScreen` and never asks which one it got: a terminal gets the
Rich live screen, a pipe or a file gets `PlainTranscript`'s lines, which have no status line to update.
"""

from __future__ import annotations

from types import TracebackType
from typing import IO, Protocol, Self

from rich.console import Console

from voicecli.audio.echo import EchoStatus
from voicecli.realtime import RealtimeEvent
from voicecli.realtime.usage import UsageMeter
from voicecli.records.latency import LatencySummary
from voicecli.ui.live import LiveScreen
from voicecli.ui.plain import PlainTranscript
from voicecli.ui.summary import latency_table, usage_table
from voicecli.ui.view import ConversationView, SessionInfo, ShownConversation, State


class ConversationScreen(Protocol):
    """What the conversation calls; use it as a context manager around the session."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None: ...

    def handle(self, event: RealtimeEvent) -> None: ...

    def set_state(self, state: State) -> None: ...

    def set_level(self, dbfs: float) -> None: ...

    def set_muted(self, muted: bool) -> None: ...

    def set_echo(self, status: EchoStatus) -> None: ...

    def set_typing(self, text: str | None) -> None: ...

    def show_summary(self, summary: LatencySummary, usage: UsageMeter | None = None) -> None: ...


class PlainScreen:
    """`ConversationScreen` over `PlainTranscript`: lines only, so state, level and mute are not shown."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._transcript = PlainTranscript(stream)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._transcript.finish()
        self._stream.flush()

    def handle(self, event: RealtimeEvent) -> None:
        self._transcript(event)

    def set_state(self, state: State) -> None:
        """Not shown in plain output."""

    def set_level(self, dbfs: float) -> None:
        """Not shown in plain output."""

    def set_muted(self, muted: bool) -> None:
        """Not shown in plain output."""

    def set_echo(self, status: EchoStatus) -> None:
        """Not shown in plain output."""

    def set_typing(self, text: str | None) -> None:
        """Not shown in plain output (no keys are read without a terminal)."""

    def show_summary(self, summary: LatencySummary, usage: UsageMeter | None = None) -> None:
        console = Console(file=self._stream, width=100, color_system=None)
        console.print(latency_table(summary))
        if usage is not None:
            console.print(usage_table(usage))


def open_screen(
    info: SessionInfo,
    conversation: ShownConversation,
    *,
    usage: UsageMeter | None = None,
    console: Console | None = None,
) -> ConversationScreen:
    """The live screen of `conversation` (its `ConversationState`) when `console` (default: stdout) is
    a terminal, plain lines otherwise."""
    console = console or Console()
    if console.is_terminal:
        return LiveScreen(ConversationView(info, conversation, usage), console)
    return PlainScreen(console.file)
