"""wavio: decode anything to 24 kHz mono int16, write WAV atomically, fail with AudioFileError."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from voicecli.audio.errors import AudioFileError
from voicecli.audio.wavio import read_audio_24k_mono, write_wav


def tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_freq(pcm: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.argmax(spectrum) * rate / len(pcm))


def test_round_trip_is_exact(tmp_path: Path) -> None:
    pcm = (tone(300, 24000, 0.5) * 32767).astype(np.int16)
    path = tmp_path / "a.wav"
    write_wav(path, pcm)
    info = soundfile.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (24000, 1, "PCM_16")
    np.testing.assert_array_equal(read_audio_24k_mono(path), pcm)


def test_44k1_stereo_float_becomes_24k_mono(tmp_path: Path) -> None:
    left, right = tone(440, 44100, 1.0, 0.6), tone(440, 44100, 1.0, 0.2)
    path = tmp_path / "st.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    pcm = read_audio_24k_mono(path)
    assert pcm.dtype == np.int16 and pcm.ndim == 1
    assert abs(len(pcm) - 24000) <= 1
    assert abs(dominant_freq(pcm, 24000) - 440) < 2
    middle = pcm[2000:-2000].astype(np.float64) / 32768
    assert np.max(np.abs(middle)) == pytest.approx(0.4, abs=0.01)  # mean of the two channels


@pytest.mark.parametrize(("rate", "fmt", "subtype"), [(8000, "WAV", "PCM_U8"), (48000, "FLAC", "PCM_24")])
def test_other_rates_and_formats(tmp_path: Path, rate: int, fmt: str, subtype: str) -> None:
    path = tmp_path / f"x.{fmt.lower()}"
    soundfile.write(path, tone(500, rate, 0.5), rate, format=fmt, subtype=subtype)
    pcm = read_audio_24k_mono(path)
    assert abs(len(pcm) - 12000) <= 1
    assert abs(dominant_freq(pcm, 24000) - 500) < 3


def test_write_with_other_rate(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    write_wav(path, np.zeros(160, dtype=np.int16), sample_rate=16000)
    assert soundfile.info(path).samplerate == 16000


def test_missing_file_is_clear(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="not found"):
        read_audio_24k_mono(tmp_path / "nope.wav")


def test_unreadable_file_is_clear(tmp_path: Path) -> None:
    path = tmp_path / "junk.wav"
    path.write_bytes(b"not audio at all")
    with pytest.raises(AudioFileError, match="cannot read"):
        read_audio_24k_mono(path)


def test_write_leaves_no_partial_file(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError):
        write_wav(tmp_path / "missing-dir" / "x.wav", np.zeros(10, dtype=np.int16))
    path = tmp_path / "x.wav"
    with pytest.raises(AudioFileError):
        write_wav(path, np.zeros(10, dtype=np.int16), sample_rate=0)
    assert list(tmp_path.iterdir()) == []


def test_write_rejects_wrong_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="int16"):
        write_wav(tmp_path / "f.wav", np.zeros(10, dtype=np.float32))
