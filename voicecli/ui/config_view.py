"""`voicecli config show`: the effective configuration as TOML, with every secret masked.

The output is itself a valid configuration file: the provider keys, which must never be written to
a file, appear only as comments saying whether their environment variable is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.syntax import Syntax

from voicecli.config import AppConfig, default_config_path, to_display_dict

MASKED_KEYS = frozenset({"api_key"})


def config_toml(config: AppConfig) -> str:
    """TOML text of the configuration: top-level values first, then one table per section."""
    shown = to_display_dict(config)
    lines = _table_lines(shown)
    for name, value in shown.items():
        if isinstance(value, dict):
            lines += ["", f"[{name}]", *_table_lines(value)]
    return "\n".join(lines) + "\n"


def _table_lines(table: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in table.items():
        if key in MASKED_KEYS:
            lines.append(f"# {key}: {value}")
        elif not isinstance(value, dict):
            lines.append(f"{key} = {_toml_value(value)}")
    return lines


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # JSON string escapes are valid TOML


def sources(path: Path | None, profile: str | None) -> str:
    """Which layers made this configuration, lowest first."""
    file = path or default_config_path()
    layers = ["defaults", str(file) if file.is_file() else f"(no file at {file})"]
    if profile:
        layers.append(f"[profiles.{profile}]")
    return " < ".join([*layers, "environment"])


def show_config(config: AppConfig, path: Path | None, profile: str | None, console: Console | None = None) -> None:
    console = console or Console()
    text = f"# effective configuration: {sources(path, profile)}\n\n{config_toml(config)}"
    if console.is_terminal:
        console.print(Syntax(text, "toml", theme="ansi_dark", background_color="default"))
    else:
        console.out(text, end="", highlight=False)
