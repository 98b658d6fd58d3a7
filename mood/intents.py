"""Intents: what a listener explicitly asks of the player, found in what they said or typed.

A small, documented rule set rather than a model: each :data:`~mood.types.IntentKind` has phrase
patterns (:data:`INTENT_PATTERNS`); a match becomes an :class:`~mood.types.Intent` with a strength
from the degree words around it ("a bit calmer" 0.4, "calmer" 0.7, "much calmer" 1.0).

Negation: a negator in the three words before a match, inside the same clause ("don't stop",
"not calmer", "no need to skip") cancels it. Patterns may contain their own negation where the
negated form *is* a request ("not so loud" → calmer, "I don't like this" → skip); those are matched
as a whole and the negation check looks only before them.

Rules overlap on purpose (a "workout" is also a request for energy in the listener's eyes, but that
inference is the listener state's job); here each kind appears at most once, with its strongest match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mood.types import Intent, IntentKind

__all__ = ["INTENT_PATTERNS", "IntentMatch", "detect_intents"]

_P = r"(?:please |just )?"

INTENT_PATTERNS: Mapping[IntentKind, tuple[str, ...]] = {
    "calmer": (
        r"not so (?:loud|fast|intense|hectic|heavy|aggressive)",
        r"\b(?:calm(?:er)?|chill(?:er)?|chill ?out|mellow(?:er)?|relax(?:ing)?|soothing|gentler|softer|quieter)\b",
        r"\bslow(?:er)?\b(?! (?:me|us) down)",
        r"\b(?:tone|turn) it down\b",
        r"\bless (?:intense|loud|noisy|energy|energetic|hectic|busy|heavy|aggressive)\b",
        r"\btoo (?:loud|fast|intense|much|hectic|noisy|aggressive|heavy)\b",
        r"\bease off\b",
    ),
    "energize": (
        r"\bmore (?:energy|energetic|upbeat|lively|life|power|oomph|tempo)\b",
        r"\b(?:energi[sz]e|upbeat|livelier|liven (?:it|things|me) up|pump (?:it|me|things) up)\b",
        r"\b(?:speed (?:it|things) up|faster|crank it up|turn it up|wake me up|get me going|hype me up)\b",
        r"\b(?:louder|get (?:me )?pumped|get (?:me )?hyped)\b",
        r"\bboost\b",
        r"\btoo (?:slow|boring|sleepy|quiet|mellow|calm)\b",
        r"\bneed (?:some )?energy\b",
    ),
    "focus": (
        r"\b(?:focus(?:ing)?|concentrat\w*|study(?:ing)?|homework|deep work|revis(?:e|ing) for)\b",
        r"\b(?:get (?:some )?work done|working on|need to work|productive|coding|reading)\b",
    ),
    "workout": (
        r"\b(?:work ?out|working out|gym|exercis\w*|cardio|lifting|weights|training session|jog(?:ging)?)\b",
        r"\b(?:go(?:ing)? (?:for a )?run|running|on a run)\b",
        r"\b(?:my|a|the) (?:run|jog|ride|hike)\b",
    ),
    "sleep": (
        r"\b(?:sleep\w*|asleep|bed ?time|go(?:ing)? to bed|nap|wind(?:ing)? down|drift off|lullab\w*)\b",
        r"\b(?:time for bed|off to bed|in bed)\b",
    ),
    "party": (
        r"\b(?:party|partying|dance|dancing|celebrat\w*|club(?:bing)?|friends over|get this party started)\b",
    ),
    "cheer_up": (
        r"\bcheer (?:me |us )?up\b",
        r"\bmake me (?:feel )?(?:happy|happier|better|smile|laugh)\b",
        r"\b(?:lift|raise) my (?:mood|spirits)\b",
        r"\b(?:brighten|pick me up|cheerful|uplifting|happier|feel[- ]good)\b",
        r"\bsomething (?:happy|fun|positive)\b",
    ),
    "skip": (
        r"\bskip\b",
        r"^\W*next\b",
        r"\bnext (?:song|track|one|please)\b",
        r"\b(?:another|different) (?:song|track|one)\b",
        r"\bsomething else\b",
        r"\bchange (?:the )?(?:song|track|music)\b",
        r"\b(?:don't|do not|dont) like (?:this|that|it)\b",
        r"\bnot this (?:one|song|track)\b",
        r"\bi hate this (?:song|track|one)\b",
        r"\bmove on\b",
    ),
    "like": (
        r"\b(?:love|like|adore|enjoy(?:ing)?) (?:this|that|it|the song|this song|this one|this track)\b",
        r"\b(?:great|good|nice|awesome|amazing|perfect|brilliant|cool) (?:song|track|tune|choice|pick)\b",
        r"\bthis is (?:great|awesome|amazing|perfect|brilliant|so good|my jam)\b",
        r"\b(?:favou?rite|thumbs up|more like this|keep (?:this|it) (?:on|playing|going)|what a (?:song|tune))\b",
        r"\b(?:this|that) (?:song|track|one) is (?:great|awesome|amazing|perfect|good|nice)\b",
    ),
    "stop": (
        r"\b(?:stop|pause|halt)\b(?! (?:skipping|changing|switching|asking))",
        r"\b(?:turn|switch|shut) (?:it|this|that|the music) off\b",
        r"\bshut (?:it )?up\b",
        r"\b(?:be quiet|silence|enough music|no more music|that's enough|mute)\b",
    ),
}
"""Intent kind → regular expressions over the lower-cased text (apostrophes normalised)."""

_NEGATORS = re.compile(
    r"\b(?:not|no|never|don't|dont|do not|doesn't|didn't|won't|can't|cannot|stop|without|neither|nor)\b"
)
_CLAUSE_BREAK = re.compile(r"[,.;:!?]|\bbut\b|\band\b|\bthen\b")
_INTENSIFIERS = re.compile(
    r"\b(?:much|way|a lot|lots|really|so|very|super|totally|seriously|definitely|completely)\b"
)
_DIMINISHERS = re.compile(
    r"\b(?:a bit|a little|slightly|somewhat|a tad|kind of|kinda|sort of|maybe|a touch)\b"
)

BASE_STRENGTH = 0.7
STRONG = 1.0
WEAK = 0.4


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """One pattern match, before de-duplication."""

    kind: IntentKind
    start: int
    end: int
    strength: float
    negated: bool
    phrase: str


_FUNCTION_WORDS = frozenset(
    {"the", "a", "an", "to", "my", "me", "for", "some", "of", "it", "this", "that", "any"}
)
_DOUBLE_NEGATION = re.compile(r"\b(?:can't|cannot|can not|won't|couldn't) stop\b")


def _prefix(text: str, start: int) -> str:
    """The clause before ``start``: back to the last break, its last three content words.

    "can't stop" is a double negation ("I can't stop dancing" asks for dancing) and is removed.
    """
    before = text[:start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    if breaks:
        before = before[breaks[-1].end() :]
    before = _DOUBLE_NEGATION.sub(" ", before)
    words = [w for w in before.split() if w not in _FUNCTION_WORDS]
    return " ".join(words[-3:])


def _strength(text: str, start: int, end: int) -> float:
    window = text[max(0, start - 24) : min(len(text), end + 12)]
    if _DIMINISHERS.search(window):
        return WEAK
    if _INTENSIFIERS.search(window) or "!" in text[end : end + 3]:
        return STRONG
    return BASE_STRENGTH


def _normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"\s+", " ", text).strip()


def matches(text: str) -> list[IntentMatch]:
    """Every pattern match in ``text`` with its negation and strength, in text order."""
    norm = _normalise(text)
    found: list[IntentMatch] = []
    for kind, patterns in INTENT_PATTERNS.items():
        for pattern in patterns:
            for m in re.finditer(pattern, norm):
                prefix = _prefix(norm, m.start())
                negated = bool(_NEGATORS.search(prefix))
                found.append(
                    IntentMatch(
                        kind, m.start(), m.end(), _strength(norm, m.start(), m.end()), negated, m.group(0)
                    )
                )
    # a match inside a longer match of another kind defers to it ("don't like this" is skip, not like;
    # "not so loud" is calmer)
    kept = [
        a
        for a in found
        if not any(
            b is not a
            and b.kind != a.kind
            and b.start <= a.start
            and a.end <= b.end
            and (b.end - b.start) > (a.end - a.start)
            for b in found
        )
    ]
    return sorted(kept, key=lambda x: (x.start, x.kind))


def detect_intents(text: str) -> tuple[Intent, ...]:
    """The intents expressed in ``text``: one per kind (its strongest un-negated match), in text order."""
    best: dict[IntentKind, IntentMatch] = {}
    for m in matches(text):
        if m.negated:
            continue
        current = best.get(m.kind)
        if current is None or m.strength > current.strength:
            best[m.kind] = m
    ordered = sorted(best.values(), key=lambda m: m.start)
    return tuple(Intent(kind=m.kind, strength=m.strength, phrase=m.phrase) for m in ordered)
