"""What the live screen shows, as plain state: the conversation so far plus a status line.

`ConversationView` is fed every event from `receive()` (`handle`: the transcript) and what the
application decides or measures (`set_state`: the status, whose one writer is the conversation's
`ConversationState`; `set_level`, `set_muted`); `render()` turns it into a Rich renderable. It
never touches the terminal, so it is tested by rendering into a recording console, and `render()`
may run on Rich's refresh thread: it only reads, and `handle()` only appends to lists or replaces
attributes, so neither side needs a lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.rule import Rule
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from voicecli.audio.echo import EchoStatus
from voicecli.config import AppConfig
from voicecli.realtime import (
    ContinuityEvents,
    ListenEvents,
    RealtimeAudioEvent,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
)
from voicecli.realtime.usage import UsageMeter
from voicecli.records.latency import LatencyTracker, TurnLatency
from voicecli.ui.entries import AssistantTurn, Entry, Notice, ToolCall, UserTurn
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


class ConversationView:
    """The state of the live screen, updated by events and setters, rendered on demand."""

    def __init__(
        self, info: SessionInfo, latency: LatencyTracker | None = None, usage: UsageMeter | None = None
    ) -> None:
        self.info = info
        self.usage = usage
        self.state: State = "connecting"
        self.level_dbfs: float | None = None
        self.muted = False
        self.echo: EchoStatus | None = None
        self.entries: list[Entry] = []
        self._latency = latency
        self._last_latency: TurnLatency | None = None
        self._users: dict[str, UserTurn] = {}
        self._assistants: dict[str, AssistantTurn] = {}
        self._current_assistant: AssistantTurn | None = None
        self._open_assistants: list[AssistantTurn] = []
        self._calls: dict[str, ToolCall] = {}
        self._reconnect_try = ""  # "(2/5)" while reconnecting
        self.typing: str | None = None  # the line being typed, while the input is open
        self.revision = 0
        """Goes up whenever what `render()` shows may have changed, so the screen redraws only then."""

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
        """Update the conversation shown from one event of `receive()`."""
        self.revision += 1
        payload = event.service_event or {}
        match event:
            case RealtimeAudioEvent():
                self._assistant(event.audio.item_id).audio = True
            case RealtimeTextEvent() if event.text.source in ("user_transcript", "user_text"):
                user = self._user(event.text.item_id)
                user.text, user.final, user.speaking = event.text.text, True, False
                user.typed = event.text.source == "user_text"
            case RealtimeTextEvent():
                self._assistant(event.text.item_id).text += event.text.text
            case RealtimeFunctionCallEvent():
                call = event.function_call
                self._calls[call.call_id] = ToolCall(call.name, call.arguments, call.call_id)
                self.entries.append(self._calls[call.call_id])
                self._current_assistant = None
            case RealtimeFunctionResultEvent():
                self._tool_finished(event)
            case RealtimeErrorEvent():
                self.entries.append(Notice(event.error.message, event.error.code, event.error.fatal))
            case RealtimeEvent(service_type=service_type):
                self._service_event(str(service_type), payload)

    def _service_event(self, service_type: str, payload: dict[str, Any]) -> None:
        item_id = payload.get("item_id")
        match service_type:
            case ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STARTED:
                self._user(item_id)
            case ListenEvents.INPUT_AUDIO_BUFFER_SPEECH_STOPPED | ListenEvents.INPUT_AUDIO_BUFFER_COMMITTED:
                self._user(item_id).speaking = False
            case ListenEvents.INPUT_AUDIO_TRANSCRIPTION_DELTA:
                self._user(item_id).text += str(payload.get("delta", ""))
            case ListenEvents.INPUT_AUDIO_TRANSCRIPTION_FAILED:
                self._user(item_id).failed = True
            case ListenEvents.RESPONSE_OUTPUT_AUDIO_TRANSCRIPT_DONE | ListenEvents.RESPONSE_OUTPUT_TEXT_DONE:
                final = payload.get("transcript", payload.get("text"))
                if isinstance(final, str):
                    self._assistant(item_id).text = final
            case ListenEvents.CONVERSATION_ITEM_TRUNCATED if item_id in self._assistants:
                self._assistants[item_id].interrupted = True
            case ListenEvents.RESPONSE_DONE:
                self._response_done(payload.get("response") or {})
            case ContinuityEvents.RECONNECTING:
                self._reconnect_try = f"({payload.get('attempt')}/{payload.get('attempts')})"

    def _user(self, item_id: str | None) -> UserTurn:
        if item_id is not None and item_id in self._users:
            return self._users[item_id]
        turn = UserTurn(item_id)
        if item_id is not None:
            self._users[item_id] = turn
        self.entries.append(turn)
        return turn

    def _assistant(self, item_id: str | None) -> AssistantTurn:
        if item_id is not None and item_id in self._assistants:
            return self._assistants[item_id]
        current = self._current_assistant
        if current is not None and (item_id is None or current.item_id is None):
            if item_id is not None:  # the first event that names the item
                current.item_id = item_id
                self._assistants[item_id] = current
            return current
        latency = self._latency.current if self._latency is not None else None
        if latency is self._last_latency:  # show a turn's numbers once, on its first answer
            latency = None
        else:
            self._last_latency = latency
        turn = AssistantTurn(item_id, latency)
        if item_id is not None:
            self._assistants[item_id] = turn
        self._current_assistant = turn
        self._open_assistants.append(turn)
        self.entries.append(turn)
        return turn

    def _tool_finished(self, event: RealtimeFunctionResultEvent) -> None:
        outcome = event.function_result
        call = self._calls.get(outcome.call_id)
        if call is None:
            call = ToolCall(outcome.name, "", outcome.call_id)
            self.entries.append(call)
        call.result, call.is_error, call.duration_s = outcome.result, outcome.is_error, outcome.duration_s

    def _response_done(self, response: dict[str, Any]) -> None:
        for turn in self._open_assistants:
            turn.done = True
        self._open_assistants.clear()
        self._current_assistant = None
        details = response.get("status_details") or {}
        if response.get("status") == "failed":
            error = details.get("error") or {}
            self.entries.append(Notice(str(error.get("message") or "the response failed"), error.get("code")))

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
