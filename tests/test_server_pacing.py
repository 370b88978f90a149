"""The local server's pacing (first audio, then faster than real time), its settings, and what
`serve --verbose` says about refused client events; the session's side in memory (`SessionPeer`,
the pacing on a virtual clock)."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from support.server_session import session_peer
from support.session_transport import in_tones  # noqa: F401  (a fixture)
from support.virtual_pacing import PacingClock, VirtualPacing
from test_server_truncate import truncate
from test_server_ws import user_text

from voicecli.config import AppConfig, ConfigError, load_config
from voicecli.conversation.providers import local_pacing
from voicecli.server import DEFAULT_PACING, UNPACED, LocalServer, Pacing
from voicecli.server.session.pacing import parse_speed, serve_pacing

pytestmark = pytest.mark.timeout(30)


def test_output_is_due_after_the_first_audio_delay_then_at_the_speed() -> None:
    pacing = Pacing(first_audio_s=0.5, speed=4.0)
    assert pacing.due(0.0) == 0.5
    assert pacing.due(10.0) == 3.0  # ten seconds of speech take 2.5 s after the first audio
    assert UNPACED.due(60.0) == 0.0
    assert Pacing(0.5, 4.0) == DEFAULT_PACING


@pytest.mark.parametrize(("given", "speed"), [("max", None), ("MAX", None), ("4", 4.0), ("2.5", 2.5), (3, 3.0)])
def test_speed_is_a_number_or_max(given: str | float, speed: float | None) -> None:
    assert parse_speed(given) == speed


@pytest.mark.parametrize("given", ["fast", "0", "-1", "nan", "inf", ""])
def test_a_speed_that_makes_no_sense_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="speed"):
        parse_speed(given)


def test_serve_pacing_and_its_refusals() -> None:
    assert serve_pacing(300, "2") == Pacing(0.3, 2.0)
    assert serve_pacing(300, "max") == UNPACED
    with pytest.raises(ValueError, match="first-audio delay must be 0 ms or more"):
        serve_pacing(-1, "4")


def test_local_section_sets_the_embedded_servers_pacing(tmp_path: Path) -> None:
    assert local_pacing(AppConfig()) == DEFAULT_PACING  # `voicecli talk` without a key: paced like `serve`
    config = tmp_path / "config.toml"
    config.write_text("[local]\nfirst_audio_ms = 250\nspeed = 3\n")
    assert local_pacing(load_config(config)) == Pacing(0.25, 3.0)
    config.write_text('[local]\nspeed = "max"\n')
    assert local_pacing(load_config(config)) == UNPACED
    assert local_pacing(load_config(tmp_path / "config.toml", overrides={"local.speed": 2.0})) == Pacing(0.5, 2.0)
    config.write_text('[local]\nspeed = "fast"\n')
    with pytest.raises(ConfigError, match=r"local\.speed: expected a number or 'max', got 'fast'"):
        load_config(config)
    config.write_text("[local]\nfirst_audio_ms = -5\n")
    with pytest.raises(ConfigError, match=r"\[local\]: the first-audio delay must be 0 ms or more"):
        local_pacing(load_config(config))


@pytest.mark.parametrize(
    ("flags", "says"),
    [(["--speed", "fast"], "speed 'fast' is neither a number nor 'max'"), (["--first-audio-ms", "-1"], "0 ms or more")],
)
def test_serve_refuses_bad_pacing_flags_in_one_line(flags: list[str], says: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "voicecli", "serve", "--port", "0", *flags],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("voicecli: error:") and says in line


@pytest.mark.usefixtures("in_tones")  # what is due is counted in audio; its sound is not the point
async def test_the_default_server_keeps_a_reply_in_flight_after_its_first_audio() -> None:
    """The service's replies are on the wire for seconds, which is when clients interrupt them. The
    default pacing on a virtual clock: what went out by a given time, whatever the machine's load."""
    assert LocalServer().config.pacing == DEFAULT_PACING
    clock = PacingClock()
    pacing = VirtualPacing(DEFAULT_PACING.first_audio_s, DEFAULT_PACING.speed, clock=clock)
    long_text = "please repeat this rather long sentence so that the reply keeps talking for a while " * 4
    async with session_peer(LocalServer(pacing=pacing).config) as peer:
        await peer.expect("session.created")
        await peer.send(user_text(long_text))  # ~40 s of speech: at 4x real time, 10 s on the wire
        await peer.send({"type": "response.create"})
        await clock.advance(0.5)  # the first audio is due half a second after response.create
        first = (await peer.until("response.output_audio.delta"))[-1]
        await clock.advance(1.0)  # a second later: 4 s of speech generated
        await peer.send({"type": "response.cancel"})
        events = await peer.until("response.done")
    audio = [first, *(event for event in events if event["type"] == "response.output_audio.delta")]
    heard_ms = sum(len(base64.b64decode(event["delta"])) for event in audio) // 48
    assert events[-1]["response"]["status"] == "cancelled" and "error" not in [e["type"] for e in events]
    assert 4000 <= heard_ms <= 4100  # 100 ms deltas due from 0.5 s, one every 25 ms: most was never generated


async def test_refused_client_events_are_logged_with_their_type_and_code(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="voicecli.server")
    config = LocalServer(pacing=UNPACED).config
    async with session_peer(config) as peer:
        await peer.expect("session.created")
        await peer.send(truncate("nope", 0))
        await peer.expect("error")
        await peer.send_raw("{not json")
        await peer.expect("error")
        await peer.send({"type": "no.such.event"})
        await peer.expect("error")
        async with session_peer(config, shape="beta") as azure:  # the beta shape is checked before the session sees it
            await azure.expect("session.created")
            await azure.send({"type": "session.update", "session": {"type": "realtime"}})
            await azure.expect("error")
            await azure.send_raw("[")
            await azure.expect("error")
    refusals = [record.getMessage() for record in caplog.records if ": refused " in record.getMessage()]
    assert len(refusals) == 5, refusals
    assert refusals[0].endswith("refused conversation.item.truncate: item_truncate_invalid_item_id: "
                                "Item with item_id 'nope' not found.")  # fmt: skip
    assert "refused (not JSON): invalid_json:" in refusals[1]
    assert "refused no.such.event: " in refusals[2]
    assert "refused session.update: unknown_parameter: " in refusals[3]
    assert "refused (not JSON): invalid_json: " in refusals[4]
