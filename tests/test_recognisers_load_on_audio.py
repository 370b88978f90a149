"""The local server loads its recognisers when a session's first audio arrives, not when it starts.

A session that only types never needs Whisper: loading it at every start cost each `voicecli talk
--text` run with the embedded server about a second of CPU, and the run waited for the load to end
before it could exit. Sessions driven directly (no socket) except the start itself.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from support.server_session import session_peer

from voicecli.server import UNPACED, LocalServer, recognition, recognition_whisper
from voicecli.server.brains import EchoBrain
from voicecli.server.live.session import LiveServerSession


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What was asked to load, in order: "recognisers" (Whisper and, for phrases, pocketsphinx) or "whisper"."""
    asked: list[str] = []
    monkeypatch.setattr(recognition, "warm_up", lambda **_: asked.append("recognisers") or [])
    monkeypatch.setattr(recognition_whisper, "warm_up", lambda: asked.append("whisper"))
    return asked


def tone_append(ms: int) -> str:
    pcm = (np.sin(np.arange(24 * ms) * 2 * np.pi * 300 / 24_000) * 8000).astype("<i2")
    return base64.b64encode(pcm.tobytes()).decode()


async def test_a_started_server_has_loaded_no_recogniser(loads: list[str]) -> None:
    async with LocalServer(pacing=UNPACED):
        pass
    assert loads == []


async def test_a_typed_turn_loads_none_and_the_first_audio_loads_them_once(loads: list[str]) -> None:
    async with session_peer(LocalServer(pacing=UNPACED).config) as peer:
        await peer.expect("session.created")
        await peer.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
        await peer.expect("session.updated")
        typed = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}
        await peer.send({"type": "conversation.item.create", "item": typed})
        await peer.send({"type": "response.create"})
        await peer.until("response.done")
        assert loads == []
        for _ in range(3):
            await peer.send({"type": "input_audio_buffer.append", "audio": tone_append(20)})
    assert loads == ["recognisers"]


async def test_a_gpt_live_session_loads_them_at_its_first_audio() -> None:
    sent: list[dict[str, Any]] = []

    async def send(event: dict[str, Any]) -> None:
        sent.append(event)

    asked: list[bool] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recognition, "warm_up", lambda grammar=True: asked.append(grammar) or [])
        session = LiveServerSession(send, brain=EchoBrain())
        await session.handle({"type": "session.start", "session": {"model": "gpt-live-1"}})
        assert asked == []
        for _ in range(3):
            await session.handle({"type": "session.input_audio.append", "audio": tone_append(20)})
        await session.stop()
    assert asked == [bool(EchoBrain().phrases)]
