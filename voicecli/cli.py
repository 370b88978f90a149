"""The `voicecli` command line: parses arguments and calls one function per command.

Heavy modules (openai, aiortc, sounddevice, the server) are imported inside the commands so that
`voicecli --help` stays fast. Known failures become one line on stderr and a non-zero exit code
(`cli_exits`). The options several commands share are in `cli_options`; `serve` and `phone`, the
commands that serve until Ctrl-C, in `cli_servers`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voicecli.cli_exits import fail, load, run
from voicecli.cli_options import (
    ApproveOption,
    BrainOption,
    ChatModelOption,
    ChatUrlOption,
    Command,
    ConfigOption,
    Group,
    InputDeviceOption,
    InstructionsOption,
    LogFileOption,
    McpOption,
    OutputDeviceOption,
    ProfileOption,
    ProviderOption,
    ScriptOption,
    ToolsOption,
    TransportOption,
    VoiceOption,
    choices,
    local_server_overrides,
    session_overrides,
)
from voicecli.cli_servers import phone, serve
from voicecli.config.app_config import BargeInMode, EchoMode, LiveDelegation, Provider

app = typer.Typer(
    cls=Group,
    name="voicecli",
    help="Talk to a realtime voice model from the terminal (OpenAI, Azure OpenAI, or the built-in local server).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring paragraphs wrap to the terminal, not where the source breaks them
)


def print_version(wanted: bool) -> None:
    if wanted:
        from voicecli import __version__

        typer.echo(f"voicecli {__version__}")
        raise typer.Exit()


@app.callback()
def options_before_the_command(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    """The options of `voicecli` itself, given before a command's name."""


@app.command(cls=Command)
def talk(
    provider: ProviderOption = None,
    transport: TransportOption = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", "-i", help="Speak this audio file (any rate/channels) as one turn.")
    ] = None,
    text: Annotated[str | None, typer.Option("--text", "-t", help="Send this typed text as one turn.")] = None,
    output_file: Annotated[
        Path | None, typer.Option("--output-file", "-o", help="Write the reply audio to this WAV file.")
    ] = None,
    voice: VoiceOption = None,
    instructions: InstructionsOption = None,
    model: Annotated[str | None, typer.Option(help="OpenAI model (default gpt-realtime).")] = None,
    deployment: Annotated[str | None, typer.Option(help="Azure deployment name.")] = None,
    brain: BrainOption = None,
    script: ScriptOption = None,
    chat_url: ChatUrlOption = None,
    chat_model: ChatModelOption = None,
    timeout: Annotated[float | None, typer.Option(help="Seconds to wait for a complete answer.")] = None,
    tools: ToolsOption = None,
    mcp: McpOption = None,
    approve: ApproveOption = None,
    log_file: LogFileOption = None,
    record: Annotated[Path | None, typer.Option(help="Record mic, played audio and events under this folder.")] = None,
    json_events: Annotated[Path | None, typer.Option(help="Write every event as JSON lines to this file.")] = None,
    input_device: InputDeviceOption = None,
    output_device: OutputDeviceOption = None,
    push_to_talk: Annotated[
        bool, typer.Option("--push-to-talk", help="No voice detection: SPACE starts talking, SPACE again sends.")
    ] = False,
    echo: Annotated[
        str | None,
        typer.Option(
            metavar=choices(EchoMode),
            help="Speaker echo: auto (default), aec (cancel it), gate (half duplex) or off (headphones).",
        ),
    ] = None,
    image: Annotated[
        Path | None, typer.Option(help="Show the model this image (PNG, JPEG, WebP, GIF) with your first turn.")
    ] = None,
    barge_in: Annotated[
        str | None,
        typer.Option(
            metavar=choices(BargeInMode),
            help="Who decides you interrupt: service (its VAD) or local (fade at once, then stop or resume).",
        ),
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option(min=0, help="Dollars: end the session after the reply under way once it cost this much."),
    ] = None,
    delegation: Annotated[
        str | None,
        typer.Option(
            metavar=choices(LiveDelegation),
            help="GPT-Live: who does delegated work, client (your --tools) or responses (the hosted model).",
        ),
    ] = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Talk to the model through the microphone and speaker until Ctrl-C.

    Just talk: the model answers when you pause, and speaking while it talks interrupts it.
    With --push-to-talk, press SPACE to start talking and SPACE again to send (a toggle, because
    terminals cannot report when a key is released). Press m to mute the microphone (it then sends
    silence). Ctrl-C ends the session and prints the latency summary; a second Ctrl-C quits at once.

    With --input-file or --text: one turn, transcript printed, reply saved; no audio devices needed.
    """
    if input_file is not None and not input_file.is_file():
        raise fail(f"{input_file}: no such file", 2)
    if text is not None and not text.strip():
        raise fail("--text is empty: give the words to send, or --input-file for audio", 2)
    settings = load(
        config,
        profile,
        {
            **session_overrides(provider, transport, voice, instructions, tools),
            **local_server_overrides(brain, script, chat_url, chat_model),
            "tools.mcp_commands": mcp or None,
            "tools.approve": approve,
            "openai.model": model,
            "azure.deployment": deployment,
            "response_timeout_s": timeout,
            "ui.log_file": str(log_file) if log_file else None,
            "recording.dir": str(record) if record else None,
            "recording.json_events": str(json_events) if json_events else None,
            "audio.input_device": input_device,
            "audio.output_device": output_device,
            "session.turn_detection": "push_to_talk" if push_to_talk else None,
            "audio.echo": echo,
            "audio.barge_in": barge_in,
            "session.budget": budget,
            "live.delegation": delegation,
        },
    )
    if image is not None:
        from voicecli.conversation.images import image_item, images_refused

        try:
            refused = images_refused(settings)
            if refused is not None or input_file is not None or text is not None:
                raise ValueError(refused or "--image goes with a live conversation, not --text or --input-file")
            image_item(image)
        except ValueError as exc:
            raise fail(str(exc), 2) from None
    if input_file is None and text is None:
        from voicecli.commands.talk_live import run_live

        run(run_live(settings, image=image))
    else:
        from voicecli.commands.talk_files import run_file_turn

        run(run_file_turn(settings, input_file=input_file, text=text, output_file=output_file))


@app.command(cls=Command)
def demo(
    scripts: Annotated[
        list[Path], typer.Argument(metavar="SCRIPT.toml", help="Demo scripts: settings, tools and turns.")
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Output folder (default ./demo-output/SCRIPT; with several scripts, one per script)."
        ),
    ] = None,
    parallel: Annotated[int, typer.Option("--parallel", "-j", help="Run up to N scripts at once.")] = 1,
    provider: Annotated[
        str | None,
        typer.Option(metavar=choices(Provider), help="local, openai or azure, instead of the script's provider."),
    ] = None,
    approve: Annotated[
        str | None,
        typer.Option(
            metavar="all|none", help="Tool calls that need approval: run all or refuse all (nobody is asked)."
        ),
    ] = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Run scripted conversations; write transcript.md, report.json and each reply as WAV."""
    from voicecli.commands.demo.command import run_demo

    run(
        run_demo(
            scripts,
            output=output,
            parallel=parallel,
            provider=provider,
            approve=approve,
            config_path=config,
            profile=profile,
        )
    )


@app.command(cls=Command)
def devices(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")] = False,
    test: Annotated[
        bool, typer.Option("--test", help="Open the devices for real: a 1 s tone out, 1 s recorded in, rates tried.")
    ] = False,
    input_device: Annotated[
        str | None, typer.Option(help="With --test: the microphone to test (index or part of the name).")
    ] = None,
    output_device: Annotated[
        str | None, typer.Option(help="With --test: the speaker to test (index or part of the name).")
    ] = None,
) -> None:
    """List the audio devices (index, name, host API, channels, rate, defaults); --test tries them."""
    from voicecli.audio.errors import AudioError
    from voicecli.commands.devices import show_devices
    from voicecli.config import ConfigError

    try:
        code = show_devices(as_json=json_output, test=test, input_device=input_device, output_device=output_device)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    except AudioError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(code)


@app.command("echo-test", cls=Command)
def echo_test(
    input_device: InputDeviceOption = None,
    output_device: OutputDeviceOption = None,
    save: Annotated[bool, typer.Option("--save", help="Write the recommended echo mode into the config file.")] = False,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Play a short probe, measure the speaker's echo in the microphone, and recommend an echo mode."""
    from voicecli.commands.echo_test import run_echo_test

    settings = load(config, profile, {"audio.input_device": input_device, "audio.output_device": output_device})
    run(run_echo_test(settings, config_path=config, save=save))


# Registered here, after the others, so that `--help` lists the commands in this order.
app.command(cls=Command)(serve)
app.command(cls=Command)(phone)

config_app = typer.Typer(cls=Group, help="Show or create the configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show", cls=Command)
def config_show(config: ConfigOption = None, profile: ProfileOption = None) -> None:
    """Print the effective configuration (defaults < file < profile < environment), secrets masked."""
    from voicecli.ui.config_view import show_config

    show_config(load(config, profile, {}), config, profile)


@config_app.command("init", cls=Command)
def config_init(
    path: Annotated[Path | None, typer.Option(help="Where to write (default: ~/.config/voicecli/config.toml).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter configuration file that documents every option."""
    from voicecli.config import ConfigError, default_config_path
    from voicecli.config.starter import write_starter_config

    target = path or default_config_path()
    try:
        write_starter_config(target, force=force)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    typer.echo(f"wrote {target}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
