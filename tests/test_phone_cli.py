"""`voicecli phone` as a user runs it: a real process, the local provider, a simulated ACS caller."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from support.cli import invoke
from support.phone import PhoneProcess, SimulatedAcsCall, phone_env, run_phone_command, speech
from support.phone import phone as phone  # fixture

pytestmark = pytest.mark.timeout(300)


SECRET = "c2VjcmV0LWFjY2Vzcy1rZXktbmV2ZXItcHJpbnRlZA=="


async def test_ctrl_c_stops_accepting_and_drains_the_call_in_progress(phone: PhoneProcess, tmp_path: Path) -> None:
    async with SimulatedAcsCall(f"{phone.base}/ws/first?caller=%2B15555550100") as call:
        await call.stream(speech(tmp_path, "Hello."))
        await call.silence_until(lambda: call.loud_audio_after(), "the first answer")
        phone.process.send_signal(signal.SIGINT)
        await phone.next_line(r"draining: no new calls; waiting for 1 call")
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session:
                await session.ws_connect(f"{phone.base}/ws/second")
        # The call in progress goes on: another turn is answered.
        answered = len(call.received)
        await call.stream(speech(tmp_path, "Are you still with me?"))
        await call.silence_until(lambda: call.loud_audio_after(call.received[answered - 1].at), "the second answer")
        assert phone.process.returncode is None
    code, out, err = await phone.finish()
    assert code == 0, err
    assert "voicecli phone: stopped" in out
    assert "call first: ended: the caller hung up" in err
    assert "Traceback" not in err


async def test_second_ctrl_c_ends_the_calls_at_once(phone: PhoneProcess, tmp_path: Path) -> None:
    async with SimulatedAcsCall(f"{phone.base}/ws/stuck") as call:
        await call.stream(speech(tmp_path, "Hello."))
        await call.silence_until(lambda: call.loud_audio_after(), "an answer (the call is in progress)")
        phone.process.send_signal(signal.SIGINT)
        await phone.next_line(r"draining: no new calls; waiting for 1 call")
        phone.process.send_signal(signal.SIGINT)
        await asyncio.wait_for(call.closed.wait(), 30)
    code, out, err = await phone.finish()
    assert code == 0, err
    assert "ending 1 call(s) now" in out
    assert "Traceback" not in err


async def test_a_connection_string_without_public_url_is_one_line_and_never_printed() -> None:
    code, out, err = await run_phone_command(
        "--port", "0", env=phone_env(ACS_CONNECTION_STRING=f"endpoint=https://x.example/;accesskey={SECRET}")
    )
    assert code == 2
    assert err.strip() == (
        "voicecli: error: ACS_CONNECTION_STRING is set: --public-url is needed so ACS can reach this bridge"
    )
    assert SECRET not in out + err


async def test_a_malformed_connection_string_is_refused_without_showing_it() -> None:
    code, out, err = await run_phone_command(
        "--port", "0", "--public-url", "https://bridge.example", env=phone_env(ACS_CONNECTION_STRING=f"garbage{SECRET}")
    )
    assert code == 2
    assert "ACS_CONNECTION_STRING is not a valid connection string" in err
    assert len(err.strip().splitlines()) == 1
    assert SECRET not in out + err


def phone_in_process(*args: str, **env: str) -> tuple[int, str, str]:
    """`voicecli phone ARGS` through CliRunner, for what it refuses before it listens (a real
    process's refusals, exit status and unprinted secrets are checked by the subprocess tests)."""
    unset: dict[str, str | None] = {"ACS_CONNECTION_STRING": None, "VOICECLI_PROVIDER": None}
    done = invoke("phone", *args, env={**unset, "XDG_CONFIG_HOME": "/nonexistent", **env})
    return done.returncode, done.stdout, done.stderr


def test_a_bad_public_url_is_one_line() -> None:
    code, _, err = phone_in_process("--port", "0", "--public-url", "bridge.example")
    assert code == 2
    assert err.strip().startswith("voicecli: error: --public-url 'bridge.example': expected https://")


def test_a_provider_without_a_key_fails_at_startup_in_one_line() -> None:
    code, out, err = phone_in_process("--port", "0", "--provider", "openai")
    assert code == 1
    assert err.strip() == "voicecli: error: no API key for provider openai: set OPENAI_API_KEY"
    assert "listening" not in out


async def test_a_provider_that_cannot_work_fails_at_startup_in_one_line() -> None:
    env = {key: value for key, value in phone_env().items() if key != "OPENAI_API_KEY"}
    code, out, err = await run_phone_command(
        "--port",
        "0",
        "--provider",
        "openai",
        env={**env, "OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
    )
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and err.startswith("voicecli: error: ")
    assert "listening" not in out


async def test_local_test_mode_is_said_at_start(phone: PhoneProcess) -> None:
    line = await phone.next_line(r"local test mode")
    assert "without ACS's signature are accepted, because this bridge listens on loopback only" in line


def _config_file(tmp_path: Path, phone_table: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f"[phone]\n{phone_table}\n")
    return str(path)


async def test_with_acs_the_resource_id_and_the_webhook_secret_are_required_in_one_line(tmp_path: Path) -> None:
    acs = f"endpoint=https://x.example/;accesskey={SECRET}"
    args = ("--port", "0", "--public-url", "https://bridge.example")
    code, out, err = await run_phone_command(*args, env=phone_env(ACS_CONNECTION_STRING=acs))
    assert (code, err.strip()) == (
        2,
        "voicecli: error: ACS_CONNECTION_STRING is set: [phone] acs_resource_id is needed to check that calls "
        "come from ACS",
    )
    config = _config_file(tmp_path, 'acs_resource_id = "00000000-1111-2222-3333-444444444444"')
    short_secret = "tooshort"
    code, out, err = await run_phone_command(
        *args, "--config", config, env=phone_env(ACS_CONNECTION_STRING=acs, ACS_WEBHOOK_SECRET=short_secret)
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "ACS_WEBHOOK_SECRET must hold the Event Grid webhook's secret (at least 16 characters)" in err
    assert SECRET not in out + err and short_secret not in out + err


def test_off_loopback_without_acs_tokens_nothing_starts() -> None:
    code, out, err = phone_in_process("--host", "0.0.0.0", "--port", "0")
    assert code == 2
    assert err.strip() == (
        "voicecli: error: listening on 0.0.0.0 needs [phone] acs_resource_id, so that only ACS gets in; "
        "unsigned test calls are taken on loopback (127.0.0.1) only"
    )
    assert "listening on http" not in out


def test_limits_must_be_positive(tmp_path: Path) -> None:
    code, _, err = phone_in_process("--port", "0", "--config", _config_file(tmp_path, "max_calls = 0"))
    assert (code, err.strip()) == (
        2,
        "voicecli: error: [phone] max_calls, idle_timeout_s and max_call_s must be above 0",
    )


def test_each_call_reconnects_as_talk_does() -> None:
    from voicecli.commands.phone import phone_client_factory
    from voicecli.config.app_config import AppConfig, SessionConfig
    from voicecli.phone.calls import CallRecord

    client = phone_client_factory(AppConfig(session=SessionConfig(reconnect_tries=3)))(CallRecord("c"), [])
    assert client.continuity is not None and client.continuity.attempts == 3
    assert (
        phone_client_factory(AppConfig(session=SessionConfig(reconnect_tries=0)))(CallRecord("c"), []).continuity
        is None
    )


async def test_with_acs_it_says_where_acs_reaches_it_and_never_prints_the_secrets(tmp_path: Path) -> None:
    webhook_secret = "a-webhook-secret-never-printed-0123"
    env = phone_env(
        ACS_CONNECTION_STRING=f"endpoint=https://x.example/;accesskey={SECRET}", ACS_WEBHOOK_SECRET=webhook_secret
    )
    config = _config_file(tmp_path, 'acs_resource_id = "00000000-1111-2222-3333-444444444444"')
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "voicecli", "phone", "--port", "0", "--public-url", "https://bridge.example", "--config", config),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    running = PhoneProcess(process, "", [])
    line = await running.next_line(r"Event Grid webhook")
    assert line == (
        "voicecli phone: Event Grid webhook https://bridge.example/api/incomingCall?secret=<ACS_WEBHOOK_SECRET>, "
        "media wss://bridge.example/ws/<call token>; only requests signed by ACS get in"
    )
    process.send_signal(signal.SIGINT)
    code, out, err = await running.finish()
    assert code == 0, err
    assert webhook_secret not in out + err and SECRET not in out + err
