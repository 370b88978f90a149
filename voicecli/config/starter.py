"""`voicecli config init`: write the documented starter configuration file.

The text ships inside the package (`voicecli/config.example.toml`, the same file as the repository's
`config.example.toml`), so the starter file always documents the options of the installed version.
"""

from __future__ import annotations

import os
import tempfile
from importlib import resources
from pathlib import Path

from voicecli.config import ConfigError


def starter_text() -> str:
    return resources.files("voicecli").joinpath("config.example.toml").read_text(encoding="utf-8")


def write_starter_config(path: Path, *, force: bool = False) -> None:
    """Write the starter file at `path`; an existing file is replaced only with `force`."""
    if path.exists() and not force:
        raise ConfigError(f"{path}: already exists; use --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(starter_text())
        os.replace(temporary, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from exc
