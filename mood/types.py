"""The records mood/ hands to the rest of Cadence.

Scales: ``valence`` and ``energy`` are on 0–1 with 0.5 neutral, the same scale as the tracks'
audio features (Spotify's convention), so a listener's mood and a track compare directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

__all__ = [
    "INTENT_KINDS",
    "MOOD_LABELS",
    "Intent",
    "IntentKind",
    "MoodEstimate",
    "MoodLabel",
]

MoodLabel = Literal[
    "calm", "content", "happy", "excited", "tense", "angry", "sad", "tired", "down", "neutral"
]
"""The quadrants of Russell's circumplex with a neutral centre, read only from the axes with evidence:
"down" is unpleasant with no evidence about energy (see :func:`mood.fusion.label_for`)."""
MOOD_LABELS: tuple[str, ...] = get_args(MoodLabel)

IntentKind = Literal[
    "calmer",  # calmer / slower / chill
    "energize",  # more energy / upbeat / pump it up
    "focus",  # focus / study / concentrate
    "workout",  # workout / run / gym
    "sleep",  # sleep / wind down
    "party",
    "cheer_up",  # cheer me up
    "skip",  # skip / next
    "like",  # like / love this
    "stop",  # stop / pause the music
]
INTENT_KINDS: tuple[str, ...] = get_args(IntentKind)


@dataclass(frozen=True, slots=True)
class Intent:
    """Something the listener asked of the player, explicitly."""

    kind: IntentKind
    strength: float = 1.0
    """0–1: how strongly it was asked ("a bit calmer" < "much calmer")."""
    phrase: str = ""
    """The words that expressed it, for the reason shown to the listener."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "strength": round(float(self.strength), 4), "phrase": self.phrase}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Intent:
        kind = data["kind"]
        if kind not in INTENT_KINDS:
            raise ValueError(f"unknown intent kind {kind!r}")
        return cls(kind=kind, strength=float(data.get("strength", 1.0)), phrase=str(data.get("phrase", "")))


@dataclass(frozen=True, slots=True)
class MoodEstimate:
    """The listener's mood as read from one utterance or one typed text."""

    valence: float
    """0–1, 0.5 neutral: unpleasant … pleasant."""
    energy: float
    """0–1, 0.5 neutral: arousal, tired … excited."""
    confidence: float
    """0–1: the mean of the two axis confidences (how much of the whole reading is evidence); the
    listener moves each axis by its own confidence (:attr:`axis_confidences`)."""
    label: MoodLabel = "neutral"
    transcript: str = ""
    """What was said or typed ("" when nothing was recognised)."""
    intents: tuple[Intent, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
    """Per-part values: ``{"prosody": {...}, "text": {...}, "weights": {...}}``, numbers only."""
    valence_confidence: float | None = None
    """0–1: how much evidence there is for ``valence``; 0 means the reading says nothing about it
    (and ``valence`` is then 0.5). :func:`mood.fusion.fuse` always sets it; None (records built
    elsewhere, older logs) is read as ``confidence``."""
    energy_confidence: float | None = None
    """0–1: how much evidence there is for ``energy``, as ``valence_confidence``."""
    language: str | None = None
    """ISO 639-1 code of the spoken language Whisper reported ("en" with tiny.en; detected by the
    multilingual models); None for typed text. Text affect is English-only: a transcript in another
    language gives no word evidence. Sent only when known."""

    @property
    def axis_confidences(self) -> tuple[float, float]:
        """(valence, energy) confidences, each falling back to ``confidence`` when not given."""
        v = self.confidence if self.valence_confidence is None else self.valence_confidence
        e = self.confidence if self.energy_confidence is None else self.energy_confidence
        return float(v), float(e)

    def to_dict(self) -> dict[str, Any]:
        return {
            "valence": round(float(self.valence), 4),
            "energy": round(float(self.energy), 4),
            "confidence": round(float(self.confidence), 4),
            "label": self.label,
            "transcript": self.transcript,
            "intents": [i.to_dict() for i in self.intents],
            "evidence": self.evidence,
            "valence_confidence": round(self.axis_confidences[0], 4),
            "energy_confidence": round(self.axis_confidences[1], 4),
            **({"language": self.language} if self.language is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MoodEstimate:
        label = data.get("label", "neutral")
        if label not in MOOD_LABELS:
            raise ValueError(f"unknown mood label {label!r}")
        return cls(
            valence=float(data["valence"]),
            energy=float(data["energy"]),
            confidence=float(data["confidence"]),
            label=label,
            transcript=str(data.get("transcript", "")),
            intents=tuple(Intent.from_dict(i) for i in data.get("intents", [])),
            evidence=dict(data.get("evidence", {})),
            valence_confidence=_optional_float(data.get("valence_confidence")),
            energy_confidence=_optional_float(data.get("energy_confidence")),
            language=None if data.get("language") is None else str(data["language"]),
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
