"""`voicecli talk` in file mode, run as a user would, against a hostile service on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import orjson
import pytest
import soundfile
from support.hostile_service import (
    HostileService,
    audio_delta,
    events_until,
    hostile_service,
    response_started,
    session_created,
)
from websockets.asyncio.server import ServerConnection

pytestmark = pytest.mark.timeout(60)
RATE = 24_000


async def talk(service: HostileService, tmp_path: Path, *args: str, config: str = "") -> tuple[int, str, str]:
    """Run `voicecli talk --provider openai` against `service`; return exit code, stdout, stderr."""
    config_file = tmp_path / "config.toml"
    config_file.write_text(config)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "VOICECLI_"))}
    environment |= {"OPENAI_API_KEY": "sk-test-0123456789", "OPENAI_BASE_URL": f"{service.http_url}/v1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voicecli",
        "talk",
        "--provider",
        "openai",
        "--config",
        str(config_file),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=45)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_audio_received_before_the_service_died_for_good_is_written_and_called_partial(tmp_path: Path) -> None:
    async def speak_then_die(connection: ServerConnection) -> None:
        if service.connections > 1:  # the service is gone: every reconnect is refused
            await connection.close(1011, "down")
            return
        await connection.send(session_created())
        await events_until(connection, "response.create")
        for frame in response_started():
            await connection.send(frame)
        for _ in range(8):  # 0.8 s of reply audio
            await connection.send(audio_delta(RATE // 10))
        await connection.close(1011, "internal error")

    reply = tmp_path / "r.wav"
    async with hostile_service(speak_then_die) as service:
        code, _, err = await talk(
            service, tmp_path, "--text", "hi", "-o", str(reply), config="[session]\nreconnect_tries = 1\n"
        )
    assert code == 1, err
    assert "Traceback" not in err
    assert "0.80 s written" in err and "partial" in err, err
    assert soundfile.info(reply).duration == pytest.approx(0.8, abs=0.01)


async def test_escape_sequences_from_the_service_never_reach_the_terminal(tmp_path: Path) -> None:
    hostile = "\x1b]0;pwned\x07\x1b[2Jgotcha"

    async def escape(connection: ServerConnection) -> None:
        await connection.send(session_created())
        await events_until(connection, "response.create")
        for frame in response_started():
            await connection.send(frame)
        transcript = {"type": "response.output_audio_transcript.delta", "event_id": "e4", "response_id": "resp_1"}
        transcript |= {"item_id": "item_a", "output_index": 0, "content_index": 0, "delta": hostile}
        await connection.send(orjson.dumps(transcript))
        error = {"type": "error", "event_id": "e5", "error": {"type": "server_error", "message": hostile}}
        await connection.send(orjson.dumps(error))
        done = {"type": "response.done", "event_id": "e6", "response": {"id": "resp_1", "status": "completed"}}
        await connection.send(orjson.dumps(done | {"response": done["response"] | {"output": []}}))
        await connection.wait_closed()

    async with hostile_service(escape) as service:
        code, out, err = await talk(service, tmp_path, "--text", "hi")
    assert code == 0, err
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "\\x1b]0;pwned\\x07\\x1b[2Jgotcha" in out
