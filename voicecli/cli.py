"""The `voicecli` command line: parses arguments and calls one function per command.

Heavy modules (openai, aiortc, sounddevice, the server) are imported inside the commands so that
`voicecli --help` stays fast. Known failures become one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

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
from voicecli.config.app_config import BargeInMode, Brain, EchoMode, LiveDelegation, Provider

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


def load(config_path: Path | None, profile: str | None, overrides: dict[str, Any]) -> Any:
    from voicecli.config import ConfigError, load_config

    try:
        return load_config(config_path, profile, overrides)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None


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
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Run scripted conversations; write transcript.md, report.json and each reply as WAV."""
    from voicecli.commands.demo.command import run_demo

    run(run_demo(scripts, output=output, parallel=parallel, provider=provider, config_path=config, profile=profile))


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


@app.command(cls=Command)
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (keep it on loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    brain: Annotated[
        str,
        typer.Option(
            metavar=choices(Brain),
            help="echo (repeats you), scripted (replies from --script), chat (asks --chat-url) "
            "or auto (a chat model running on this machine, else echo).",
        ),
    ] = "echo",
    script: Annotated[Path | None, typer.Option(help="TOML script for the scripted brain.")] = None,
    max_session_s: Annotated[
        float, typer.Option(help="End each session after this many seconds, as the service does at 60 minutes.")
    ] = 3600.0,
    first_audio_ms: Annotated[
        int, typer.Option(help="Milliseconds from response.create to a reply's first audio, as on the service.")
    ] = 500,
    speed: Annotated[
        str,
        typer.Option(help="How many times faster than real time replies are generated; max: no pacing at all."),
    ] = "4",
    vad_delay_ms: Annotated[
        int,
        typer.Option(help="Milliseconds the VAD's speech events come late, as the service's VAD and a round trip add."),
    ] = 0,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Also log each item a client creates, each event refused, and what the libraries log (ICE, ...).",
        ),
    ] = False,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            metavar="<name=value>", help="Misbehave on purpose to test clients, e.g. drop_after_events=40 (repeatable)."
        ),
    ] = None,
    chat_url: ChatUrlOption = None,
    chat_model: ChatModelOption = None,
    max_sessions: Annotated[
        int, typer.Option(help="WebSocket sessions at a time; more get HTTP 429 (WebRTC: 16 calls).")
    ] = 32,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="VOICECLI_SERVE_API_KEY",
            show_envvar=True,
            help="The key clients must present; required off loopback (prefer the environment variable).",
        ),
    ] = None,
) -> None:
    """Run the local realtime server (OpenAI Realtime GA protocol) until Ctrl-C."""
    from voicecli.server import Faults, LocalServer, serve_forever
    from voicecli.server.session.pacing import serve_pacing

    if script is not None and not script.is_file():
        raise fail(f"{script}: no such script file", 2)
    if max_session_s <= 0:
        raise fail("--max-session-s must be more than 0", 2)
    if max_sessions < 1:
        raise fail("--max-sessions must be at least 1", 2)
    try:
        faults = Faults.parse(fault or [])
        pacing = serve_pacing(first_audio_ms, speed, vad_delay_ms)
        server = LocalServer(
            host,
            port,
            brain,
            script,
            faults=faults,
            max_session_s=max_session_s,
            chat_url=chat_url,
            chat_model=chat_model,
            accepted_key=api_key or None,
            max_sessions=max_sessions,
            pacing=pacing,
        )
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    try:
        asyncio.run(serve_forever(server, verbose=verbose))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a brain that cannot be built: unknown, a bad script, no --chat-url
        raise fail(str(exc), 2) from None


@app.command(cls=Command)
def phone(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0 picks a free one).")] = 8080,
    public_url: Annotated[
        str | None,
        typer.Option(help="https://… where ACS reaches this bridge (the webhook, callbacks and media WebSocket)."),
    ] = None,
    provider: ProviderOption = None,
    transport: TransportOption = None,
    tools: ToolsOption = None,
    instructions: InstructionsOption = None,
    voice: VoiceOption = None,
    brain: BrainOption = None,
    script: ScriptOption = None,
    chat_url: ChatUrlOption = None,
    chat_model: ChatModelOption = None,
    greeting: Annotated[
        bool, typer.Option("--greeting/--no-greeting", help="The model speaks first when a call connects.")
    ] = True,
    log_file: LogFileOption = None,
    dial: Annotated[
        str | None,
        typer.Option(help="Be the caller instead: call a bridge's media WebSocket (ws://HOST:PORT/ws) as ACS would."),
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", "-i", help="With --dial: say this audio file instead of the mic.")
    ] = None,
    output_file: Annotated[
        Path | None, typer.Option("--output-file", "-o", help="With --dial --input-file: write the reply heard.")
    ] = None,
    timeout: Annotated[float, typer.Option(help="With --dial --input-file: seconds to wait for the reply.")] = 60.0,
    input_device: Annotated[str | None, typer.Option(help="With --dial: the microphone (index or name).")] = None,
    output_device: Annotated[str | None, typer.Option(help="With --dial: the speaker (index or name).")] = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
) -> None:
    """Answer phone calls through Azure Communication Services and let callers talk to the model.

    Set ACS_CONNECTION_STRING, ACS_WEBHOOK_SECRET, [phone] acs_resource_id and --public-url, and
    point the ACS Event Grid subscription for IncomingCall at
    PUBLIC_URL/api/incomingCall?secret=ACS_WEBHOOK_SECRET; only requests signed by ACS get in.
    Ctrl-C stops taking calls and waits for those in progress to end; a second Ctrl-C ends them.

    With --dial ws://HOST:PORT/ws this terminal is the caller instead (microphone and speaker, or
    --input-file), speaking the same media protocol as ACS: try a bridge without a phone, started
    on 127.0.0.1 without ACS (local test mode).
    """
    if dial is not None:
        if input_file is not None and not input_file.is_file():
            raise fail(f"{input_file}: no such file", 2)
        from voicecli.commands.phone_dial import run_dial

        run(
            run_dial(
                dial,
                input_file=input_file,
                output_file=output_file,
                timeout_s=timeout,
                input_device=input_device,
                output_device=output_device,
            )
        )
    settings = load(
        config,
        profile,
        {
            **session_overrides(provider, transport, voice, instructions, tools),
            **local_server_overrides(brain, script, chat_url, chat_model),
        },
    )
    from voicecli.commands.phone import run_phone

    run(run_phone(settings, host=host, port=port, public_url=public_url, greet=greeting, log_file=log_file))


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
    sys.exit(main())
