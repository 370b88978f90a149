"""The Semantic Kernel sample this product was specified from runs as written against voicecli.

Only the import lines differ from the specification document; `audio_player` is the sample's own
"undefined audio player", supplied here. The sample loops forever, as written, so the test watches
its output and stops it once the conversation has visibly happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Callable

import numpy as np
import pytest

from voicecli.server import LocalServer

WEBSOCKET_SAMPLE = """
from voicecli.realtime import (
    AzureRealtimeWebsocket,
    AzureRealtimeExecutionSettings,
    ListenEvents,
)
from voicecli.realtime import RealtimeAudioEvent, RealtimeTextEvent

# this will use environment variables to get the api key, endpoint, api version and deployment name.
realtime_client = AzureRealtimeWebsocket()
settings = AzureRealtimeExecutionSettings(voice='alloy')
async with realtime_client(settings=settings, create_response=True):
    async for event in realtime_client.receive():
        match event:
            # receiving a piece of audio (and send it to a undefined audio player)
            case RealtimeAudioEvent():
                await audio_player.add_audio(event.audio)
            # receiving a piece of audio transcript
            case RealtimeTextEvent():
                # Semantic Kernel parses the transcript to a TextContent object captured in a RealtimeTextEvent
                print(event.text.text, end="")
            case _:
                # OpenAI Specific events
                if event.service_type == ListenEvents.SESSION_UPDATED:
                    print("Session updated")
                if event.service_type == ListenEvents.RESPONSE_CREATED:
                    print("\\nMosscap (transcript): ", end="")
"""


def greeting_finished(output: str) -> bool:
    """The model's first words were printed in full (the echo brain's greeting ends with a period)."""
    _, _, transcript = output.partition("Mosscap (transcript): ")
    return transcript.rstrip().endswith(".")


class CollectingPlayer:
    def __init__(self) -> None:
        self.samples = 0

    async def add_audio(self, audio: object) -> None:
        self.samples += len(audio.data)  # type: ignore[attr-defined]
        assert audio.data.dtype == np.int16  # type: ignore[attr-defined]


async def run_sample_until(
    source: str, namespace: dict[str, object], done: Callable[[str], bool], timeout: float = 25.0
) -> str:
    """Run top-level-await sample code as a task; return its stdout once `done(stdout)` holds.

    The `timeout` guards against hanging: the WebRTC samples hear a 5-second greeting in real time,
    and a loaded 2-core machine has taken 11 s for it."""
    body = "\n".join("    " + line for line in source.strip().splitlines())
    exec(compile(f"async def __sample():\n{body}\n", "<sample>", "exec"), namespace)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        task = asyncio.ensure_future(namespace["__sample"]())  # type: ignore[operator]
        try:
            async with asyncio.timeout(timeout):
                while not done(output.getvalue()):
                    if task.done():
                        task.result()
                        break
                    await asyncio.sleep(0.02)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return output.getvalue()


@pytest.mark.parametrize("api_version", [None, "2025-04-01-preview"])
async def test_azure_websocket_sample_runs_as_written(
    echo_server: LocalServer, monkeypatch: pytest.MonkeyPatch, api_version: str | None
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", echo_server.http_url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "sample-key")
    monkeypatch.setenv("AZURE_OPENAI_REALTIME_DEPLOYMENT_NAME", "gpt-realtime")
    monkeypatch.delenv("OPENAI_API_VERSION", raising=False)
    if api_version:
        monkeypatch.setenv("AZURE_OPENAI_API_VERSION", api_version)
    else:
        monkeypatch.delenv("AZURE_OPENAI_API_VERSION", raising=False)
    player = CollectingPlayer()
    output = await run_sample_until(WEBSOCKET_SAMPLE, {"audio_player": player}, done=greeting_finished)
    assert "Session updated" in output
    assert "Mosscap (transcript): " in output
    assert player.samples > 0
