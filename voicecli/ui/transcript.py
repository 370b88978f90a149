"""How the conversation's entries look: one Rich grid per entry, a label column and a body.

Used for the live screen (the newest entries that fit) and for the whole transcript left in the
scrollback when the screen closes. Every text from the service or a tool passes `shown` on its way
to a cell, so it can neither carry a secret nor a terminal control sequence onto the screen.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator

from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from voicecli.realtime.safe_text import shown
from voicecli.records.latency import TurnLatency
from voicecli.ui.entries import AssistantTurn, Entry, Notice, ToolCallEntry, UserTurn

LABEL_WIDTH = 9
MAX_TOOL_TEXT = 160
"""Tool arguments and results longer than this are cut, so one big result cannot push the conversation away."""


def newest_lines(
    console: Console, options: ConsoleOptions, newest_first: Iterator[Entry], room: int
) -> list[list[Segment]]:
    """Render entries from the newest back until `room` lines are filled; return them oldest first."""
    lines: list[list[Segment]] = []
    for entry in newest_first:
        if len(lines) >= room:
            break
        lines[:0] = console.render_lines(render_entry(entry), options, pad=False)
    return lines[-room:] if room > 0 else []


def render_entry(entry: Entry) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=LABEL_WIDTH, justify="right", no_wrap=True)
    grid.add_column(ratio=1)
    for label, body in _rows(entry):
        grid.add_row(label, body)
    return grid


def _rows(entry: Entry) -> Iterable[tuple[Text, Text]]:
    match entry:
        case UserTurn():
            yield Text("You", style="bold cyan"), _user_text(entry)
        case AssistantTurn():
            yield Text("Assistant", style="bold magenta"), _assistant_text(entry)
            if entry.latency is not None and entry.latency.first_audio is not None:
                yield Text(""), Text(_latency_text(entry.latency), style="dim")
        case ToolCallEntry():
            name = (shown(entry.name), "bold")
            yield Text("tool", style="bold blue"), Text.assemble(name, " ", _cut(entry.arguments))
            yield Text(""), _tool_outcome(entry)
        case Notice(code="mcp_tools"):  # a hosted MCP server's tool list: news, not a failure
            yield Text("tools", style="bold blue"), Text(shown(entry.message), style="blue")
        case Notice(code="approval"):  # a question to answer with a key, not a failure
            yield Text("approve", style="bold yellow"), Text(shown(entry.message), style="yellow")
        case Notice():
            code = f" [{entry.code}]" if entry.code else ""
            style = "bold red" if entry.fatal else "red"
            yield Text("error", style=style), Text(shown(f"{entry.message}{code}"), style=style)


def _user_text(turn: UserTurn) -> Text:
    if turn.text:
        text = Text(shown(turn.text, keep_newlines=True), style="" if turn.final else "italic")
        return Text.assemble(("⌨ ", "dim"), text) if turn.typed else text
    if turn.failed:
        return Text("(speech not transcribed: transcription failed)", style="dim italic")
    return Text("(speaking…)" if turn.speaking else "(speech)", style="dim italic")


def _assistant_text(turn: AssistantTurn) -> Text:
    if turn.heard is not None and turn.text:
        text = _heard_then_unheard(turn.heard, turn.text)
    elif turn.text:
        text = Text(shown(turn.text, keep_newlines=True))
    else:
        text = Text("(audio)" if turn.audio else "…", style="dim italic")
    if not turn.done and not turn.interrupted:
        text.append(" ▌", style="magenta")
    if turn.interrupted:
        text.append("  [interrupted]", style="yellow")
    return text


def _heard_then_unheard(heard: str, said: str) -> Text:
    """An interrupted reply: the words heard before the cut (from word timestamps) as usual, the rest
    of the transcript, which the listener never heard, dim and struck through."""
    position = 0
    for word in heard.split():
        found = said.find(word, position)
        if found < 0:
            break
        position = found + len(word)
    text = Text(shown(said[:position], keep_newlines=True))
    rest = said[position:]
    if rest.strip():
        text.append(shown(rest, keep_newlines=True), style="dim strike")
    return text


def _latency_text(latency: TurnLatency) -> str:
    parts = [f"first audio {latency.first_audio_ms:.0f} ms"]
    if latency.first_audible_ms is not None:
        parts.append(f"heard after {latency.first_audible_ms:.0f} ms")
    if latency.tool_s > 0:
        parts.append(f"tools {latency.tool_ms:.0f} ms")
    return " · ".join(parts)


def _tool_outcome(call: ToolCallEntry) -> Text:
    if call.result is None:
        return Text("↳ running…", style="blue")
    took = f"{call.duration_s * 1000:.0f} ms"
    if call.is_error:
        return Text(f"↳ failed after {took}: {_cut(call.result)}", style="red")
    return Text.assemble(("↳ ", "blue"), _cut(call.result), (f"  ({took})", "dim"))


def _cut(text: str) -> str:
    """One line of at most MAX_TOOL_TEXT characters; JSON is shown compact. A huge text is cut before
    it is parsed, so a 10 MB tool result costs the screen no more than a short one."""
    if len(text) <= MAX_TOOL_TEXT * 4:
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(text), ensure_ascii=False, separators=(", ", ": "))
    text = shown(" ".join(text[: MAX_TOOL_TEXT * 4].split()))
    return text if len(text) <= MAX_TOOL_TEXT else text[: MAX_TOOL_TEXT - 1] + "…"
