"""`voicecli talk --input-file/--text`: one turn from a file or typed text, no audio hardware.

Whatever audio arrived is written even when the turn fails half-way, so nothing received is lost.
`--record DIR` records the turn as live mode records a session: `mic.wav` holds the audio sent (the
input file, placed when it was sent), `played.wav` the reply as it arrived, `events.jsonl` both ways.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from voicecli.audio.errors import AudioFileError
from voicecli.audio.wavio import read_audio_24k_mono, write_wav
from voicecli.config import AppConfig
from voicecli.conversation.approvals import set_up_approvals
from voicecli.conversation.exchange import exchange
from voicecli.conversation.mcp_config import configured_mcp_servers
from voicecli.conversation.mcp_tools import McpTools, refresh_session
from voicecli.conversation.providers import build_client, session_continuity, session_settings, usage_meter
from voicecli.conversation.tools import configured_tools
from voicecli.realtime import RealtimeAudioEvent, RealtimeClient, RealtimeEvent
from voicecli.realtime.events import SAMPLE_RATE
from voicecli.realtime.safe_text import shown
from voicecli.records.eventlog import EventLog
from voicecli.records.recording import Recorder
from voicecli.ui.logs import check_log_file, configure_logging
from voicecli.ui.plain import PlainTranscript
from voicecli.ui.summary import usage_line


async def run_file_turn(
    config: AppConfig,
    *,
    input_file: Path | None,
    text: str | None,
    output_file: Path | None,
    out: TextIO | None = None,
    status: TextIO | None = None,
) -> int:
    """Run the turn, print the transcript to `out` and status lines to `status`; return the exit code."""
    out = out or sys.stdout
    status = status or sys.stderr
    if config.ui.log_file:
        configure_logging(Path(config.ui.log_file), live=False)
    client = build_client(
        config,
        speech_input=input_file is not None,  # a typed turn sends no audio, now or on a reconnect
        tools=configured_tools(config),
        continuity=session_continuity(config),
    )
    servers = configured_mcp_servers(config)
    set_up_approvals(client.tools, config)  # nobody to ask here: `--approve` decides, else refused
    audio = read_audio_24k_mono(input_file) if input_file is not None else None  # after the key: that first
    transcript = PlainTranscript(out)
    usage = usage_meter(config, client.protocol, with_budget=False)  # one turn: nothing to stop
    with contextlib.ExitStack() as closing:
        observers: list[Callable[[RealtimeEvent], object]] = [transcript, usage.observe]
        recorder = (
            _start_recording(Path(config.recording.dir), client, closing, status) if config.recording.dir else None
        )
        if recorder is not None:
            observers.append(functools.partial(_record_event, recorder))
        if config.recording.json_events:
            event_log = closing.enter_context(EventLog(Path(config.recording.json_events)))
            client.observe_sent(event_log.write_payload)
            observers.append(event_log.write)

        def observe(event: RealtimeEvent) -> None:
            for observer in observers:
                observer(event)

        mcp = McpTools(servers, client.tools, notice=lambda line: print(line, file=status, flush=True))
        mcp.on_change = functools.partial(refresh_session, client)
        async with mcp, client(settings=session_settings(config, push_to_talk=True)):
            if text is not None:  # once the session is open: a turn that could not start shows none
                transcript.user(text)
            if audio is not None and input_file is not None:
                transcript.user(f"[{input_file.name}: {len(audio) / SAMPLE_RATE:.1f} s of audio]")
                if recorder is not None:
                    recorder.mic(audio)  # placed on the session clock where it starts being sent
            result = await exchange(
                client, text=text, audio=audio, timeout_s=config.response_timeout_s, observer=observe
            )
    reply = result.received_audio
    if output_file is not None:
        if len(reply):
            try:
                write_wav(output_file, reply)
            except AudioFileError as exc:
                lost = f"the reply's {len(reply) / SAMPLE_RATE:.2f} s of audio were not saved"
                raise AudioFileError(f"{exc}; {lost} (the transcript above is complete)") from exc
            partial = " (partial: the turn did not complete)" if result.failed else ""
            status.write(f"reply audio: {len(reply) / SAMPLE_RATE:.2f} s written to {output_file}{partial}\n")
        else:
            status.write(f"no reply audio arrived; {output_file} was not written\n")
    if result.first_audio_s is not None:
        status.write(f"first audio after {result.first_audio_s * 1000:.0f} ms, turn took {result.total_s:.2f} s\n")
    # A failed turn that got no answer shows its error alone.
    if usage.turns and (not result.failed or usage.session.output_tokens):
        status.write(f"{usage_line(usage)} (priced as {config.priced_model()})\n")
    if result.failed:
        status.write(f"voicecli: error: {shown(result.failed)}\n")
        return 1
    check_log_file()
    return 0


def _start_recording(base: Path, client: RealtimeClient, closing: contextlib.ExitStack, status: TextIO) -> Recorder:
    """A recorder in a new folder under `base`, closed (and named on `status`) with the turn; it logs
    every sent event."""
    recorder = Recorder.in_new_folder(base)
    closing.callback(lambda: status.write(f"recorded into {recorder.directory}\n"))
    closing.callback(recorder.close)
    client.observe_sent(recorder.events.write_payload)
    return recorder


def _record_event(recorder: Recorder, event: RealtimeEvent) -> None:
    """Every received event into the recording's log; reply audio into `played.wav` as it arrives."""
    recorder.event(event)
    if isinstance(event, RealtimeAudioEvent):
        recorder.played(event.audio.data)
