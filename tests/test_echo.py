"""Echo handling without devices: the canceller on a synthetic echo, the gate, `auto`, and the fallback."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from support.audio import speech_level_db
from typer.testing import CliRunner

from voicecli.audio.capture_path import CapturePath
from voicecli.audio.echo import CANCELLER_RATE, FRAME_SAMPLES, AutoEcho, EchoGate, WebRtcCanceller, open_echo
from voicecli.audio.frames import FrameRing
from voicecli.audio.polyphase import TAPS, LowLatencyResampler
from voicecli.audio.resample import resample
from voicecli.cli import app
from voicecli.server.synth import speak

RATE = 44_100
FRAME = RATE // 100
REPLY = "Once upon a time there was a little voice assistant that loved to talk about everything and nothing."


def reply_at(rate: int) -> np.ndarray:
    return resample(np.asarray(speak(REPLY)), 24_000, rate)


def echo_of(far: np.ndarray, delay_ms: int, gain: float = 0.25, rate: int = RATE) -> np.ndarray:
    """The speaker heard by the microphone: `delay_ms` later, attenuated, with a 50 ms reverb tail."""
    rng = np.random.default_rng(3)
    delay = rate * delay_ms // 1000
    tail = rng.standard_normal(rate // 20) * np.exp(-np.arange(rate // 20) / (rate * 0.01))
    response = np.zeros(delay + len(tail))
    response[delay] = 1.0
    response[delay:] += 0.3 * tail
    return gain * np.convolve(far.astype(np.float64), response)[: len(far)]


def run(path: CapturePath, near: np.ndarray, far: np.ndarray) -> np.ndarray:
    frames = range(0, len(near) - FRAME + 1, FRAME)
    return np.concatenate([path.process(near[i : i + FRAME], far[i : i + FRAME]) for i in frames])


def energy_db(samples: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(samples.astype(np.float64))) + 1e-20)


@pytest.mark.parametrize("delay_ms", [20, 60, 120, 200])
def test_the_canceller_removes_at_least_25_db_of_echo_after_two_seconds(delay_ms: int) -> None:
    far = reply_at(RATE)
    near = np.clip(echo_of(far, delay_ms), -32768, 32767).astype(np.int16)
    path = CapturePath(RATE, RATE, "aec")
    out = run(path, near, far)
    after = slice(2 * 24_000, len(out))
    sent_in = resample(near, RATE, 24_000).astype(np.float64) / 32768
    erle = energy_db(sent_in[after]) - energy_db(out[after])
    assert erle >= 25, f"{erle:.1f} dB at {delay_ms} ms"
    assert path.echo.status.active == "aec" and (path.echo.status.erle_db or 0) >= 25


def test_the_gate_blocks_echo_and_lets_a_louder_talker_through() -> None:
    rate = CANCELLER_RATE
    frame = rate // 100
    far = reply_at(rate).astype(np.float32) / 32768
    person = reply_at(rate)[:rate].astype(np.float32) / 32768  # a second of speech as loud as the reply
    gate = EchoGate()
    echo = np.concatenate([np.zeros(frame * 6, np.float32), 0.25 * far])[: len(far)]
    passed = [gate.process(echo[i : i + frame], far[i : i + frame]) for i in range(0, 3 * rate, frame)]
    assert not np.concatenate(passed)[rate:].any(), "echo passed once the gate knew the echo path"
    start = 3 * rate
    talking = echo[start : start + rate] + person
    out = np.concatenate(
        [gate.process(talking[i : i + frame], far[start + i : start + i + frame]) for i in range(0, rate, frame)]
    )
    assert energy_db(out) > energy_db(talking) - 3, "the talker was gated"


def test_auto_leaves_a_microphone_without_echo_untouched() -> None:
    """Headphones: AEC3 would smother a talker over a reply it cannot hear; `auto` passes them through."""
    far = reply_at(RATE)
    near = np.zeros(len(far), dtype=np.int16)
    person = reply_at(RATE)[:RATE]
    near[2 * RATE : 3 * RATE] = person
    path = CapturePath(RATE, RATE, "auto")
    out = run(path, near, far)
    assert path.echo.status.active == "off"
    talk = slice(2 * 24_000, 3 * 24_000)
    assert energy_db(out[talk]) == pytest.approx(energy_db(resample(person, RATE, 24_000) / 32768), abs=1.0)


def talk_over(reply: str, voice_at_s: float, reference_shift_s: float = 0.0) -> tuple[np.ndarray, ...]:
    """Frames at `CANCELLER_RATE`: the microphone (the reply's echo, then a person 6 dB above it from
    `voice_at_s`) and the speaker's reference (`reference_shift_s` off for a wrong one); and the voice."""
    rate = CANCELLER_RATE
    far = resample(np.asarray(speak(reply)), 24_000, rate).astype(np.float32) / 32768
    echo = echo_of(far, 60, rate=rate).astype(np.float32)
    said = resample(np.asarray(speak("Stop please, stop. I have another question.")), 24_000, rate) / 32768
    said = (said * 10 ** ((6 + speech_level_db(echo, rate) - speech_level_db(said, rate)) / 20)).astype(np.float32)
    voice = np.zeros_like(far)
    start = int(voice_at_s * rate)
    voice[start : start + len(said)] = said[: len(far) - start]
    reference = np.roll(far, int(reference_shift_s * rate))
    return echo + voice, reference, voice


def test_a_person_talking_over_a_converged_canceller_neither_lowers_its_erle_nor_switches_it_off() -> None:
    """Double talk: the microphone holds a voice the canceller must keep. `auto` kept judging ERLE
    there, took the voice for echo left over and gave the canceller up for the gate for good."""
    near, far, voice = talk_over(REPLY + " " + REPLY, voice_at_s=4.0)
    echo = AutoEcho()
    canceller = echo._current
    assert isinstance(canceller, WebRtcCanceller)
    frames = range(0, len(near) - FRAME_SAMPLES + 1, FRAME_SAMPLES)
    erle, measured, modes = [], [], set()
    for i in frames:
        echo.process(near[i : i + FRAME_SAMPLES], far[i : i + FRAME_SAMPLES])
        erle.append(echo.status.erle_db)
        measured.append(canceller.meter.active_frames)
        modes.add(echo.status.label().split()[2])
    voiced = [n for n, i in enumerate(frames) if energy_db(voice[i : i + FRAME_SAMPLES]) > -60]  # not its fades
    before = erle[voiced[0] - 1]
    assert before is not None and before >= 25, "the canceller had converged before the person spoke"
    assert modes == {"aec"}, modes
    during = [erle[n] or 0.0 for n in voiced]
    assert min(during) >= 20, f"ERLE fell to {min(during):.1f} dB while the person talked ({before:.1f} before)"
    counted = sum(measured[n] - measured[n - 1] for n in voiced)
    assert counted < len(voiced) / 10, f"ERLE measured on {counted} of the {len(voiced)} frames with a voice"


def test_a_canceller_with_the_wrong_reference_still_gives_way_to_the_gate_even_with_someone_talking() -> None:
    """The speaker's reference 2 s off (as from a wrong device): the canceller removes nothing and
    `auto` still falls back to the gate, a talker in its first seconds notwithstanding."""
    near, far, _ = talk_over(REPLY + " " + REPLY, voice_at_s=1.0, reference_shift_s=2.0)
    echo = open_echo("auto")
    for i in range(0, len(near) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        echo.process(near[i : i + FRAME_SAMPLES], far[i : i + FRAME_SAMPLES])
    status = echo.status
    assert (status.active, status.label()[:15]) == ("gate", "echo auto: gate"), status
    assert status.note.startswith("the canceller reached only"), status.note


@pytest.mark.parametrize("mode", ["aec", "auto"])
def test_without_the_library_the_gate_takes_over(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pywebrtc_audio", None)  # `import pywebrtc_audio` now fails
    status = open_echo(mode).status  # type: ignore[arg-type]
    assert (status.requested, status.active, status.note) == (mode, "gate", "no echo-cancellation library")
    assert status.label() == {"aec": "echo aec→gate", "auto": "echo auto: gate"}[mode]


@pytest.mark.parametrize(("in_rate", "out_rate"), [(44_100, 24_000), (48_000, 32_000), (24_000, 44_100)])
def test_the_low_latency_resampler_keeps_a_tone_and_every_block_pays_its_way(in_rate: int, out_rate: int) -> None:
    resampler = LowLatencyResampler(in_rate, out_rate)
    t = np.arange(in_rate) / in_rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    block = in_rate // 100
    outs = [resampler.process(tone[i : i + block]) for i in range(0, in_rate, block)]
    assert {len(out) for out in outs[1:]} == {out_rate // 100}  # 10 ms in, 10 ms out: no bursts
    # The first block too (one sample short when upsampling), so chunks end where device blocks end.
    assert out_rate // 100 - len(outs[0]) == (1 if out_rate > in_rate else 0)
    out = np.concatenate(outs)
    lag_s = (TAPS // 2) / in_rate  # the look-ahead, filled with silence at the start
    expected = 0.5 * np.sin(2 * np.pi * 1000 * (np.arange(len(out)) / out_rate - lag_s))
    error = out[out_rate // 10 :] - expected[out_rate // 10 :]
    assert energy_db(error) < energy_db(expected) - 60


def test_a_bad_echo_mode_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    result = CliRunner().invoke(app, ["talk", "--config", str(config), "--echo", "loud"])  # in process: a rule
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "voicecli: error: command line: audio.echo: 'loud' is not one of auto, aec, gate, off"
    ]


def test_a_frame_ring_consumer_is_woken_once_the_frames_it_waits_for_are_there() -> None:
    ring = FrameRing(4, 8)
    block = np.array([1, 2, 3, 4], np.int16)
    ring.push(block, 1.0)
    assert ring.wait_for(1, 0) is True and ring.wait_for(2, 0) is False
    answers: list[bool] = []
    waiter = threading.Thread(target=lambda: answers.append(ring.wait_for(3, 30)))
    waiter.start()
    ring.push(block, 2.0)  # two of the three: the consumer sleeps on
    waiter.join(0.05)
    assert waiter.is_alive() and answers == []
    ring.push(block, 3.0)
    waiter.join(30)
    assert answers == [True]
    stopping = threading.Thread(target=lambda: answers.append(ring.wait_for(9, 30)))
    stopping.start()
    ring.wake()  # the stream stops: the consumer returns without its frames
    stopping.join(30)
    assert answers == [True, False]


def test_the_frame_ring_keeps_order_and_times_and_drops_the_newest_when_full() -> None:
    ring = FrameRing(4, 2)
    ring.push(np.array([1, 2, 3, 4], np.int16), 1.0)
    ring.push(np.array([5, 6], np.int16), 2.0)  # short blocks are zero-padded
    ring.push(np.array([9, 9, 9, 9], np.int16), 3.0)
    out = np.zeros(4, np.int16)
    assert (ring.pop_into(out), out.tolist()) == (1.0, [1, 2, 3, 4])
    assert ring.peek_time() == 2.0
    assert (ring.pop_into(out), out.tolist()) == (2.0, [5, 6, 0, 0])
    assert ring.pop_into(out) is None and ring.dropped == 1
