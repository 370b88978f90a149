"""The ACS media-streaming WebSocket protocol: JSON frames parsed and built, no I/O.

Azure Communication Services sends `AudioMetadata`, `AudioData` (base64 PCM, a `silent` flag) and
`DtmfData` frames, and accepts `AudioData` (what the caller hears) and `StopAudio` (cut what is
still queued for playback). Keys have been seen both camelCase (`kind`, `audioData`) and
PascalCase (`Kind`, `AudioData`), so reading ignores the case of every key; writing uses camelCase.
Both sides are here: the bridge parses what ACS sends, the dialer (`--dial`) builds it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from voicecli.realtime.events import SAMPLE_RATE  # PCM24K_MONO: the format the bridge asks ACS for

FRAME_MS = 20
"""ACS sends 20 ms per AudioData frame."""
SAMPLE_RATES = (16_000, SAMPLE_RATE)
"""What ACS streams (PCM16K_MONO, PCM24K_MONO); any other format is refused."""
MAX_FRAME_AUDIO_BYTES = SAMPLE_RATE * 2 // 5
"""At most 200 ms of 24 kHz audio in one frame (ACS sends 20 ms)."""
MAX_MESSAGE_BYTES = 32 * 1024
"""The largest media WebSocket message taken: such a frame in base64 JSON, with room to spare."""
DTMF_ALPHABET = frozenset("0123456789*#ABCD")
MAX_DTMF_CHARS = 16


class MediaFrameError(ValueError):
    """A frame that is not valid ACS media JSON; the message says what is wrong, for one log line."""


@dataclass(frozen=True, slots=True)
class AudioMetadata:
    """The stream's format, sent once at the start."""

    sample_rate: int
    channels: int
    encoding: str = "PCM"
    length: int = 0
    subscription_id: str = ""


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """A chunk of the call's audio: little-endian int16 PCM."""

    pcm: bytes
    silent: bool = False
    timestamp: str = ""
    participant: str = ""


@dataclass(frozen=True, slots=True)
class DtmfFrame:
    """A key the caller pressed."""

    digit: str
    participant: str = ""


@dataclass(frozen=True, slots=True)
class StopAudioFrame:
    """`StopAudio`: the peer asks to drop the audio queued for playback (barge-in)."""


@dataclass(frozen=True, slots=True)
class UnknownFrame:
    """A well-formed frame of a kind this bridge does not use (passed over, never an error)."""

    kind: str


MediaFrame = AudioMetadata | AudioFrame | DtmfFrame | StopAudioFrame | UnknownFrame


def parse_frame(text: str | bytes) -> MediaFrame:
    """Read one frame; raises `MediaFrameError` for anything that is not a valid frame."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MediaFrameError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise MediaFrameError(f"expected a JSON object, got {type(raw).__name__}")
    message = _folded(raw)
    kind = message.get("kind")
    if not isinstance(kind, str):
        raise MediaFrameError("no string 'kind'")
    kind = kind[:40]  # it may reach a log line (made printable there)
    match kind.lower():
        case "audiodata":
            return _audio(_section(message, "audiodata", kind))
        case "audiometadata":
            return _metadata(_section(message, "audiometadata", kind))
        case "dtmfdata":
            return _dtmf(_section(message, "dtmfdata", kind))
        case "stopaudio":
            return StopAudioFrame()
    return UnknownFrame(kind)


def _folded(mapping: dict[str, Any]) -> dict[str, Any]:
    return {str(key).lower(): value for key, value in mapping.items()}


def _section(message: dict[str, Any], key: str, kind: str) -> dict[str, Any]:
    body = message.get(key)
    if not isinstance(body, dict):
        raise MediaFrameError(f"{kind} frame without an object '{key}'")
    return _folded(body)


def _audio(body: dict[str, Any]) -> AudioFrame:
    silent = bool(body.get("silent", False))
    data = body.get("data")
    if data is None and silent:
        pcm = b""
    elif not isinstance(data, str):
        raise MediaFrameError("AudioData without base64 'data'")
    else:
        try:
            pcm = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MediaFrameError(f"AudioData 'data' is not base64: {exc}") from None
    if len(pcm) % 2:
        raise MediaFrameError(f"AudioData has {len(pcm)} bytes, not whole 16-bit samples")
    if len(pcm) > MAX_FRAME_AUDIO_BYTES:
        raise MediaFrameError(f"AudioData has {len(pcm)} bytes, more than {MAX_FRAME_AUDIO_BYTES} (ACS sends 20 ms)")
    return AudioFrame(
        pcm=pcm,
        silent=silent,
        timestamp=str(body.get("timestamp") or ""),
        participant=str(body.get("participantrawid") or ""),
    )


def _dtmf(body: dict[str, Any]) -> DtmfFrame:
    digits = body.get("data")
    if not isinstance(digits, str) or not 0 < len(digits) <= MAX_DTMF_CHARS or not set(digits) <= DTMF_ALPHABET:
        raise MediaFrameError(f"DtmfData 'data' is not up to {MAX_DTMF_CHARS} DTMF keys (0-9, *, #, A-D)")
    return DtmfFrame(digit=digits, participant=str(body.get("participantrawid") or ""))


def _metadata(body: dict[str, Any]) -> AudioMetadata:
    try:
        return AudioMetadata(
            sample_rate=int(body.get("samplerate", SAMPLE_RATE)),
            channels=int(body.get("channels", 1)),
            encoding=str(body.get("encoding", "PCM")),
            length=int(body.get("length", 0)),
            subscription_id=str(body.get("subscriptionid") or ""),
        )
    except (TypeError, ValueError) as exc:
        raise MediaFrameError(f"AudioMetadata with a non-numeric field: {exc}") from None


# --- building frames ---------------------------------------------------------------------------


def audio_out(pcm: bytes) -> str:
    """What the bridge sends for the caller to hear."""
    body = {"data": base64.b64encode(pcm).decode("ascii")}
    return _dumps({"kind": "AudioData", "audioData": body, "stopAudio": None})


def stop_audio() -> str:
    """What the bridge sends at barge-in: ACS drops the audio it has queued for the caller."""
    return _dumps({"kind": "StopAudio", "audioData": None, "stopAudio": {}})


def audio_in(pcm: bytes, *, timestamp: str, participant: str, silent: bool = False) -> str:
    """What ACS sends with the caller's audio (the dialer plays ACS)."""
    body = {
        "data": base64.b64encode(pcm).decode("ascii"),
        "timestamp": timestamp,
        "participantRawID": participant,
        "silent": silent,
    }
    return _dumps({"kind": "AudioData", "audioData": body})


def metadata_in(*, subscription_id: str, sample_rate: int = SAMPLE_RATE, frame_ms: int = FRAME_MS) -> str:
    """The first frame ACS sends on a media stream."""
    body = {
        "subscriptionId": subscription_id,
        "encoding": "PCM",
        "sampleRate": sample_rate,
        "channels": 1,
        "length": sample_rate * frame_ms // 1000 * 2,
    }
    return _dumps({"kind": "AudioMetadata", "audioMetadata": body})


def _dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def format_problem(metadata: AudioMetadata) -> str | None:
    """Why the bridge will not take this stream format (None: 16 or 24 kHz mono PCM, which it takes)."""
    if metadata.encoding.upper() != "PCM" or metadata.channels != 1 or metadata.sample_rate not in SAMPLE_RATES:
        return (
            f"{metadata.encoding} {metadata.sample_rate} Hz, {metadata.channels} channel(s) "
            "is not 16 or 24 kHz mono PCM"
        )
    return None
