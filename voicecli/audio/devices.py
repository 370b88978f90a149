"""Find, choose and really try out audio devices.

PortAudio's ``check_*_settings`` can approve a configuration that then fails to open or start, so
``test_device`` opens and runs a short stream for each rate instead of asking.
"""

import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from voicecli.audio.errors import DeviceError
from voicecli.audio.pcm import rms_dbfs, to_int16
from voicecli.audio.portaudio import load, open_stream

Kind = Literal["input", "output"]
COMMON_RATES = (8000, 16000, 24000, 44100, 48000)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One PortAudio device as the CLI shows it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: int
    is_default_input: bool
    is_default_output: bool

    def channels(self, kind: Kind) -> int:
        """Channel count for ``kind`` (0 means the device cannot do it)."""
        return self.max_input_channels if kind == "input" else self.max_output_channels


@dataclass(slots=True)
class DeviceTestResult:
    """What ``test_device`` found out by opening the device for real."""

    device: DeviceInfo
    kind: Kind
    working_rates: list[int] = field(default_factory=list)
    failed_rates: dict[int, str] = field(default_factory=dict)
    level_dbfs: float = -math.inf  # input: RMS of the recording; output: RMS of the tone sent
    peak_dbfs: float = -math.inf


def list_devices(kind: Kind | None = None) -> list[DeviceInfo]:
    """All devices, or only those with input (or output) channels."""
    sd = load()
    hostapis = sd.query_hostapis()
    default_in, default_out = _default_indices()
    devices = [
        DeviceInfo(
            index=int(raw["index"]),
            name=str(raw["name"]),
            hostapi=str(hostapis[raw["hostapi"]]["name"]),
            max_input_channels=int(raw["max_input_channels"]),
            max_output_channels=int(raw["max_output_channels"]),
            default_samplerate=round(raw["default_samplerate"]),
            is_default_input=raw["index"] == default_in,
            is_default_output=raw["index"] == default_out,
        )
        for raw in sd.query_devices()
    ]
    return [d for d in devices if kind is None or d.channels(kind) > 0]


def find_device(spec: int | str | None, kind: Kind) -> DeviceInfo:
    """Resolve a device index, a case-insensitive name substring, or None (the default device).

    An exact (case-insensitive) name match wins over substring matches, so "pulse" is not
    ambiguous just because another name contains it.
    """
    candidates = list_devices(kind)
    if spec is None:
        chosen = [d for d in candidates if (d.is_default_input if kind == "input" else d.is_default_output)]
        if not chosen:
            raise DeviceError(f"no default {kind} device; choose one of:\n{_describe(candidates)}")
        return chosen[0]
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        chosen = [d for d in candidates if d.index == index]
        if not chosen:
            raise DeviceError(f"no {kind} device with index {index}; choose one of:\n{_describe(candidates)}")
        return chosen[0]
    needle = spec.strip().casefold()
    exact = [d for d in candidates if d.name.casefold() == needle]
    chosen = exact or [d for d in candidates if needle in d.name.casefold()]
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        raise DeviceError(f"no {kind} device matches {spec!r}; choose one of:\n{_describe(candidates)}")
    raise DeviceError(f"{kind} device {spec!r} is ambiguous; it matches:\n{_describe(chosen)}")


def test_device(spec: int | str | None, kind: Kind, seconds: float = 1.0) -> DeviceTestResult:
    """Open the device for real: try each common rate, then play a tone or record ``seconds``."""
    device = find_device(spec, kind)
    result = DeviceTestResult(device=device, kind=kind)
    for rate in COMMON_RATES:
        try:
            _run_stream(device, kind, rate, np.zeros(rate // 10, dtype=np.int16))
        except Exception as exc:  # PortAudio reports every failure as a different error type
            result.failed_rates[rate] = str(exc) or type(exc).__name__
        else:
            result.working_rates.append(rate)
    rate = device.default_samplerate
    if kind == "output":
        t = np.arange(int(rate * seconds)) / rate
        signal = to_int16(0.25 * np.sin(2 * np.pi * 440.0 * t) * np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02))
        _run_stream(device, kind, rate, signal)
    else:
        signal = _run_stream(device, kind, rate, np.zeros(int(rate * seconds), dtype=np.int16))
    result.level_dbfs = rms_dbfs(signal)
    peak = int(np.max(np.abs(signal.astype(np.int32)))) if signal.size else 0
    result.peak_dbfs = 20 * math.log10(peak / 32768) if peak else -math.inf
    return result


def _run_stream(device: DeviceInfo, kind: Kind, rate: int, buffer: np.ndarray) -> np.ndarray:
    """Play ``buffer`` or record into it through a real stream (channel 0); returns the buffer."""
    position = 0
    done = False

    def output_cb(outdata: np.ndarray, frames: int, _time: object, _status: object) -> None:
        nonlocal position, done
        chunk = buffer[position : position + frames]
        outdata[: len(chunk)] = chunk[:, np.newaxis]
        outdata[len(chunk) :] = 0
        position += len(chunk)
        done = position >= len(buffer)

    def input_cb(indata: np.ndarray, _frames: int, _time: object, _status: object) -> None:
        nonlocal position, done
        chunk = indata[: len(buffer) - position, 0]
        buffer[position : position + len(chunk)] = chunk
        position += len(chunk)
        done = position >= len(buffer)

    callback = output_cb if kind == "output" else input_cb
    with open_stream(kind, device.index, rate, "int16", callback, device.channels(kind), latency="high"):
        deadline = time.monotonic() + len(buffer) / rate + 5.0
        while not done:
            if time.monotonic() > deadline:
                raise DeviceError(f"{kind} device {device.name!r} at {rate} Hz opened but delivered no audio")
            time.sleep(0.01)
    return buffer


def _default_indices() -> tuple[int, int]:
    sd = load()
    default_in, default_out = sd.default.device
    return int(default_in), int(default_out)


def _describe(devices: list[DeviceInfo]) -> str:
    if not devices:
        return "  (no devices found)"
    return "\n".join(f"  [{d.index}] {d.name} ({d.hostapi})" for d in devices)
