"""The Rich live screen of `voicecli talk`: a `ConversationView` redrawn when it changes.

A thread of the screen's own looks ten times a second whether the view's `revision` (or the
terminal's size) changed, and only then has Rich draw it; a listening session with nothing new
costs no drawing at all. Drawing reads the view's state, so `handle()` and the setters cost the
event loop a few attribute writes and never wait on the terminal. When the screen closes, the live
area is replaced by the whole transcript, so the conversation stays in the scrollback.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.live import Live

from voicecli.audio.echo import EchoStatus
from voicecli.realtime import RealtimeEvent
from voicecli.realtime.usage import UsageMeter
from voicecli.records.latency import LatencySummary
from voicecli.ui.summary import latency_table, usage_table
from voicecli.ui.view import ConversationView, State

REFRESH_PER_SECOND = 10
"""How often the screen looks for changes to draw."""
REDRAW_ANYWAY_S = 1.0
"""Numbers the view shows but does not own (a turn's latency, filled in later) reach the screen at least this often."""


class LiveScreen:
    """A context manager showing `view` live on `console`; implements `ConversationScreen`."""

    def __init__(self, view: ConversationView, console: Console | None = None) -> None:
        self.view = view
        self.console = console or Console()
        self._live = Live(
            get_renderable=view.render,
            console=self.console,
            auto_refresh=False,
            transient=True,
            redirect_stdout=True,
            redirect_stderr=True,
        )
        self._closed = threading.Event()
        self._drawer = threading.Thread(target=self._redraw_on_change, name="voicecli-screen", daemon=True)

    def __enter__(self) -> Self:
        self._live.start(refresh=True)
        self._drawer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._closed.set()
        self._drawer.join()
        self._live.stop()
        self.console.print(self.view.render_transcript())

    def _redraw_on_change(self) -> None:
        drawn = (self.view.revision, self.console.size)
        looks = 0
        while not self._closed.wait(1 / REFRESH_PER_SECOND):
            looks += 1
            now = (self.view.revision, self.console.size)
            if now != drawn or looks >= REDRAW_ANYWAY_S * REFRESH_PER_SECOND:
                drawn, looks = now, 0
                self._live.refresh()

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

    def set_typing(self, text: str | None) -> None:
        self.view.set_typing(text)

    def show_summary(self, summary: LatencySummary, usage: UsageMeter | None = None) -> None:
        self.console.print(latency_table(summary))
        if usage is not None:
            self.console.print(usage_table(usage))
