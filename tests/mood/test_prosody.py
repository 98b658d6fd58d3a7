"""Prosody on synthetic signals with known answers, the speaker baseline and prosodic arousal."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from mood.prosody import (
    POPULATION_PRIOR,
    ProsodyFeatures,
    SpeakerBaseline,
    count_syllables,
    extract_prosody,
    prosodic_arousal,
    track_f0,
    with_transcript_rate,
)

SR = 16000


def voiced(f0_hz: np.ndarray | float, seconds: float, *, amp: float = 0.2, harmonics: int = 8) -> np.ndarray:
    """A harmonic (vowel-like) signal following ``f0_hz`` (constant or one value per sample)."""
    n = int(seconds * SR)
    f0 = np.broadcast_to(np.asarray(f0_hz, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, harmonics + 1))
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), np.float32)


@pytest.mark.parametrize("hz", [90.0, 140.0, 220.0, 330.0])
def test_yin_finds_the_pitch_of_a_harmonic_tone(hz: float) -> None:
    """A steady harmonic tone at f Hz tracks at f within 1 %, with near-zero aperiodicity."""
    f0, aperiodicity = track_f0(voiced(hz, 0.5))
    middle = slice(5, -5)
    assert np.median(f0[middle]) == pytest.approx(hz, rel=0.01)
    assert np.median(aperiodicity[middle]) < 0.05


def test_steady_tone_has_its_level_and_no_range() -> None:
    """220 Hz is 36 semitones re 27.5 Hz; a steady tone has ~0 range and slope."""
    p = extract_prosody(voiced(220.0, 1.5))
    assert p.f0_mean_st == pytest.approx(36.0, abs=0.1)
    assert p.f0_range_st < 0.3
    assert abs(p.f0_slope_st_per_s) < 0.2
    assert p.voiced_s == pytest.approx(1.5, abs=0.05)


def test_glide_200_to_400_hz_spans_an_octave_and_rises() -> None:
    """A glide 200 → 400 Hz has a 12-semitone range (2nd–98th percentile: ≈ 11.5) and a positive slope."""
    seconds = 2.0
    t = np.arange(int(seconds * SR)) / SR
    p = extract_prosody(voiced(200.0 * 2.0 ** (t / seconds), seconds))
    assert p.f0_range_st == pytest.approx(12.0, abs=0.75)
    assert p.f0_slope_st_per_s == pytest.approx(12.0 / seconds, rel=0.05)
    falling = extract_prosody(voiced(400.0 * 2.0 ** (-t / seconds), seconds))
    assert falling.f0_slope_st_per_s < -5.0


def test_six_db_louder_reads_six_db_louder_and_more_aroused() -> None:
    """Doubling the amplitude raises loudness by 6.02 dB and the prosodic arousal."""
    quiet = extract_prosody(voiced(150.0, 1.5, amp=0.05))
    loud = extract_prosody(voiced(150.0, 1.5, amp=0.10))
    assert loud.loudness_mean_db - quiet.loudness_mean_db == pytest.approx(20 * math.log10(2), abs=0.05)
    assert prosodic_arousal(loud).arousal > prosodic_arousal(quiet).arousal


def test_pauses_and_voiced_segments_are_counted() -> None:
    """Three 0.4 s vowels split by two 0.3 s pauses: pause ratio 0.6/1.8, three voiced segments."""
    x = np.concatenate(
        [voiced(150.0, 0.4), silence(0.3), voiced(150.0, 0.4), silence(0.3), voiced(150.0, 0.4)]
    )
    p = extract_prosody(np.concatenate([silence(0.2), x, silence(0.2)]))
    assert p.pause_ratio == pytest.approx(0.6 / 1.8, abs=0.03)
    # each of the six burst edges may add about one 8 ms hop (the 20 ms level window overlaps it)
    assert p.speech_s == pytest.approx(1.2, abs=0.08)
    assert p.voiced_segments_per_s == pytest.approx(3 / p.speech_s, rel=0.01)


def test_short_gaps_are_articulation_not_pauses() -> None:
    """A 50 ms gap between vowels does not count as a pause."""
    x = np.concatenate([voiced(150.0, 0.5), silence(0.05), voiced(150.0, 0.5)])
    assert extract_prosody(x).pause_ratio == 0.0


def test_alpha_ratio_rises_with_high_frequency_energy() -> None:
    """A bright voice (more upper harmonics) has a higher alpha ratio and spectral centroid."""
    dull = extract_prosody(voiced(150.0, 1.0, harmonics=3))
    bright = extract_prosody(voiced(150.0, 1.0, harmonics=30))
    assert bright.alpha_ratio_db > dull.alpha_ratio_db + 3.0
    assert bright.spectral_centroid_hz > dull.spectral_centroid_hz


def test_noise_is_not_voiced() -> None:
    """White noise has (almost) no voiced frames, so its F0 features are nan and zeros are safe."""
    rng = np.random.default_rng(3)
    p = extract_prosody((0.1 * rng.standard_normal(SR)).astype(np.float32))
    assert p.voiced_s < 0.1
    assert all(math.isfinite(v) for v in p.to_dict().values())


def test_vad_probabilities_restrict_speech() -> None:
    """Frames the VAD calls non-speech are not speech, even when loud."""
    x = voiced(150.0, 1.0)
    probs = np.zeros(math.ceil(x.shape[0] / 512), np.float32)
    probs[: len(probs) // 2] = 0.9
    p = extract_prosody(x, frame_probs=probs)
    assert p.speech_s == pytest.approx(0.5, abs=0.05)


def test_syllable_count_and_transcript_rate() -> None:
    """Vowel groups count syllables; the transcript's syllables over speech time give the rate."""
    assert count_syllables("I feel wonderful today") == 7
    assert count_syllables("make the time") == 3
    assert count_syllables("") == 0
    p = extract_prosody(voiced(150.0, 2.0))
    q = with_transcript_rate(p, "I feel wonderful today")
    assert q.rate_source == "transcript"
    assert q.speaking_rate_sps == pytest.approx(7 / p.speech_s)
    assert with_transcript_rate(p, "") is p


def _features(**overrides: float) -> ProsodyFeatures:
    base = {name: mean for name, (mean, _) in POPULATION_PRIOR.items()}
    base.update(overrides)
    return ProsodyFeatures(**base, voiced_s=2.0, speech_s=2.5, duration_s=3.0)  # type: ignore[arg-type]


def test_baseline_starts_at_the_population_prior() -> None:
    """An empty baseline compares with the population prior; a prior-average voice reads 0.5."""
    baseline = SpeakerBaseline()
    for name, (mean, spread) in POPULATION_PRIOR.items():
        assert baseline.reference(name) == pytest.approx((mean, spread))
    assert prosodic_arousal(_features(), baseline).arousal == pytest.approx(0.5)


def test_baseline_moves_to_the_speakers_own_voice() -> None:
    """After two minutes of a high voice, the speaker's usual pitch is their reference and reads neutral."""
    baseline = SpeakerBaseline(prior_speech_s=10.0)
    rng = np.random.default_rng(0)
    for _ in range(48):
        baseline.update(_features(f0_mean_st=36.0 + rng.normal(0, 0.5)))
    mean, spread = baseline.reference("f0_mean_st")
    assert mean == pytest.approx(36.0, abs=0.5)
    assert spread < POPULATION_PRIOR["f0_mean_st"][1]
    usual = prosodic_arousal(_features(f0_mean_st=36.0), baseline).arousal
    against_prior = prosodic_arousal(_features(f0_mean_st=36.0)).arousal
    assert abs(usual - 0.5) < 0.05 < against_prior - 0.5


def test_same_voice_faster_louder_higher_reads_more_energetic() -> None:
    """Against a speaker's baseline, their own voice faster, louder and higher gets a higher arousal."""
    baseline = SpeakerBaseline()
    for _ in range(20):
        baseline.update(_features())
    calm = prosodic_arousal(_features(), baseline).arousal
    energetic = prosodic_arousal(
        _features(f0_mean_st=33.0, loudness_mean_db=-20.0, speaking_rate_sps=6.0), baseline
    ).arousal
    low = prosodic_arousal(
        _features(f0_mean_st=28.0, loudness_mean_db=-32.0, speaking_rate_sps=3.0), baseline
    )
    assert low.arousal < calm < energetic
    assert energetic > 0.75
    assert low.zscores["loudness_mean_db"] < 0


def test_baseline_welford_matches_numpy_weighted_stats() -> None:
    """The running weighted mean and variance equal numpy's over the same data."""
    rng = np.random.default_rng(1)
    values = rng.normal(-25.0, 4.0, 30)
    weights = rng.uniform(0.5, 4.0, 30)
    baseline = SpeakerBaseline(prior_speech_s=1e-9)
    for v, w in zip(values, weights, strict=True):
        baseline.update(replace(_features(), loudness_mean_db=float(v), speech_s=float(w)))
    state = baseline.to_dict()["features"]["loudness_mean_db"]
    mean = np.average(values, weights=weights)
    assert state["mean"] == pytest.approx(mean)
    assert state["m2"] / state["weight"] == pytest.approx(np.average((values - mean) ** 2, weights=weights))


def test_baseline_round_trips_through_a_dict() -> None:
    """to_dict/from_dict keep the baseline's references exactly."""
    baseline = SpeakerBaseline()
    for k in range(5):
        baseline.update(_features(f0_mean_st=30.0 + k, loudness_mean_db=-20.0 - k))
    copy = SpeakerBaseline.from_dict(baseline.to_dict())
    assert copy.utterances == 5
    for name in POPULATION_PRIOR:
        assert copy.reference(name) == pytest.approx(baseline.reference(name))
    with pytest.raises(ValueError):
        SpeakerBaseline.from_dict({"version": 99})


def test_nan_features_do_not_poison_the_baseline() -> None:
    """An utterance without voicing (nan F0) updates nothing about F0 and scores it as z = 0."""
    baseline = SpeakerBaseline()
    baseline.update(_features(f0_mean_st=float("nan")))
    assert baseline.reference("f0_mean_st") == pytest.approx(POPULATION_PRIOR["f0_mean_st"])
    assert prosodic_arousal(_features(f0_mean_st=float("nan")), baseline).zscores["f0_mean_st"] == 0.0


def test_confidence_grows_with_voiced_speech() -> None:
    """A quarter second of voicing is trusted less than two seconds."""
    short = prosodic_arousal(extract_prosody(voiced(150.0, 0.25)))
    long = prosodic_arousal(extract_prosody(voiced(150.0, 2.0)))
    assert 0.0 < short.confidence < long.confidence <= 1.0


def test_peak_picker_matches_scipy_find_peaks() -> None:
    """The numpy syllable-peak picker agrees with scipy.signal.find_peaks (prominence, distance)."""
    from scipy.signal import find_peaks

    from mood.prosody import _peaks

    rng = np.random.default_rng(5)
    for _ in range(100):
        x = np.convolve(rng.standard_normal(300) * 5, np.hanning(9), mode="same")
        expected, _ = find_peaks(x, prominence=2.0, distance=8)
        assert _peaks(x, prominence=2.0, distance=8).tolist() == expected.tolist()


@pytest.mark.parametrize("n", [1, 2, 100, 319, 321, 16001])
def test_tiny_and_odd_lengths_are_safe(n: int) -> None:
    """Any length gives finite features (levels floored at -100 dBFS), never an exception."""
    x = (0.1 * np.sin(np.arange(n) * 0.1)).astype(np.float32)
    p = extract_prosody(x)
    assert all(math.isfinite(v) for v in p.to_dict().values())
    assert p.loudness_mean_db >= -100.0


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    """Syllable-rate vowels with a moving pitch, separated by short gaps."""
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    while sum(p.shape[0] for p in parts) < seconds * SR:
        f0 = rng.uniform(100, 220) * 2 ** (np.linspace(0, rng.uniform(-0.3, 0.3), int(0.2 * SR)))
        parts += [voiced(f0, 0.2, amp=rng.uniform(0.05, 0.3)), silence(rng.uniform(0.02, 0.2))]
    return np.concatenate(parts)[: int(seconds * SR)]


@pytest.mark.parametrize("chunk", [160, 320, 1000, 4096])
def test_streamed_frames_equal_the_batch_frames(chunk: int) -> None:
    """Frames measured as audio arrives, in any chunking, equal those of the whole utterance at once."""
    from mood.prosody import ProsodyTracker, features_from_frames, measure_frames

    lead = silence(0.512)  # the utterance starts on the VAD grid (multiple of 512 samples)
    utterance = _speechlike(3.0, seed=chunk)
    stream = np.concatenate([lead, utterance, silence(0.6)])
    tracker = ProsodyTracker()
    for i in range(0, stream.shape[0], chunk):
        tracker.push(stream[i : i + chunk])
    start = lead.shape[0]
    streamed = tracker.measures(start, start + utterance.shape[0])
    batch = measure_frames(utterance)
    assert len(streamed) == len(batch) == 1 + utterance.shape[0] // 128
    np.testing.assert_allclose(streamed.level_db, batch.level_db, atol=1e-9)
    np.testing.assert_allclose(streamed.f0_hz, batch.f0_hz, rtol=1e-6)
    assert features_from_frames(streamed, 3.0) == features_from_frames(batch, 3.0)


def test_tracker_measures_the_tail_before_its_lookahead_arrives() -> None:
    """A span ending at the last sample received is measured with silence after it, as in batch."""
    from mood.prosody import ProsodyTracker, measure_frames

    utterance = _speechlike(1.0, seed=1)
    tracker = ProsodyTracker()
    tracker.push(utterance)
    np.testing.assert_allclose(
        tracker.measures(0, utterance.shape[0]).level_db, measure_frames(utterance).level_db
    )


def test_tracker_refuses_spans_off_grid_or_forgotten() -> None:
    """Spans must start on the hop grid and within the kept history."""
    from mood.prosody import ProsodyTracker

    tracker = ProsodyTracker(keep_s=1.0)
    for _ in range(30):
        tracker.push(_speechlike(0.1, seed=2))
    with pytest.raises(ValueError):
        tracker.measures(100, 2000)
    with pytest.raises(ValueError):
        tracker.measures(0, 2000)
    assert len(tracker.measures(tracker.received - 8192, tracker.received)) == 1 + 8192 // 128
