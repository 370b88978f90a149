"""`voicecli talk` in file mode, run as a user would: a real process, real files, real sockets."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
import soxr
from support.cli import invoke, unpaced_home
from support.system_tools import require_program

pytestmark = pytest.mark.timeout(60)


def voicecli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    # The echo brain unless a test says otherwise: `auto` would ask a local chat model if one runs
    # here, and its echo explains itself for seconds of reply audio. No developer config: an
    # unpaced local server instead (tests/support/unpaced_home).
    environment["VOICECLI_BRAIN"] = "echo"
    environment["XDG_CONFIG_HOME"] = str(unpaced_home())
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "voicecli", *args],
        capture_output=True,
        text=True,
        timeout=45,
        env=environment,
        cwd=cwd,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("voicecli: error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr


def test_typed_turn_prints_transcript_and_writes_reply(tmp_path: Path) -> None:
    reply = tmp_path / "reply.wav"
    result = voicecli("talk", "--text", "hello from the test", "--output-file", str(reply))
    assert result.returncode == 0, result.stderr
    assert "You: hello from the test" in result.stdout
    assert "Assistant: You said: hello from the test" in result.stdout
    info = soundfile.info(reply)
    assert (info.samplerate, info.channels) == (24_000, 1)
    assert info.duration > 0.5
    audio, _ = soundfile.read(reply, dtype="int16")
    assert np.abs(audio).max() > 1000
    assert f"written to {reply}" in result.stderr


def test_audio_file_of_any_rate_and_channels_is_one_spoken_turn(tmp_path: Path) -> None:
    question = tmp_path / "question.wav"
    t = np.arange(int(44_100 * 1.5)) / 44_100
    stereo = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], axis=1) * 0.4
    soundfile.write(question, stereo, 44_100, subtype="FLOAT")
    result = voicecli("talk", "-i", str(question), "-o", str(tmp_path / "reply.wav"))
    assert result.returncode == 0, result.stderr
    assert "[question.wav: 1.5 s of audio]" in result.stdout
    assert "Assistant: I heard 1.5 seconds of audio" in result.stdout  # all of it arrived, whatever it sounds like
    assert soundfile.info(tmp_path / "reply.wav").duration > 0.5


def spoken(path: Path, text: str, rate: int) -> Path:
    """`text` spoken by espeak-ng (slowly), written as a WAV file at `rate`."""
    require_program("espeak-ng", "a spoken question")
    raw = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(raw), text], check=True)
    samples, espeak_rate = soundfile.read(raw, dtype="float32")
    soundfile.write(path, soxr.resample(samples, espeak_rate, rate), rate)
    return path


def test_spoken_question_is_recognised_and_the_answer_uses_its_words(tmp_path: Path) -> None:
    question = spoken(tmp_path / "question.wav", "What time is it in Tokyo?", 16_000)
    result = voicecli("talk", "-i", str(question))
    assert result.returncode == 0, result.stderr
    heard = re.findall(r"^You: (?!\[)(.+)$", result.stdout, re.MULTILINE)  # the server's transcript
    assert len(heard) == 1 and "tokyo" in heard[0].lower(), result.stdout  # free-form: the words it knows
    assert re.search(
        rf"Assistant: I heard \d\.\d seconds of audio\. You said: {re.escape(heard[0])}$", result.stdout, re.M
    )


def test_spoken_question_answered_by_the_matching_scripted_turn(tmp_path: Path) -> None:
    question = spoken(tmp_path / "question.wav", "What is the weather like in Paris today?", 44_100)
    result = voicecli("talk", "-i", str(question), "--brain", "scripted")  # the bundled weather script
    assert result.returncode == 0, result.stderr
    assert "You: What is the weather like in Paris today?" in result.stdout  # one of the script's examples
    assert "Assistant: Let me check the weather in Paris." in result.stdout


def test_event_log_has_both_directions_and_no_audio_payloads(tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    result = voicecli("talk", "--text", "log me", "--json-events", str(log))
    assert result.returncode == 0, result.stderr
    lines = log.read_text().splitlines()
    assert any('"dir":"out"' in line and "session.update" in line for line in lines)
    assert any('"dir":"in"' in line and "response.done" in line for line in lines)
    audio_lines = [line for line in lines if "response.output_audio.delta" in line]
    assert audio_lines and all(re.search(r'"delta":"<audio: \d+ bytes>"', line) for line in audio_lines)


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["talk", "-i", "does-not-exist.wav"], 2, "does-not-exist.wav: no such file"),
        (["talk", "--provider", "nowhere", "--text", "x"], 2, "'nowhere' is not one of local, openai, azure"),
        (["talk", "--provider", "openai", "--text", "x"], 1, "no API key for provider openai: set OPENAI_API_KEY"),
        (
            ["talk", "--provider", "azure", "--text", "x"],
            1,
            "no Azure endpoint: set AZURE_OPENAI_ENDPOINT, or endpoint in the [azure] table of the config file",
        ),
        (["talk", "--config", "missing.toml", "--text", "x"], 2, "missing.toml: no such configuration file"),
        (["talk", "--text", ""], 2, "--text is empty"),
        (["talk", "--text", " \n\t"], 2, "--text is empty"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(args: list[str], code: int, fragment: str, tmp_path: Path) -> None:
    """In process: the CLI's checks end before any connection (the real process's exit status is
    checked by `test_bad_config_file_names_file_and_key` and the unreachable-session test)."""
    assert_one_line_error(invoke(*args, cwd=tmp_path), code, fragment)


def test_a_turn_whose_session_cannot_open_prints_no_transcript(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'provider = "openai"\n[openai]\nbase_url = "http://127.0.0.1:{free_port()}/v1"\n')
    result = voicecli("talk", "-c", str(config), "--text", "never sent", env={"OPENAI_API_KEY": "k"})
    assert_one_line_error(result, 1, "cannot reach the realtime service at")
    assert result.stdout == ""


def test_azure_without_a_deployment_names_every_way_to_set_one(tmp_path: Path) -> None:
    endpoint = {"AZURE_OPENAI_ENDPOINT": "https://example.openai.azure.com", "AZURE_OPENAI_API_KEY": "k"}
    assert_one_line_error(
        invoke("talk", "--provider", "azure", "--text", "x", env=endpoint, cwd=tmp_path),
        1,
        "no Azure deployment: set AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME, pass --deployment, "
        "or set deployment in the [azure] table of the config file",
    )


def test_unreadable_audio_file_is_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wav"
    bogus.write_text("this is not audio")
    assert_one_line_error(invoke("talk", "-i", str(bogus)), 1, "notes.wav")


def test_bad_config_file_names_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[session]\nvoice = 3\n")
    assert_one_line_error(voicecli("talk", "-c", str(config), "--text", "x"), 2, f"{config}: session.voice")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """`voicecli serve` in its own process; yields its http:// base address. Its echo brain answers
    (not `auto`'s chat model or self-explaining echo), unpaced: what is checked is what is said."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "voicecli", "serve", "--port", str(port), "--brain", "echo", "--speed", "max"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("voicecli serve did not start listening")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def test_openai_provider_against_served_local_server(served: str) -> None:
    secret = "sk-test-secret-never-printed"
    result = voicecli(
        "talk",
        "--provider",
        "openai",
        "--text",
        "over http",
        env={"OPENAI_BASE_URL": f"{served}/v1", "OPENAI_API_KEY": secret},
    )
    assert result.returncode == 0, result.stderr
    assert "You said: over http" in result.stdout
    assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize("api_version", ["", "2025-04-01-preview"])
def test_azure_provider_against_served_local_server(served: str, api_version: str, tmp_path: Path) -> None:
    env = {
        "AZURE_OPENAI_ENDPOINT": served,
        "AZURE_OPENAI_API_KEY": "azure-secret",
        "AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME": "gpt-realtime",
    }
    if api_version:
        env["AZURE_OPENAI_API_VERSION"] = api_version
    else:
        env["OPENAI_API_VERSION"] = "2024-10-21"  # exported for chat completions: never a realtime route
    log_file = tmp_path / "voicecli.log"
    result = voicecli("talk", "--provider", "azure", "--text", "via azure", "--log-file", str(log_file), env=env)
    assert result.returncode == 0, result.stderr
    assert "You said: via azure" in result.stdout
    ws_root = served.replace("http://", "ws://")
    if api_version:
        route = (
            f"preview route (beta shape): {ws_root}/openai/realtime?api-version={api_version}&deployment=gpt-realtime"
        )
    else:
        route = f"GA route: {ws_root}/openai/v1/realtime?model=gpt-realtime"
    assert f"Azure realtime over WebSocket: {route}" in log_file.read_text(encoding="utf-8")
    shown = voicecli("config", "show", env=env)
    assert f"# route: {route}" in shown.stdout
