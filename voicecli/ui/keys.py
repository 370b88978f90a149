"""Single key presses from the terminal, read without blocking the event loop.

Live mode needs SPACE and `m` the moment they are pressed, not after Enter, so the terminal goes
into cbreak mode (no line buffering, no echo; Ctrl-C still raises SIGINT) and stdin is watched with
`loop.add_reader`. The terminal settings are put back on every way out, including `restore()` from a
signal handler just before a hard exit. When stdin is not a terminal there are no keys at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
import tty
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TextIO

KeyHandler = Callable[[str], None]


class TerminalKeys:
    """Calls `on_key` with each character typed while the context is open (a no-op without a TTY)."""

    def __init__(self, on_key: KeyHandler, stream: TextIO | None = None) -> None:
        self._on_key = on_key
        self._stream = stream or sys.stdin
        self._fd: int | None = None
        self._saved: list[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def active(self) -> bool:
        """True while keys are being read (stdin is a terminal and the context is open)."""
        return self._saved is not None

    def __enter__(self) -> Self:
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            return self
        if not os.isatty(fd):
            return self
        self._fd = fd
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._read)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._loop is not None and self._fd is not None:
            with contextlib.suppress(Exception):  # the loop may already be closing
                self._loop.remove_reader(self._fd)
        self._loop = None
        self.restore()

    def restore(self) -> None:
        """Put the terminal back as it was; safe to call more than once and from a signal handler."""
        saved, self._saved = self._saved, None
        if saved is not None and self._fd is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self._fd, termios.TCSADRAIN, saved)

    def _read(self) -> None:
        if self._fd is None:
            return
        try:
            data = os.read(self._fd, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the terminal went away: stop watching it, keep the session going
            if self._loop is not None:
                self._loop.remove_reader(self._fd)
            return
        for char in data.decode("utf-8", errors="ignore"):
            self._on_key(char)
