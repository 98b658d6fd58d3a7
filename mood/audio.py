"""Audio in: decode PCM, validate, and normalise every utterance once to 16 kHz mono float32.

Everything downstream of this module (VAD, Whisper, prosody) sees one format: a 1-D ``float32`` array
at :data:`TARGET_RATE` with full scale ±1.0. Bad audio is rejected here with the typed errors of
:mod:`mood.errors`, each with its stable wire code:

============================  =====================  ==========================================
error                          code                   when
============================  =====================  ==========================================
:class:`EmptyAudioError`       ``audio_empty``        no samples at all
:class:`NonFiniteAudioError`   ``audio_not_finite``   a NaN or ±inf sample
:class:`SilentAudioError`      ``audio_silent``       every sample below -100 dBFS (a muted mic)
:class:`AudioTooLongError`     ``audio_too_long``     longer than ``max_s`` (default 30 s)
:class:`AudioFormatError`      ``audio_format``       unsupported dtype, rate, channel layout, or
                                                      a byte count that is not whole frames
============================  =====================  ==========================================

Resampling uses soxr (the libsoxr "HQ" preset), the same library librosa uses by default.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import soxr

from mood.errors import (
    AudioFormatError,
    AudioTooLongError,
    EmptyAudioError,
    NonFiniteAudioError,
    SilentAudioError,
)

__all__ = [
    "MAX_CHANNELS",
    "MAX_RATE",
    "MIN_RATE",
    "SAMPLE_FORMATS",
    "SILENCE_PEAK",
    "TARGET_RATE",
    "SampleFormat",
    "bytes_per_frame",
    "check_format",
    "decode_pcm",
    "load_wav",
    "normalise",
    "to_mono_float32",
]

logger = logging.getLogger(__name__)

SampleFormat = Literal["s16le", "f32le"]
"""Wire sample formats: signed 16-bit little-endian PCM, or 32-bit little-endian IEEE float."""
SAMPLE_FORMATS: tuple[SampleFormat, ...] = get_args(SampleFormat)

TARGET_RATE = 16000
"""Hz: the rate Silero VAD and Whisper are trained on."""
MIN_RATE = 8000
"""Hz: the lowest input rate accepted (telephone audio); below it speech is unintelligible."""
MAX_RATE = 192000
"""Hz: the highest input rate accepted."""
MAX_CHANNELS = 8
"""The most interleaved channels accepted; they are averaged to mono."""
SILENCE_PEAK = 1e-5
"""Full-scale amplitude (-100 dBFS) below which every sample counts as silence (a muted microphone).
A 16-bit stream's smallest step is 3e-5, so any non-zero 16-bit sample is above it."""

_DTYPES: dict[str, np.dtype[np.generic]] = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}


def check_format(sample_rate: int, channels: int, sample_format: str | None = None) -> None:
    """Validate a stream's declared format.

    Raises:
        AudioFormatError: If the rate is outside [MIN_RATE, MAX_RATE] Hz, the channel count outside
            [1, MAX_CHANNELS], or the sample format not one of :data:`SAMPLE_FORMATS`.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise AudioFormatError(f"sample rate must be an integer number of Hz, got {sample_rate!r}")
    if not MIN_RATE <= int(sample_rate) <= MAX_RATE:
        raise AudioFormatError(f"sample rate {sample_rate} Hz is outside {MIN_RATE}–{MAX_RATE} Hz")
    if isinstance(channels, bool) or not isinstance(channels, int | np.integer):
        raise AudioFormatError(f"channel count must be an integer, got {channels!r}")
    if not 1 <= int(channels) <= MAX_CHANNELS:
        raise AudioFormatError(f"{channels} channels is outside 1–{MAX_CHANNELS}")
    if sample_format is not None and sample_format not in SAMPLE_FORMATS:
        raise AudioFormatError(
            f"sample format {sample_format!r} is not supported (use one of {', '.join(SAMPLE_FORMATS)})"
        )


def bytes_per_frame(sample_format: SampleFormat, channels: int) -> int:
    """Bytes in one interleaved frame (one sample of every channel)."""
    check_format(TARGET_RATE, channels, sample_format)
    return _DTYPES[sample_format].itemsize * int(channels)


def decode_pcm(chunk: bytes, sample_format: SampleFormat, channels: int) -> np.ndarray:
    """Decode interleaved little-endian PCM bytes into mono float32 at full scale ±1.0.

    Returns:
        np.ndarray [shape=(n,), dtype=float32]: the channels averaged; empty for an empty chunk.

    Raises:
        AudioFormatError: If the format or channel count is unsupported, or ``len(chunk)`` is not a
            whole number of frames.
        NonFiniteAudioError: If an ``f32le`` chunk holds NaN or infinity.
    """
    frame_bytes = bytes_per_frame(sample_format, channels)
    if len(chunk) % frame_bytes:
        raise AudioFormatError(
            f"{len(chunk)} bytes is not a whole number of {sample_format} frames "
            f"of {channels} channel(s) ({frame_bytes} bytes each)"
        )
    raw = np.frombuffer(chunk, dtype=_DTYPES[sample_format])
    if sample_format == "s16le":
        samples = raw.astype(np.float32) / np.float32(32768.0)
    else:
        samples = raw.astype(np.float32)
        if not np.isfinite(samples).all():
            raise NonFiniteAudioError("the audio contains NaN or infinite samples")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(samples, dtype=np.float32)


def to_mono_float32(samples: np.ndarray) -> np.ndarray:
    """Convert samples of shape (n,) or (n, channels) and an integer or float dtype to mono float32.

    Integers are scaled to full scale ±1.0 (int16 by 2**15, int32 by 2**31, uint8 centred on 128).

    Raises:
        AudioFormatError: If the dtype is not int16, int32, uint8 or float, the array is not 1-D or
            2-D, or it has more than :data:`MAX_CHANNELS` channels.
        EmptyAudioError: If there are no samples.
        NonFiniteAudioError: If a sample is NaN or infinite.
    """
    array = np.asarray(samples)
    if array.ndim not in (1, 2):
        raise AudioFormatError(f"expected samples of shape (n,) or (n, channels), got {array.shape}")
    if array.ndim == 2 and not 1 <= array.shape[1] <= MAX_CHANNELS:
        raise AudioFormatError(
            f"expected (n, channels) with 1–{MAX_CHANNELS} channels, got shape {array.shape}"
        )
    if array.size == 0:
        raise EmptyAudioError("the audio has no samples")
    if array.dtype == np.int16:
        mono = array.astype(np.float32) / np.float32(32768.0)
    elif array.dtype == np.int32:
        mono = (array.astype(np.float64) / 2147483648.0).astype(np.float32)
    elif array.dtype == np.uint8:
        mono = (array.astype(np.float32) - np.float32(128.0)) / np.float32(128.0)
    elif array.dtype in (np.float16, np.float32, np.float64):
        mono = array.astype(np.float32)
        if not np.isfinite(mono).all() or not np.isfinite(array).all():
            raise NonFiniteAudioError("the audio contains NaN or infinite samples")
    else:
        raise AudioFormatError(f"unsupported sample dtype {array.dtype} (use int16, int32 or float)")
    if mono.ndim == 2:
        mono = mono.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def normalise(samples: np.ndarray, sample_rate: int, *, max_s: float = 30.0) -> np.ndarray:
    """Normalise one utterance to 16 kHz mono float32, rejecting bad audio.

    Parameters:
        samples: np.ndarray [shape=(n,) or (n, channels)], int16, int32, uint8 or float.
        sample_rate: Hz, between :data:`MIN_RATE` and :data:`MAX_RATE`.
        max_s: seconds; longer audio is refused.

    Returns:
        np.ndarray [shape=(m,), dtype=float32]: at :data:`TARGET_RATE`, resampled with soxr.

    Raises:
        AudioFormatError: If the dtype, shape or rate is unsupported.
        EmptyAudioError: If there are no samples.
        NonFiniteAudioError: If a sample is NaN or infinite.
        AudioTooLongError: If the audio lasts longer than ``max_s`` seconds.
        SilentAudioError: If every sample is below :data:`SILENCE_PEAK` (-100 dBFS).
    """
    check_format(sample_rate, 1)
    mono = to_mono_float32(samples)
    duration_s = mono.shape[0] / float(sample_rate)
    if duration_s > max_s:
        raise AudioTooLongError(f"the audio lasts {duration_s:.1f} s, longer than the {max_s:g} s limit")
    if float(np.max(np.abs(mono))) < SILENCE_PEAK:
        raise SilentAudioError("every sample is silent (is the microphone muted?)")
    if int(sample_rate) != TARGET_RATE:
        mono = soxr.resample(mono, int(sample_rate), TARGET_RATE, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def load_wav(path: Path) -> tuple[np.ndarray, int]:
    """Read an audio file (WAV, FLAC, OGG… whatever libsndfile reads) as float32.

    Returns:
        (samples, sample_rate): samples [shape=(n,) or (n, channels), dtype=float32], rate in Hz.

    Raises:
        AudioFormatError: If the file is missing or libsndfile cannot read it.
    """
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=False)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        raise AudioFormatError(f"cannot read audio file {path}: {exc}") from exc
    return np.ascontiguousarray(data), int(rate)
