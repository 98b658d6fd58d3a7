"""Prosody: how something was said, as numbers, and how energetic that sounds for this speaker.

Pure functions on arrays (no I/O, no clock). Per utterance, over voiced frames, a small set taken
from the extended Geneva Minimalistic Acoustic Parameter Set (eGeMAPS, Eyben et al. 2016, IEEE
Trans. Affective Computing 7(2)), the parameters that research on vocal affect finds to carry arousal:

==========================  =================================================================
``f0_mean_st``              F0 level: median F0 in semitones re 27.5 Hz (eGeMAPS' unit)
``f0_range_st``             F0 range: 98th − 2nd percentile of F0 in semitones
``f0_sd_st``                F0 variability: standard deviation in semitones
``f0_slope_st_per_s``       F0 slope: least-squares line through F0 (semitones) against time
``loudness_mean_db``        loudness: mean frame RMS level of voiced frames, dBFS
``loudness_sd_db``          loudness variability: its standard deviation, dB
``speaking_rate_sps``       syllables per second of speech (transcript syllables, else acoustic nuclei)
``pause_ratio``             share of the speech span (first to last speech frame) that is pause
``spectral_centroid_hz``    power-weighted mean frequency of voiced frames
``alpha_ratio_db``          spectral tilt: energy 1–5 kHz over 50–1000 Hz, dB (eGeMAPS alpha ratio)
``voiced_segments_per_s``   voiced stretches per second of speech (eGeMAPS VoicedSegmentsPerSec)
==========================  =================================================================

F0 comes from a vectorised YIN (de Cheveigné & Kawahara 2002) run at 8 kHz, with its aperiodicity
used as the voicing decision; full pYIN costs about a second per 6 s of speech, this YIN ~10 ms.

Two stages: per-frame measurements (:class:`FrameMeasures`: level, F0, aperiodicity, band powers, on an
8 ms hop) and their aggregation over one utterance (:func:`features_from_frames`). A
:class:`ProsodyTracker` measures frames of a live stream as the audio arrives, so at the end of an
utterance only the aggregation is left; :func:`extract_prosody` runs the same tracker over a whole
utterance at once.

:class:`SpeakerBaseline` keeps a running mean and spread of each feature per speaker (weighted
Welford/West updates, weight = seconds of speech), shrunk toward a population prior until it has heard
enough speech, and turns features into z-scores: the same voice faster, louder and higher reads as more
energetic. :func:`prosodic_arousal` maps the z-scores to a 0–1 arousal score.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from mood.audio import TARGET_RATE

__all__ = [
    "AROUSAL_WEIGHTS",
    "FEATURE_NAMES",
    "HOP_LENGTH",
    "POPULATION_PRIOR",
    "FrameMeasures",
    "ProsodicArousal",
    "ProsodyFeatures",
    "ProsodyTracker",
    "SpeakerBaseline",
    "count_syllables",
    "extract_prosody",
    "features_from_frames",
    "measure_frames",
    "prosodic_arousal",
    "track_f0",
    "with_transcript_rate",
]

FRAME_LENGTH = 640
"""Samples per analysis frame (40 ms at 16 kHz: two periods of a 50 Hz voice)."""
HOP_LENGTH = 128
LEVEL_LENGTH = 320
"""Samples per loudness frame (20 ms)."""
"""Samples between frames (8 ms: four to a Silero VAD frame, so stream and utterance grids align)."""
HOP_S = HOP_LENGTH / TARGET_RATE
FMIN_HZ = 60.0
FMAX_HZ = 500.0
YIN_THRESHOLD = 0.15
"""Cumulative-mean-normalised difference below which YIN takes the first dip (de Cheveigné 2002 §IV)."""
VOICING_APERIODICITY = 0.30
"""Frames whose best YIN dip is above this are unvoiced."""
ACTIVITY_FLOOR_DB = 40.0
"""Frames quieter than the loudest frame minus this are silence, whatever YIN says."""
MIN_PAUSE_S = 0.10
"""Shorter gaps between speech frames are articulation, not pauses."""
ST_REFERENCE_HZ = 27.5
"""eGeMAPS expresses F0 in semitones relative to 27.5 Hz (A0)."""
VAD_FRAME_SAMPLES = 512
"""Silero VAD's frame (32 ms at 16 kHz), the resolution of ``Utterance.frame_probs``."""


@dataclass(frozen=True, slots=True)
class ProsodyFeatures:
    """The prosody of one utterance (see the module docstring for each feature's definition)."""

    f0_mean_st: float
    """Semitones re 27.5 Hz (120 Hz ≈ 25.5 st, 220 Hz = 36 st); nan when nothing was voiced."""
    f0_range_st: float
    """Semitones between the 2nd and 98th percentile of voiced F0."""
    f0_sd_st: float
    """Semitones."""
    f0_slope_st_per_s: float
    """Semitones per second; positive when the pitch rises over the utterance."""
    loudness_mean_db: float
    """dBFS (0 dB = full-scale RMS), mean over voiced frames."""
    loudness_sd_db: float
    """dB."""
    speaking_rate_sps: float
    """Syllables per second of speech (pauses excluded)."""
    pause_ratio: float
    """0–1: pause time over the span from the first to the last speech frame."""
    spectral_centroid_hz: float
    """Hz."""
    alpha_ratio_db: float
    """dB: 10·log10(energy 1–5 kHz / energy 50–1000 Hz) over voiced frames; higher is a flatter,
    more effortful spectrum."""
    voiced_segments_per_s: float
    """Voiced stretches per second of speech."""
    voiced_s: float
    """Seconds of voiced frames."""
    speech_s: float
    """Seconds of speech (VAD, else energy activity), pauses excluded."""
    duration_s: float
    """Seconds of audio analysed."""
    rate_source: str = "acoustic"
    """Where ``speaking_rate_sps`` came from: "transcript" (syllables of the words) or "acoustic"
    (loudness peaks in voiced stretches, after de Jong & Wempe 2009)."""

    @property
    def voiced_ratio(self) -> float:
        """0–1: voiced seconds over speech seconds."""
        return min(1.0, self.voiced_s / self.speech_s) if self.speech_s > 0 else 0.0

    def to_dict(self) -> dict[str, float]:
        """Numbers only (``rate_source`` as 1.0 transcript / 0.0 acoustic), rounded, nan as None-free 0."""
        out: dict[str, float] = {}
        for key, value in asdict(self).items():
            if key == "rate_source":
                out["rate_from_transcript"] = 1.0 if value == "transcript" else 0.0
            else:
                v = float(value)
                out[key] = round(v, 4) if math.isfinite(v) else 0.0
        return out


FEATURE_NAMES: tuple[str, ...] = tuple(
    f.name
    for f in fields(ProsodyFeatures)
    if f.name not in ("voiced_s", "speech_s", "duration_s", "rate_source")
)


def _semitones(f0_hz: np.ndarray) -> np.ndarray:
    return 12.0 * np.log2(np.maximum(f0_hz, 1e-6) / ST_REFERENCE_HZ)


def _median3(x: np.ndarray) -> np.ndarray:
    if x.shape[0] < 3:
        return x
    stacked = np.stack([np.r_[x[0], x[:-1]], x, np.r_[x[1:], x[-1]]])
    return np.median(stacked, axis=0)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index pairs of the True runs of a boolean array."""
    if mask.size == 0:
        return []
    edges = np.diff(np.r_[0, mask.astype(np.int8), 0])
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


# -- syllables --------------------------------------------------------------------------------------

_VOWEL_GROUPS = re.compile(r"[aeiouy]+")
_NUMBER_SYLLABLES = 2  # a spoken number has ~2 syllables per digit group; rough but rare in moods


def count_syllables(text: str) -> int:
    """Syllables of English text, by vowel groups (silent final e, -le and numerals handled roughly)."""
    total = 0
    for token in re.findall(r"[a-z']+|\d+", text.lower()):
        if token.isdigit():
            total += _NUMBER_SYLLABLES * len(token)
            continue
        word = token.replace("'", "")
        groups = len(_VOWEL_GROUPS.findall(word))
        if word.endswith("e") and not word.endswith(("le", "ee", "ye")) and groups > 1:
            groups -= 1
        total += max(1, groups)
    return total


# -- per-frame measurements -------------------------------------------------------------------------


def _frames(samples: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """[n_frames, frame_length] view of ``samples`` centred frames (zero-padded at the ends)."""
    pad = frame_length // 2
    padded = np.pad(samples.astype(np.float64, copy=False), (pad, pad))
    if padded.shape[0] < frame_length:
        padded = np.pad(padded, (0, frame_length - padded.shape[0]))
    n = 1 + (padded.shape[0] - frame_length) // hop_length
    return _strided(padded, 0, n, frame_length, hop_length)


def _strided(x: np.ndarray, first: int, n: int, frame_length: int, hop_length: int) -> np.ndarray:
    """[n, frame_length] read-only view of ``x``: frame i starts at ``first + i * hop_length``."""
    return np.lib.stride_tricks.as_strided(
        x[first:],
        shape=(n, frame_length),
        strides=(x.strides[0] * hop_length, x.strides[0]),
        writeable=False,
    )


def _yin(
    frames: np.ndarray, sample_rate: int, fmin_hz: float, fmax_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """YIN over a [n, frame_length] matrix: (f0_hz, aperiodicity) per frame."""
    frame_length = frames.shape[1]
    tau_min = max(1, math.floor(sample_rate / fmax_hz))
    tau_max = min(frame_length // 2, math.ceil(sample_rate / fmin_hz))
    win = frame_length - tau_max
    # difference function d(tau) = E0 + E_tau - 2 r(tau), with r from the FFT autocorrelation of
    # each frame against its first `win` samples (the standard YIN integration window).
    n_fft = 1 << (frame_length + win - 1).bit_length()
    spec_full = np.fft.rfft(frames, n=n_fft, axis=1)
    spec_win = np.fft.rfft(frames[:, :win], n=n_fft, axis=1)
    r = np.fft.irfft(spec_full * np.conj(spec_win), n=n_fft, axis=1)[:, : tau_max + 1]
    sq = np.cumsum(np.pad(frames**2, ((0, 0), (1, 0))), axis=1)
    energy = sq[:, win : win + tau_max + 1] - sq[:, : tau_max + 1]  # sum x[tau : tau + win]^2
    diff = energy[:, :1] + energy - 2.0 * r
    diff[:, 0] = 0.0
    np.maximum(diff, 0.0, out=diff)
    # cumulative mean normalised difference d'(tau) = d(tau) * tau / sum_{j<=tau} d(j)
    taus = np.arange(tau_max + 1, dtype=np.float64)
    cum = np.cumsum(diff, axis=1)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * taus[1:] / np.maximum(cum[:, 1:], 1e-12)
    search = cmnd[:, tau_min : tau_max + 1]
    # first dip under the threshold, walked down to its local minimum; else the global minimum
    below = search < YIN_THRESHOLD
    first = np.where(below.any(axis=1), below.argmax(axis=1), search.argmin(axis=1))
    idx = first.copy()
    n_tau = search.shape[1]
    rows = np.arange(search.shape[0])
    for _ in range(n_tau):
        nxt = np.minimum(idx + 1, n_tau - 1)
        step = search[rows, nxt] < search[rows, idx]
        if not step.any():
            break
        idx = np.where(step, nxt, idx)
    # parabolic interpolation around the dip
    left = search[rows, np.maximum(idx - 1, 0)]
    mid = search[rows, idx]
    right = search[rows, np.minimum(idx + 1, n_tau - 1)]
    denom = left - 2.0 * mid + right
    inside = (idx > 0) & (idx < n_tau - 1) & (np.abs(denom) > 1e-12)
    shift = np.where(inside, 0.5 * (left - right) / np.where(inside, denom, 1.0), 0.0)
    period = idx + tau_min + np.clip(shift, -1.0, 1.0)
    f0 = sample_rate / np.maximum(period, 1e-6)
    return f0.astype(np.float32), np.clip(mid, 0.0, 1.0).astype(np.float32)


def track_f0(
    samples: np.ndarray,
    *,
    fmin_hz: float = FMIN_HZ,
    fmax_hz: float = FMAX_HZ,
    frame_length: int = FRAME_LENGTH,
    hop_length: int = HOP_LENGTH,
    sample_rate: int = TARGET_RATE,
) -> tuple[np.ndarray, np.ndarray]:
    """F0 per frame by YIN, and each frame's aperiodicity (the depth of its best dip).

    Parameters:
        samples: np.ndarray [shape=(n,)], float mono at ``sample_rate``.

    Returns:
        (f0_hz, aperiodicity), each np.ndarray [shape=(1 + n // hop_length,)], frame i centred on
        sample ``i * hop_length``. ``aperiodicity`` is 0 for a perfectly periodic frame and ~1 for
        noise; ``f0_hz`` is the estimate whatever the voicing (threshold ``aperiodicity`` to decide).
    """
    frames = _frames(np.asarray(samples, dtype=np.float64), frame_length, hop_length)
    return _yin(frames, sample_rate, fmin_hz, fmax_hz)


def _half_band_filter(taps: int = 63) -> np.ndarray:
    """Windowed-sinc low-pass at 3.8 kHz (for 16 kHz input) before taking every other sample."""
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * (3800.0 / TARGET_RATE) * np.sinc(2 * (3800.0 / TARGET_RATE) * n) * np.blackman(taps)
    return h / h.sum()


_DECIMATE = _half_band_filter()
_DECIMATE_REACH = (_DECIMATE.shape[0] - 1) // 2
_SPECTRUM_WINDOW = np.hanning(FRAME_LENGTH)
_SPECTRUM_FREQS = np.fft.rfftfreq(FRAME_LENGTH, 1.0 / TARGET_RATE)
_LOW_BAND = (_SPECTRUM_FREQS >= 50) & (_SPECTRUM_FREQS < 1000)
_HIGH_BAND = (_SPECTRUM_FREQS >= 1000) & (_SPECTRUM_FREQS < 5000)
LOOKAHEAD = FRAME_LENGTH // 2 + 2 * _DECIMATE_REACH
"""Samples past a frame's centre (and before it) that its measurements read."""


@dataclass(frozen=True, slots=True)
class FrameMeasures:
    """Per-frame measurements (8 ms hop, frame i centred on sample ``i * HOP_LENGTH`` of its signal)."""

    level_db: np.ndarray
    """float64 [n]: RMS level of a 20 ms window, dBFS, floored at -100."""
    f0_hz: np.ndarray
    """float32 [n]: YIN F0 (at 8 kHz, 40 ms frames), whatever the voicing."""
    aperiodicity: np.ndarray
    """float32 [n]: depth of YIN's best dip, 0 periodic … 1 noise."""
    band_power: np.ndarray
    """float64 [n, 4]: power in 50–1000 Hz, 1–5 kHz, Σ power·frequency, Σ power (40 ms Hann frame)."""

    def __len__(self) -> int:
        return int(self.level_db.shape[0])

    def slice(self, start: int, stop: int) -> FrameMeasures:
        return FrameMeasures(
            self.level_db[start:stop],
            self.f0_hz[start:stop],
            self.aperiodicity[start:stop],
            self.band_power[start:stop],
        )

    @staticmethod
    def concat(parts: Sequence[FrameMeasures]) -> FrameMeasures:
        if not parts:
            return FrameMeasures(
                np.zeros(0), np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros((0, 4))
            )
        return FrameMeasures(
            np.concatenate([p.level_db for p in parts]),
            np.concatenate([p.f0_hz for p in parts]),
            np.concatenate([p.aperiodicity for p in parts]),
            np.concatenate([p.band_power for p in parts]),
        )


def _measure_block(region: np.ndarray, n: int) -> FrameMeasures:
    """Measure ``n`` frames whose centres are ``LOOKAHEAD + i * HOP_LENGTH`` in ``region``
    (float64, holding ``LOOKAHEAD`` samples of context before the first centre and after the last)."""
    centre0 = LOOKAHEAD
    level = _strided(region, centre0 - LEVEL_LENGTH // 2, n, LEVEL_LENGTH, HOP_LENGTH)
    rms = np.sqrt(np.mean(level**2, axis=1))
    level_db = 20.0 * np.log10(np.maximum(rms, 1e-5))  # floor at -100 dBFS
    spectrum = _strided(region, centre0 - FRAME_LENGTH // 2, n, FRAME_LENGTH, HOP_LENGTH)
    power = np.abs(np.fft.rfft(spectrum * _SPECTRUM_WINDOW, axis=1)) ** 2
    band_power = np.stack(
        [
            power[:, _LOW_BAND].sum(axis=1),
            power[:, _HIGH_BAND].sum(axis=1),
            power @ _SPECTRUM_FREQS,
            power.sum(axis=1),
        ],
        axis=1,
    )
    # YIN at half the rate: F0 ≤ 500 Hz needs no more than 8 kHz, and the FFTs cost half as much.
    # The low-pass is centred, so decimated sample m sits on region sample 2m.
    half = np.convolve(region, _DECIMATE, mode="same")[::2]
    yin_frames = _strided(half, centre0 // 2 - FRAME_LENGTH // 4, n, FRAME_LENGTH // 2, HOP_LENGTH // 2)
    f0, aperiodicity = _yin(yin_frames, TARGET_RATE // 2, FMIN_HZ, FMAX_HZ)
    return FrameMeasures(level_db, f0, aperiodicity, band_power)


class ProsodyTracker:
    """Per-frame prosody measurements of a stream, computed as its 16 kHz audio arrives.

    :meth:`push` audio as it comes; frames are measured in blocks as soon as their look-ahead has
    arrived, so when an utterance ends only its last ~40 ms and the aggregation remain.
    :meth:`measures` returns the frames of a span of the stream (measuring, without keeping, frames
    whose look-ahead has not arrived, with silence after the end). :func:`extract_prosody` is this
    tracker run over one whole utterance, so both paths give the same numbers. Not thread-safe.
    """

    def __init__(self, *, keep_s: float = 32.0, block_frames: int = 16) -> None:
        self._keep_frames = int(keep_s * TARGET_RATE / HOP_LENGTH)
        self._block = block_frames
        self._samples = np.zeros(LOOKAHEAD, np.float64)
        self._samples_start = -LOOKAHEAD
        """Stream index of ``_samples[0]`` (the stream is preceded by silence)."""
        self._received = 0
        self._parts: list[FrameMeasures] = []
        self._first_frame = 0
        """Stream frame index of the first kept frame."""
        self._next_frame = 0
        """Stream frame index of the first frame not yet measured."""

    @property
    def received(self) -> int:
        """Samples pushed so far."""
        return self._received

    def push(self, samples16k: np.ndarray) -> None:
        """Add audio (float, 16 kHz mono) and measure every frame whose look-ahead is now complete."""
        x = np.asarray(samples16k, dtype=np.float64).reshape(-1)
        if x.size == 0:
            return
        self._samples = np.concatenate([self._samples, x])
        self._received += x.shape[0]
        ready = (self._received - 1 - LOOKAHEAD) // HOP_LENGTH + 1 - self._next_frame
        if ready >= self._block:
            self._measure(ready)

    def _region(self, first_frame: int, n: int, *, pad_end: bool) -> np.ndarray:
        lo = first_frame * HOP_LENGTH - LOOKAHEAD - self._samples_start
        hi = (first_frame + n - 1) * HOP_LENGTH + LOOKAHEAD - self._samples_start + 1
        region = self._samples[lo:hi]
        if pad_end and region.shape[0] < hi - lo:
            region = np.pad(region, (0, hi - lo - region.shape[0]))
        return region

    def _measure(self, n: int) -> None:
        self._parts.append(_measure_block(self._region(self._next_frame, n, pad_end=False), n))
        self._next_frame += n
        # forget samples no future frame needs, and frames older than keep_s
        drop = self._next_frame * HOP_LENGTH - LOOKAHEAD - self._samples_start
        if drop > 0:
            self._samples = self._samples[drop:]
            self._samples_start += drop
        kept = sum(len(p) for p in self._parts)
        while self._parts and kept - len(self._parts[0]) >= self._keep_frames:
            kept -= len(self._parts[0])
            self._first_frame += len(self._parts[0])
            self._parts.pop(0)

    def measures(self, start_sample: int, stop_sample: int) -> FrameMeasures:
        """The frames centred on stream samples ``start_sample … stop_sample`` (both included), relative
        to ``start_sample``: frame i of the result is centred on ``start_sample + i * HOP_LENGTH``.

        ``start_sample`` must be a multiple of ``HOP_LENGTH`` (Silero's 512-sample frames are 4 hops).

        Raises:
            ValueError: If the start is off the hop grid or older than what is kept.
        """
        if start_sample % HOP_LENGTH:
            raise ValueError(f"start sample {start_sample} is not on the {HOP_LENGTH}-sample hop grid")
        first = start_sample // HOP_LENGTH
        last = stop_sample // HOP_LENGTH
        if first < self._first_frame:
            raise ValueError("the span starts before the frames this tracker keeps")
        kept = FrameMeasures.concat(self._parts)
        have = kept.slice(first - self._first_frame, last + 1 - self._first_frame)
        missing_from = max(first, self._next_frame)
        if missing_from <= last:
            extra = _measure_block(
                self._region(missing_from, last + 1 - missing_from, pad_end=True), last + 1 - missing_from
            )
            have = FrameMeasures.concat([have, extra])
        return have


def measure_frames(samples16k: np.ndarray) -> FrameMeasures:
    """Per-frame measurements of one whole utterance (silence assumed before and after it)."""
    x = np.asarray(samples16k, dtype=np.float64).reshape(-1)
    tracker = ProsodyTracker(block_frames=1 << 30)
    tracker.push(x)
    return tracker.measures(0, x.shape[0])


# -- the features ---------------------------------------------------------------------------------


def _speech_mask(
    n_frames: int, active: np.ndarray, frame_probs: np.ndarray | None, threshold: float = 0.5
) -> np.ndarray:
    """Per frame: speech (VAD when given, read from its 32 ms frames, and energy activity)."""
    if frame_probs is None or frame_probs.size == 0:
        return active
    vad_idx = np.minimum(np.arange(n_frames) * HOP_LENGTH // VAD_FRAME_SAMPLES, frame_probs.shape[0] - 1)
    return active & (frame_probs[vad_idx] >= threshold)


def extract_prosody(
    samples16k: np.ndarray,
    *,
    frame_probs: np.ndarray | None = None,
    transcript: str | None = None,
) -> ProsodyFeatures:
    """Measure the prosody of one utterance.

    Parameters:
        samples16k: np.ndarray [shape=(n,)], float mono at 16 kHz.
        frame_probs: Silero VAD speech probability per 32 ms frame of ``samples16k``
            (``Utterance.frame_probs``); None: energy activity alone decides what is speech.
        transcript: The words, for the speaking rate in syllables; None: acoustic syllable nuclei.
            (:func:`with_transcript_rate` adds it later, so prosody can run while ASR runs.)

    Returns:
        The features. An utterance without a voiced frame gets nan F0 features and zero rates.
    """
    x = np.asarray(samples16k).reshape(-1)
    return features_from_frames(
        measure_frames(x), x.shape[0] / TARGET_RATE, frame_probs=frame_probs, transcript=transcript
    )


def features_from_frames(
    measures: FrameMeasures,
    duration_s: float,
    *,
    frame_probs: np.ndarray | None = None,
    transcript: str | None = None,
) -> ProsodyFeatures:
    """Aggregate per-frame measurements of one utterance into its features (see :func:`extract_prosody`)."""
    n = len(measures)
    level_db = measures.level_db
    active = level_db > (float(level_db.max()) - ACTIVITY_FLOOR_DB) if n else np.zeros(0, bool)
    active &= level_db > -75.0
    speech = _speech_mask(n, active, frame_probs)
    # pauses shorter than MIN_PAUSE_S inside speech are articulation: fill them
    min_gap = round(MIN_PAUSE_S / HOP_S)
    speech_filled = speech.copy()
    speech_idx = np.flatnonzero(speech)
    for start, stop in _runs(~speech):
        if speech_idx.size and start > speech_idx[0] and stop <= speech_idx[-1] and stop - start < min_gap:
            speech_filled[start:stop] = True
    if speech_idx.size:
        span = speech_idx[-1] - speech_idx[0] + 1
        speech_frames = int(speech_filled[speech_idx[0] : speech_idx[-1] + 1].sum())
        pause_ratio = 1.0 - speech_frames / span
    else:
        speech_frames, pause_ratio = 0, 0.0
    speech_s = speech_frames * HOP_S

    voiced = speech & (measures.aperiodicity < VOICING_APERIODICITY)
    # drop voiced islands shorter than 30 ms: clicks and onsets, not vowels
    min_island = round(0.030 / HOP_S)
    for start, stop in _runs(voiced):
        if stop - start < min_island:
            voiced[start:stop] = False
    voiced_s = float(voiced.sum()) * HOP_S

    if voiced.any():
        st = _median3(_semitones(measures.f0_hz))[voiced]
        t = np.flatnonzero(voiced) * HOP_S
        f0_mean = float(np.median(st))
        lo, hi = np.percentile(st, [2.0, 98.0])
        f0_range = float(hi - lo)
        f0_sd = float(np.std(st))
        f0_slope = float(np.polyfit(t, st, 1)[0]) if st.shape[0] >= 3 and np.ptp(t) > 0 else 0.0
        loud = level_db[voiced]
        loud_mean, loud_sd = float(np.mean(loud)), float(np.std(loud))
        low, high, weighted, total = measures.band_power[voiced].sum(axis=0)
        centroid = float(weighted / max(total, 1e-20))
        alpha = float(10.0 * np.log10(max(high, 1e-20) / max(low, 1e-20)))
        segs_per_s = len(_runs(voiced)) / speech_s if speech_s > 0 else 0.0
        nuclei = _syllable_nuclei(level_db, voiced)
    else:
        f0_mean = f0_range = f0_sd = float("nan")
        f0_slope = 0.0
        loud_mean = (
            float(np.mean(level_db[speech])) if speech.any() else float(level_db.mean() if n else -100.0)
        )
        loud_sd = 0.0
        centroid = alpha = float("nan")
        segs_per_s = 0.0
        nuclei = 0
    rate = nuclei / speech_s if speech_s > 0 else 0.0
    features = ProsodyFeatures(
        f0_mean_st=f0_mean,
        f0_range_st=f0_range,
        f0_sd_st=f0_sd,
        f0_slope_st_per_s=f0_slope,
        loudness_mean_db=loud_mean,
        loudness_sd_db=loud_sd,
        speaking_rate_sps=rate,
        pause_ratio=float(pause_ratio),
        spectral_centroid_hz=centroid,
        alpha_ratio_db=alpha,
        voiced_segments_per_s=segs_per_s,
        voiced_s=voiced_s,
        speech_s=speech_s,
        duration_s=duration_s,
    )
    if transcript:
        features = with_transcript_rate(features, transcript)
    return features


def _syllable_nuclei(level_db: np.ndarray, voiced: np.ndarray) -> int:
    """Syllable nuclei: peaks of the smoothed loudness contour, ≥ 2 dB above the dips on both sides,
    ≥ 80 ms apart, on voiced frames (after de Jong & Wempe 2009, Behavior Research Methods 41)."""
    kernel = np.hanning(round(0.07 / HOP_S) | 1)
    smooth = np.convolve(level_db, kernel / kernel.sum(), mode="same")
    peaks = _peaks(smooth, prominence=2.0, distance=round(0.08 / HOP_S))
    return int(np.count_nonzero(voiced[peaks])) if peaks.size else 0


def _peaks(x: np.ndarray, *, prominence: float, distance: int) -> np.ndarray:
    """Indices of local maxima of ``x`` that stand ``prominence`` above the lowest point between
    them and the nearest higher sample on each side, at least ``distance`` apart (higher peaks win).
    A small numpy stand-in for scipy.signal.find_peaks, whose import costs about a second."""
    if x.shape[0] < 3:
        return np.zeros(0, int)
    candidates = np.flatnonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])) + 1
    # the distance first, highest peaks first (scipy's order), then the prominence
    spaced: list[int] = []
    for i in sorted(candidates.tolist(), key=lambda k: -x[k]):
        if all(abs(i - j) >= distance for j in spaced):
            spaced.append(i)
    kept: list[int] = []
    for i in sorted(spaced):
        height = x[i]
        left, left_min = i - 1, height
        while left >= 0 and x[left] <= height:
            left_min = min(left_min, x[left])
            left -= 1
        right, right_min = i + 1, height
        while right < x.shape[0] and x[right] <= height:
            right_min = min(right_min, x[right])
            right += 1
        if height - max(left_min, right_min) >= prominence:
            kept.append(i)
    return np.array(kept, dtype=int)


def with_transcript_rate(features: ProsodyFeatures, transcript: str) -> ProsodyFeatures:
    """``features`` with the speaking rate recomputed from the transcript's syllables.

    Keeps the acoustic rate when the transcript is empty or there was no speech.
    """
    syllables = count_syllables(transcript)
    if syllables == 0 or features.speech_s <= 0:
        return features
    return replace(features, speaking_rate_sps=syllables / features.speech_s, rate_source="transcript")


# -- speaker baseline -----------------------------------------------------------------------------

POPULATION_PRIOR: Mapping[str, tuple[float, float]] = {
    # feature: (mean, spread) of adult conversational speech into a consumer microphone. F0 pools men
    # (~120 Hz, 25.5 st) and women (~210 Hz, 35 st); rates after Jacewicz et al. 2009 (~4-5 syll/s);
    # level assumes an AGC'd microphone near -26 dBFS. Wide spreads: it is a prior, not a norm.
    "f0_mean_st": (30.5, 5.0),
    "f0_range_st": (8.0, 3.0),
    "f0_sd_st": (2.2, 1.0),
    "f0_slope_st_per_s": (-0.5, 3.0),
    "loudness_mean_db": (-26.0, 6.0),
    "loudness_sd_db": (6.0, 2.5),
    "speaking_rate_sps": (4.5, 1.2),
    "pause_ratio": (0.12, 0.10),
    "spectral_centroid_hz": (1500.0, 500.0),
    "alpha_ratio_db": (-14.0, 5.0),
    "voiced_segments_per_s": (3.0, 1.0),
}
"""Population mean and spread of each feature: the reference until a speaker's baseline has speech."""

_MIN_SPREAD_FRACTION = 0.35
"""A speaker's own spread is narrower than the population's, but never below this share of it."""


class SpeakerBaseline:
    """A running per-speaker mean and spread of each prosodic feature.

    Each utterance counts with its seconds of speech as weight (West 1979's weighted form of
    Welford's update). The reference mean and spread shrink from :data:`POPULATION_PRIOR` toward the
    speaker's own as speech accumulates: weight ``speech_s / (speech_s + prior_speech_s)``. Thread-safe.
    """

    def __init__(
        self, *, prior_speech_s: float = 10.0, prior: Mapping[str, tuple[float, float]] | None = None
    ) -> None:
        self.prior_speech_s = float(prior_speech_s)
        self.prior: dict[str, tuple[float, float]] = dict(POPULATION_PRIOR if prior is None else prior)
        self._lock = threading.Lock()
        self._weight: dict[str, float] = dict.fromkeys(self.prior, 0.0)
        self._count: dict[str, int] = dict.fromkeys(self.prior, 0)
        self._mean: dict[str, float] = {k: v[0] for k, v in self.prior.items()}
        self._m2: dict[str, float] = dict.fromkeys(self.prior, 0.0)
        self.utterances = 0
        self.speech_s = 0.0

    def update(self, features: ProsodyFeatures) -> None:
        """Add one utterance (weight: its seconds of speech; features that are nan are skipped)."""
        weight = float(features.speech_s)
        if weight <= 0:
            return
        with self._lock:
            self.utterances += 1
            self.speech_s += weight
            for name in self.prior:
                value = float(getattr(features, name))
                if not math.isfinite(value):
                    continue
                w_old = self._weight[name]
                w_new = w_old + weight
                delta = value - (self._mean[name] if w_old > 0 else value)
                mean = (self._mean[name] if w_old > 0 else value) + delta * weight / w_new
                self._m2[name] += weight * delta * (value - mean)
                self._mean[name] = mean
                self._weight[name] = w_new
                self._count[name] += 1

    def reference(self, name: str) -> tuple[float, float]:
        """(mean, spread) this speaker's ``name`` is compared with: the prior shrunk toward their own."""
        prior_mean, prior_sd = self.prior[name]
        with self._lock:
            w = self._weight[name]
            count = self._count[name]
            own_mean = self._mean[name]
            own_var = self._m2[name] / w if w > 0 else 0.0
        trust = w / (w + self.prior_speech_s) if w > 0 else 0.0
        mean = trust * own_mean + (1.0 - trust) * prior_mean
        # a spread needs a few utterances before it means anything
        trust_sd = trust * min(1.0, max(0, count - 1) / 4.0)
        var = trust_sd * own_var + (1.0 - trust_sd) * prior_sd**2
        spread = max(math.sqrt(var), _MIN_SPREAD_FRACTION * prior_sd)
        return mean, spread

    def zscores(self, features: ProsodyFeatures, *, clip: float = 3.0) -> dict[str, float]:
        """Each feature in spreads from this speaker's reference, clipped to ±``clip`` (nan → 0)."""
        out: dict[str, float] = {}
        for name in self.prior:
            value = float(getattr(features, name))
            if not math.isfinite(value):
                out[name] = 0.0
                continue
            mean, spread = self.reference(name)
            out[name] = float(np.clip((value - mean) / spread, -clip, clip))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (for storing a listener's baseline between sessions)."""
        with self._lock:
            return {
                "version": 1,
                "prior_speech_s": self.prior_speech_s,
                "prior": {k: list(v) for k, v in self.prior.items()},
                "utterances": self.utterances,
                "speech_s": self.speech_s,
                "features": {
                    k: {
                        "weight": self._weight[k],
                        "count": self._count[k],
                        "mean": self._mean[k],
                        "m2": self._m2[k],
                    }
                    for k in self.prior
                },
            }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpeakerBaseline:
        """The baseline :meth:`to_dict` described.

        Raises:
            ValueError: If the version is unknown.
        """
        if int(data.get("version", 0)) != 1:
            raise ValueError(f"unknown speaker baseline version {data.get('version')!r}")
        prior = {k: (float(v[0]), float(v[1])) for k, v in data["prior"].items()}
        baseline = cls(prior_speech_s=float(data["prior_speech_s"]), prior=prior)
        baseline.utterances = int(data["utterances"])
        baseline.speech_s = float(data["speech_s"])
        for name, state in data["features"].items():
            if name not in prior:
                continue
            baseline._weight[name] = float(state["weight"])
            baseline._count[name] = int(state["count"])
            baseline._mean[name] = float(state["mean"])
            baseline._m2[name] = float(state["m2"])
        return baseline


# -- arousal --------------------------------------------------------------------------------------

AROUSAL_WEIGHTS: Mapping[str, float] = {
    # Louder, higher, wider-ranged, faster, flatter-spectrum speech is more aroused (Scherer 2003;
    # Juslin & Laukka 2003; eGeMAPS, Eyben et al. 2016). Pauses lower it. Weights sum to 1 in |w|.
    "loudness_mean_db": 0.26,
    "f0_mean_st": 0.22,
    "f0_range_st": 0.12,
    "speaking_rate_sps": 0.16,
    "alpha_ratio_db": 0.08,
    "spectral_centroid_hz": 0.04,
    "loudness_sd_db": 0.04,
    "pause_ratio": -0.08,
}
AROUSAL_GAIN = 1.6
"""Logistic gain on the weighted z-sum: a +1 spread shift in every feature gives arousal ≈ 0.83."""


@dataclass(frozen=True, slots=True)
class ProsodicArousal:
    """Arousal read from prosody, with how far to trust it."""

    arousal: float
    """0–1, 0.5 = the speaker's (or the population's) usual."""
    confidence: float
    """0–1: grows with voiced speech (a second of voicing is enough) and the baseline's knowledge."""
    zscores: dict[str, float]
    """Feature → z-score against the reference used."""


def prosodic_arousal(
    features: ProsodyFeatures,
    baseline: SpeakerBaseline | None = None,
    *,
    weights: Mapping[str, float] = AROUSAL_WEIGHTS,
) -> ProsodicArousal:
    """Arousal 0–1 from prosody, against ``baseline`` (or the population prior when None)."""
    reference = baseline if baseline is not None else _PRIOR_BASELINE
    z = reference.zscores(features)
    score = sum(w * z.get(name, 0.0) for name, w in weights.items())
    arousal = 1.0 / (1.0 + math.exp(-AROUSAL_GAIN * score))
    # confidence: voiced time (saturating around 1.5 s) and the share of speech that is voiced
    amount = 1.0 - math.exp(-features.voiced_s / 0.75)
    ratio = min(1.0, features.voiced_ratio / 0.4)
    known = 0.7 + 0.3 * (reference.speech_s / (reference.speech_s + reference.prior_speech_s))
    confidence = amount * ratio * known
    return ProsodicArousal(arousal=float(arousal), confidence=float(confidence), zscores=z)


_PRIOR_BASELINE = SpeakerBaseline()
