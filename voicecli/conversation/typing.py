"""Typing beside talking: the one-line input a key opens in a live session, as a pure editor.

Keys arrive one character at a time from the terminal (cbreak mode); this turns them into a line.
`t` opens it (in the conversation), Enter sends, Escape cancels, Backspace deletes; control
characters are ignored, so nothing typed can steer the terminal once the line is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["IMAGE_COMMAND", "OPEN_KEY", "TypedLine"]

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
