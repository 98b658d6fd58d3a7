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
  arousal, so prosody only makes a valence estimate *more certain of being neutral* when the words are
  silent. It is kept in the weights so that the evidence shows it.
* The prior is 0.5, or the previous estimate decayed toward 0.5 with a 10-minute half-life when
  ``previous`` and ``since_previous_s`` are given: a mumbled utterance after a clear one keeps most of
  the clear one's reading instead of snapping to neutral.

The label is the valence/energy quadrant (Russell's circumplex, 1980) with a neutral centre
(:func:`label_for`). Pure: time and history come in as arguments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mood.prosody import ProsodicArousal, ProsodyFeatures
from mood.text import TextAffect
from mood.types import Intent, MoodEstimate, MoodLabel

__all__ = [
    "ENERGY_TEXT_WEIGHT",
    "PRIOR_WEIGHT",
    "PROSODY_VALENCE_WEIGHT",
    "AsrQuality",
    "asr_confidence",
    "fuse",
    "label_for",
]

ENERGY_PROSODY_WEIGHT = 1.0
ENERGY_TEXT_WEIGHT = 0.6
VALENCE_TEXT_WEIGHT = 1.0
PROSODY_VALENCE_WEIGHT = 0.15
PRIOR_WEIGHT = 0.15
PREVIOUS_HALF_LIFE_S = 600.0
NEUTRAL_RADIUS = 0.08
"""Within this distance of 0.5 on both axes the label is "neutral"."""


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


def label_for(valence: float, energy: float) -> MoodLabel:
    """The mood label of a point on the valence/energy plane (both 0–1, 0.5 neutral)."""
    dv, de = valence - 0.5, energy - 0.5
    if abs(dv) < NEUTRAL_RADIUS and abs(de) < NEUTRAL_RADIUS:
        return "neutral"
    if abs(dv) < NEUTRAL_RADIUS:
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


def _prior(previous: MoodEstimate | None, since_previous_s: float | None) -> tuple[float, float]:
    if previous is None or since_previous_s is None:
        return 0.5, 0.5
    keep = 0.5 ** (max(0.0, since_previous_s) / PREVIOUS_HALF_LIFE_S) * min(1.0, previous.confidence)
    return 0.5 + keep * (previous.valence - 0.5), 0.5 + keep * (previous.energy - 0.5)


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
    previous: MoodEstimate | None = None,
    since_previous_s: float | None = None,
) -> MoodEstimate:
    """One :class:`MoodEstimate` from its parts (see the module docstring for the weights).

    Parameters:
        prosody: Arousal from the voice (None for typed text).
        text: Valence and energy from the words (None when nothing was recognised).
        asr: The recogniser's quality (None for typed text: the words are certain).
        features: The prosodic features, copied into ``evidence["prosody"]``.
        intents: Explicit requests, passed through.
        transcript: What was said or typed.
        previous: The listener's previous estimate, and ``since_previous_s`` the seconds since it:
            the prior the estimate falls back to when its parts are weak.
    """
    asr_conf = asr_confidence(asr)
    prior_valence, prior_energy = _prior(previous, since_previous_s)

    w_energy_prosody = ENERGY_PROSODY_WEIGHT * prosody.confidence if prosody else 0.0
    w_energy_text = ENERGY_TEXT_WEIGHT * text.energy_confidence * asr_conf if text else 0.0
    w_valence_text = VALENCE_TEXT_WEIGHT * text.valence_confidence * asr_conf if text else 0.0
    w_valence_prosody = PROSODY_VALENCE_WEIGHT * prosody.confidence if prosody else 0.0

    energy_sum = PRIOR_WEIGHT + w_energy_prosody + w_energy_text
    energy = (
        PRIOR_WEIGHT * prior_energy
        + w_energy_prosody * (prosody.arousal if prosody else 0.5)
        + w_energy_text * (text.energy if text else 0.5)
    ) / energy_sum
    valence_sum = PRIOR_WEIGHT + w_valence_text + w_valence_prosody
    valence = (
        PRIOR_WEIGHT * prior_valence
        + w_valence_text * (text.valence if text else 0.5)
        + w_valence_prosody * 0.5
    ) / valence_sum

    # confidence: the share of each dimension's weight that came from evidence rather than the prior
    energy_evidence = (w_energy_prosody + w_energy_text) / energy_sum
    valence_evidence = w_valence_text / valence_sum + 0.5 * w_valence_prosody / valence_sum
    confidence = 0.5 * (energy_evidence + valence_evidence)

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
        valence=float(min(1.0, max(0.0, valence))),
        energy=float(min(1.0, max(0.0, energy))),
        confidence=float(min(1.0, max(0.0, confidence))),
        label=label_for(valence, energy),
        transcript=transcript,
        intents=tuple(intents),
        evidence=evidence,
    )
