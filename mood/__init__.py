"""mood/: from what a listener says and how they say it, a MoodEstimate.

Knows nothing of music or sessions: samples or text in (with a speaker baseline and time passed in),
:class:`~mood.types.MoodEstimate` out.
"""

from __future__ import annotations

from mood.errors import (
    AudioError,
    AudioFormatError,
    AudioTooLongError,
    CadenceError,
    EmptyAudioError,
    EngineError,
    NonFiniteAudioError,
    NoSpeechError,
    SilentAudioError,
)
from mood.types import INTENT_KINDS, MOOD_LABELS, Intent, IntentKind, MoodEstimate, MoodLabel

__all__ = [
    "INTENT_KINDS",
    "MOOD_LABELS",
    "AudioError",
    "AudioFormatError",
    "AudioTooLongError",
    "CadenceError",
    "EmptyAudioError",
    "EngineError",
    "Intent",
    "IntentKind",
    "MoodEstimate",
    "MoodLabel",
    "NoSpeechError",
    "NonFiniteAudioError",
    "SilentAudioError",
]
