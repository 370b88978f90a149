"""What the live screen shows, as plain state: the conversation so far plus a status line.

`ConversationView` renders, it does not decide: the entries are the conversation state's (built
once from the events, `conversation.transcript`), the status is what that state decided
(`set_state`), and the rest is what the application measures (`set_level`, `set_muted`, `set_echo`);
`handle` only says an event arrived. `render()` turns it all into a Rich renderable. It
never touches the terminal, so it is tested by rendering into a recording console, and `render()`
may run on Rich's refresh thread: it only reads, and `handle()` only appends to lists or replaces
attributes, so neither side needs a lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.rule import Rule
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from voicecli.audio.echo import EchoStatus
from voicecli.config import AppConfig
from voicecli.realtime import ContinuityEvents, RealtimeEvent
from voicecli.realtime.usage import UsageMeter
from voicecli.ui.entries import Entry
from voicecli.ui.summary import dollars
from voicecli.ui.transcript import newest_lines, render_entry

State = Literal[
    "connecting", "listening", "user_speaking", "thinking", "speaking", "tool_running", "reconnecting", "reconnected"
]

_STATE_LABELS: dict[State, tuple[str, str]] = {
    "connecting": ("○ connecting…", "dim"),
    "listening": ("● listening", "green"),
    "user_speaking": ("● you are speaking", "bold cyan"),
    "thinking": ("● thinking…", "yellow"),
    "speaking": ("● speaking", "magenta"),
    "tool_running": ("● running a tool", "blue"),
    "reconnecting": ("○ reconnecting…", "bold yellow"),
    "reconnected": ("● reconnected", "green"),
}
METER_CELLS = 12
METER_FLOOR_DBFS = -60.0
LEVEL_STEP_DB = 3.0
"""The meter moves when the level changed by this much, so a steady noise floor does not redraw the screen."""


@dataclass(slots=True, frozen=True)
class SessionInfo:
    """The facts of the session shown on the status line."""

    provider: str
    transport: str
    model: str
    voice: str
    keys: str = ""  # which keys work, shown above the status line (live mode on a terminal)

    @classmethod
    def from_config(cls, config: AppConfig, client: object = None) -> SessionInfo:
        """With the local server's `client`, its brain's label says which brain `auto` chose."""
        brain_label = getattr(getattr(client, "brain", None), "label", None)
        match config.provider:
            case "openai":
                model = config.openai.model
            case "azure":
                model = config.azure.deployment or "(no deployment)"
            case _:
                model = brain_label or f"{config.local.brain} brain"
        return cls(provider=config.provider, transport=config.transport, model=model, voice=config.session.voice)


class ShownConversation(Protocol):
    """What the view reads of the conversation (`ConversationState` is one)."""

    @property
    def entries(self) -> list[Entry]: ...


class ConversationView:
    """The state of the live screen, updated by events and setters, rendered on demand."""

    def __init__(self, info: SessionInfo, conversation: ShownConversation, usage: UsageMeter | None = None) -> None:
        self.info = info
        self.conversation = conversation
        self.usage = usage
        self.state: State = "connecting"
        self.level_dbfs: float | None = None
        self.muted = False
        self.echo: EchoStatus | None = None
        self._reconnect_try = ""  # "(2/5)" while reconnecting
        self.typing: str | None = None  # the line being typed, while the input is open
        self.revision = 0
        """Goes up whenever what `render()` shows may have changed, so the screen redraws only then."""

    @property
    def entries(self) -> list[Entry]:
        return self.conversation.entries

    # --- what the application tells the view ---------------------------------------------

    def set_state(self, state: State) -> None:
        """The status to show (`ConversationState` decides it from the events, the player and the keys)."""
        if state != self.state:
            self.state = state
            self.revision += 1

    def set_level(self, dbfs: float) -> None:
        """The microphone level in dB full scale (0 is the loudest, -60 and below shows as silence)."""
        shown = self.level_dbfs
        if shown is None or (shown != dbfs and not abs(dbfs - shown) < LEVEL_STEP_DB):  # -inf to -inf: no change
            self.level_dbfs = dbfs
            self.revision += 1

    def set_muted(self, muted: bool) -> None:
        if muted != self.muted:
            self.muted = muted
            self.revision += 1

    def set_typing(self, text: str | None) -> None:
        """The one-line input: its text while open, None once sent or closed."""
        if text != self.typing:
            self.typing = text
            self.revision += 1

    def set_echo(self, status: EchoStatus) -> None:
        """The echo handling in effect and its measured reduction, so a failing canceller is visible."""
        shown = self.echo
        if shown is None or (shown.label(), shown.weak) != (status.label(), status.weak):
            self.revision += 1
        self.echo = status

    def handle(self, event: RealtimeEvent) -> None:
        """An event arrived (the conversation's state has taken it in): redraw; a reconnect's try for the label."""
        self.revision += 1
        payload = event.service_event or {}
        if event.service_type == ContinuityEvents.RECONNECTING:
            self._reconnect_try = f"({payload.get('attempt')}/{payload.get('attempts')})"

    # --- rendering -----------------------------------------------------------------------

    def render(self) -> RenderableType:
        """The newest part of the conversation that fits the screen, a rule, and the status line."""
        return _Screen(self)

    def render_transcript(self) -> RenderableType:
        """The whole conversation, for the scrollback once the live screen closes."""
        return Group(*(render_entry(entry) for entry in list(self.entries)))

    def status_line(self) -> Table:
        label, style = _STATE_LABELS[self.state]
        if self.state == "reconnecting":
            label = f"○ reconnecting {self._reconnect_try}…"
        line = Table.grid(padding=(0, 2), expand=True)
        line.add_column(no_wrap=True)
        line.add_column(no_wrap=True)
        line.add_column(no_wrap=True)
        line.add_column(justify="right", no_wrap=True, overflow="ellipsis", ratio=1)
        info = self.info
        line.add_row(
            Text(label, style=style),
            self._microphone(),
            self._echo(),
            Text(f"{info.provider} · {info.transport} · {info.model} · voice {info.voice}{self._usage()}", style="dim"),
        )
        return line

    def _usage(self) -> str:
        """The session's cost so far (tokens, or GPT-Live's billed seconds, when no price is known);
        nothing before the first report."""
        if self.usage is None or not self.usage.turns:
            return ""
        cost = self.usage.cost
        if cost is None:
            used = self.usage.session
            return f" · {used.seconds:.0f} s" if used.seconds else f" · {used.input_tokens + used.output_tokens} tokens"
        budget = f" of {dollars(self.usage.budget)}" if self.usage.budget > 0 else ""
        return f" · {dollars(cost)}{budget}"

    def _microphone(self) -> Text:
        if self.muted:
            return Text.assemble("mic ", (" MUTED ", "bold white on red"))
        if self.level_dbfs is None:
            return Text("mic " + "░" * METER_CELLS, style="dim")
        level = max(METER_FLOOR_DBFS, min(0.0, self.level_dbfs))
        lit = round((level - METER_FLOOR_DBFS) / -METER_FLOOR_DBFS * METER_CELLS)
        color = "red" if level > -6 else "yellow" if level > -20 else "green"
        return Text.assemble(
            "mic ", ("█" * lit, color), ("░" * (METER_CELLS - lit), "dim"), f" {self.level_dbfs:4.0f} dB"
        )

    def _echo(self) -> Text:
        if self.echo is None:
            return Text("")
        return Text(self.echo.label(), style="bold red" if self.echo.weak else "dim")


class _Screen:
    """Renders the view bottom-up so the newest entries and the status line always stay visible."""

    def __init__(self, view: ConversationView) -> None:
        self._view = view

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rule = Rule(Text(self._view.info.keys, style="dim"), style="dim", align="right")
        bottom: list[RenderableType] = [rule, self._view.status_line()]
        if self._view.typing is not None:  # shown with its end in view, as a one-line input does
            typed = Text.assemble(("type › ", "bold cyan"), self._view.typing, ("▌", "cyan"))  # printable only
            typed.truncate(max(1, options.max_width), overflow="ellipsis")
            bottom.insert(0, typed)
        status = console.render_lines(Group(*bottom), options, pad=False)
        room = (options.height or options.max_height) - len(status) - 1  # a spare line: the terminal never scrolls
        conversation = newest_lines(console, options.update(height=None), reversed(list(self._view.entries)), room)
        for line in [*conversation, *status]:
            yield from line
            yield Segment.line()
