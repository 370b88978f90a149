"""The local server hears a person as late as the service does (`vad_delay_ms`) and leaves the
reply alone when the session says so (`interrupt_response: false`): the timing a client's own
barge-in is tested against."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_server_ws import RATE, appends, openai_peer, tone, user_text

from voicecli.config import load_config
from voicecli.conversation.providers import local_pacing
from voicecli.server import LocalServer, Pacing
from voicecli.server.session.input_audio import InputAudioBuffer, TurnEnded, TurnStarted

pytestmark = pytest.mark.timeout(30)

VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}


def turns_by_position(delay_ms: int) -> list[tuple[int, TurnStarted | TurnEnded]]:
    """Feed 1 s silence, 1 s tone, 1 s silence in 20 ms appends; each turn with the input position
    (ms) at which the buffer reported it."""
    buffer = InputAudioBuffer(VAD, vad_delay_ms=delay_ms)
    stream = np.concatenate([np.zeros(RATE, np.int16), tone(1.0), np.zeros(RATE, np.int16)]).tobytes()
    found: list[tuple[int, TurnStarted | TurnEnded]] = []
    for start in range(0, len(stream), 960):
        found += [((start + 960) // 48, turn) for turn in buffer.append(stream[start : start + 960])]
    return found


def test_the_vad_delay_holds_turns_back_without_moving_their_positions() -> None:
    prompt, late = turns_by_position(0), turns_by_position(300)
    assert [type(turn) for _, turn in late] == [TurnStarted, TurnEnded]
    for (heard_at, turn), (late_at, late_turn) in zip(prompt, late, strict=True):
        assert late_at - heard_at == 300
        assert type(turn) is type(late_turn)
    (_, started), (_, ended) = prompt
    (_, late_started), (_, late_ended) = late
    assert isinstance(started, TurnStarted) and isinstance(late_started, TurnStarted)
    assert late_started.audio_start_ms == started.audio_start_ms == 700
    assert isinstance(ended, TurnEnded) and isinstance(late_ended, TurnEnded)
    assert late_ended.audio_end_ms == ended.audio_end_ms == 2500
    assert late_ended.audio == ended.audio and len(ended.audio) == 1800 * 48  # nothing lost while held


def test_vad_delay_settings_and_refusals(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[local]\nvad_delay_ms = 300\n")
    assert local_pacing(load_config(config)) == Pacing(0.5, 4.0, 0.3)
    config.write_text('[local]\nvad_delay_ms = 300\nspeed = "max"\n')
    assert local_pacing(load_config(config)) == Pacing(0.0, None, 0.3)
    done = subprocess.run(
        [sys.executable, "-m", "voicecli", "serve", "--port", "0", "--vad-delay-ms", "-1"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("voicecli: error:") and "VAD delay must be 0 to 900 ms" in line


async def test_speech_leaves_the_reply_alone_when_interrupt_response_is_off() -> None:
    """The client decides (its own barge-in): the server reports the speech but keeps talking."""
    async with LocalServer(pacing=Pacing(0.5, 4.0, 0.3)) as server, openai_peer(server) as peer:
        await peer.expect("session.created")
        turn_detection = {**VAD, "interrupt_response": False, "create_response": False}
        session = {"type": "realtime", "audio": {"input": {"turn_detection": turn_detection}}}
        await peer.send({"type": "session.update", "session": session})
        await peer.expect("session.updated")
        await peer.send(user_text("a long answer, please, one that I will talk over"))
        await peer.send({"type": "response.create"})
        await peer.until("response.output_audio.delta")
        for append in appends(np.concatenate([tone(0.5), np.zeros(RATE, np.int16)])):
            await peer.send(append)
        events = await peer.until("response.done")
        kinds = [event["type"] for event in events]
        if "input_audio_buffer.speech_stopped" not in kinds:
            kinds += [event["type"] for event in await peer.until("input_audio_buffer.speech_stopped")]
    assert "input_audio_buffer.speech_started" in kinds
    assert events[-1]["response"]["status"] == "completed"
