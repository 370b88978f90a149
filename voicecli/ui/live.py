"""The Rich live screen of `voicecli talk`: a `ConversationView` redrawn about ten times a second.

Rich redraws from its own thread and the view only reads state there, so `handle()` and the setters
cost the event loop a few attribute writes and never wait on the terminal. When the screen closes,
the live area is replaced by the whole transcript, so the conversation stays in the scrollback.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from rich.console import Console
from rich.live import Live

from voicecli.audio.echo import EchoStatus
from voicecli.realtime import RealtimeEvent
from voicecli.records.latency import LatencySummary
from voicecli.ui.summary import latency_table
from voicecli.ui.view import ConversationView, State

REFRESH_PER_SECOND = 10


class LiveScreen:
    """A context manager showing `view` live on `console`; implements `ConversationScreen`."""

    def __init__(self, view: ConversationView, console: Console | None = None) -> None:
        self.view = view
        self.console = console or Console()
        self._live = Live(
            get_renderable=view.render,
            console=self.console,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=True,
            redirect_stdout=True,
            redirect_stderr=True,
        )

    def __enter__(self) -> Self:
        self._live.start(refresh=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._live.stop()
        self.console.print(self.view.render_transcript())

    def handle(self, event: RealtimeEvent) -> None:
        self.view.handle(event)

    def set_state(self, state: State) -> None:
        self.view.set_state(state)

    def set_level(self, dbfs: float) -> None:
        self.view.set_level(dbfs)

    def set_muted(self, muted: bool) -> None:
        self.view.set_muted(muted)

    def set_echo(self, status: EchoStatus) -> None:
        self.view.set_echo(status)

    def show_summary(self, summary: LatencySummary) -> None:
        self.console.print(latency_table(summary))
