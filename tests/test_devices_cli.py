"""`voicecli devices`: the table, JSON for scripts, a real test of the devices, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.audio import PulseAudio
from support.audio import pulse_audio as pulse_audio  # session fixture
from typer.testing import CliRunner

from voicecli.audio.devices import DeviceInfo, Kind
from voicecli.audio.errors import AudioUnavailable
from voicecli.audio.portaudio import INSTALL_HINT
from voicecli.cli import app
from voicecli.commands import devices as devices_command


def devices(pulse: PulseAudio, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voicecli", "devices", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**pulse.env, "COLUMNS": "140"},
    )


@pytest.mark.audio
def test_table_lists_the_pulse_devices_with_the_defaults_marked(pulse_audio: PulseAudio) -> None:
    result = devices(pulse_audio)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "│ default " in line)
    assert "ALSA" in row and "input output" in row and "Hz" in row
    assert "host API" in result.stdout


@pytest.mark.audio
def test_json_for_scripts(pulse_audio: PulseAudio) -> None:
    result = devices(pulse_audio, "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)["devices"]
    [default] = [d for d in listed if d["name"] == "default"]
    assert default["is_default_input"] and default["is_default_output"]
    assert default["max_input_channels"] > 0 and default["default_samplerate"] > 0


@pytest.mark.audio
def test_test_really_opens_the_devices(pulse_audio: PulseAudio) -> None:
    result = devices(pulse_audio, "--json", "--test", "--input-device", "default", "--output-device", "default")
    assert result.returncode == 0, result.stderr
    tests = {t["kind"]: t for t in json.loads(result.stdout)["tests"]}
    assert set(tests) == {"input", "output"}
    for test in tests.values():
        assert 24_000 in test["working_rates"] and 48_000 in test["working_rates"]
    assert tests["output"]["level_dbfs"] == pytest.approx(-15, abs=1)  # the 0.25 full-scale tone
    assert tests["input"]["level_dbfs"] is None  # nothing was playing into vmic: silence

    table = devices(pulse_audio, "--test")
    assert table.returncode == 0 and "played a 1 s tone" in table.stdout and "microphone muted?" in table.stdout


@pytest.mark.audio
def test_a_device_choice_that_matches_nothing_lists_the_candidates(pulse_audio: PulseAudio) -> None:
    result = devices(pulse_audio, "--test", "--output-device", "nope")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "voicecli: error: no output device matches 'nope'; choose one of: [0] pulse (ALSA), [1] default (ALSA)"
    ]


def fake_device(index: int, name: str) -> DeviceInfo:
    return DeviceInfo(index, name, "ALSA", 2, 2, 48_000, False, False)


def test_an_ambiguous_choice_lists_the_devices_it_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    known = [fake_device(0, "USB Headset"), fake_device(1, "USB Headset Mic"), fake_device(2, "HDMI")]
    monkeypatch.setattr("voicecli.audio.devices.list_devices", lambda kind=None: known)
    monkeypatch.setattr(devices_command, "list_devices", lambda kind=None: known)
    result = CliRunner().invoke(app, ["devices", "--test", "--output-device", "hdmi", "--input-device", "usb"])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "voicecli: error: input device 'usb' is ambiguous; it matches: [0] USB Headset (ALSA), "
        "[1] USB Headset Mic (ALSA)"
    ]


def test_no_devices_is_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices_command, "list_devices", lambda kind=None: [])
    result = CliRunner().invoke(app, ["devices"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "voicecli: error: no audio devices found; connect one (or start PulseAudio) and run `voicecli devices` again"
    ]


def test_missing_portaudio_is_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(kind: Kind | None = None) -> list[DeviceInfo]:
        raise AudioUnavailable(
            f"PortAudio is not available (libportaudio.so.2: missing); install it with: {INSTALL_HINT}"
        )

    monkeypatch.setattr(devices_command, "list_devices", unavailable)
    for command in ("devices", "talk"):
        result = CliRunner().invoke(app, [command])
        assert result.exit_code == 1, result.output
        [line] = result.output.splitlines()
        assert line.startswith("voicecli: error: PortAudio is not available") and INSTALL_HINT in line
