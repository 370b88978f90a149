"""`voicecli demo SCRIPT.toml` against the local provider: files written, expectations, bad scripts, precedence.

The rules of a run (expectations, what is written and removed) run with the local provider's session
in memory and its replies in tones (`in_memory`); a run over the embedded server's socket, speech,
and a timeout's real wait stay end to end."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from support.demo import clean_environment  # noqa: F401  (autouse fixture)
from support.embedded_memory import embedded_in_memory
from support.session_transport import replies_in_tones
from support.system_tools import require_program
from typer.testing import CliRunner

from voicecli.audio.wavio import write_wav
from voicecli.cli import app
from voicecli.commands.demo.expectations import Expectation, check
from voicecli.commands.demo.script import load_script
from voicecli.commands.demo.settings import script_config
from voicecli.realtime import FunctionCallContent

runner = CliRunner()

BRAIN = """
[[turn]]
when_contains = "weather"
reply = "Let me check."
after_tool = "Forecast: {output}"

[[turn.call]]
name = "get_weather"
arguments = { city = "Paris", unit = "C" }

[[turn]]
reply = "Ask me about the weather."
"""

TOOLS = '''
import asyncio


def get_weather(city: str, unit: str = "C") -> str:
    """Get the weather in a city."""
    return f"sunny in {city}"


async def slow_weather(city: str, unit: str = "C") -> str:
    """A tool that takes longer than the turn may (cancelled when the session closes)."""
    await asyncio.Event().wait()
    return "too late"
'''


@pytest.fixture
def in_memory() -> Iterator[None]:
    """The local provider's session in memory, its replies in tones (the test never listens to them)."""
    with embedded_in_memory(), replies_in_tones():
        yield


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def tone(path: Path, seconds: float = 0.6) -> Path:
    t = np.arange(int(24_000 * seconds)) / 24_000
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))
    return path


def echo_script(folder: Path) -> Path:
    tone(folder / "audio" / "tone.wav")
    return write(
        folder / "echo.toml",
        """
        title = "Echo check"
        provider = "local"
        [local]
        brain = "echo"
        speed = "max"
        [[turn]]
        wav = "audio/tone.wav"
        expect.reply_contains = "0.6 seconds of audio"
        [[turn]]
        text = "Testing, one, two."
        expect.reply_contains = "TESTING, ONE, TWO"
        """,
    )


def weather_script(folder: Path, *, tool: str = "get_weather", city: str = "Paris", timeout: str = "") -> Path:
    write(folder / "brain.toml", BRAIN.replace("get_weather", tool))
    write(folder / "tools.py", TOOLS)
    return write(
        folder / "weather.toml",
        f"""
        title = "Weather"
        [local]
        brain = "scripted"
        script = "brain.toml"
        speed = "max"
        [tools]
        modules = ["tools.py"]
        [[turn]]
        text = "How is the weather?"
        {timeout}
        expect.tool = "{tool}"
        expect.tool_arguments = {{ city = "{city}" }}
        expect.reply_contains = "sunny in {city}"
        [[turn]]
        text = "Thanks!"
        """,
    )


def test_text_and_wav_turns_pass_and_every_file_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["demo", str(echo_script(tmp_path)), "--output", str(out)])
    assert result.exit_code == 0, result.output + result.stderr
    assert "Echo check" in result.output and "2/2 turns passed" in result.output
    assert "You said: Testing, one, two." in result.output  # the transcript streamed to the screen
    assert f"Files in {out}/" in result.output

    report = json.loads((out / "report.json").read_text())
    assert (report["passed"], report["turns_run"], report["turns_passed"], report["error"]) == (True, 2, 2, None)
    first, second = report["turns"]
    assert (first["kind"], first["input_audio_s"], first["reply_audio"]) == ("wav", 0.6, "turn-01.wav")
    assert first["reply"].startswith("I heard 0.6 seconds of audio")  # what a tone sounds like is not asserted
    assert second["reply"] == "You said: Testing, one, two."
    for turn in report["turns"]:
        latency = turn["latency_ms"]
        assert 0 < latency["first_text"] <= latency["total"] and 0 < latency["first_audio"] <= latency["total"]
        assert latency["tools"] == 0
        assert [check["passed"] for check in turn["checks"]] == [True]
    assert report["first_audio_ms"]["p50"] > 0
    usage = report["usage"]  # the local server's estimate, priced as the model it stands in for
    assert usage["priced_as"] == "gpt-realtime" and usage["output_tokens"]["audio"] > 0
    assert 0 < usage["cost_usd"] == pytest.approx(sum(turn["usage"]["cost_usd"] for turn in report["turns"]))

    for number in (1, 2):
        audio, rate = soundfile.read(out / f"turn-0{number}.wav", dtype="int16")
        assert rate == 24_000 and audio.ndim == 1 and len(audio) > 24_000 * 0.5
    transcript = (out / "transcript.md").read_text()
    assert transcript.startswith("# Echo check\n")
    assert "**You:** [audio/tone.wav: 0.6 s of audio]" in transcript
    assert "**Assistant:** You said: Testing, one, two." in transcript
    assert "[turn-02.wav](turn-02.wav)" in transcript
    assert '✓ expect.reply_contains: a reply containing "TESTING, ONE, TWO" (any case)' in transcript


@pytest.mark.usefixtures("in_memory")
def test_tool_expectations_pass_with_the_default_output_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", str(weather_script(tmp_path))])
    assert result.exit_code == 0, result.output + result.stderr
    assert "-> tool get_weather(" in result.output
    report = json.loads((tmp_path / "demo-output" / "weather" / "report.json").read_text())
    turn = report["turns"][0]
    assert turn["tool_calls"][0]["arguments"] == {"city": "Paris", "unit": "C"}
    assert turn["tool_results"][0]["result"] == "sunny in Paris"
    assert turn["latency_ms"]["tools"] > 0
    assert turn["reply"] == "Let me check. Forecast: sunny in Paris"
    assert [check["name"] for check in turn["checks"]] == ["reply_contains", "tool", "tool_arguments"]


@pytest.mark.usefixtures("in_memory")
def test_a_failed_expectation_exits_1_and_says_expected_and_got(tmp_path: Path) -> None:
    script = weather_script(tmp_path, city="London")
    result = runner.invoke(app, ["demo", str(script), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "✗ expect.tool_arguments failed" in result.output
    assert 'expected  get_weather called with at least {"city": "London"}' in result.output
    assert 'got       get_weather({"city":"Paris","unit":"C"})' in result.output
    assert 'diff      city: expected "London", got "Paris"' in result.output
    assert "✗ expect.reply_contains failed" in result.output
    assert "✗ 1/2 turns passed" in result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["passed"] is False and report["turns_run"] == 2
    arguments_check = report["turns"][0]["checks"][2]
    assert arguments_check["detail"] == 'city: expected "London", got "Paris"'


@pytest.mark.usefixtures("in_memory")
def test_what_arrived_before_a_timeout_is_written_and_the_run_stops(tmp_path: Path) -> None:
    script = weather_script(tmp_path, tool="slow_weather", timeout="timeout_s = 1")
    out = tmp_path / "out"
    result = runner.invoke(app, ["demo", str(script), "-o", str(out)])
    assert result.exit_code == 1
    assert "no complete answer within 1 s" in result.output
    report = json.loads((out / "report.json").read_text())
    assert (report["turns_run"], report["turns_total"]) == (1, 2)
    assert report["turns"][0]["reply"] == "Let me check."
    assert report["turns"][0]["failed"] == "no complete answer within 1 s"
    assert (out / "turn-01.wav").is_file()
    transcript = (out / "transcript.md").read_text()
    assert "**Failed:** no complete answer within 1 s" in transcript and "_Not run: turn 2._" in transcript


def test_a_session_that_cannot_start_is_reported_and_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["demo", str(echo_script(tmp_path)), "--provider", "openai", "-o", str(out)])
    assert result.exit_code == 1
    assert "could not run: no API key for provider openai: set OPENAI_API_KEY" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["provider"] == "openai" and report["error"].startswith("no API key")


@pytest.mark.usefixtures("in_memory")
def test_stale_reply_files_of_an_earlier_run_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    tone(out / "turn-07.wav")
    (out / "notes.txt").write_text("mine")
    assert runner.invoke(app, ["demo", str(echo_script(tmp_path)), "-o", str(out)]).exit_code == 0
    assert sorted(path.name for path in out.iterdir()) == [
        "notes.txt",
        "report.json",
        "transcript.md",
        "turn-01.wav",
        "turn-02.wav",
    ]


BAD_SCRIPTS = [
    ("title = 'x'\n[[turn]\n", "not valid TOML"),
    ("colour = 'red'\n[[turn]]\ntext = 'hi'\n", "colour: unknown key"),
    ("title = 'no turns'\n", "turn: a script needs at least one [[turn]]"),
    ("[[turn]]\ntext = 'hi'\nwav = 'a.wav'\n", "turn 1: needs exactly one of text, wav or say (found text and wav)"),
    ("[[turn]]\ntext = 'hi'\n[[turn]]\nwav = 'missing.wav'\n", "turn 2: wav: no such file 'missing.wav'"),
    ("[[turn]]\ntext = 'hi'\nvoice = 'x'\n", "turn 1: voice: unknown key"),
    ("[[turn]]\ntext = 'hi'\nexpect.reply = 'x'\n", "turn 1: expect.reply: unknown key"),
    ("[[turn]]\ntext = 'hi'\nexpect.tool_arguments = 'x'\n", "turn 1: expect.tool_arguments: must be a table"),
    ("[[turn]]\ntext = 'hi'\ntimeout_s = -1\n", "turn 1: timeout_s: expected a positive number"),
    ("[session]\nvoize = 'x'\n[[turn]]\ntext = 'hi'\n", "session.voize: unknown key"),
    ("provider = 'pigeon'\n[[turn]]\ntext = 'hi'\n", "provider: 'pigeon' is not one of"),
    ("[tools]\nmodules = ['nope.py']\n[[turn]]\ntext = 'hi'\n", "tools.modules: no such file 'nope.py'"),
    ("[local]\nbrain = 'scripted'\nscript = 'nope.toml'\n[[turn]]\ntext = 'hi'\n", "local.script: no such file"),
    ("[local]\nbrain = 'scripted'\nscript = 'bad.toml'\n[[turn]]\ntext = 'hi'\n", "local.script: "),
    (
        "[local]\nbrain = 'chat'\nchat_url = 'http://127.0.0.1:9/v1'\nchat_api_key_env = 'VOICECLI_TEST_UNSET_KEY'\n"
        "[[turn]]\ntext = 'hi'\n",
        "local: local.chat_api_key_env names VOICECLI_TEST_UNSET_KEY, which is not set",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_SCRIPTS)
def test_a_bad_script_is_one_line_naming_file_and_key_and_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path / "bad.toml", "[[turn]]\nreply = 1\n")  # a broken brain script, for the last case
    script = write(tmp_path / "script.toml", text)
    result = runner.invoke(app, ["demo", str(script)])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"voicecli: error: {script}: ")
    assert expected in result.stderr
    assert not (tmp_path / "demo-output").exists()  # nothing ran


def test_a_missing_script_and_a_bad_provider_flag_are_one_line_too(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["demo", "nowhere.toml"])
    assert (missing.exit_code, missing.stderr) == (2, "voicecli: error: nowhere.toml: no such script file\n")
    flag = runner.invoke(app, ["demo", str(echo_script(tmp_path)), "--provider", "pigeon"])
    assert flag.exit_code == 2 and flag.stderr.startswith("voicecli: error: --provider: 'pigeon' is not one of")


def test_speech_without_espeak_names_the_package_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = write(tmp_path / "speak.toml", "[local]\nbrain = 'echo'\n[[turn]]\nsay = 'Hello there'\n")  # no probe
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = runner.invoke(app, ["demo", str(script)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert f"{script}: turn 1: say: " in result.stderr and "apt-get install espeak-ng" in result.stderr


def test_a_spoken_turn_is_heard_and_its_words_answered(tmp_path: Path) -> None:
    require_program("espeak-ng", "a spoken turn")
    script = write(
        tmp_path / "speak.toml",
        """
        [local]
        brain = 'echo'
        speed = 'max'
        [[turn]]
        say = 'What time is it in Tokyo?'
        expect.heard_contains = 'in tokyo'
        expect.reply_contains = 'You said: What time is it in Tokyo?'
        """,
    )
    result = runner.invoke(app, ["demo", str(script), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output + result.stderr
    assert "You: What time is it in Tokyo?" in result.output  # the server's transcript, on the screen
    turn = json.loads((tmp_path / "out" / "report.json").read_text())["turns"][0]
    assert turn["kind"] == "say" and turn["input_audio_s"] > 0.3
    assert turn["heard"] == "What time is it in Tokyo?"
    assert [(check["name"], check["passed"]) for check in turn["checks"]] == [
        ("heard_contains", True),
        ("reply_contains", True),
    ]
    assert "**Heard:** What time is it in Tokyo?" in (tmp_path / "out" / "transcript.md").read_text()


def test_a_spoken_turn_not_heard_as_expected_fails_with_a_diff(tmp_path: Path) -> None:
    require_program("espeak-ng", "a spoken turn")
    script = write(
        tmp_path / "speak.toml",
        "[local]\nbrain = 'echo'\nspeed = 'max'\n"
        "[[turn]]\nsay = 'Can you hear me?'\nexpect.heard_contains = 'hear me in Paris'\n",
    )
    result = runner.invoke(app, ["demo", str(script), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output + result.stderr
    assert "expect.heard_contains failed" in result.output
    assert 'expected  a transcript of what was said containing "hear me in Paris" (any case)' in result.output
    assert 'got       "Can you hear me?"' in result.output
    assert "diff      missing in, paris" in result.output


def test_heard_contains_on_a_typed_turn_is_a_script_error(tmp_path: Path) -> None:
    script = write(tmp_path / "typed.toml", "[[turn]]\ntext = 'hi'\nexpect.heard_contains = 'hi'\n")
    result = runner.invoke(app, ["demo", str(script)])
    assert result.exit_code == 2
    assert f"{script}: turn 1: expect.heard_contains: only a spoken turn (say or wav) has a transcript" in result.stderr


def test_script_settings_override_the_config_file_and_profile(tmp_path: Path) -> None:
    config = write(
        tmp_path / "config.toml",
        """
        provider = "openai"
        [session]
        voice = "file-voice"
        instructions = "file instructions"
        [profiles.work.session]
        instructions = "profile instructions"
        output = "text"
        """,
    )
    script = write(tmp_path / "s.toml", "provider = 'local'\n[session]\nvoice = 'script-voice'\n[[turn]]\ntext = 'x'\n")
    effective = script_config(load_script(script), config, "work")
    assert (effective.provider, effective.session.voice) == ("local", "script-voice")
    assert (effective.session.instructions, effective.session.output) == ("profile instructions", "text")
    assert script_config(load_script(script), config, None, provider="azure").provider == "azure"


def call(name: str, arguments: str) -> FunctionCallContent:
    return FunctionCallContent(name=name, arguments=arguments, call_id="call_1")


def test_tool_arguments_match_as_a_subset_and_explain_the_closest_call() -> None:
    expect = Expectation(tool="book", tool_arguments={"trip": {"to": "Rome"}, "seats": 2})
    calls = [call("other", '{"seats": 2}'), call("book", '{"trip": {"to": "Rome", "from": "Oslo"}, "seats": 2}')]
    assert [result.passed for result in check(expect, "", calls)] == [True, True]
    wrong = check(expect, "", [call("book", '{"trip": {"to": "Paris"}}')])[1]
    assert not wrong.passed
    assert wrong.detail == 'trip.to: expected "Rome", got "Paris"; seats: missing (expected 2)'
    assert check(expect, "", [call("book", "not json")])[1].detail == 'arguments: expected a table, got "not json"'
    assert check(expect, "", [])[1].got == "no tool calls"
