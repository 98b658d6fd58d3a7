"""Smarter endpointing: when to close an utterance, from what was said so far and how it ended.

A pure policy (no model, no clock): :func:`decide_endpoint` takes the partial transcript that covers
the pause (``None`` when no decode has heard the pause yet), the silence heard so far and the settings,
and answers ``"close"`` or ``"wait"``. The stream (:mod:`mood.stream`) asks it on every 32 ms VAD frame
of a pause; ``--endpoint-silence-ms`` stays the upper bound, so the policy can only close *sooner* than
the fixed endpointer did.

The rules (:func:`silence_needed_ms`), by what the partial transcript says:

- **unfinished** — it ends on a conjunction ("and", "but", "because" …), a filler ("um", "uh" …), an
  article, possessive or preposition ("the", "my", "to", "for" …), or on ",", ";", ":", "-" or "…":
  the listener is mid-phrase; wait the full upper bound.
- **complete** — it ends with ".", "!" or "?" (Whisper punctuates a finished sentence), or it holds a
  request :func:`mood.intents.detect_intents` recognises ("play something calm"): close after
  :attr:`EndpointSettings.complete_ms`, or after :attr:`EndpointSettings.complete_falling_ms` when the
  voice also fell at the end (below).
- **open** — words, but neither of the above: close after :attr:`EndpointSettings.open_ms`.
- nothing recognised, or no decode has heard the pause yet: wait the upper bound.

The voice's last pitch is the second cue (:func:`final_pitch_fall_st`): a statement's last syllables
fall to the bottom of the speaker's range (final lowering), while a pause inside a sentence keeps the
pitch level or rising (continuation rise); the fall is the median F0 of the last 200 ms of voicing
against the median of the whole utterance so far, in semitones. Turn-taking studies use the same cues —
a falling final contour, a syntactically complete last phrase — to tell turn ends from pauses
(Gravano & Hirschberg 2011, *Computer Speech & Language* 25(3); Ferrer, Shriberg & Stolcke 2002, "Is
the speaker done yet?", ICSLP).

The trade-off, measured on the espeak-ng mood corpus (docs/mood.md has the figures): every
millisecond the policy saves is a millisecond a pause inside a sentence can outlast and cut the
sentence in two. Whisper writes "I feel wonderful today." for the first half of "I feel wonderful
today and everything is going great" heard up to its pause, so text alone cannot tell that pause from
the end. The corpus's pauses inside sentences last up to 288 ms (median 96 ms); its sentence ends fell
by 2.6 st at the median (73 % by 2 st or more), its inner pauses by 0.4 st (11 % by 2 st or more, and
of those behind a complete-looking partial none lasted over 192 ms). Hence the defaults: a complete
sentence with a falling voice closes after 256 ms, a complete one otherwise after 352 ms (longer than
every inner pause), an open one after 480 ms. A listener who adds a word after a finished request
("play me something … upbeat") gets two utterances where the fixed endpointer gave one. A rule set,
not a trained model: readable, no training data, and it fails safe (what it does not recognise waits
longer, never beyond the fixed endpointer's silence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from mood.intents import detect_intents
from mood.prosody import HOP_LENGTH, FrameMeasures

__all__ = [
    "ENDPOINTING_MODES",
    "TRAILING_WORDS",
    "Completeness",
    "EndpointDecision",
    "EndpointSettings",
    "EndpointingMode",
    "classify_text",
    "decide_endpoint",
    "final_pitch_fall_st",
    "silence_needed_ms",
]

EndpointingMode = Literal["smart", "silence"]
"""``smart``: decode while the listener speaks and close by :func:`decide_endpoint`; ``silence``: no
decoding until the utterance ends, which is after the full ``endpoint_silence_ms`` (the old way)."""
ENDPOINTING_MODES: tuple[EndpointingMode, ...] = get_args(EndpointingMode)

EndpointDecision = Literal["close", "wait"]
Completeness = Literal["complete", "open", "unfinished", "empty"]

_TRAILING_GROUPS = (
    # conjunctions and subordinators: a clause follows
    "and or but nor so because cause cuz since if unless until while whereas although though than as",
    "then that which who whom whose where when whether plus",
    # fillers and hesitations (Whisper often drops them; when it writes them they mean "not yet")
    "um umm uh uhh er erm ah hmm mm mhm",
    # articles, possessives, prepositions: a noun phrase follows
    "a an the my your his her its our their every each",
    "to of for with from into onto about by at without through between toward towards",
    # subjects and intensifiers that cannot end a sentence on their own
    "i i'm i'd i'll i've we we're you're they're very",
)
TRAILING_WORDS: frozenset[str] = frozenset(word for group in _TRAILING_GROUPS for word in group.split())
"""Words after which a sentence rarely ends: an utterance ending on one of them is unfinished. Words
that end sentences about as often as they continue them are left out ("like", "this", "it", and the
particles "on", "in", "up", "off" of "turn it on"); "that" stays in (more often "I think that …" than
"I love that" before a pause), which costs such a sentence the full upper bound, never a cut."""

_WORD = re.compile(r"[a-z]+(?:['’-][a-z]+)*")
_UNFINISHED_ENDINGS = (",", ";", ":", "-", "—", "–", "…", "...")
_TERMINAL = (".", "!", "?")
_PITCH_TAIL_S = 0.2
"""Seconds of the last voicing whose pitch is compared with the utterance's (:func:`final_pitch_fall_st`)."""
_VOICED_APERIODICITY = 0.30
"""YIN aperiodicity below which a frame is voiced (``mood.prosody``'s voicing rule)."""
_ACTIVITY_FLOOR_DB = 40.0


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """How much silence closes an utterance, by what the partial transcript says (milliseconds).

    Every value is capped by :attr:`max_silence_ms`, the upper bound (``--endpoint-silence-ms``).
    """

    max_silence_ms: int = 600
    """The upper bound: after this much silence the utterance closes whatever was said (the fixed
    endpointer's only rule). Also the wait after an unfinished phrase or without a partial."""
    complete_falling_ms: int = 256
    """A complete sentence or request whose voice fell at the end (:attr:`falling_st`)."""
    complete_ms: int = 352
    """A complete sentence or request, the voice not falling (or not measured)."""
    open_ms: int = 480
    """Words that neither end a sentence nor leave it hanging."""
    falling_st: float = -2.0
    """Semitones: a final pitch this far (or further) below the utterance's median is a fall."""

    def __post_init__(self) -> None:
        values = (self.complete_falling_ms, self.complete_ms, self.open_ms, self.max_silence_ms)
        if min(values) <= 0:
            raise ValueError(f"endpoint silences must be positive, got {values}")

    def capped(self, silence_ms: int) -> int:
        """``silence_ms``, never beyond the upper bound."""
        return min(int(silence_ms), self.max_silence_ms)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def classify_text(text: str) -> Completeness:
    """Whether a partial transcript reads as a finished sentence or request (see the module rules).

    >>> classify_text("Play something calm."), classify_text("I want something calm and")
    ('complete', 'unfinished')
    """
    stripped = text.strip()
    words = _words(stripped)
    if not words:
        return "empty"
    if stripped.endswith(_UNFINISHED_ENDINGS) or words[-1] in TRAILING_WORDS:
        return "unfinished"
    if stripped.endswith(_TERMINAL) or detect_intents(stripped):
        return "complete"
    return "open"


def silence_needed_ms(
    text: str | None, settings: EndpointSettings, *, pitch_fall_st: float | None = None
) -> int:
    """Milliseconds of silence after which an utterance with this partial transcript closes.

    Parameters:
        text: The partial transcript covering the pause; None when no decode has heard it yet.
        settings: The thresholds and the upper bound.
        pitch_fall_st: :func:`final_pitch_fall_st` of the speech before the pause (None: unknown).
    """
    if text is None:
        return settings.max_silence_ms
    kind = classify_text(text)
    if kind == "complete":
        falling = pitch_fall_st is not None and pitch_fall_st <= settings.falling_st
        return settings.capped(settings.complete_falling_ms if falling else settings.complete_ms)
    if kind == "open":
        return settings.capped(settings.open_ms)
    return settings.max_silence_ms


def decide_endpoint(
    text: str | None,
    silence_ms: float,
    settings: EndpointSettings,
    *,
    pitch_fall_st: float | None = None,
) -> EndpointDecision:
    """Close the utterance now, or wait for more silence (or speech).

    Parameters:
        text: The partial transcript that covers the pause (None: no decode has heard it yet).
        silence_ms: Milliseconds of silence since the speech paused.
        settings: The thresholds; never waits beyond ``settings.max_silence_ms``.
        pitch_fall_st: How far the voice fell at the end (:func:`final_pitch_fall_st`), if measured.
    """
    needed = silence_needed_ms(text, settings, pitch_fall_st=pitch_fall_st)
    return "close" if silence_ms >= needed else "wait"


def final_pitch_fall_st(measures: FrameMeasures, *, tail_s: float = _PITCH_TAIL_S) -> float | None:
    """How far the voice fell at the end of some speech: the median F0 of its last ``tail_s`` of
    voicing minus the median F0 of all its voicing, in semitones (negative: it fell).

    Parameters:
        measures: Per-frame measurements (8 ms hop) of the speech so far, from its start to the pause
            (:class:`mood.prosody.ProsodyTracker`).

    Returns:
        None when there is too little voicing to say (under 80 ms in all, or 40 ms in the tail).
    """
    n = len(measures)
    if n == 0:
        return None
    level = measures.level_db
    voiced = (
        (measures.aperiodicity < _VOICED_APERIODICITY)
        & (level > float(level.max()) - _ACTIVITY_FLOOR_DB)
        & (level > -75.0)
        & (measures.f0_hz > 0)
    )
    index = np.flatnonzero(voiced)
    hop_s = HOP_LENGTH / 16000.0
    if index.size < round(0.08 / hop_s):
        return None
    semitones = 12.0 * np.log2(measures.f0_hz[index].astype(np.float64) / 27.5)
    if semitones.size >= 3:  # a median of three against YIN's octave slips
        padded = np.pad(semitones, 1, mode="edge")
        semitones = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
    tail = semitones[index >= index[-1] - round(tail_s / hop_s)]
    if tail.size < round(0.04 / hop_s):
        return None
    return float(np.median(tail) - np.median(semitones))
