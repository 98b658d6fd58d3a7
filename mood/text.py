"""Text affect: valence from the words (VADER) and energy from an arousal lexicon.

Valence: VADER (Hutto & Gilbert 2014, ICWSM), a rule-based sentiment model tuned on short social
text, shipped with its lexicon in ``vaderSentiment``. Its ``compound`` score in [-1, 1] maps to the
0–1 scale as ``0.5 + 0.5 * compound``; VADER already handles negation ("not happy"), degree words and
punctuation emphasis.

Energy: VADER says nothing about arousal, so :data:`AROUSAL_LEXICON` lists energy words with a value
on the 0–1 energy scale (0.5 neutral), in the spirit of the arousal norms of Warriner, Kuperman &
Brysbaert (2013) but limited to words a listener says about their own state or what they are doing
(exhausted, sleepy, calm, chill … pumped, hyped, furious, party, workout). Valence words such as
"happy" or "sad" are deliberately absent: the acoustics carry arousal far better than such words do.
A negator up to three words before an energy word ("not tired", "never calm") flips it to the other
side of neutral at half its distance (not tired is awake, not wired); an intensifier just before it
("so", "really", "very") pushes it further from neutral, a diminisher ("a bit", "slightly") pulls it
closer.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AROUSAL_LEXICON",
    "DIMINISHERS",
    "INTENSIFIERS",
    "NEGATORS",
    "ArousalHit",
    "TextAffect",
    "text_affect",
    "tokenize",
]

AROUSAL_LEXICON: dict[str, float] = {
    # low energy: fatigue and sleep
    "exhausted": 0.05,
    "drained": 0.08,
    "knackered": 0.08,
    "shattered": 0.10,
    "sleepy": 0.10,
    "drowsy": 0.10,
    "fatigued": 0.12,
    "lethargic": 0.12,
    "tired": 0.15,
    "weary": 0.15,
    "sluggish": 0.18,
    "sleep": 0.15,
    "asleep": 0.10,
    "yawning": 0.15,
    "lazy": 0.22,
    "bored": 0.30,
    # low energy: calm and rest
    "calm": 0.25,
    "calmer": 0.25,
    "chill": 0.25,
    "chilled": 0.25,
    "chilling": 0.25,
    "relaxed": 0.22,
    "relaxing": 0.25,
    "relax": 0.25,
    "peaceful": 0.20,
    "serene": 0.20,
    "mellow": 0.25,
    "quiet": 0.30,
    "gentle": 0.30,
    "soothing": 0.25,
    "cozy": 0.30,
    "cosy": 0.30,
    "slow": 0.30,
    "slower": 0.30,
    "unwind": 0.25,
    "rest": 0.28,
    # high energy: activation
    "awake": 0.65,
    "alert": 0.65,
    "upbeat": 0.75,
    "lively": 0.75,
    "energetic": 0.85,
    "energized": 0.85,
    "energised": 0.85,
    "excited": 0.85,
    "thrilled": 0.88,
    "ecstatic": 0.92,
    "pumped": 0.92,
    "hyped": 0.92,
    "psyched": 0.90,
    "stoked": 0.85,
    "amped": 0.90,
    "wired": 0.85,
    "buzzing": 0.82,
    "wild": 0.85,
    "intense": 0.80,
    "fast": 0.72,
    "faster": 0.72,
    "loud": 0.75,
    "louder": 0.75,
    # high energy: activities
    "party": 0.88,
    "partying": 0.88,
    "dance": 0.82,
    "dancing": 0.82,
    "workout": 0.85,
    "gym": 0.80,
    "run": 0.75,
    "running": 0.78,
    "sprint": 0.85,
    "celebrate": 0.82,
    "celebrating": 0.82,
    # high energy: negative activation
    "furious": 0.95,
    "enraged": 0.95,
    "livid": 0.92,
    "angry": 0.82,
    "mad": 0.78,
    "panicked": 0.90,
    "panicking": 0.90,
    "frantic": 0.90,
    "stressed": 0.75,
    "anxious": 0.72,
    "nervous": 0.70,
    "restless": 0.70,
    "tense": 0.72,
    "frustrated": 0.68,
    "terrified": 0.90,
}
"""Energy word → energy on the 0–1 scale (0.5 neutral)."""

_PHRASES: dict[str, float] = {
    "wind down": 0.20,
    "winding down": 0.20,
    "worn out": 0.08,
    "burnt out": 0.10,
    "burned out": 0.10,
    "fired up": 0.90,
    "pumped up": 0.92,
    "work out": 0.85,
    "working out": 0.85,
    "laid back": 0.25,
    "low key": 0.30,
    "half asleep": 0.10,
}
"""Two-word energy expressions, matched before single words."""

NEGATORS: frozenset[str] = frozenset(
    {"not", "no", "never", "hardly", "barely", "nor", "without", "neither", "nothing"}
)
"""Words (and any word ending in n't) that flip an energy word up to three words after them."""

INTENSIFIERS: dict[str, float] = {
    "so": 1.5,
    "really": 1.5,
    "very": 1.5,
    "super": 1.6,
    "extremely": 1.8,
    "incredibly": 1.8,
    "totally": 1.6,
    "completely": 1.6,
    "absolutely": 1.7,
    "utterly": 1.8,
    "too": 1.4,
    "way": 1.4,
    "dead": 1.6,
    "insanely": 1.8,
    "damn": 1.5,
}
"""Word → factor on an energy word's distance from neutral."""

DIMINISHERS: dict[str, float] = {
    "bit": 0.5,  # "a bit"
    "little": 0.5,  # "a little"
    "slightly": 0.5,
    "somewhat": 0.6,
    "kinda": 0.6,
    "sorta": 0.6,
    "fairly": 0.7,
    "tad": 0.5,
    "mildly": 0.5,
    "quite": 0.8,
}
"""Word → factor (< 1) on an energy word's distance from neutral ("kind of" is handled as a phrase)."""

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
_CLAUSE = re.compile(r"[,.;:!?]+|\bbut\b|\bthough\b", re.IGNORECASE)
"""Negation and degree words do not reach across these."""


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens, apostrophes kept inside words ("don't", "i'm"), curly quotes folded."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'").replace("\u2018", "'"))


def _is_negator(token: str) -> bool:
    return token in NEGATORS or token.endswith("n't") or token in ("cannot", "dont", "cant", "wont")


@dataclass(frozen=True, slots=True)
class ArousalHit:
    """One energy expression found in the text."""

    phrase: str
    energy: float
    """0–1 after negation and degree words."""
    negated: bool = False
    degree: float = 1.0


@dataclass(frozen=True, slots=True)
class TextAffect:
    """What the words alone say about the listener's mood."""

    valence: float
    """0–1, 0.5 neutral (VADER compound mapped to 0–1)."""
    valence_confidence: float
    """0–1: how much of the text carries sentiment (0 for a neutral text)."""
    energy: float
    """0–1, 0.5 neutral (from :data:`AROUSAL_LEXICON`)."""
    energy_confidence: float
    """0–1: grows with the number and strength of energy words (0 when there are none)."""
    compound: float
    """VADER's compound score, -1 … 1."""
    hits: tuple[ArousalHit, ...] = ()

    def to_dict(self) -> dict[str, float]:
        """Numbers only, for ``MoodEstimate.evidence["text"]``."""
        return {
            "valence": round(self.valence, 4),
            "valence_confidence": round(self.valence_confidence, 4),
            "energy": round(self.energy, 4),
            "energy_confidence": round(self.energy_confidence, 4),
            "compound": round(self.compound, 4),
            "energy_words": float(len(self.hits)),
        }


@functools.lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _degree(tokens: list[str], start: int) -> float:
    """Product of the degree words in the two tokens before ``tokens[start]``."""
    factor = 1.0
    for j in range(max(0, start - 2), start):
        tok = tokens[j]
        if tok in INTENSIFIERS:
            factor *= INTENSIFIERS[tok]
        elif tok in DIMINISHERS:
            factor *= DIMINISHERS[tok]
        elif tok == "of" and j >= 1 and tokens[j - 1] in ("kind", "sort"):
            factor *= 0.6
    return factor


def _arousal_hits(tokens: list[str]) -> list[ArousalHit]:
    hits: list[ArousalHit] = []
    i = 0
    while i < len(tokens):
        pair = " ".join(tokens[i : i + 2])
        if pair in _PHRASES:
            value, width = _PHRASES[pair], 2
        elif tokens[i] in AROUSAL_LEXICON:
            value, width = AROUSAL_LEXICON[tokens[i]], 1
        else:
            i += 1
            continue
        degree = _degree(tokens, i)
        # a negator up to three tokens back, not across another energy word
        negated = any(_is_negator(tokens[j]) for j in range(max(0, i - 3), i))
        distance = value - 0.5
        if negated:
            distance = -0.5 * distance
        distance *= degree
        energy = 0.5 + min(0.48, max(-0.48, distance))
        hits.append(ArousalHit(" ".join(tokens[i : i + width]), energy, negated, degree))
        i += width
    return hits


def text_affect(text: str) -> TextAffect:
    """Valence and energy of ``text`` with their confidences (pure; VADER's lexicon is loaded once)."""
    if not text.strip():
        return TextAffect(0.5, 0.0, 0.5, 0.0, 0.0)
    scores = _vader().polarity_scores(text)
    compound = float(scores["compound"])
    valence = 0.5 + 0.5 * compound
    # VADER's pos/neg proportions say how much of the text is affective; a strong compound from
    # a short text is trustworthy, a weak one from a long text less so.
    affective = float(scores["pos"]) + float(scores["neg"])
    valence_confidence = min(1.0, 0.6 * abs(compound) + 0.8 * affective) if compound != 0.0 else 0.0
    hits = [hit for clause in _CLAUSE.split(text) for hit in _arousal_hits(tokenize(clause))]
    if hits:
        strength = [abs(h.energy - 0.5) + 0.05 for h in hits]
        energy = sum(s * h.energy for s, h in zip(strength, hits, strict=True)) / sum(strength)
        energy_confidence = 1.0 - math.exp(-2.5 * sum(strength))
    else:
        energy, energy_confidence = 0.5, 0.0
    return TextAffect(
        valence=float(valence),
        valence_confidence=float(valence_confidence),
        energy=float(energy),
        energy_confidence=float(energy_confidence),
        compound=compound,
        hits=tuple(hits),
    )
