"""Where log records go: a file when asked, never the terminal while the live screen owns it.

A log line written to stderr in the middle of a Rich Live redraw tears the screen apart, and Python's
fallback handler prints warnings there when no handler is configured, so live mode always installs
one: a file handler for `--log-file`, or a handler that drops everything. Every line is redacted
and its control characters made visible (`SafeFormatter`), as on the screen.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from voicecli.config import ConfigError
from voicecli.realtime.safe_text import shown
from voicecli.records.private import private_file

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class SafeFormatter(logging.Formatter):
    """Redacts every record and makes its control characters visible: a message stays one line (no
    forged lines), a traceback keeps its line breaks."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return shown(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return shown(super().formatException(ei), keep_newlines=True)


def configure_logging(log_file: Path | None, *, live: bool, level: int = logging.INFO) -> None:
    """Route the root logger (and `warnings`) to `log_file`, to nothing when live, else to stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handler: logging.Handler
    if log_file is not None:
        try:
            handler = logging.FileHandler(private_file(log_file), encoding="utf-8")
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
