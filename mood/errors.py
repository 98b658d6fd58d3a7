"""The root of Cadence's exception tree and the errors of the mood layer.

Every error Cadence raises on purpose derives from :class:`CadenceError` and carries a stable
``code``: a short snake_case string that travels on the wire in ``error`` messages and never changes
meaning. The root lives here, in the lowest layer, because ``mood`` imports nothing from ``player``;
``player.errors`` re-exports it and adds the player's own layers.

The tree::

    CadenceError                      code "internal"
    ├── AudioError                    bad audio handed to mood/ (one subclass per code)
    │   ├── EmptyAudioError           "audio_empty"
    │   ├── NonFiniteAudioError       "audio_not_finite"
    │   ├── SilentAudioError          "audio_silent"
    │   ├── NoSpeechError             "no_speech"
    │   ├── AudioTooLongError         "audio_too_long"
    │   └── AudioFormatError          "audio_format"
    ├── EngineError                   "engine_unavailable": a model or optional package is missing
    └── (player.errors)               library, ranker, protocol and server errors
"""

from __future__ import annotations

__all__ = [
    "AudioError",
    "AudioFormatError",
    "AudioTooLongError",
    "CadenceError",
    "EmptyAudioError",
    "EngineError",
    "NoSpeechError",
    "NonFiniteAudioError",
    "SilentAudioError",
]


class CadenceError(Exception):
    """Root of every deliberate Cadence error; ``code`` is the stable wire code."""

    code: str = "internal"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        """The human-readable explanation (the exception's first argument)."""
        return str(self.args[0]) if self.args else self.code


class AudioError(CadenceError):
    """Audio that cannot be analysed; the subclass says why."""

    code = "audio_invalid"


class EmptyAudioError(AudioError):
    """The utterance has no samples."""

    code = "audio_empty"


class NonFiniteAudioError(AudioError):
    """The samples contain NaN or infinity."""

    code = "audio_not_finite"


class SilentAudioError(AudioError):
    """Every sample is zero (a muted or disconnected microphone)."""

    code = "audio_silent"


class NoSpeechError(AudioError):
    """Voice activity detection found no speech in the audio."""

    code = "no_speech"


class AudioTooLongError(AudioError):
    """The utterance is longer than the configured limit."""

    code = "audio_too_long"


class AudioFormatError(AudioError):
    """The sample format, rate or channel layout is not supported."""

    code = "audio_format"


class EngineError(CadenceError):
    """A model file or an optional package an engine needs is missing or broken."""

    code = "engine_unavailable"
