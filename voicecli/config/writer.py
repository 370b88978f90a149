"""Change one setting in a configuration file in place, keeping every other line (and comment) as it is.

Used by `voicecli echo-test --save`. A small line edit rather than a TOML rewrite, so the user's
comments and layout survive; the result is parsed before it replaces the file, atomically.
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from pathlib import Path

from voicecli.config.app_config import ConfigError


def save_setting(path: Path, section: str, key: str, value: str) -> None:
    """Set `[section] key = "value"` in the file at `path` (created if missing)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    setting = f'{key} = "{value}"'
    header = next((i for i, line in enumerate(lines) if line.strip() == f"[{section}]"), None)
    if header is None:
        lines += ["", f"[{section}]", setting] if lines else [f"[{section}]", setting]
    else:
        end = next((i for i in range(header + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        found = next((i for i in range(header + 1, end) if re.match(rf"\s*{re.escape(key)}\s*=", lines[i])), None)
        if found is None:
            lines.insert(header + 1, setting)
        else:
            lines[found] = setting
    text = "\n".join(lines) + "\n"
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML, left unchanged: {exc}") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from exc
