"""Where log records go: a file when asked, never the terminal while the live screen owns it.

A log line written to stderr in the middle of a Rich Live redraw tears the screen apart, and Python's
fallback handler prints warnings there when no handler is configured, so live mode always installs
one: a file handler for `--log-file`, or a handler that drops everything. Every line is redacted
and its control characters made visible (`SafeFormatter`), as on the screen.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

from voicecli.config import ConfigError
from voicecli.realtime.safe_text import shown
from voicecli.records.errors import RecordingError
from voicecli.records.private import private_file

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class SafeFormatter(logging.Formatter):
    """Redacts every record and makes its control characters visible: a message stays one line (no
    forged lines), a traceback keeps its line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return shown(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return shown(super().formatException(ei), keep_newlines=True)


class LogFile(logging.FileHandler):
    """A private log file that, when the disk refuses a line, stops writing and remembers why, instead
    of printing logging's traceback on every later line; `check_log_file` reports it once."""

    def __init__(self, path: Path) -> None:
        super().__init__(private_file(path), encoding="utf-8")
        self.failure: str | None = None
        self.written = self.lost = 0

    def emit(self, record: logging.LogRecord) -> None:
        if self.failure is not None:
            self.lost += 1
            return
        super().emit(record)
        if self.failure is None:
            self.written += 1

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)
            return
        self.failure = error.strerror or str(error)
        self.lost += 1

    def close(self) -> None:
        with contextlib.suppress(OSError):  # what did not fit is counted as lost already
            super().close()


_log_file: LogFile | None = None


def check_log_file() -> None:
    """`RecordingError` saying what was kept and what was lost, if the log file could not be written in full."""
    if _log_file is not None and _log_file.failure is not None:
        failure, _log_file.failure = _log_file.failure, None
        raise RecordingError(
            f"log file {_log_file.baseFilename}: {failure}; {_log_file.written} lines written before that, "
            f"{_log_file.lost} lost"
        )


def configure_logging(log_file: Path | None, *, live: bool, level: int = logging.INFO) -> None:
    """Route the root logger (and `warnings`) to `log_file`, to nothing when live, else to stderr."""
    global _log_file
    _log_file = None
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    handler: logging.Handler
    if log_file is not None:
        try:
            handler = _log_file = LogFile(log_file)
        except OSError as exc:
            raise ConfigError(f"{log_file}: cannot open the log file: {exc.strerror}") from exc
        root.setLevel(level)
    elif live:
        handler = logging.NullHandler()
    else:
        handler = logging.StreamHandler(sys.stderr)
        root.setLevel(logging.WARNING)
    handler.setFormatter(SafeFormatter(LOG_FORMAT))
    root.addHandler(handler)
    logging.captureWarnings(True)
