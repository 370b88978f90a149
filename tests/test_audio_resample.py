"""Streaming resampler: chunked output equals one-shot output, so chunk edges cannot click."""

import numpy as np
import pytest

from voicecli.audio.pcm import rms_dbfs, to_float32, to_int16
from voicecli.audio.resample import StreamResampler, resample

RATE_PAIRS = [(24000, 48000), (24000, 44100), (48000, 24000), (44100, 24000), (16000, 24000), (24000, 24000)]


def sweep(rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * (200 + 1500 * t) * t)).astype(np.float32)


def stream_in_chunks(resampler: StreamResampler, signal: np.ndarray, sizes: list[int]) -> np.ndarray:
    parts, pos, i = [], 0, 0
    while pos < len(signal):
        size = sizes[i % len(sizes)]
        parts.append(resampler.process(signal[pos : pos + size]))
        pos, i = pos + size, i + 1
    parts.append(resampler.flush())
    return np.concatenate(parts)


@pytest.mark.parametrize(("in_rate", "out_rate"), RATE_PAIRS)
@pytest.mark.parametrize("as_int16", [False, True])
def test_streaming_matches_one_shot(in_rate: int, out_rate: int, as_int16: bool) -> None:
    signal = sweep(in_rate)
    if as_int16:
        signal = to_int16(signal)
    chunked = stream_in_chunks(StreamResampler(in_rate, out_rate), signal, [1, 7, 480, 333, 1024, 2])
    whole = resample(signal, in_rate, out_rate)
    assert chunked.dtype == whole.dtype == np.int16
    assert abs(len(chunked) - len(whole)) <= 1
    n = min(len(chunked), len(whole))
    assert np.max(np.abs(chunked[:n].astype(np.int32) - whole[:n])) <= 1


def test_no_click_at_chunk_edges() -> None:
    """A pure tone through 10 ms chunks has no sample-to-sample jump larger than the tone allows."""
    rate_in, rate_out, freq = 24000, 48000, 440.0
    t = np.arange(rate_in) / rate_in
    signal = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    out = to_float32(stream_in_chunks(StreamResampler(rate_in, rate_out), signal, [240]))
    steady = out[2000:-2000]
    max_step = 0.5 * 2 * np.pi * freq / rate_out  # the sine's steepest slope per output sample
    assert np.max(np.abs(np.diff(steady))) < max_step * 1.05


def test_flush_then_reuse_starts_clean() -> None:
    resampler = StreamResampler(24000, 48000)
    resampler.process(sweep(24000, 0.1))
    resampler.flush()
    silence = np.concatenate([resampler.process(np.zeros(2400, np.int16)), resampler.flush()])
    assert np.all(silence == 0)


def test_reset_drops_the_tail() -> None:
    resampler = StreamResampler(24000, 44100)
    resampler.process(sweep(24000, 0.1))
    resampler.reset()
    assert rms_dbfs(resampler.flush()) == -np.inf


def test_same_rate_is_pass_through() -> None:
    pcm = np.arange(-5, 5, dtype=np.int16)
    resampler = StreamResampler(24000, 24000)
    np.testing.assert_array_equal(resampler.process(pcm), pcm)
    assert resampler.flush().size == 0


def test_float_conversion_clips_instead_of_wrapping() -> None:
    assert to_int16(np.array([1.5, -1.5, 0.5], np.float32)).tolist() == [32767, -32768, 16384]
    assert rms_dbfs(np.zeros(0, np.int16)) == -np.inf
    assert rms_dbfs(np.full(100, 16384, np.int16)) == pytest.approx(-6.02, abs=0.01)
