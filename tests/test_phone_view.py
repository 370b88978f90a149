"""The calls table: rendered into a recording console, and live on a real terminal (a pty)."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console
from support.live import until
from support.phone import SimulatedAcsCall, phone_env, speech

from voicecli.phone.calls import MEDIA_WAIT_S, CallRegistry
from voicecli.ui.calls_view import CallsTable

pytestmark = pytest.mark.timeout(300)


def render(table: CallsTable) -> str:
    console = Console(record=True, width=120, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text()


def test_each_call_is_a_row_with_caller_state_words_and_latency() -> None:
    registry = CallRegistry()
    talking = registry.open("call-a", "+15555550100")
    registry.set_state(talking, "streaming")
    registry.said(talking, "assistant", "The weather in Paris is sunny.")
    registry.turn_latency(talking, 640.0)
    registry.turn_latency(talking, 820.0)
    registry.turn_latency(talking, 700.0)
    failed = registry.open("call-b", "+15555550199")
    registry.set_state(failed, "failed", "realtime session failed: gone")

    text = render(CallsTable(registry, lambda: "voicecli phone: taking calls · 1 in progress"))

    assert "voicecli phone: taking calls · 1 in progress" in text
    row_a = next(line for line in text.splitlines() if "call-a" in line)
    assert "+15555550100" in row_a and "streaming" in row_a
    assert "assistant: The weather in Paris is sunny." in row_a
    assert "700 ms (med 700)" in row_a
    row_b = next(line for line in text.splitlines() if "call-b" in line)
    assert "failed" in row_b and "realtime session failed: gone" in row_b and "—" in row_b


class Terminal:
    """The screen output of a process whose stdout is a pseudo-terminal, collected as it comes."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        self.output = b""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output += chunk

    @property
    def text(self) -> str:
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self.output.decode(errors="replace"))


async def test_on_a_terminal_the_bridge_shows_the_live_table(tmp_path: Path) -> None:
    terminal = Terminal()
    process = subprocess.Popen(
        [sys.executable, "-m", "voicecli", "phone", "--port", "0", "--no-greeting"],
        stdout=terminal.slave,
        stderr=subprocess.PIPE,
        env={**phone_env(), "COLUMNS": "160", "LINES": "40", "TERM": "xterm-256color"},
    )
    try:
        await until(lambda: "listening on http://" in terminal.text, "the bridge to start", timeout=150)
        port = re.search(r"listening on http://127\.0\.0\.1:(\d+)", terminal.text)
        assert port is not None
        await until(lambda: "taking calls" in terminal.text and "last words" in terminal.text, "the table")
        async with SimulatedAcsCall(f"ws://127.0.0.1:{port.group(1)}/ws/pty-call?caller=%2B15555550142") as call:
            await call.stream(speech(tmp_path, "Hello, is this on a terminal?"))
            await call.silence_until(lambda: "I heard" in terminal.text, "the answer in the table", timeout=60)
            row = next(line for line in terminal.text.splitlines()[::-1] if "pty-call" in line)
            assert "+15555550142" in row and "streaming" in row
        process.send_signal(signal.SIGINT)
        await asyncio.to_thread(process.wait, 60)
        assert process.returncode == 0
        stderr = process.stderr.read().decode() if process.stderr else ""
        assert "call pty-call" not in stderr, "on a terminal, call events are in the table, not log lines"
    finally:
        if process.poll() is None:
            process.kill()
        os.close(terminal.slave)
        os.close(terminal.master)


def test_what_callers_send_is_shown_as_text_never_as_markup_or_escapes() -> None:
    registry = CallRegistry()
    record = registry.open("call-[/]x", "[bold red]+1555[/]\nfake log line\x1b[2J")
    registry.said(record, "caller", "[link=http://x]click[/link]")
    text = render(CallsTable(registry, lambda: "status"))
    assert "call-[/]x" in text
    assert "[bold red]+1555[/]\\nfake log line\\x1b[2J" in text
    assert "caller: [link=http://x]click[/link]" in text
    assert "\x1b" not in record.caller and "\n" not in record.caller


def test_a_call_whose_media_went_to_another_process_leaves_the_table() -> None:
    registry = CallRegistry()
    answered_here = registry.open("answered-here", "+1555")
    registry.set_state(answered_here, "answered")
    streaming_here = registry.open("streaming-here", "+1666")
    streaming_here.media = True
    registry.set_state(streaming_here, "streaming")
    answered_here.started -= MEDIA_WAIT_S + 1
    streaming_here.started -= MEDIA_WAIT_S + 1
    registry.open("next-call")  # the registry tidies up when a call comes in
    assert answered_here.state == "ended" and "another bridge process" in answered_here.reason
    assert streaming_here.state == "streaming"
