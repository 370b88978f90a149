"""The screen factory, the live screen's lifecycle, the plain fallback, the summary and log routing."""

from __future__ import annotations

import io
import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from voicecli.config import ConfigError
from voicecli.conversation.state import ConversationState
from voicecli.realtime.events import RealtimeEvent, RealtimeTextEvent, TextContent
from voicecli.records.latency import LatencySummary, LatencyTracker, Percentiles
from voicecli.ui.live import LiveScreen
from voicecli.ui.logs import configure_logging
from voicecli.ui.screen import PlainScreen, open_screen
from voicecli.ui.summary import latency_table
from voicecli.ui.view import SessionInfo

INFO = SessionInfo(provider="local", transport="websocket", model="echo brain", voice="alloy")
HELLO = RealtimeTextEvent(text=TextContent(text="hello there", source="user_transcript", item_id="u1", final=True))
REPLY = RealtimeTextEvent(text=TextContent(text="General Kenobi", item_id="a1"))
DONE = RealtimeEvent(service_type="response.done", service_event={"type": "response.done", "response": {}})


def test_a_pipe_gets_plain_lines() -> None:
    out = io.StringIO()
    screen = open_screen(INFO, ConversationState(), console=Console(file=out))
    assert isinstance(screen, PlainScreen)
    with screen:
        screen.set_state("thinking")
        screen.set_level(-20.0)
        screen.set_muted(True)
        for event in (HELLO, REPLY, DONE):
            screen.handle(event)
    assert out.getvalue() == "You: hello there\nAssistant: General Kenobi\n"


def test_a_terminal_gets_the_live_screen_and_keeps_the_transcript() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, height=20, color_system=None)
    conversation = ConversationState(LatencyTracker())
    screen = open_screen(INFO, conversation, console=console)
    assert isinstance(screen, LiveScreen)
    with screen:
        for event in (HELLO, REPLY, DONE):
            conversation.handle(event)
            screen.handle(event)
        screen.set_state("listening")
        screen.set_level(-12.0)
        screen.set_muted(False)
    after_live = out.getvalue().rsplit("\x1b[?25h", 1)[-1]  # what stays once the live area is gone
    assert "You hello there" in after_live
    assert "Assistant General Kenobi" in after_live
    assert "listening" not in after_live


def test_the_live_screen_draws_what_changed_and_nothing_while_nothing_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("voicecli.ui.live.REDRAW_ANYWAY_S", 600.0)  # only changes draw, however slow the machine
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, height=20, color_system=None)
    conversation = ConversationState()
    screen = open_screen(INFO, conversation, console=console)
    assert isinstance(screen, LiveScreen)
    with screen:
        screen.set_state("listening")
        screen.set_level(-float("inf"))
        wait_for(lambda: "listening" in out.getvalue())
        drawn = len(out.getvalue())
        for _ in range(5):  # half a second of a listening session with nothing new: nothing drawn
            screen.set_level(-float("inf"))
            time.sleep(0.1)
        assert len(out.getvalue()) == drawn
        conversation.handle(HELLO)
        screen.handle(HELLO)
        wait_for(lambda: "hello there" in out.getvalue())


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the screen never showed it"
        time.sleep(0.02)


def test_summary_table_has_percentiles() -> None:
    summary = LatencySummary(
        turns=3,
        first_audio_ms=Percentiles(3, 300.0, 480.0),
        first_audible_ms=Percentiles(2, 410.4, 590.6),
        tool_ms=Percentiles(0, None, None),
    )
    console = Console(record=True, width=100, color_system=None)
    console.print(latency_table(summary))
    text = console.export_text()
    assert "Latency over 3 turns" in text
    assert "first audio received │ 300 ms │ 480 ms │     3" in text
    assert "first audio heard    │ 410 ms │ 591 ms │     2" in text
    assert "time in tools        │      – │      – │     0" in text


def test_plain_screen_prints_the_summary() -> None:
    out = io.StringIO()
    PlainScreen(out).show_summary(LatencyTracker().summary())
    assert "Latency over 0 turns" in out.getvalue()


def test_live_logging_goes_to_the_file_only(
    root_logger: logging.Logger, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "voicecli.log"
    configure_logging(log_file, live=True)
    logging.getLogger("voicecli.test").info("connected to %s", "local")
    warnings.warn("a deprecation", UserWarning, stacklevel=1)
    text = log_file.read_text()
    assert "INFO    voicecli.test: connected to local" in text
    assert "a deprecation" in text
    assert capfd.readouterr() == ("", "")


def test_live_without_log_file_writes_nothing(root_logger: logging.Logger, capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging(None, live=True)
    logging.getLogger("voicecli.test").error("would tear the screen")
    assert capfd.readouterr() == ("", "")


def test_plain_mode_shows_warnings_on_stderr(root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(None, live=False)
    logging.getLogger("voicecli.test").info("quiet")
    logging.getLogger("voicecli.test").warning("loud")
    err = capsys.readouterr().err
    assert "voicecli.test: loud" in err
    assert "quiet" not in err


def test_unwritable_log_file_is_a_config_error(root_logger: logging.Logger, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open the log file"):
        configure_logging(tmp_path / "missing" / "x.log", live=True)
