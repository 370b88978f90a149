"""Read any audio file as the 24 kHz mono int16 the realtime API speaks; write WAV files safely."""

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile

from voicecli.audio.errors import AudioFileError
from voicecli.audio.resample import resample
from voicecli.realtime.events import SAMPLE_RATE


def read_audio_24k_mono(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode ``path`` (any rate, channel count or format libsndfile reads) to 24 kHz mono int16."""
    file = Path(path)
    if not file.is_file():
        raise AudioFileError(f"audio file not found: {file}")
    try:
        frames, rate = soundfile.read(file, dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, OSError) as exc:
        raise AudioFileError(f"cannot read audio file {file}: {exc}") from exc
    mono = frames.mean(axis=1, dtype=np.float32) if frames.shape[1] > 1 else frames[:, 0]
    return resample(mono, rate, SAMPLE_RATE)


def write_wav(path: str | os.PathLike[str], pcm: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono int16 PCM as a WAV file; a temp file plus rename leaves no half-written file behind.

    The WAV is encoded in memory and written in one call, so a full disk is one `OSError` (libsndfile
    writing to a Python file object reports a short write as a bare `AssertionError`)."""
    target = Path(path)
    samples = np.asarray(pcm)
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise ValueError(f"write_wav needs 1-D int16 samples, got {samples.dtype} with shape {samples.shape}")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise AudioFileError(f"cannot write audio file {target}: {exc}") from exc
    try:
        encoded = io.BytesIO()
        soundfile.write(encoded, samples, sample_rate, subtype="PCM_16", format="WAV")
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded.getbuffer())
        os.chmod(tmp_name, 0o666 & ~_current_umask())  # mkstemp makes 0600; a WAV is an ordinary file
        os.replace(tmp_name, target)
    except (OSError, soundfile.SoundFileError) as exc:
        Path(tmp_name).unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise AudioFileError(f"cannot write audio file {target}: {reason}") from exc
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
