"""A script's settings on top of the user's configuration: defaults < file < profile < environment < script.

The script's tables go to `load_config` as command-line overrides, so they are checked by the same
rules as the configuration file; a problem in them is reported against the script.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from voicecli.commands.demo.script import DemoScript
from voicecli.config import AppConfig, Provider, load_config
from voicecli.config.app_config import Approve


def script_config(
    script: DemoScript,
    config_path: Path | None,
    profile: str | None,
    provider: Provider | None = None,
    approve: Approve | None = None,
) -> AppConfig:
    """The effective configuration of one script; `provider` and `approve` (`--provider`, `--approve`)
    beat the script's."""
    config = load_config(config_path, profile, dotted(script.settings), overrides_origin=str(script.path))
    if approve:
        config = replace(config, tools=replace(config.tools, approve=approve))
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
