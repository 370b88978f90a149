"""GPT-Live from the command line (chosen by the model name or the protocol setting) and the seed's
sample with the GPT-Live client class in place of the realtime one."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile
from test_cli_talk_files import served, voicecli  # noqa: F401  (`served` is a fixture)
from test_seed_samples import WEBSOCKET_SAMPLE, CollectingPlayer, run_sample_until

from voicecli.realtime.events import SAMPLE_RATE
from voicecli.server import LocalServer, synth

pytestmark = pytest.mark.timeout(90)


def test_talk_to_gpt_live_on_openai_by_model_name(served: str) -> None:  # noqa: F811
    secret = "sk-live-secret-never-printed"
    env = {"OPENAI_BASE_URL": f"{served}/v1", "OPENAI_API_KEY": secret}
    result = voicecli("talk", "--provider", "openai", "--model", "gpt-live-1", "--text", "over live", env=env)
    assert result.returncode == 0, result.stderr
    assert "You said: over live" in result.stdout
    assert secret not in result.stdout + result.stderr


def test_talk_to_gpt_live_on_azure_by_deployment_name(served: str) -> None:  # noqa: F811
    env = {
        "AZURE_OPENAI_ENDPOINT": served,
        "AZURE_OPENAI_API_KEY": "azure-secret",
        "AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME": "gpt-live-1",
        "AZURE_OPENAI_API_VERSION": "2025-04-01-preview",  # for the Realtime preview route: not used by GPT-Live
    }
    result = voicecli("talk", "--provider", "azure", "--text", "via azure live", env=env)
    assert result.returncode == 0, result.stderr
    assert "You said: via azure live" in result.stdout
    shown = voicecli("config", "show", env=env)
    route = served.replace("http://", "ws://") + "/openai/v1/live/sessions"
    assert f"# route: GPT-Live route: {route}" in shown.stdout


def test_a_spoken_file_turn_over_gpt_live_is_heard_by_the_models_vad(served: str, tmp_path: Path) -> None:  # noqa: F811
    speech = tmp_path / "hello.wav"
    soundfile.write(speech, synth.speak("hello there"), SAMPLE_RATE, subtype="PCM_16")
    env = {"OPENAI_BASE_URL": f"{served}/v1", "OPENAI_API_KEY": "k", "VOICECLI_PROTOCOL": "live"}
    result = voicecli("talk", "--provider", "openai", "-i", str(speech), "-o", str(tmp_path / "reply.wav"), env=env)
    assert result.returncode == 0, result.stderr
    assert "I heard" in result.stdout  # the echo brain heard the speech the client streamed
    assert (tmp_path / "reply.wav").exists()


def test_the_embedded_default_speaks_gpt_live_by_the_protocol_setting() -> None:
    result = voicecli("talk", "--text", "embedded live", env={"VOICECLI_PROTOCOL": "live"})
    assert result.returncode == 0, result.stderr
    assert "You said: embedded live" in result.stdout


def test_talk_to_gpt_live_over_webrtc_on_a_served_local_server(served: str) -> None:  # noqa: F811
    env = {"OPENAI_BASE_URL": f"{served}/v1", "OPENAI_API_KEY": "k"}
    args = ("talk", "--provider", "openai", "--model", "gpt-live-1", "--transport", "webrtc", "--text", "over rtc")
    result = voicecli(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "You said: over rtc" in result.stdout


def test_talk_to_gpt_live_over_webrtc_on_azure_by_deployment_name(served: str) -> None:  # noqa: F811
    env = {
        "AZURE_OPENAI_ENDPOINT": served,
        "AZURE_OPENAI_API_KEY": "k",
        "AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME": "gpt-live-1",
    }
    result = voicecli("talk", "--provider", "azure", "--transport", "webrtc", "--text", "azure rtc", env=env)
    assert result.returncode == 0, result.stderr
    assert "You said: azure rtc" in result.stdout
    shown = voicecli("config", "show", env={**env, "VOICECLI_TRANSPORT": "webrtc"})
    assert f"# route: GPT-Live over WebRTC route: {served}/openai/v1/live/sessions" in shown.stdout


async def test_seed_sample_runs_with_the_gpt_live_client_class(
    echo_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", echo_server.http_url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "sample-key")
    monkeypatch.setenv("AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME", "gpt-live-1")
    sample = WEBSOCKET_SAMPLE.replace("AzureRealtimeWebsocket", "AzureLiveWebsocket")
    assert sample != WEBSOCKET_SAMPLE
    player = CollectingPlayer()
    output = await run_sample_until(sample, {"audio_player": player}, done=lambda text: text.rstrip().endswith("."))
    assert "Hello! I am the local echo assistant" in output  # the model spoke first, as create_response asked
    assert player.samples > 0


def test_a_delegated_tool_call_from_the_command_line_runs_our_tools_and_is_spoken() -> None:
    weather = str(Path(__file__).resolve().parents[1] / "examples" / "tools" / "weather.py")
    result = voicecli(
        "talk", "--brain", "scripted", "--tools", weather, "--text", "What is the weather like?",
        env={"VOICECLI_PROTOCOL": "live"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "get_weather" in result.stdout  # shown like any tool call
    assert "Here is the weather in Paris: In Paris it is sunny and 21 degrees." in result.stdout


def test_hosted_delegation_from_the_command_line_is_shown_like_a_tool_call_and_runs_none_of_ours() -> None:
    """`--delegation responses`: the hosted backend (the local server's stand-in) does the work; the
    screen shows it as tool calls; our --tools are not run."""
    weather = str(Path(__file__).resolve().parents[1] / "examples" / "tools" / "weather.py")
    result = voicecli(
        "talk", "--brain", "scripted", "--tools", weather, "--delegation", "responses",
        "--text", "What is the weather like?", env={"VOICECLI_PROTOCOL": "live"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "responses" in result.stdout and "get_weather" in result.stdout  # the delegation and the backend's call
    assert "the local server does not run hosted tools" in result.stdout  # the stand-in says it ran nothing
    assert "sunny and 21 degrees" not in result.stdout  # our weather tool did not run
