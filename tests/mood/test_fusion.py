"""Fusion: energy leans on prosody, valence on the words, weights follow each part's confidence."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mood.fusion import AsrQuality, asr_confidence, fuse, label_for
from mood.prosody import ProsodicArousal
from mood.text import TextAffect
from mood.types import MOOD_LABELS, Intent, MoodEstimate


def prosody(arousal: float, confidence: float = 0.9) -> ProsodicArousal:
    return ProsodicArousal(arousal=arousal, confidence=confidence, zscores={"loudness_mean_db": 1.0})


def words(valence: float, energy: float = 0.5, *, vconf: float = 0.9, econf: float = 0.0) -> TextAffect:
    return TextAffect(valence, vconf, energy, econf, compound=2 * valence - 1)


CLEAR = AsrQuality(avg_logprob=-0.2, no_speech_prob=0.01, words=8)
MUMBLED = AsrQuality(avg_logprob=-1.1, no_speech_prob=0.4, words=3)


def test_energy_leans_on_prosody_valence_on_words() -> None:
    """An aroused voice saying pleasant words: energy follows the voice, valence the words."""
    est = fuse(prosody(0.85), words(0.9, energy=0.3, econf=0.3), asr=CLEAR)
    assert est.energy > 0.7
    assert est.valence > 0.8
    assert est.evidence["weights"]["energy_prosody"] > est.evidence["weights"]["energy_text"]
    assert est.evidence["weights"]["valence_text"] > est.evidence["weights"]["valence_prosody"]


def test_prosody_does_not_invent_valence() -> None:
    """An aroused voice with neutral words is neutral in valence."""
    est = fuse(prosody(0.9), words(0.5, vconf=0.0), asr=CLEAR)
    assert est.valence == pytest.approx(0.5)
    assert est.energy > 0.75


def test_text_weight_follows_asr_confidence() -> None:
    """The same words count less when Whisper was unsure of them."""
    clear = fuse(prosody(0.5), words(0.9), asr=CLEAR)
    mumbled = fuse(prosody(0.5), words(0.9), asr=MUMBLED)
    assert mumbled.evidence["weights"]["valence_text"] < clear.evidence["weights"]["valence_text"]
    assert 0.5 < mumbled.valence < clear.valence
    assert mumbled.confidence < clear.confidence


def test_prosody_weight_follows_its_confidence() -> None:
    """A short, barely voiced utterance moves energy less than a long clear one."""
    weak = fuse(prosody(0.9, confidence=0.1), None, asr=CLEAR)
    strong = fuse(prosody(0.9, confidence=0.9), None, asr=CLEAR)
    assert 0.5 < weak.energy < strong.energy
    assert weak.evidence["weights"]["energy_prosody"] < strong.evidence["weights"]["energy_prosody"]


def test_typed_text_uses_energy_words_at_full_trust() -> None:
    """Typed text (no prosody, no ASR) takes energy from energy words and valence from sentiment."""
    est = fuse(None, words(0.2, energy=0.1, econf=0.8))
    assert est.energy < 0.3
    assert est.valence < 0.3
    assert est.evidence["weights"]["asr_confidence"] == 1.0
    assert "prosody" not in est.evidence


def test_nothing_heard_is_neutral_with_low_confidence() -> None:
    """No prosody and no words give the neutral point, label neutral, confidence 0."""
    est = fuse(None, None)
    assert (est.valence, est.energy, est.label, est.confidence) == (0.5, 0.5, "neutral", 0.0)


def test_asr_confidence_from_logprob_and_no_speech() -> None:
    """Higher log-probability and lower no-speech probability mean more trust; no words mean none."""
    assert asr_confidence(None) == 1.0
    assert asr_confidence(AsrQuality(-0.2, 0.0, 5)) == 1.0
    assert asr_confidence(AsrQuality(-0.8, 0.0, 5)) > asr_confidence(AsrQuality(-1.2, 0.0, 5)) > 0.0
    assert asr_confidence(AsrQuality(-0.2, 0.5, 5)) == pytest.approx(0.5)
    assert asr_confidence(AsrQuality(-0.2, 0.0, 0)) == 0.0


def test_previous_estimate_is_the_prior_and_fades() -> None:
    """With weak evidence the estimate leans toward the previous one, less so the older it is."""
    previous = MoodEstimate(valence=0.9, energy=0.9, confidence=1.0)
    recent = fuse(prosody(0.5, confidence=0.05), None, previous=previous, since_previous_s=10.0)
    old = fuse(prosody(0.5, confidence=0.05), None, previous=previous, since_previous_s=3600.0)
    assert recent.energy > old.energy > 0.5
    assert recent.valence > old.valence > 0.5


@pytest.mark.parametrize(
    ("valence", "energy", "label"),
    [
        (0.5, 0.5, "neutral"),
        (0.9, 0.9, "excited"),
        (0.8, 0.6, "happy"),
        (0.75, 0.4, "content"),
        (0.7, 0.15, "calm"),
        (0.1, 0.9, "angry"),
        (0.35, 0.65, "tense"),
        (0.2, 0.3, "sad"),
        (0.4, 0.1, "tired"),
        (0.5, 0.1, "tired"),
        (0.5, 0.4, "calm"),
        (0.5, 0.9, "excited"),
    ],
)
def test_label_is_the_quadrant(valence: float, energy: float, label: str) -> None:
    """Each region of the valence/energy plane has its label."""
    assert label_for(valence, energy) == label


def test_every_label_is_reachable_and_valid() -> None:
    """A grid over the plane yields every label of MoodLabel and nothing else."""
    seen = {label_for(v / 20, e / 20) for v in range(21) for e in range(21)}
    assert seen == set(MOOD_LABELS)


def _numbers_only(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _numbers_only(v) for k, v in value.items())
    return isinstance(value, float) and math.isfinite(value)


def test_evidence_holds_parts_and_weights_as_numbers_only() -> None:
    """evidence has prosody, text, asr and weights, all finite floats; intents and transcript pass through."""
    intents = (Intent("calmer", 0.7, "calmer"),)
    est = fuse(
        prosody(0.3), words(0.3, energy=0.2, econf=0.5), asr=CLEAR, intents=intents, transcript="calmer"
    )
    assert {"prosody", "text", "asr", "weights"} <= set(est.evidence)
    assert _numbers_only(est.evidence)
    assert est.intents == intents and est.transcript == "calmer"
    weights = est.evidence["weights"]
    assert weights["energy_prosody"] + weights["energy_text"] + weights["energy_prior"] == pytest.approx(
        1.0, abs=1e-3
    )
    assert MoodEstimate.from_dict(est.to_dict()).label == est.label


unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    arousal=unit,
    pconf=unit,
    valence=unit,
    energy=unit,
    vconf=unit,
    econf=unit,
    logprob=st.floats(min_value=-5.0, max_value=0.0),
    no_speech=unit,
    words_heard=st.integers(min_value=0, max_value=40),
)
def test_fusion_stays_on_the_scale_for_any_parts(
    arousal: float,
    pconf: float,
    valence: float,
    energy: float,
    vconf: float,
    econf: float,
    logprob: float,
    no_speech: float,
    words_heard: int,
) -> None:
    """Whatever the parts, valence/energy/confidence stay in 0–1, between the inputs, with a valid label."""
    est = fuse(
        prosody(arousal, pconf),
        words(valence, energy, vconf=vconf, econf=econf),
        asr=AsrQuality(logprob, no_speech, words_heard),
    )
    for value in (est.valence, est.energy, est.confidence):
        assert 0.0 <= value <= 1.0
    assert min(0.5, arousal, energy) - 1e-9 <= est.energy <= max(0.5, arousal, energy) + 1e-9
    assert min(0.5, valence) - 1e-9 <= est.valence <= max(0.5, valence) + 1e-9
    assert est.label in MOOD_LABELS
