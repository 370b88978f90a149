"""Device listing, choice and real opening; PortAudio stays unloaded until a device is needed."""

import importlib.abc
import subprocess
import sys
from pathlib import Path

import pytest
from support.audio import PulseAudio, play_into_mic, speech_wav
from support.audio import pulse_audio as pulse_audio  # session fixture

from voicecli.audio import devices, portaudio
from voicecli.audio.devices import DeviceInfo
from voicecli.audio.errors import AudioUnavailable, DeviceError


def fake(index: int, name: str, inputs: int = 2, outputs: int = 2) -> DeviceInfo:
    return DeviceInfo(index, name, "ALSA", inputs, outputs, 48000, index == 0, index == 0)


FAKE_DEVICES = [
    fake(0, "default"),
    fake(1, "HDA Intel PCH: ALC257 Analog (hw:0,0)"),
    fake(2, "USB Headset Mic", outputs=0),
    fake(3, "USB Headset"),
    fake(4, "HDMI Out", inputs=0),
]


@pytest.fixture
def fake_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    def listing(kind: devices.Kind | None = None) -> list[DeviceInfo]:
        return [d for d in FAKE_DEVICES if kind is None or d.channels(kind) > 0]

    monkeypatch.setattr(devices, "list_devices", listing)


@pytest.mark.usefixtures("fake_devices")
class TestFindDevice:
    def test_by_index_name_and_default(self) -> None:
        assert devices.find_device(1, "output").index == 1
        assert devices.find_device(" 3 ", "input").index == 3
        assert devices.find_device("alc257", "input").index == 1
        assert devices.find_device(None, "output").name == "default"

    def test_exact_name_beats_substring(self) -> None:
        assert devices.find_device("usb headset", "input").index == 3

    def test_kind_filters_candidates(self) -> None:
        assert devices.find_device("usb", "output").index == 3
        with pytest.raises(DeviceError, match="no input device with index 4"):
            devices.find_device(4, "input")

    def test_ambiguous_lists_the_matches(self) -> None:
        with pytest.raises(DeviceError, match="ambiguous") as info:
            devices.find_device("usb", "input")
        assert "[2] USB Headset Mic" in str(info.value) and "[3] USB Headset" in str(info.value)
        assert "HDMI" not in str(info.value)

    def test_no_match_lists_all_candidates(self) -> None:
        with pytest.raises(DeviceError, match="no output device matches 'speaker'") as info:
            devices.find_device("speaker", "output")
        assert "[4] HDMI Out (ALSA)" in str(info.value)
        assert "USB Headset Mic" not in str(info.value)


class _NoPortAudio(importlib.abc.MetaPathFinder):
    """Makes ``import sounddevice`` fail the way it does when libportaudio2 is missing."""

    def find_spec(self, name: str, *_args: object) -> None:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")


def test_missing_portaudio_has_the_fix_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPortAudio(), *sys.meta_path])
    with pytest.raises(AudioUnavailable, match="sudo apt-get install libportaudio2"):
        portaudio.load()
    with pytest.raises(AudioUnavailable):
        devices.list_devices()


def test_importing_the_audio_package_does_not_load_portaudio() -> None:
    modules = ", ".join(
        f"voicecli.audio.{m}" for m in ("capture", "player", "devices", "wavio", "resample", "clock", "ringbuffer")
    )
    code = f"import sys, {modules}; print('sounddevice' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"


@pytest.mark.audio
def test_lists_the_pulseaudio_devices(pulse_audio: PulseAudio) -> None:
    names = {d.name: d for d in devices.list_devices()}
    assert {"pulse", "default"} <= set(names)
    default = names["default"]
    assert default.is_default_input and default.is_default_output
    assert default.max_input_channels > 0 and default.max_output_channels > 0
    assert default.default_samplerate in devices.COMMON_RATES
    assert devices.find_device("PULSE", "output").name == "pulse"


@pytest.mark.audio
def test_output_device_really_opens_at_common_rates(pulse_audio: PulseAudio) -> None:
    result = devices.test_device(pulse_audio.device, "output", seconds=0.3)
    assert {24000, 44100, 48000} <= set(result.working_rates)
    assert result.failed_rates == {}
    assert result.peak_dbfs == pytest.approx(-12.0, abs=0.5)


@pytest.mark.audio
def test_input_device_records_what_the_virtual_mic_plays(pulse_audio: PulseAudio, tmp_path: Path) -> None:
    silent = devices.test_device(pulse_audio.device, "input", seconds=0.3)
    assert {16000, 24000, 48000} <= set(silent.working_rates)
    assert silent.level_dbfs < -60
    player = play_into_mic(pulse_audio, speech_wav(tmp_path / "s.wav", "testing the microphone level meter now"))
    try:
        loud = devices.test_device(pulse_audio.device, "input", seconds=1.0)
    finally:
        player.wait(timeout=30)
    assert loud.level_dbfs > -40
