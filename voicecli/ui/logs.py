"""Where log records go: a file when asked, never the terminal while the live screen owns it.

A log line written to stderr in the middle of a Rich Live redraw tears the screen apart, and Python's
fallback handler prints warnings there when no handler is configured, so live mode always installs
one: a file handler for `--log-file`, or a handler that drops everything.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from voicecli.config import ConfigError

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(log_file: Path | None, *, live: bool, level: int = logging.INFO) -> None:
    """Route the root logger (and `warnings`) to `log_file`, to nothing when live, else to stderr."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handler: logging.Handler
    if log_file is not None:
        try:
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{log_file}: cannot open the log file: {exc.strerror}") from exc
        root.setLevel(level)
    elif live:
        handler = logging.NullHandler()
    else:
        handler = logging.StreamHandler(sys.stderr)
        root.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    logging.captureWarnings(True)
