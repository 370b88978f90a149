"""Typing beside talking: the one-line input a key opens in a live session.

Keys arrive one character at a time from the terminal (cbreak mode); `TypedLine`, a pure editor,
turns them into a line: `t` opens it, Enter sends, Escape cancels, Backspace deletes; control
characters are ignored, so nothing typed can steer the terminal once the line is shown.
`TypedInput` shows it on the screen and sends the finished line: text as a user message that
interrupts the assistant and is answered, `/image PATH` as an image for the next turn.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from voicecli.conversation.images import image_item
from voicecli.realtime import (
    ErrorContent,
    RealtimeClient,
    RealtimeConnectionError,
    RealtimeErrorEvent,
    RealtimeEvent,
    RealtimeTextEvent,
    TextContent,
)
from voicecli.ui.screen import ConversationScreen

__all__ = ["IMAGE_COMMAND", "OPEN_KEY", "TypedInput", "TypedLine"]

OPEN_KEY = "t"
IMAGE_COMMAND = "/image "
"""A typed line `/image PATH` sends that image with the next turn instead of text."""
MAX_CHARS = 2000
_ENTER, _ESCAPE, _BACKSPACES = ("\r", "\n"), "\x1b", ("\x7f", "\b")

Outcome = Literal["editing", "send", "cancel"]


@dataclass(slots=True)
class TypedLine:
    text: str = ""

    def key(self, char: str) -> Outcome:
        """Apply one key; `send` with the line complete (never empty), `cancel` to close it."""
        if char in _ENTER:
            return "send" if self.text.strip() else "cancel"
        if char == _ESCAPE:
            return "cancel"
        if char in _BACKSPACES:
            self.text = self.text[:-1]
        elif char.isprintable() and len(self.text) < MAX_CHARS:
            self.text += char
        return "editing"


class TypedInput:
    """The open line (if any) of a live session, and what a finished line sends."""

    def __init__(
        self,
        client: RealtimeClient,
        screen: ConversationScreen,
        *,
        interrupt: Callable[[], Awaitable[object]],
        spawn: Callable[[Coroutine[Any, Any, None]], object],
        show: Callable[[RealtimeEvent], None] | None = None,
    ) -> None:
        """`interrupt` stops the assistant as a key press does; `spawn` runs a send in the background;
        `show` puts what was typed into the conversation (by default only on `screen`)."""
        self._client, self._screen, self._interrupt, self._spawn = client, screen, interrupt, spawn
        self._show = show or screen.handle
        self._line: TypedLine | None = None
        self.images_refused: str | None = None  # why the session takes no images (None: it does)

    @property
    def is_open(self) -> bool:
        return self._line is not None

    def key(self, key: str) -> None:
        """`OPEN_KEY` opens the line; while it is open every key edits it."""
        if self._line is None:
            self._line = TypedLine()
            self._screen.set_typing("")
            return
        outcome = self._line.key(key)
        if outcome == "editing":
            self._screen.set_typing(self._line.text)
            return
        text, self._line = self._line.text.strip(), None
        self._screen.set_typing(None)
        if outcome == "send" and text.startswith(IMAGE_COMMAND):
            self._spawn(self.send_image(Path(text.removeprefix(IMAGE_COMMAND).strip())))
        elif outcome == "send":
            self._spawn(self.send_text(text))

    async def send_text(self, text: str) -> None:
        """A typed line: it interrupts the assistant as speech would, joins the conversation as a
        user message, and asks for the answer."""
        with contextlib.suppress(RealtimeConnectionError):  # the receiver reports a lost connection
            await self._interrupt()
            await self._client.send(RealtimeTextEvent(text=TextContent(text=text, source="user_text")))
            await self._client.send({"type": "response.create"})
        self._show(RealtimeTextEvent(text=TextContent(text=text, source="user_text", final=True)))

    async def send_image(self, path: Path) -> None:
        """An image for the next turn (typed `/image PATH`, or `--image`); one line on the screen
        when the file or the session cannot take it."""
        try:
            if self.images_refused is not None:
                raise ValueError(self.images_refused)
            item = image_item(path.expanduser())
        except ValueError as exc:
            self._show(RealtimeErrorEvent(error=ErrorContent(message=str(exc), code="image_not_sent")))
            return
        with contextlib.suppress(RealtimeConnectionError):  # the receiver reports a lost connection
            await self._client.send(item)
        note = f"[image {path.name}, for the next turn]"
        self._show(RealtimeTextEvent(text=TextContent(text=note, source="user_text", final=True)))
