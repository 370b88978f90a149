"""Sample-format conversions shared by the audio modules (int16 on the wire, float32 for DSP)."""

import math

import numpy as np

INT16_SCALE = 32768.0


def to_float32(samples: np.ndarray) -> np.ndarray:
    """Return ``samples`` as float32 in [-1, 1); int16 is scaled, floats are passed through."""
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / INT16_SCALE
    return np.asarray(samples, dtype=np.float32)


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Return float samples as int16 with rounding and clipping (no wrap-around on overload)."""
    if samples.dtype == np.int16:
        return samples
    scaled = np.rint(np.asarray(samples, dtype=np.float32) * INT16_SCALE)
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS (0 dB = full-scale square wave); ``-inf`` for silence or no samples."""
    if samples.size == 0:
        return -math.inf
    floats = to_float32(samples).ravel()
    rms = math.sqrt(float(np.dot(floats, floats)) / floats.size)
    return 20.0 * math.log10(rms) if rms > 0.0 else -math.inf
