"""`voicecli talk` without --input-file/--text: wires devices, client, screen, keys and logs to a `Conversation`.

Everything opened here is closed on every way out (Ctrl-C, SIGTERM, a dropped connection, an
unplugged device) in an order that keeps the most: the terminal is restored and the streams stop
first, then the session closes, the screen prints the transcript and the latency summary, and the
recordings and logs close last, holding everything up to the end. A second Ctrl-C leaves at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from voicecli.audio.capture import Capture
from voicecli.audio.errors import DeviceError
from voicecli.audio.player import Player
from voicecli.commands.devices import choose_device
from voicecli.config import AppConfig, ConfigError
from voicecli.conversation.approvals import KeyApprovals, approval_notice, set_up_approvals
from voicecli.conversation.barge_in import BargeInRules
from voicecli.conversation.images import images_refused
from voicecli.conversation.live import Conversation, Taps
from voicecli.conversation.local_barge_in import LocalBargeIn
from voicecli.conversation.mcp_config import configured_mcp_servers
from voicecli.conversation.mcp_tools import McpTools, mcp_notice, refresh_session
from voicecli.conversation.providers import (
    build_client,
    client_echo_mode,
    session_continuity,
    session_settings,
    usage_meter,
)
from voicecli.conversation.state import ConversationState
from voicecli.conversation.tools import configured_tools
from voicecli.realtime import RealtimeClient, RealtimeEvent
from voicecli.records.eventlog import EventLog, SessionClock
from voicecli.records.latency import LatencyTracker
from voicecli.records.recording import Recorder
from voicecli.ui.keys import TerminalKeys
from voicecli.ui.logs import check_log_file, configure_logging
from voicecli.ui.screen import open_screen
from voicecli.ui.view import SessionInfo

INTERRUPTED_EXIT = 130
SHOW_CURSOR = b"\x1b[?25h\n"
DEVICE_HINT = "check it with `voicecli devices --test`"


class _Interrupts:
    """SIGINT/SIGTERM: the first ends the session cleanly, the second leaves at once (exit 130)."""

    def __init__(self) -> None:
        self.count = 0
        self.keys: TerminalKeys | None = None
        self.conversation: Conversation | None = None  # set once the session is open
        self._task = asyncio.current_task()

    def __call__(self) -> None:
        self.count += 1
        if self.count > 1:
            if self.keys is not None:
                self.keys.restore()
            if os.isatty(1):
                os.write(1, SHOW_CURSOR)  # the live screen hides it
            os._exit(INTERRUPTED_EXIT)
        if self.conversation is not None:
            self.conversation.stop()
        elif self._task is not None:
            self._task.cancel()  # still connecting: give up on it

    def install(self, stack: contextlib.ExitStack) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self)
            stack.callback(loop.remove_signal_handler, signum)


async def run_live(config: AppConfig, *, console: Console | None = None, image: Path | None = None) -> int:
    """Hold a spoken conversation until Ctrl-C; returns the exit code (failures are raised).

    The client is built first: a missing key or Azure endpoint is said before any terminal or
    device problem, which a user would otherwise fix only to be told about the key next. `image`
    goes to the model with the first turn."""
    client = build_client(config, tools=configured_tools(config), continuity=session_continuity(config))
    servers = configured_mcp_servers(config)
    push_to_talk = config.session.turn_detection == "push_to_talk"
    if push_to_talk and not sys.stdin.isatty():
        raise ConfigError("push-to-talk reads the SPACE key from a terminal; run it in one, or drop --push-to-talk")
    input_device = choose_device(config.audio.input_device, "input")
    output_device = choose_device(config.audio.output_device, "output")
    log_file = Path(config.ui.log_file) if config.ui.log_file else None
    configure_logging(log_file, live=True)
    tracker = LatencyTracker()
    usage = usage_meter(config, client.protocol)
    interrupts = _Interrupts()
    try:
        with contextlib.ExitStack() as closing:
            closing.enter_context(_native_stderr_to(log_file))
            recorder = Recorder.in_new_folder(Path(config.recording.dir)) if config.recording.dir else None
            if recorder is not None:
                closing.callback(recorder.close)
            clock = recorder.clock if recorder is not None else SessionClock()
            event_log = EventLog(Path(config.recording.json_events), clock) if config.recording.json_events else None
            if event_log is not None:
                closing.callback(event_log.close)
            player = Player(output_device.index)
            closing.callback(player.close)
            _start(player)
            keys = _keys_hint(push_to_talk) if sys.stdin.isatty() else ""
            info = replace(SessionInfo.from_config(config, client), keys=keys)
            state = ConversationState(tracker)
            screen = open_screen(info, state, usage=usage, console=console)
            closing.callback(lambda: screen.show_summary(tracker.summary(), usage))
            closing.enter_context(screen)
            capture = Capture(
                input_device.index,
                echo=client_echo_mode(config),
                reference=player.monitor,
                reference_rate=player.sample_rate,
            )
            if recorder is not None:
                capture.on_chunk = recorder.mic
                capture.on_played = lambda pcm, at: recorder.played(pcm, at, rate=player.sample_rate)
            conversation = Conversation(
                client,
                capture,
                player,
                screen,
                state=state,
                push_to_talk=push_to_talk,
                taps=_taps(client, recorder, event_log),
                local_barge_in=_local_barge_in(config, player, capture),
                usage=usage,
            )
            settings = session_settings(
                config, push_to_talk=push_to_talk, local_barge_in=conversation.local_barge_in is not None
            )
            conversation.typed_input.images_refused = images_refused(config)
            approvals = KeyApprovals(lambda line: conversation.show(approval_notice(line)))
            set_up_approvals(client.tools, config, approvals if sys.stdin.isatty() else None)
            interrupts.keys = closing.enter_context(TerminalKeys(approvals.before(conversation.on_key)))
            interrupts.install(closing)
            mcp = McpTools(servers, client.tools, notice=lambda line: conversation.show(mcp_notice(line)))
            mcp.on_change = functools.partial(refresh_session, client)
            async with mcp, client(settings=settings):
                _start(capture)
                try:
                    interrupts.conversation = conversation
                    if image is not None:
                        await conversation.typed_input.send_image(image)
                    await conversation.run()
                finally:
                    capture.stop()
    except asyncio.CancelledError:
        if interrupts.count == 0:
            raise
    check_log_file()
    return 0


@contextlib.contextmanager
def _native_stderr_to(log_file: Path | None) -> Iterator[None]:
    """Send what C libraries write to fd 2 (ALSA's "underrun occurred", ...) to the log file or nowhere.

    Such lines would tear the live screen apart; Python's own stderr is already redirected by it.
    Restored on the way out, so the error line of a failed session still reaches the terminal.
    """
    saved = os.dup(2)
    target = os.open(log_file if log_file is not None else os.devnull, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


def _local_barge_in(config: AppConfig, player: Player, capture: Capture) -> LocalBargeIn | None:
    """`[audio] barge_in = "local"`: voicecli hears the person first and decides (None: the service does).
    The capture hands it each frame on its own thread, so the duck does not wait for the event loop."""
    if config.audio.barge_in != "local" or config.session.turn_detection == "push_to_talk":
        return None
    rules = BargeInRules(backchannels=tuple(config.audio.backchannels))
    local = LocalBargeIn(rules, player.duck, playing=lambda: player.is_playing)
    capture.on_frame = local.frame_heard
    if local.warning is not None:
        logging.getLogger("voicecli").warning("%s", local.warning)
    return local


def _start(stream: Player | Capture) -> None:
    try:
        stream.start()
    except DeviceError as exc:
        raise DeviceError(f"{exc}; {DEVICE_HINT}") from exc


def _keys_hint(push_to_talk: bool) -> str:
    talk = "SPACE talk/send" if push_to_talk else "just talk"
    return f" {talk} · t type · m mute · Ctrl-C quit "


def _taps(client: RealtimeClient, recorder: Recorder | None, event_log: EventLog | None) -> Taps:
    """Event copies for `--record` and `--json-events` (sent events logged as sent); the capture records the audio."""
    logs = [log for log in (recorder.events if recorder is not None else None, event_log) if log is not None]
    for log in logs:
        client.observe_sent(log.write_payload)

    def event(received: RealtimeEvent) -> None:
        for log in logs:
            log.write(received)

    return Taps(event=event if logs else None)
