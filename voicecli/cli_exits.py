"""How every command ends: one clear line on stderr and an exit code, never a traceback.

Shared by the command definitions of `cli.py` and `cli_servers.py`; the library's, the devices' and
the configuration's expected failures are named here once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from voicecli.config import AppConfig


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear line (no secrets, no control characters) and return the exit to raise."""
    from voicecli.realtime.safe_text import shown

    typer.echo(f"voicecli: error: {shown(message)}", err=True)
    return typer.Exit(code)


def run(coroutine: Coroutine[Any, Any, int]) -> None:
    """Run a command's coroutine, turning every expected failure into one line and an exit code."""
    from voicecli.audio.errors import AudioError
    from voicecli.config import ConfigError
    from voicecli.realtime import RealtimeError

    try:
        code = asyncio.run(coroutine)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    except (RealtimeError, AudioError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(code)


def load(config_path: Path | None, profile: str | None, overrides: dict[str, Any]) -> AppConfig:
    """The effective configuration with the command line's `overrides`; a bad file or value is one line, exit 2."""
    from voicecli.config import ConfigError, load_config

    try:
        return load_config(config_path, profile, overrides)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
