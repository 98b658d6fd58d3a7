"""Fusion: prosody, words and intents into one :class:`~mood.types.MoodEstimate`.

Energy leans on prosody and valence on the words. That split is the consistent finding of
speech-emotion research: acoustic parameters (loudness, F0 level and range, rate, spectral tilt)
predict arousal well and valence poorly, while the lexical channel carries most of the valence
(Scherer 2003; Schuller et al. 2011; eGeMAPS baselines, Eyben et al. 2016, report arousal far above
valence from acoustics alone). So each dimension is a confidence-weighted mean of its sources and a
prior:

=========  ==============================  ================================  ===============
dimension  prosody weight                  text weight                       prior weight
=========  ==============================  ================================  ===============
energy     1.0 × prosodic confidence       0.6 × energy-word confidence      0.15
                                           × ASR confidence
valence    0.15 × prosodic confidence      1.0 × sentiment confidence        0.15
           (arousal-neutral, see below)    × ASR confidence
=========  ==============================  ================================  ===============

* Prosodic confidence grows with voiced speech and with how well the speaker's baseline is known
  (:func:`mood.prosody.prosodic_arousal`).
* ASR confidence comes from Whisper's mean token log-probability and no-speech probability
  (:func:`asr_confidence`); typed text has ASR confidence 1.
* Prosody's vote on valence is 0.5 (neutral): acoustics do not tell pleasant from unpleasant
  arousal, so the voice only tempers what the words say; it adds no valence confidence.
* The prior is the neutral point 0.5 with a fixed weight: weak evidence moves an axis a little.

**Per-axis confidence**: each axis's confidence is the share of its weight that came from
evidence (for valence, from the words alone). An axis with no evidence has confidence 0 and value
0.5, so the listener state does not move on it: "I'm so pumped right now!" is confident about
energy and says nothing about valence; "I feel sad and lonely" is confident about both. The
estimate's ``confidence`` is the mean of the two.

The label (:func:`label_for`) comes only from the axes with evidence: the valence/energy quadrant
of Russell's circumplex (1980) with a neutral centre when both have it, "happy"/"down" from valence
alone, calm/tired/excited from energy alone. Pure: no clock, no history.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mood.prosody import ProsodicArousal, ProsodyFeatures
from mood.text import TextAffect
from mood.types import Intent, MoodEstimate, MoodLabel

__all__ = [
    "ENERGY_PROSODY_WEIGHT",
    "ENERGY_TEXT_WEIGHT",
    "MIN_AXIS_CONFIDENCE",
    "NEUTRAL_RADIUS",
    "PRIOR_WEIGHT",
    "PROSODY_VALENCE_WEIGHT",
    "VALENCE_TEXT_WEIGHT",
    "AsrQuality",
    "asr_confidence",
    "evident_side",
    "fuse",
    "label_for",
]

ENERGY_PROSODY_WEIGHT = 1.0
ENERGY_TEXT_WEIGHT = 0.6
VALENCE_TEXT_WEIGHT = 1.0
PROSODY_VALENCE_WEIGHT = 0.15
PRIOR_WEIGHT = 0.15
NEUTRAL_RADIUS = 0.08
"""Within this distance of 0.5 an axis reads as neutral."""
MIN_AXIS_CONFIDENCE = 0.2
"""An axis whose confidence is below this has no say in the label."""


@dataclass(frozen=True, slots=True)
class AsrQuality:
    """How well the recogniser heard the utterance."""

    avg_logprob: float
    """Whisper's mean token log-probability (≤ 0)."""
    no_speech_prob: float
    """0–1."""
    words: int = 0
    """Words recognised."""


def asr_confidence(quality: AsrQuality | None) -> float:
    """0–1 trust in the transcript: 1 at avg_logprob ≥ -0.3 falling to 0 at -1.3, times
    (1 − no_speech_prob); 0 when nothing was recognised; 1 for typed text (``None``)."""
    if quality is None:
        return 1.0
    if quality.words == 0:
        return 0.0
    from_logprob = min(1.0, max(0.0, (quality.avg_logprob + 1.3) / 1.0))
    return from_logprob * (1.0 - min(1.0, max(0.0, quality.no_speech_prob)))


def evident_side(value: float, confidence: float) -> Literal[-1, 0, 1]:
    """Which side of neutral one axis is on, if its evidence says so: 1 above, -1 below, 0 when its
    confidence is under :data:`MIN_AXIS_CONFIDENCE` or its value within :data:`NEUTRAL_RADIUS` of 0.5."""
    if confidence < MIN_AXIS_CONFIDENCE or abs(value - 0.5) < NEUTRAL_RADIUS:
        return 0
    return 1 if value > 0.5 else -1


def label_for(
    valence: float,
    energy: float,
    *,
    valence_confidence: float = 1.0,
    energy_confidence: float = 1.0,
) -> MoodLabel:
    """The mood label of a point on the valence/energy plane (both 0–1, 0.5 neutral), read only from
    the axes with evidence (confidence ≥ :data:`MIN_AXIS_CONFIDENCE` and off the neutral centre).

    Both axes: the quadrant of Russell's circumplex, pleasant → excited (energy ≥ 0.7) / happy
    (≥ 0.5) / content (> 0.3) / calm; unpleasant → angry (energy ≥ 0.7 and valence ≤ 0.3) / tense
    (≥ 0.5) / tired (energy ≤ 0.3, mildly unpleasant) / sad. Valence alone: happy / down. Energy
    alone: excited (≥ 0.7) / neutral (mildly raised) / calm / tired (≤ 0.3). Neither: neutral.
    """
    dv, de = valence - 0.5, energy - 0.5
    has_valence = evident_side(valence, valence_confidence) != 0
    has_energy = evident_side(energy, energy_confidence) != 0
    if not has_valence and not has_energy:
        return "neutral"
    if not has_energy:
        return "happy" if dv > 0 else "down"
    if not has_valence:
        if de <= -0.2:
            return "tired"
        if de < 0:
            return "calm"
        return "excited" if de >= 0.2 else "neutral"
    if dv > 0:
        if de >= 0.2:
            return "excited"
        if de >= 0:
            return "happy"
        return "content" if de > -0.2 else "calm"
    if de >= 0.2 and dv <= -0.2:
        return "angry"
    if de >= 0:
        return "tense"
    if de <= -0.2 and dv > -0.2:
        return "tired"
    return "sad"


def _numbers(data: dict[str, Any]) -> dict[str, float]:
    return {k: (round(float(v), 4) if math.isfinite(float(v)) else 0.0) for k, v in data.items()}


def fuse(
    prosody: ProsodicArousal | None,
    text: TextAffect | None,
    *,
    asr: AsrQuality | None = None,
    features: ProsodyFeatures | None = None,
    intents: Sequence[Intent] = (),
    transcript: str = "",
) -> MoodEstimate:
    """One :class:`MoodEstimate` from its parts (see the module docstring for the weights).

    Parameters:
        prosody: Arousal from the voice (None for typed text).
        text: Valence and energy from the words that were not part of a request (None when nothing
            was recognised).
        asr: The recogniser's quality (None for typed text: the words are certain).
        features: The prosodic features, copied into ``evidence["prosody"]``.
        intents: Explicit requests, passed through.
        transcript: What was said or typed.
    """
    asr_conf = asr_confidence(asr)

    w_energy_prosody = ENERGY_PROSODY_WEIGHT * prosody.confidence if prosody else 0.0
    w_energy_text = ENERGY_TEXT_WEIGHT * text.energy_confidence * asr_conf if text else 0.0
    w_valence_text = VALENCE_TEXT_WEIGHT * text.valence_confidence * asr_conf if text else 0.0
    w_valence_prosody = PROSODY_VALENCE_WEIGHT * prosody.confidence if prosody else 0.0

    energy_sum = PRIOR_WEIGHT + w_energy_prosody + w_energy_text
    energy = (
        PRIOR_WEIGHT * 0.5
        + w_energy_prosody * (prosody.arousal if prosody else 0.5)
        + w_energy_text * (text.energy if text else 0.5)
    ) / energy_sum
    valence_sum = PRIOR_WEIGHT + w_valence_text + w_valence_prosody
    valence = (
        PRIOR_WEIGHT * 0.5 + w_valence_text * (text.valence if text else 0.5) + w_valence_prosody * 0.5
    ) / valence_sum

    # per axis, the share of the weight that came from evidence; prosody's neutral vote on valence
    # is not evidence about valence, so valence confidence comes from the words alone
    energy_confidence = _unit((w_energy_prosody + w_energy_text) / energy_sum)
    valence_confidence = _unit(w_valence_text / (PRIOR_WEIGHT + w_valence_text))
    if energy_confidence == 0.0:
        energy = 0.5
    if valence_confidence == 0.0:
        valence = 0.5
    valence, energy = _unit(valence), _unit(energy)

    evidence: dict[str, Any] = {
        "weights": _numbers(
            {
                "energy_prosody": w_energy_prosody / energy_sum,
                "energy_text": w_energy_text / energy_sum,
                "energy_prior": PRIOR_WEIGHT / energy_sum,
                "valence_text": w_valence_text / valence_sum,
                "valence_prosody": w_valence_prosody / valence_sum,
                "valence_prior": PRIOR_WEIGHT / valence_sum,
                "asr_confidence": asr_conf,
            }
        )
    }
    if prosody is not None:
        part: dict[str, Any] = {"arousal": prosody.arousal, "confidence": prosody.confidence}
        part.update({f"z_{k}": v for k, v in prosody.zscores.items()})
        if features is not None:
            part.update(features.to_dict())
        evidence["prosody"] = _numbers(part)
    if text is not None:
        evidence["text"] = text.to_dict()
    if asr is not None:
        evidence["asr"] = _numbers(
            {"avg_logprob": asr.avg_logprob, "no_speech_prob": asr.no_speech_prob, "words": asr.words}
        )
    return MoodEstimate(
        valence=valence,
        energy=energy,
        confidence=0.5 * (valence_confidence + energy_confidence),
        label=label_for(
            valence, energy, valence_confidence=valence_confidence, energy_confidence=energy_confidence
        ),
        transcript=transcript,
        intents=tuple(intents),
        evidence=evidence,
        valence_confidence=valence_confidence,
        energy_confidence=energy_confidence,
    )


def _unit(value: float) -> float:
    return float(min(1.0, max(0.0, value)))
