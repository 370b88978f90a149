"""A script's settings on top of the user's configuration: defaults < file < profile < environment < script.

The script's tables go to `load_config` as command-line overrides, so they are checked by the same
rules as the configuration file; a problem in them is reported against the script, not the command line.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from voicecli.config import AppConfig, ConfigError, Provider, load_config
from voicecli.demo.script import DemoScript, ScriptError

OVERRIDES_ORIGIN = "command line: "
"""How `load_config` starts a message about its `overrides`, which here all come from the script."""


def script_config(
    script: DemoScript, config_path: Path | None, profile: str | None, provider: Provider | None = None
) -> AppConfig:
    """The effective configuration of one script; `provider` (from `--provider`) beats the script's."""
    try:
        config = load_config(config_path, profile, dotted(script.settings))
    except ConfigError as exc:
        message = str(exc)
        if message.startswith(OVERRIDES_ORIGIN):
            raise ScriptError(f"{script.path}: {message.removeprefix(OVERRIDES_ORIGIN)}") from None
        raise
    return replace(config, provider=provider) if provider else config


def dotted(tables: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables as the dotted keys `load_config` takes for overrides (`session.voice`, ...)."""
    flat: dict[str, Any] = {}
    for key, value in tables.items():
        if isinstance(value, dict) and value:
            flat.update(dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
