"""Words from outside reach the screen, the logs and the recordings only redacted and with control
characters made visible (issue 24, cases 3 and 4)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from voicecli.cli import app
from voicecli.config import ConfigError, load_config
from voicecli.conversation.state import ConversationState
from voicecli.realtime.events import (
    ErrorContent,
    FunctionCallContent,
    FunctionResultContent,
    RealtimeErrorEvent,
    RealtimeFunctionCallEvent,
    RealtimeFunctionResultEvent,
    RealtimeTextEvent,
    TextContent,
)
from voicecli.realtime.safe_text import REDACTED, redact, remember_secret, shown, visible
from voicecli.records.eventlog import EventLog
from voicecli.ui.logs import SafeFormatter
from voicecli.ui.plain import PlainTranscript
from voicecli.ui.view import ConversationView, SessionInfo

RETITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
HOSTILE = f"hello {RETITLE}{CLEAR}world\u202e"


def hostile_events() -> list[RealtimeTextEvent | RealtimeErrorEvent | RealtimeFunctionCallEvent]:
    return [
        RealtimeTextEvent(text=TextContent(text=HOSTILE, source="user_transcript", item_id="u1", final=True)),
        RealtimeTextEvent(text=TextContent(text=HOSTILE, item_id="a1")),
        RealtimeErrorEvent(error=ErrorContent(message=HOSTILE, code="bad\x1b[31m")),
        RealtimeFunctionCallEvent(function_call=FunctionCallContent(name="t\x1b[2J", arguments=HOSTILE, call_id="c")),
    ]


def tool_result(result: str) -> RealtimeFunctionResultEvent:
    return RealtimeFunctionResultEvent(function_result=FunctionResultContent(call_id="c", name="t", result=result))


def test_control_characters_become_visible_escapes_and_printable_text_is_untouched() -> None:
    assert visible(HOSTILE) == "hello \\x1b]0;pwned\\x07\\x1b[2Jworld\\u202e"
    assert visible("line one\nline two", keep_newlines=True) == "line one\nline two"
    assert visible("forged\nline") == "forged\\nline"
    assert visible("naïve — 日本語 👩‍💻") == "naïve — 日本語 👩‍💻"  # emoji joiners are not controls


def test_plain_transcript_never_writes_a_control_sequence() -> None:
    out = io.StringIO()
    transcript = PlainTranscript(out)
    for event in [*hostile_events(), tool_result(HOSTILE)]:
        transcript(event)
    written = out.getvalue()
    assert "\x1b" not in written and "\x07" not in written and "\u202e" not in written
    assert "\\x1b]0;pwned" in written  # shown, not hidden: the user sees what the service sent


def test_the_rich_screen_and_the_scrollback_never_carry_a_control_sequence() -> None:
    conversation = ConversationState()
    view = ConversationView(SessionInfo("openai", "websocket", "gpt-realtime", "marin"), conversation)
    for event in [*hostile_events(), tool_result(HOSTILE)]:
        conversation.handle(event)
    for renderable in (view.render(), view.render_transcript()):
        console = Console(file=io.StringIO(), width=200, height=40, color_system=None, force_terminal=True)
        console.print(renderable)
        drawn = console.file.getvalue()  # type: ignore[attr-defined]
        assert RETITLE not in drawn and CLEAR not in drawn and "\x07" not in drawn
        assert "\\x1b]0;pwned" in drawn


def test_a_huge_tool_result_is_cut_for_the_screen() -> None:
    conversation = ConversationState()
    view = ConversationView(SessionInfo("openai", "websocket", "gpt-realtime", "marin"), conversation)
    conversation.handle(tool_result('{"data": "' + "x" * 10_000_000 + '"}'))
    console = Console(record=True, width=200, height=40, color_system=None)
    console.print(view.render_transcript())
    assert len(console.export_text()) < 1000


def test_redaction_covers_keys_bearer_tokens_url_passwords_and_key_parameters() -> None:
    remember_secret("gateway-key-0123456789")
    text = (
        "rejected gateway-key-0123456789 and sk-proj-abcdefghijklmnop; Authorization: Bearer eyJ.abc "
        "at wss://bob:hunter2@example.com/v1?api-key=XYZ123&model=m, azure key 0123456789abcdef0123456789abcdef"
    )
    cleaned = redact(text)
    for secret in ("gateway-key-0123456789", "abcdefghijklmnop", "eyJ.abc", "hunter2", "XYZ123", "0123456789abcdef0"):
        assert secret not in cleaned
    assert f"wss://bob:{REDACTED}@example.com" in cleaned and "model=m" in cleaned


def test_log_lines_are_redacted_and_stay_one_line() -> None:
    remember_secret("log-secret-key-42")
    record = logging.LogRecord(
        "voicecli", logging.WARNING, __file__, 1, "closed: %s", ("log-secret-key-42\nFAKE",), None
    )
    line = SafeFormatter("%(message)s").format(record)
    assert line == f"closed: {REDACTED}\\nFAKE"


def test_the_event_log_redacts_remembered_keys_inside_any_text(tmp_path: Path) -> None:
    remember_secret("event-log-key-777")
    with EventLog(tmp_path / "events.jsonl") as log:
        log.write(RealtimeErrorEvent(error=ErrorContent(message="Incorrect API key provided: event-log-key-777")))
    assert "event-log-key-777" not in (tmp_path / "events.jsonl").read_text()


def test_a_key_pasted_into_api_key_env_is_refused_without_echoing_it(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[openai]\napi_key_env = "sk-pasted-by-mistake-0123456789"\n')
    with pytest.raises(ConfigError) as refused:
        load_config(config)
    assert "sk-pasted" not in str(refused.value) and "name of an environment variable" in str(refused.value)
    assert "sk-pasted-by-mistake-0123456789" not in redact("later: sk-pasted-by-mistake-0123456789")


@pytest.mark.parametrize("key", ["[openai]\nbase_url", "[azure]\nendpoint", "[local]\nchat_url"])
def test_a_key_pasted_into_a_url_setting_is_refused_without_echoing_it(tmp_path: Path, key: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'{key} = "0123456789abcdef0123456789abcdeX"\n')
    result = CliRunner().invoke(app, ["config", "show", "--config", str(config)])
    assert result.exit_code == 2 and "must be a URL starting with http:// or https://" in result.output
    assert "0123456789abcdef" not in result.output


def test_config_show_and_errors_hide_a_password_in_a_url(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[openai]\nbase_url = "https://user:hunter2@gateway.example/v1"\n')
    result = CliRunner().invoke(app, ["config", "show", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and f"user:{REDACTED}@gateway.example" in result.output
    azure = tmp_path / "azure.toml"
    azure.write_text('[azure]\nendpoint = "https://user:hunter2@my.openai.azure.com"\n')
    result = CliRunner().invoke(app, ["config", "show", "--config", str(azure)])
    assert result.exit_code == 0 and "hunter2" not in result.output, result.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[openai]\nbase_url = 7\n[azure]\nendpoint = "https://u:hunter2@x"\n')
    result = CliRunner().invoke(app, ["config", "show", "--config", str(bad)])
    assert result.exit_code == 2


def test_shown_is_what_every_error_line_gets() -> None:
    assert shown("failed at wss://a:b@h/ \x1b[2J") == f"failed at wss://a:{REDACTED}@h/ \\x1b[2J"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'provider = "local"\n# caf\xe9\n', "not UTF-8 text"),
        (b"response_timeout_s = -1\n", "response_timeout_s: must be more than 0 seconds, got -1"),
        (b"connect_timeout_s = 0\n", "connect_timeout_s: must be more than 0 seconds, got 0"),
        (b"[local]\nmax_session_s = -5.5\n", "local.max_session_s: must be more than 0 seconds, got -5.5"),
    ],
)
def test_config_that_cannot_work_is_one_line_and_exit_2(tmp_path: Path, content: bytes, fragment: str) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(content)
    result = CliRunner().invoke(app, ["config", "show", "--config", str(config)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert fragment in result.output and len(result.output.strip().splitlines()) == 1


def test_a_zero_timeout_flag_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")
    result = CliRunner().invoke(app, ["talk", "--text", "hi", "--timeout", "0", "--config", str(config)])
    assert result.exit_code == 2 and "response_timeout_s: must be more than 0 seconds" in result.output
