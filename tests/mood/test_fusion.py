"""Fusion: energy leans on prosody, valence on the words, weights follow each part's confidence."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mood.fusion import (
    MIN_AXIS_CONFIDENCE,
    NEUTRAL_RADIUS,
    AsrQuality,
    asr_confidence,
    evident_side,
    fuse,
    label_for,
)
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


def test_no_evidence_on_an_axis_means_no_movement_on_it() -> None:
    """Energy words alone: energy confident, valence exactly 0.5 with confidence 0, and vice versa."""
    energy_only = fuse(None, words(0.5, energy=0.9, vconf=0.0, econf=0.8))
    assert energy_only.valence == 0.5 and energy_only.valence_confidence == 0.0
    assert energy_only.energy > 0.7 and energy_only.energy_confidence is not None
    assert energy_only.energy_confidence > 0.7
    valence_only = fuse(None, words(0.15, vconf=0.9, econf=0.0))
    assert valence_only.energy == 0.5 and valence_only.energy_confidence == 0.0
    assert valence_only.valence < 0.3 and valence_only.axis_confidences[0] > 0.7


def test_one_axis_of_evidence_does_not_move_the_other() -> None:
    """Confident sad words with no energy evidence leave energy at 0.5 and its confidence at 0
    (the old single confidence moved energy on valence evidence)."""
    est = fuse(None, words(0.2, vconf=1.0))
    assert est.axis_confidences == (pytest.approx(1.0 / 1.15), 0.0)
    assert est.energy == 0.5


def test_confidence_is_the_mean_of_the_axis_confidences() -> None:
    """The single confidence is documented as the mean of the two axis confidences."""
    for est in (
        fuse(prosody(0.8), words(0.3, energy=0.2, econf=0.4), asr=CLEAR),
        fuse(None, words(0.5, energy=0.9, vconf=0.0, econf=0.8)),
        fuse(prosody(0.7, confidence=0.3), None, asr=CLEAR),
    ):
        valence_conf, energy_conf = est.axis_confidences
        assert est.confidence == pytest.approx(0.5 * (valence_conf + energy_conf))


def test_voice_gives_energy_confidence_not_valence_confidence() -> None:
    """Prosody with no sentiment words: energy is confident, valence stays 0.5 with confidence 0;
    with sentiment words the voice's neutral vote tempers valence but adds no confidence to it."""
    est = fuse(prosody(0.85, confidence=0.9), words(0.5, vconf=0.0), asr=CLEAR)
    assert est.energy_confidence is not None and est.energy_confidence > 0.8
    assert (est.valence, est.valence_confidence) == (0.5, 0.0)
    assert est.label == "excited"
    spoken = fuse(prosody(0.5, confidence=0.9), words(0.9), asr=AsrQuality(-0.2, 0.0, 8))  # ASR trust 1
    typed = fuse(None, words(0.9))
    assert 0.5 < spoken.valence < typed.valence
    assert spoken.valence_confidence == pytest.approx(typed.valence_confidence)


def test_nothing_recognised_in_speech_moves_only_energy() -> None:
    """An utterance with no words (Whisper heard nothing) carries energy from the voice alone."""
    est = fuse(prosody(0.2, confidence=0.8), None, asr=AsrQuality(-0.5, 0.9, 0))
    assert est.valence_confidence == 0.0 and est.valence == 0.5
    assert est.energy < 0.3 and est.label == "tired"


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
    """With evidence on both axes, each region of the valence/energy plane has its label."""
    assert label_for(valence, energy) == label


@pytest.mark.parametrize(
    ("valence", "energy", "valence_conf", "energy_conf", "label"),
    [
        (0.2, 0.5, 0.9, 0.0, "down"),  # sad words, nothing about energy: not "tense"
        (0.2, 0.6, 0.9, 0.1, "down"),  # energy too weakly evidenced to count
        (0.2, 0.6, 0.9, 0.5, "tense"),
        (0.2, 0.3, 0.9, 0.5, "sad"),
        (0.8, 0.5, 0.9, 0.0, "happy"),
        (0.5, 0.85, 0.0, 0.8, "excited"),
        (0.5, 0.15, 0.0, 0.8, "tired"),
        (0.9, 0.9, 0.1, 0.1, "neutral"),  # far from neutral, but without evidence on either axis
    ],
)
def test_label_comes_only_from_axes_with_evidence(
    valence: float, energy: float, valence_conf: float, energy_conf: float, label: str
) -> None:
    """An axis below MIN_AXIS_CONFIDENCE has no say: unpleasant with no energy evidence is "down"."""
    got = label_for(valence, energy, valence_confidence=valence_conf, energy_confidence=energy_conf)
    assert got == label


def test_evident_side_needs_confidence_and_distance() -> None:
    """An axis has a side only with confidence ≥ MIN_AXIS_CONFIDENCE and outside NEUTRAL_RADIUS."""
    assert evident_side(0.8, 0.9) == 1
    assert evident_side(0.2, 0.9) == -1
    assert evident_side(0.8, MIN_AXIS_CONFIDENCE - 0.01) == 0
    assert evident_side(0.5 + NEUTRAL_RADIUS / 2, 0.9) == 0


def test_every_label_is_reachable_and_valid() -> None:
    """A grid over the plane and over evidence on each axis yields every label of MoodLabel and nothing else."""
    seen = {
        label_for(v / 20, e / 20, valence_confidence=vc, energy_confidence=ec)
        for v in range(21)
        for e in range(21)
        for vc in (0.0, 1.0)
        for ec in (0.0, 1.0)
    }
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
    back = MoodEstimate.from_dict(est.to_dict())
    assert back.label == est.label
    assert back.axis_confidences == pytest.approx(est.axis_confidences, abs=1e-4)


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
    valence_conf, energy_conf = est.axis_confidences
    assert 0.0 <= valence_conf <= 1.0 and 0.0 <= energy_conf <= 1.0
    if valence_conf == 0.0:
        assert est.valence == 0.5
    if energy_conf == 0.0:
        assert est.energy == 0.5
