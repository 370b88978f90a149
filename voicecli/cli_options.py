"""The options several commands share, declared once, and the configuration keys they set.

`cli.py` stays a list of commands; an option that `talk`, `phone` and `echo-test` all take reads the
same in each `--help` because it is this one declaration. `Command` and `Group` are the classes the
commands are built with, for what `--help` shows after each option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

from voicecli.config.app_config import Brain, Provider, Transport


def choices(values: Any) -> str:
    """`--help`'s placeholder for an option taking one of a `Literal`'s values: `<local|openai|azure>`.

    A placeholder rather than a typed choice: the configuration checks the value (a flag and the
    config file say the same one line about a wrong one), and Typer's own refusal is a framed box.
    """
    return "<" + "|".join(get_args(values)) + ">"


def _flags_take_no_value(params: list[Any]) -> list[Any]:
    """Typer puts the parameter's type after every option in `--help`, `<bool>` also after flags
    (`--help`, `--verbose`), which take no value: an empty placeholder shows nothing there."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """A command whose `--help` shows no value after its flags."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_take_no_value(super().get_params(ctx))


class Group(TyperGroup):
    """A command group whose `--help` shows no value after its flags."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_take_no_value(super().get_params(ctx))


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file (default: ~/.config/voicecli/config.toml)."),
]
ProfileOption = Annotated[
    str | None, typer.Option("--profile", "-p", help="Use the \\[profiles.NAME] table of the config file.")
]
ChatUrlOption = Annotated[
    str | None,
    typer.Option(help="For --brain chat: an OpenAI-compatible API base, e.g. http://127.0.0.1:11434/v1 (Ollama)."),
]
ChatModelOption = Annotated[str | None, typer.Option(help="For --brain chat: the model to ask for.")]
ProviderOption = Annotated[
    str | None,
    typer.Option(metavar=choices(Provider), help="local (built-in server, the default), openai or azure."),
]
TransportOption = Annotated[str | None, typer.Option(metavar=choices(Transport), help="websocket (default) or webrtc.")]
VoiceOption = Annotated[str | None, typer.Option(help="Voice of the assistant (alloy, shimmer, ...).")]
InstructionsOption = Annotated[str | None, typer.Option(help="Instructions (persona) for the model.")]
BrainOption = Annotated[
    str | None, typer.Option(metavar=choices(Brain), help="Local server brain: auto, echo, scripted or chat.")
]
ScriptOption = Annotated[Path | None, typer.Option(help="Local server script (TOML) for the scripted brain.")]
ToolsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tools", metavar="<file|module>", help="Python file or module whose functions are tools (repeatable)."
    ),
]
McpOption = Annotated[
    list[str] | None,
    typer.Option("--mcp", metavar='"COMMAND ARGS…"', help="A stdio MCP server whose tools the model may use."),
]
ApproveOption = Annotated[
    str | None,
    typer.Option(
        metavar="ask|all|none",
        help="Tool calls that need approval: ask on the live screen (default), run all, or refuse all.",
    ),
]
LogFileOption = Annotated[Path | None, typer.Option(help="Write log messages to this file.")]
InputDeviceOption = Annotated[
    str | None, typer.Option(help="Microphone: index or part of the name (see `voicecli devices`).")
]
OutputDeviceOption = Annotated[
    str | None, typer.Option(help="Speaker: index or part of the name (see `voicecli devices`).")
]


def session_overrides(
    provider: str | None, transport: str | None, voice: str | None, instructions: str | None, tools: list[str] | None
) -> dict[str, Any]:
    """The configuration keys of the options every conversation command has (None: not given)."""
    return {
        "provider": provider,
        "transport": transport,
        "session.voice": voice,
        "session.instructions": instructions,
        "tools.modules": tools or None,
    }


def local_server_overrides(
    brain: str | None, script: Path | None, chat_url: str | None, chat_model: str | None
) -> dict[str, Any]:
    """The configuration keys of the embedded local server's options (None: not given)."""
    return {
        "local.brain": brain,
        "local.script": str(script) if script else None,
        "local.chat_url": chat_url,
        "local.chat_model": chat_model,
    }
