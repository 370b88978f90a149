"""Lazy access to sounddevice, so importing voicecli (and ``voicecli --help``) never loads PortAudio."""

from collections.abc import Callable
from types import ModuleType
from typing import Any, Literal

from voicecli.audio.errors import AudioUnavailable, DeviceError

INSTALL_HINT = "sudo apt-get install libportaudio2"
# The callback needs the GIL, which another busy thread may hold for a whole switch interval
# (5 ms). PortAudio's "low" latency alone picks ~2 ms blocks, so a few such waits in a row drain
# the buffer; 10 ms blocks (with "low" latency, ~20 ms in total) ride them out.
BLOCK_MS = 10
INPUT_BLOCK_MS = 2 * BLOCK_MS
"""The microphone's blocks are one 20 ms chunk long: a chunk is sent when its last sample is there
anyway, so longer blocks add no delay to the wire, and halve the callbacks (each wake-up of a
device thread costs a visible share of a core on a virtual machine)."""


def load() -> ModuleType:
    """Import and return ``sounddevice``; a missing PortAudio library becomes ``AudioUnavailable``."""
    try:
        import sounddevice
    except OSError as exc:
        raise AudioUnavailable(f"PortAudio is not available ({exc}); install it with: {INSTALL_HINT}") from exc
    return sounddevice


def open_stream(
    kind: Literal["input", "output"],
    device: int,
    samplerate: int,
    dtype: str,
    callback: Callable[..., None],
    max_channels: int,
    latency: str | float = "low",
    block_ms: int = BLOCK_MS,
) -> Any:
    """Open (not start) a stream with `block_ms` blocks, mono if the device accepts it, else stereo.

    Some hardware devices refuse mono; callers then read channel 0 or duplicate into the others.
    """
    sd = load()
    stream_type = sd.OutputStream if kind == "output" else sd.InputStream
    attempts = [1] if max_channels <= 1 else [1, min(max_channels, 2)]
    error: Exception | None = None
    for channels in attempts:
        try:
            return stream_type(
                device=device,
                samplerate=samplerate,
                channels=channels,
                dtype=dtype,
                latency=latency,
                blocksize=samplerate * block_ms // 1000,
                callback=callback,
            )
        except sd.PortAudioError as exc:
            error = exc
    raise DeviceError(f"cannot open {kind} device {device} at {samplerate} Hz: {error}") from error
