"""The two commands that serve until Ctrl-C: `serve` (the local realtime server) and `phone` (the
Azure Communication Services bridge, or with `--dial` its test caller). `cli.py` registers them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from voicecli.cli_exits import fail, load, run
from voicecli.cli_options import (
    BrainOption,
    ChatModelOption,
    ChatUrlOption,
    ConfigOption,
    InstructionsOption,
    LogFileOption,
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
from voicecli.config.app_config import Brain


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
