"""Audio features of one track: decode once, one STFT, every descriptor from that.

The pipeline (docs/features.md gives the reasoning behind each descriptor)::

    file ──decode (soundfile; audioread fallback)──▶ mono float32 at the file's rate
         ──soxr──▶ 22050 Hz ──STFT (2048 / 512)──▶ |X|
    |X| ──▶ spectral centroid / rolloff / flatness / contrast, frame RMS (dynamic range)
    |X|² ──mel──▶ log-mel ──▶ onset envelope ──▶ tempo, beats, beat strength, onset rate
                          └──▶ MFCC 1–13 (mean, std)
    mel power ──HPSS (median filtering)──▶ harmonic/percussive share; the harmonic soft mask mapped
                back onto the linear bins weights |X|² for chroma ──▶ key and mode (Krumhansl–Kessler)
    samples ──▶ integrated loudness (ITU-R BS.1770, pyloudnorm), zero-crossing rate

Long files are not decoded whole: beyond :data:`FULL_ANALYSIS_LIMIT_S` only
:data:`EXCERPT_COUNT` windows of :data:`EXCERPT_S` seconds, spread evenly across the file, are read
and analysed (a 3-hour mix costs what a 2.5-minute track costs). Everything here is a pure function of
the decoded signal except :func:`decode` and :func:`extract_file`, which read one file.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from player.core.downmix import to_mono
from player.core.track import MFCC_COUNT, AudioFeatures

__all__ = [
    "ANALYSIS_RATE_HZ",
    "EXCERPT_COUNT",
    "EXCERPT_S",
    "EXTRACTOR_VERSION",
    "FULL_ANALYSIS_LIMIT_S",
    "MIN_DURATION_S",
    "DecodeError",
    "DecodedAudio",
    "SilentTrackError",
    "analyse",
    "decode",
    "derive_descriptors",
    "estimate_key",
    "extract_file",
    "single_threaded_blas",
    "warm_up",
    "warm_up_seconds",
]

_log = logging.getLogger(__name__)

EXTRACTOR_VERSION = 1
"""Bump whenever any feature's definition changes: the next scan re-extracts every track."""

ANALYSIS_RATE_HZ = 22050
N_FFT = 2048
HOP = 512
N_MELS = 96
FULL_ANALYSIS_LIMIT_S = 150.0
"""Files up to this long are analysed whole."""
EXCERPT_COUNT = 5
EXCERPT_S = 30.0
"""Longer files: this many windows of this length, evenly spaced, are analysed."""
MIN_DURATION_S = 0.5
"""Shorter than this is not a playable track (a click, a glitch): reported as a problem."""
SILENCE_DBFS = -70.0
"""Peak level below which a file counts as silent."""
_LOUDNESS_FLOOR_LUFS = -70.0
_DEFAULT_TEMPO_BPM = 120.0
_TEMPO_RANGE_BPM = (40.0, 240.0)

# Krumhansl & Kessler (1982) probe-tone key profiles, tonic first.
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


class DecodeError(Exception):
    """The file cannot be decoded as audio; the message is the reason shown to the user."""


class SilentTrackError(DecodeError):
    """The file decodes but holds no signal above :data:`SILENCE_DBFS`."""


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    """The signal the analysis sees."""

    samples: np.ndarray
    """float32 [n], mono, at ``sample_rate_hz``; for long files the excerpts, concatenated."""
    sample_rate_hz: int
    duration_s: float
    """The whole file's duration, not the excerpts'."""
    excerpted: bool


# --------------------------------------------------------------------------------------------- decode


def decode(path: Path) -> DecodedAudio:
    """Read ``path`` once into mono float32 at :data:`ANALYSIS_RATE_HZ`.

    Raises:
        DecodeError: If the file is empty, not audio, unreadable, truncated or corrupt, or shorter
            than :data:`MIN_DURATION_S`.
        SilentTrackError: If every sample is below :data:`SILENCE_DBFS`.
    """
    try:
        if path.stat().st_size == 0:
            raise DecodeError("empty file (0 bytes)")
    except OSError as exc:
        raise DecodeError(f"unreadable: {exc.strerror or exc}") from exc
    try:
        samples, rate, duration_s, excerpted = _decode_soundfile(path)
    except _NotForSoundfile as exc:
        # libsndfile does not know the container: try audioread (ffmpeg/GStreamer where installed).
        try:
            samples, rate, duration_s, excerpted, _ = _decode_audioread(path)
        except DecodeError:
            raise
        except Exception as fallback_exc:
            raise DecodeError(f"not decodable as audio ({_refusal(exc, path)})") from fallback_exc
    except _StoppedEarly as exc:
        # libsndfile opened the file and stopped inside it: a truncated or corrupt file, or one of
        # its codec's own failures (libsndfile 1.2.2 stops 5 s into Ogg Opus files that ffmpeg wrote).
        # A second decoder decides: the file is whole if it decodes what the header declares.
        try:
            samples, rate, duration_s, excerpted, decoded_s = _decode_audioread(path)
        except Exception:
            raise exc from None
        if decoded_s < exc.declared_s - max(0.5, 0.02 * exc.declared_s):
            raise exc from None
        _log.info("%s: libsndfile stopped (%s); decoded through audioread instead", path, exc)
    except OSError as exc:
        raise DecodeError(f"unreadable: {exc.strerror or exc}") from exc
    if samples.size == 0 or duration_s < MIN_DURATION_S:
        raise DecodeError(f"too short to be a track ({duration_s:.2f} s < {MIN_DURATION_S} s)")
    if not np.all(np.isfinite(samples)):
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.max(np.abs(samples)))
    if peak <= 10 ** (SILENCE_DBFS / 20):
        raise SilentTrackError(f"silent (peak {20 * math.log10(max(peak, 1e-12)):.0f} dBFS)")
    if rate != ANALYSIS_RATE_HZ:
        import soxr

        samples = soxr.resample(samples, rate, ANALYSIS_RATE_HZ).astype(np.float32, copy=False)
    return DecodedAudio(
        np.ascontiguousarray(samples, dtype=np.float32), ANALYSIS_RATE_HZ, duration_s, excerpted
    )


class _NotForSoundfile(Exception):
    """libsndfile cannot open the file (the container is unknown to it, or it is not audio)."""


class _StoppedEarly(DecodeError):
    """libsndfile opened the file but decoded less than its header declares."""

    def __init__(self, message: str, declared_s: float) -> None:
        super().__init__(message)
        self.declared_s = declared_s


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _refusal(exc: BaseException, path: Path) -> str:
    """libsndfile's reason for not opening ``path``. For contents it recognises as no format at all
    it says "File does not exist or is not a regular file (possibly a pipe?)", which misleads about a
    file that exists: that becomes "no audio format recognised"."""
    text = str(exc)
    if "does not exist or is not a regular file" in text and path.is_file():
        return "no audio format recognised in its contents"
    return text


def _excerpt_starts(duration_s: float) -> list[float]:
    """Start times (s) of the analysed windows of a long file, evenly spread, ends excluded."""
    span = duration_s - EXCERPT_S
    return [span * (i + 0.5) / EXCERPT_COUNT for i in range(EXCERPT_COUNT)]


def _decode_soundfile(path: Path) -> tuple[np.ndarray, int, float, bool]:
    import soundfile as sf

    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise _NotForSoundfile(_short(exc)) from exc
    with f:
        rate = int(f.samplerate)
        declared = int(f.frames)
        vorbis_order = f.format == "OGG"
        duration_s = declared / rate if rate else 0.0
        try:
            if duration_s > FULL_ANALYSIS_LIMIT_S and f.seekable():
                chunks = []
                win = int(EXCERPT_S * rate)
                for start_s in _excerpt_starts(duration_s):
                    f.seek(int(start_s * rate))
                    chunk = f.read(win, dtype="float32", always_2d=True)
                    chunks.append(to_mono(chunk, vorbis_order=vorbis_order))
                    if len(chunk) < win:
                        raise _StoppedEarly(
                            f"truncated: stops near {start_s + len(chunk) / rate:.1f} s "
                            f"of {duration_s:.1f} s declared",
                            duration_s,
                        )
                return np.concatenate(chunks), rate, duration_s, True
            data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise _StoppedEarly(
                f"truncated or corrupt: decoding stopped ({_short(exc)})", duration_s
            ) from exc
    got = len(data)
    # A truncated file decodes up to where it breaks; some slack covers codec rounding.
    if declared > 0 and got < declared - max(rate // 2, int(0.02 * declared)):
        raise _StoppedEarly(
            f"truncated: decoded {got / rate:.1f} s of {duration_s:.1f} s declared", duration_s
        )
    return to_mono(data, vorbis_order=vorbis_order), rate, got / rate if rate else 0.0, False


def _decode_audioread(path: Path) -> tuple[np.ndarray, int, float, bool, float]:
    """Decode through audioread (ffmpeg, GStreamer, Core Audio: whatever is installed), streaming:
    for a long file only the excerpt windows are kept in memory. Returns the samples kept, the rate,
    the duration, whether excerpted, and the seconds actually decoded."""
    import audioread

    with audioread.audio_open(str(path)) as f:
        rate, channels, duration_s = int(f.samplerate), max(int(f.channels), 1), float(f.duration)
        long_file = duration_s > FULL_ANALYSIS_LIMIT_S
        windows = (
            [(int(s * rate), int((s + EXCERPT_S) * rate)) for s in _excerpt_starts(duration_s)]
            if long_file
            else []
        )
        kept: list[np.ndarray] = []
        position = 0
        for buffer in f:
            block = np.frombuffer(buffer, dtype="<i2").astype(np.float32) / 32768.0
            block = to_mono(block[: len(block) // channels * channels].reshape(-1, channels))
            start, end = position, position + len(block)
            position = end
            if not long_file:
                kept.append(block)
                continue
            for w_start, w_end in windows:
                lo, hi = max(start, w_start), min(end, w_end)
                if lo < hi:
                    kept.append(block[lo - start : hi - start])
    samples = np.concatenate(kept) if kept else np.zeros(0, dtype=np.float32)
    decoded_s = position / max(rate, 1)
    return samples, rate, duration_s if long_file else decoded_s, long_file, decoded_s


# ------------------------------------------------------------------------------------------- analyse


def analyse(audio: DecodedAudio) -> AudioFeatures:
    """All features of one decoded signal (pure: no I/O)."""
    import librosa

    y = audio.samples
    sr = audio.sample_rate_hz
    if len(y) < N_FFT:
        y = np.pad(y, (0, N_FFT - len(y)))
    magnitude = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, center=True))
    power = magnitude**2
    frames = power.shape[1]

    # Frame RMS (Parseval on the STFT) for the dynamic range; drop near-silent frames (fades, gaps).
    rms = librosa.feature.rms(S=magnitude, frame_length=N_FFT)[0]
    rms_db = 20 * np.log10(np.maximum(rms, 1e-10))
    voiced = rms_db[rms_db > rms_db.max() - 60]
    dynamic_range_db = float(np.percentile(voiced, 95) - np.percentile(voiced, 10)) if voiced.size else 0.0

    mel_basis = librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=N_MELS)
    mel_power = mel_basis @ power
    log_mel = librosa.power_to_db(mel_power, ref=np.max, top_db=80.0)

    # Rhythm: one onset envelope from the log-mel (librosa's default spectral flux).
    onset_env = librosa.onset.onset_strength(S=log_mel, sr=sr, hop_length=HOP)
    seconds = len(y) / sr
    tempo_bpm, beat_strength, pulse_clarity = _rhythm(onset_env, sr, frames)
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=HOP, units="frames")
    onset_rate = float(len(onsets) / max(seconds, 1e-3))

    # Timbre and brightness from the magnitude spectrogram; weighted by frame energy so the
    # fades and silences between notes do not dominate the summaries.
    weights = rms / rms.sum() if rms.sum() > 0 else np.full(frames, 1.0 / frames)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT).astype(np.float32)
    centroid = (freqs @ magnitude) / np.maximum(magnitude.sum(axis=0), 1e-10)
    rolloff = librosa.feature.spectral_rolloff(S=magnitude, sr=sr, roll_percent=0.85)[0]
    flatness = librosa.feature.spectral_flatness(S=magnitude)[0]
    contrast = librosa.feature.spectral_contrast(S=magnitude, sr=sr)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=MFCC_COUNT)

    # HPSS on the mel power of the same STFT (median filtering along time vs along frequency,
    # Fitzgerald 2010); the mel resolution keeps it ~20x cheaper than on 1025 linear bins.
    harmonic_mel, percussive_mel = librosa.decompose.hpss(mel_power, kernel_size=(17, 9))
    h_energy = float(harmonic_mel.sum())
    p_energy = float(percussive_mel.sum())
    hp_ratio = h_energy / (h_energy + p_energy) if h_energy + p_energy > 0 else 0.5
    # Map the harmonic soft mask back to linear bins to keep drums out of the chroma.
    mask_mel = harmonic_mel / np.maximum(harmonic_mel + percussive_mel, 1e-12)
    spread = mel_basis.T
    mask_lin = (spread @ mask_mel) / np.maximum(spread.sum(axis=1, keepdims=True), 1e-12)
    mask_lin[spread.sum(axis=1) <= 0] = 1.0
    chroma = librosa.feature.chroma_stft(S=power * mask_lin, sr=sr, n_fft=N_FFT, tuning=0.0)
    key, mode, key_clarity = estimate_key(chroma)

    loudness_db = _integrated_loudness(y, sr)

    features = {
        "duration_s": float(audio.duration_s),
        "tempo_bpm": tempo_bpm,
        "beat_strength": beat_strength,
        "onset_rate": onset_rate,
        "loudness_db": loudness_db,
        "dynamic_range_db": dynamic_range_db,
        "spectral_centroid_hz": float(np.dot(weights, centroid)),
        "spectral_rolloff_hz": float(np.dot(weights, rolloff)),
        "spectral_flatness": float(np.dot(weights, flatness)),
        "spectral_contrast_db": float(np.mean(contrast @ weights)),
        # Sign changes per sample over the whole signal (librosa's framed ZCR, averaged, is the same
        # up to frame-edge effects and costs 10x more).
        "zero_crossing_rate": float(np.count_nonzero(np.diff(np.signbit(y))) / max(len(y) - 1, 1)),
        "hp_ratio": float(hp_ratio),
    }
    descriptors = derive_descriptors(
        loudness_db=loudness_db,
        tempo_bpm=tempo_bpm,
        onset_rate=onset_rate,
        beat_strength=beat_strength,
        pulse_clarity=pulse_clarity,
        spectral_centroid_hz=features["spectral_centroid_hz"],
        spectral_flatness=features["spectral_flatness"],
        hp_ratio=features["hp_ratio"],
        mode=mode,
        key_clarity=key_clarity,
    )
    clean = {k: _finite(v) for k, v in {**features, **descriptors}.items()}
    return AudioFeatures(
        **clean,
        key=key,
        mode=mode,
        mfcc_mean=tuple(_finite(v) for v in mfcc.mean(axis=1)),
        mfcc_std=tuple(_finite(v) for v in mfcc.std(axis=1)),
    )


def _finite(value: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else 0.0


def _rhythm(onset_env: np.ndarray, sr: int, frames: int) -> tuple[float, float, float]:
    """(tempo in BPM, beat strength 0–1, pulse clarity 0–1) from the onset envelope."""
    import librosa

    if frames < 16 or not np.any(onset_env > 0):
        return _DEFAULT_TEMPO_BPM, 0.0, 0.0
    tempo = float(librosa.feature.tempo(onset_envelope=onset_env, sr=sr, hop_length=HOP)[0])
    if not math.isfinite(tempo) or tempo <= 0:
        tempo = _DEFAULT_TEMPO_BPM
    tempo = float(np.clip(tempo, *_TEMPO_RANGE_BPM))
    _, beats = librosa.beat.beat_track(onset_envelope=onset_env, sr=sr, hop_length=HOP, bpm=tempo, trim=False)
    mean_env = float(onset_env.mean())
    if len(beats) >= 2 and mean_env > 0:
        # Onset strength at the beats over the overall mean (r ≥ 1 on a clear beat), mapped to 0–1
        # as 1 − 1/r: r = 1 (beats no stronger than anything else) → 0, r = 4 → 0.75.
        at_beats = float(np.mean([onset_env[max(b - 1, 0) : b + 2].max() for b in beats]))
        ratio = at_beats / mean_env
        beat_strength = float(np.clip(1.0 - 1.0 / max(ratio, 1e-6), 0.0, 1.0))
    else:
        beat_strength = 0.0
    # Pulse clarity: normalised autocorrelation of the onset envelope at the beat period
    # (Lartillot et al. 2008, "pulse clarity"), 0 = no periodicity, 1 = perfectly periodic.
    env = onset_env - onset_env.mean()
    denom = float(np.dot(env, env))
    lag = round(60.0 * sr / HOP / tempo)
    if denom > 0 and 0 < lag < len(env) - 1:
        best = max(float(np.dot(env[:-lg], env[lg:])) for lg in (lag - 1, lag, lag + 1) if 0 < lg < len(env))
        pulse_clarity = float(np.clip(best / denom, 0.0, 1.0))
    else:
        pulse_clarity = 0.0
    return tempo, beat_strength, pulse_clarity


def estimate_key(chroma: np.ndarray) -> tuple[int, Literal["major", "minor"], float]:
    """Key (tonic pitch class 0 = C) and mode by Krumhansl–Kessler profile correlation.

    ``chroma`` is [12, frames] (or [12]); its time-average is correlated (Pearson) with the 24
    rotated major and minor profiles and the best wins (Krumhansl 1990, the Krumhansl–Schmuckler
    algorithm). Returns (key, mode, correlation of the winner).
    """
    profile = np.asarray(chroma, dtype=np.float64)
    if profile.ndim == 2:
        profile = profile.mean(axis=1)
    if not np.any(profile > 0) or np.ptp(profile) <= 1e-12:
        return 0, "major", 0.0
    best = (-2.0, 0, "major")
    centred = profile - profile.mean()
    for mode_name, template in (("major", _KK_MAJOR), ("minor", _KK_MINOR)):
        for tonic in range(12):
            rotated = np.roll(template, tonic)
            rc = rotated - rotated.mean()
            r = float(np.dot(centred, rc) / (np.linalg.norm(centred) * np.linalg.norm(rc)))
            if r > best[0]:
                best = (r, tonic, mode_name)
    r, tonic, mode_name = best
    return int(tonic), "major" if mode_name == "major" else "minor", r


def _integrated_loudness(y: np.ndarray, sr: int) -> float:
    """ITU-R BS.1770-4 integrated loudness (LUFS) with pyloudnorm; a floor for silence/very short."""
    import pyloudnorm

    block_s = 0.4
    signal = y.astype(np.float64)
    if len(signal) < int(block_s * sr) + 1:
        signal = np.tile(signal, math.ceil((block_s * sr + 1) / max(len(signal), 1)) + 1)
    try:
        value = float(pyloudnorm.Meter(sr, block_size=block_s).integrated_loudness(signal))
    except ValueError:
        return _LOUDNESS_FLOOR_LUFS
    if not math.isfinite(value):
        return _LOUDNESS_FLOOR_LUFS
    return max(value, _LOUDNESS_FLOOR_LUFS)


# ------------------------------------------------------------------------------- derived descriptors


def _ramp(value: float, low: float, high: float) -> float:
    """0 at ``low``, 1 at ``high``, linear between, clipped."""
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def derive_descriptors(
    *,
    loudness_db: float,
    tempo_bpm: float,
    onset_rate: float,
    beat_strength: float,
    pulse_clarity: float,
    spectral_centroid_hz: float,
    spectral_flatness: float,
    hp_ratio: float,
    mode: Literal["major", "minor"],
    key_clarity: float,
) -> dict[str, float]:
    """The 0–1 descriptors ``energy``, ``danceability``, ``acousticness``, ``valence``.

    Fixed weighted sums of normalised low-level features; docs/features.md gives the weights'
    reasoning (arousal: loudness, tempo, timbre; valence: mode, tempo, brightness).
    """
    loud = _ramp(loudness_db, -40.0, -8.0)
    busy = _ramp(onset_rate, 0.5, 7.0)
    bright = _ramp(math.log2(max(spectral_centroid_hz, 1.0)), math.log2(400.0), math.log2(4000.0))
    noisy = _ramp(math.log10(max(spectral_flatness, 1e-8)), -5.0, -1.0)
    fast = _ramp(tempo_bpm, 60.0, 180.0)
    percussive = 1.0 - float(np.clip(hp_ratio, 0.0, 1.0))
    energy = 0.40 * loud + 0.20 * busy + 0.15 * bright + 0.10 * fast + 0.10 * percussive + 0.05 * noisy

    # Danceability: a strong, regular beat near the walking/dancing tempo (~120 BPM).
    tempo_fit = math.exp(-0.5 * (math.log2(max(tempo_bpm, 1.0) / 120.0) / 0.45) ** 2)
    danceability = 0.40 * beat_strength + 0.30 * pulse_clarity + 0.30 * tempo_fit

    # Acousticness: tonal, not noisy, not bright, not compressed-loud.
    acousticness = (
        0.40 * float(np.clip(hp_ratio, 0, 1)) + 0.25 * (1 - noisy) + 0.20 * (1 - bright) + 0.15 * (1 - loud)
    )

    # Valence: major mode (weighted by how clearly the key speaks), faster tempo, brighter timbre.
    mode_cue = 0.5 + (0.5 if mode == "major" else -0.5) * _ramp(key_clarity, 0.2, 0.7)
    valence = 0.45 * mode_cue + 0.25 * fast + 0.15 * bright + 0.15 * loud
    return {
        "energy": float(np.clip(energy, 0.0, 1.0)),
        "danceability": float(np.clip(danceability, 0.0, 1.0)),
        "acousticness": float(np.clip(acousticness, 0.0, 1.0)),
        "valence": float(np.clip(valence, 0.0, 1.0)),
    }


# ---------------------------------------------------------------------------------------- entry points


def extract_file(path: Path) -> AudioFeatures:
    """Decode ``path`` and analyse it.

    Raises:
        DecodeError: If the file cannot be used as a track (the message says why).
    """
    return analyse(decode(path))


_warm_up_s: float | None = None


def single_threaded_blas() -> None:
    """Limit BLAS (OpenBLAS/MKL) to one thread in this process. A scan runs one worker per core, and
    BLAS threads spinning against each other cost ~40 % more CPU per track (bench/scan.py)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with librosa's scikit-learn
        return
    threadpool_limits(limits=1, user_api="blas")


def warm_up() -> float:
    """Run the whole analysis once on a 3 s synthetic signal so numba compiles (or loads its cache)
    before the first real track; returns the seconds it took."""
    global _warm_up_s
    import time

    start = time.perf_counter()
    sr = ANALYSIS_RATE_HZ
    t = np.arange(int(3.0 * sr)) / sr
    y = 0.2 * np.sin(2 * np.pi * 220.0 * t) * (1 + np.sign(np.sin(2 * np.pi * 2 * t))) / 2
    analyse(DecodedAudio(y.astype(np.float32), sr, 3.0, False))
    _warm_up_s = time.perf_counter() - start
    return _warm_up_s


def warm_up_seconds() -> float | None:
    """Seconds the last :func:`warm_up` in this process took; None if it never ran."""
    return _warm_up_s
