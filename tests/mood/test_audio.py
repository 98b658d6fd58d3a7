"""mood.audio: PCM decoding, normalisation to 16 kHz mono float32, and every bad-audio error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from mood.audio import (
    SILENCE_PEAK,
    TARGET_RATE,
    bytes_per_frame,
    check_format,
    decode_pcm,
    load_wav,
    normalise,
    to_mono_float32,
)
from mood.errors import (
    AudioError,
    AudioFormatError,
    AudioTooLongError,
    EmptyAudioError,
    NonFiniteAudioError,
    SilentAudioError,
)


def _sine(freq_hz: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1.0 / rate)[int(np.argmax(spectrum))])


def test_decode_s16le_mono_scales_to_unit_range() -> None:
    """s16le bytes decode to float32 with -32768 -> -1.0 and 16384 -> 0.5."""
    raw = np.array([0, 16384, -32768, 32767], dtype="<i2").tobytes()
    out = decode_pcm(raw, "s16le", 1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.5, -1.0, 32767 / 32768], rtol=0, atol=1e-7)


def test_decode_interleaved_stereo_averages_channels() -> None:
    """Interleaved stereo frames are averaged to one mono sample per frame."""
    raw = np.array([[0.5, -0.5], [1.0, 0.0], [0.25, 0.75]], dtype="<f4").tobytes()
    np.testing.assert_allclose(decode_pcm(raw, "f32le", 2), [0.0, 0.5, 0.5])


def test_decode_empty_chunk_is_empty() -> None:
    """An empty chunk is zero samples, not an error (streams may send empty frames)."""
    assert decode_pcm(b"", "s16le", 2).shape == (0,)


@pytest.mark.parametrize(
    ("size", "fmt", "channels"),
    [(3, "s16le", 1), (6, "s16le", 2), (6, "f32le", 1), (12, "f32le", 2)],
)
def test_decode_partial_frame_is_format_error(size: int, fmt: str, channels: int) -> None:
    """A byte count that is not whole frames raises AudioFormatError (code audio_format)."""
    with pytest.raises(AudioFormatError) as info:
        decode_pcm(b"\x00" * size, fmt, channels)  # type: ignore[arg-type]
    assert info.value.code == "audio_format"


def test_decode_unknown_format_and_channels_are_format_errors() -> None:
    """An unknown sample format or a channel count outside 1-8 raises AudioFormatError."""
    with pytest.raises(AudioFormatError):
        decode_pcm(b"\x00\x00", "u8", 1)  # type: ignore[arg-type]
    with pytest.raises(AudioFormatError):
        decode_pcm(b"\x00\x00", "s16le", 0)
    with pytest.raises(AudioFormatError):
        decode_pcm(b"\x00\x00" * 9, "s16le", 9)


def test_decode_f32_nan_is_not_finite_error() -> None:
    """An f32le chunk with NaN raises NonFiniteAudioError (code audio_not_finite)."""
    raw = np.array([0.1, np.nan], dtype="<f4").tobytes()
    with pytest.raises(NonFiniteAudioError) as info:
        decode_pcm(raw, "f32le", 1)
    assert info.value.code == "audio_not_finite"


def test_bytes_per_frame() -> None:
    """Frame sizes: s16le stereo is 4 bytes, f32le mono is 4, f32le 6-channel is 24."""
    assert bytes_per_frame("s16le", 2) == 4
    assert bytes_per_frame("f32le", 1) == 4
    assert bytes_per_frame("f32le", 6) == 24


@pytest.mark.parametrize("rate", [0, 4000, 7999, 192001, 16000.0])
def test_check_format_rejects_bad_rates(rate: object) -> None:
    """Rates outside 8-192 kHz, or not integers, raise AudioFormatError."""
    with pytest.raises(AudioFormatError):
        check_format(rate, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000, 96000])
def test_normalise_resamples_common_rates_keeping_pitch(rate: int) -> None:
    """A 440 Hz tone at any common rate comes out at 16 kHz, same duration, still 440 Hz."""
    out = normalise(_sine(440.0, 1.0, rate), rate)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size - TARGET_RATE) <= 2
    assert abs(_dominant_hz(out, TARGET_RATE) - 440.0) < 2.0
    assert 0.45 < float(np.max(np.abs(out))) < 0.55


def test_normalise_int16_stereo_to_mono() -> None:
    """int16 (n, 2) input is scaled to ±1 and averaged to mono."""
    left = (_sine(300.0, 0.5, TARGET_RATE) * 32767).astype(np.int16)
    stereo = np.stack([left, left], axis=1)
    out = normalise(stereo, TARGET_RATE)
    np.testing.assert_allclose(out, left / 32768.0, atol=1e-6)


def test_normalise_int32_and_uint8() -> None:
    """int32 is scaled by 2**31 and uint8 is centred on 128."""
    x32 = np.array([0, 2**30, -(2**31)], dtype=np.int32)
    np.testing.assert_allclose(to_mono_float32(x32), [0.0, 0.5, -1.0])
    x8 = np.array([128, 192, 0], dtype=np.uint8)
    np.testing.assert_allclose(to_mono_float32(x8), [0.0, 0.5, -1.0])


def test_normalise_empty_raises_empty() -> None:
    """No samples raises EmptyAudioError (code audio_empty)."""
    with pytest.raises(EmptyAudioError) as info:
        normalise(np.zeros(0, np.float32), TARGET_RATE)
    assert info.value.code == "audio_empty"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_normalise_non_finite_raises(bad: float) -> None:
    """A NaN or infinite sample raises NonFiniteAudioError (code audio_not_finite)."""
    samples = _sine(200.0, 0.2, TARGET_RATE)
    samples[100] = bad
    with pytest.raises(NonFiniteAudioError) as info:
        normalise(samples, TARGET_RATE)
    assert info.value.code == "audio_not_finite"


def test_normalise_all_zeros_raises_silent() -> None:
    """All-zero audio (a muted microphone) raises SilentAudioError (code audio_silent)."""
    with pytest.raises(SilentAudioError) as info:
        normalise(np.zeros(16000, np.int16), TARGET_RATE)
    assert info.value.code == "audio_silent"


def test_normalise_below_minus_100_dbfs_is_silent_but_one_lsb_is_not() -> None:
    """Samples all below -100 dBFS count as silent; a single 16-bit step does not."""
    with pytest.raises(SilentAudioError):
        normalise(np.full(1000, SILENCE_PEAK / 2, np.float32), TARGET_RATE)
    one_lsb = np.zeros(1000, np.int16)
    one_lsb[10] = 1
    assert normalise(one_lsb, TARGET_RATE).size == 1000


def test_normalise_too_long_raises_and_limit_is_configurable() -> None:
    """31 s raises AudioTooLongError (code audio_too_long) at the default 30 s; max_s moves the limit."""
    long = _sine(200.0, 31.0, 8000)
    with pytest.raises(AudioTooLongError) as info:
        normalise(long, 8000)
    assert info.value.code == "audio_too_long"
    assert normalise(long, 8000, max_s=40.0).size == 31 * TARGET_RATE
    with pytest.raises(AudioTooLongError):
        normalise(_sine(200.0, 3.0, TARGET_RATE), TARGET_RATE, max_s=2.0)


@pytest.mark.parametrize(
    "samples",
    [
        np.zeros((10, 2, 2), np.float32),  # 3-D
        np.zeros((100, 9), np.float32),  # 9 channels
        np.zeros(100, np.complex64),  # complex
        np.zeros(100, np.int64),  # int64
        np.array(["a", "b"]),  # strings
    ],
)
def test_normalise_unsupported_layout_or_dtype_is_format_error(samples: np.ndarray) -> None:
    """Unsupported shapes and dtypes raise AudioFormatError, a subclass of AudioError."""
    with pytest.raises(AudioFormatError) as info:
        normalise(samples, TARGET_RATE)
    assert isinstance(info.value, AudioError)


def test_normalise_unsupported_rate_is_format_error() -> None:
    """A 4 kHz input rate raises AudioFormatError."""
    with pytest.raises(AudioFormatError):
        normalise(_sine(200.0, 1.0, 4000), 4000)


def test_load_wav_reads_rate_and_samples(tmp_path: Path) -> None:
    """load_wav returns float32 samples and the file's rate; normalise then gives 16 kHz."""
    path = tmp_path / "tone.wav"
    soundfile.write(path, _sine(440.0, 0.5, 22050), 22050, subtype="PCM_16")
    samples, rate = load_wav(path)
    assert rate == 22050 and samples.dtype == np.float32 and samples.shape == (11025,)
    assert normalise(samples, rate).size == 8000


def test_load_wav_missing_or_garbage_is_format_error(tmp_path: Path) -> None:
    """A missing file or one that is not audio raises AudioFormatError."""
    with pytest.raises(AudioFormatError):
        load_wav(tmp_path / "nope.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not a wav file at all")
    with pytest.raises(AudioFormatError):
        load_wav(junk)
