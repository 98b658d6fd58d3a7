"""mood/: from what a listener says and how they say it, a MoodEstimate.

Knows nothing of music or sessions: samples or text in (with a speaker baseline and time passed in),
:class:`~mood.types.MoodEstimate` out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from mood.analyzer import MoodAnalyzer, MoodConfig
    from mood.prosody import SpeakerBaseline

# The facade and the baseline are imported on first use, so `import mood` (for the records and
# errors) does not pull in the speech engines' modules.
_LAZY = {
    "MoodAnalyzer": "mood.analyzer",
    "MoodConfig": "mood.analyzer",
    "SpeakerBaseline": "mood.prosody",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mood' has no attribute {name!r}")


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
    "MoodAnalyzer",
    "MoodConfig",
    "MoodEstimate",
    "MoodLabel",
    "NoSpeechError",
    "NonFiniteAudioError",
    "SilentAudioError",
    "SpeakerBaseline",
]
