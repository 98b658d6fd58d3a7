"""Text affect: valence from the words (VADER) and energy from an arousal lexicon.

Valence: VADER (Hutto & Gilbert 2014, ICWSM), a rule-based sentiment model tuned on short social
text, shipped with its lexicon in ``vaderSentiment``. Its ``compound`` score in [-1, 1] maps to the
0–1 scale as ``0.5 + 0.5 * compound``; VADER already handles negation ("not happy"), degree words and
punctuation emphasis. A text with no sentiment words has valence confidence 0: it says nothing
about valence. Each clause is scored alone, and where one says how the listener is ("I feel awful"),
the clauses about someone or something else count a quarter as much (:func:`_sentiment`).

Energy: VADER says nothing about arousal, so :data:`AROUSAL_LEXICON` lists words and multi-word
expressions with a value on the 0–1 energy scale (0.5 neutral), in the spirit of the arousal norms of
Warriner, Kuperman & Brysbaert (2013) and Russell's circumplex (1980), limited to what a listener
says about their own state or what they are doing. Two kinds of entry, which negation treats apart:

* **Energy states** (exhausted, sleepy, calm, relaxed, awake, wired, "worn out", "wide awake" …):
  a negator up to three words before flips them to the other side of neutral at half their
  distance: "not tired at all" is somewhat awake (not wired), "not calm" somewhat tense.
* **Feelings and activities** (:data:`NEGATION_CANCELS`: sad, lonely, depressed, "I miss", cry …
  low; excited, "let's go", "can't sit still", scream, angry, stressed, "freaking out" … high;
  party, gym …): a negator cancels them, because "not sad" or "not angry" says nothing about
  energy.

An intensifier just before an entry ("so", "really", "very", "extremely" …) pushes it away from
neutral, a diminisher ("a bit", "slightly", "kind of" …) pulls it toward it. Negation and degree do not
reach across clause boundaries (punctuation, "but", "though"). Longer expressions are matched first,
so "no energy", "running on empty" and "can't sit still" are read whole.

:func:`read_text` first finds the listener's requests (:func:`mood.intents.find_requests`) and then
reads affect from the *other* words only: "calmer" in "something calmer please, I'm stressed" is a
request, not evidence of low energy.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mood.intents import find_requests
from mood.types import Intent

__all__ = [
    "AROUSAL_LEXICON",
    "DIMINISHERS",
    "INTENSIFIERS",
    "NEGATION_CANCELS",
    "NEGATORS",
    "VALENCE_LEXICON",
    "ArousalHit",
    "TextAffect",
    "TextReading",
    "read_text",
    "text_affect",
    "tokenize",
]

_ENERGY_STATES: dict[str, float] = {
    # fatigue and sleep
    "exhausted": 0.05,
    "drained": 0.08,
    "knackered": 0.08,
    "shattered": 0.10,
    "zonked": 0.08,
    "wiped": 0.10,
    "fried": 0.12,
    "pooped": 0.10,
    "hungover": 0.18,
    "hung over": 0.18,
    "dead tired": 0.08,
    "dead on my feet": 0.08,
    "so done": 0.30,
    "dozy": 0.15,
    "wiped out": 0.08,
    "worn out": 0.08,
    "burnt out": 0.10,
    "burned out": 0.10,
    "run down": 0.15,
    "running on empty": 0.12,
    "no energy": 0.08,
    "zero energy": 0.08,
    "out of energy": 0.12,
    "low energy": 0.20,
    "low on energy": 0.20,
    "barely awake": 0.12,
    "barely keep my eyes open": 0.10,
    "can't keep my eyes open": 0.08,
    "can't stay awake": 0.08,
    "cannot stay awake": 0.08,
    "half asleep": 0.10,
    "sleepy": 0.10,
    "drowsy": 0.10,
    "groggy": 0.15,
    "fatigued": 0.12,
    "lethargic": 0.12,
    "listless": 0.15,
    "tired": 0.15,
    "weary": 0.15,
    "sluggish": 0.18,
    "dragging": 0.25,
    "sleep": 0.15,
    "asleep": 0.10,
    "dozing": 0.12,
    "yawning": 0.15,
    # calm and rest
    "calm": 0.25,
    "calmer": 0.25,
    "chill": 0.25,
    "chilled": 0.25,
    "chilled out": 0.22,
    "chilling": 0.25,
    "relaxed": 0.22,
    "relaxing": 0.25,
    "relax": 0.25,
    "peaceful": 0.20,
    "at peace": 0.20,
    "at ease": 0.25,
    "serene": 0.20,
    "tranquil": 0.20,
    "mellow": 0.25,
    "quiet": 0.30,
    "gentle": 0.30,
    "soothing": 0.25,
    "cozy": 0.30,
    "cosy": 0.30,
    "comfy": 0.30,
    "comfortable": 0.32,
    "snug": 0.30,
    "slow": 0.30,
    "slower": 0.30,
    "unwind": 0.25,
    "unwinding": 0.25,
    "rest": 0.28,
    "rested": 0.32,
    "laid back": 0.25,
    "low key": 0.30,
    "taking it easy": 0.25,
    "take it easy": 0.25,
    "wind down": 0.20,
    "winding down": 0.20,
    "curled up": 0.25,
    # activation
    "awake": 0.65,
    "wide awake": 0.78,
    "alert": 0.65,
    "motivated": 0.70,
    "upbeat": 0.75,
    "lively": 0.75,
    "alive": 0.68,
    "energy": 0.72,
    "full of energy": 0.88,
    "energetic": 0.85,
    "energized": 0.85,
    "energised": 0.85,
    "pumped": 0.92,
    "pumped up": 0.92,
    "hyped": 0.92,
    "hyper": 0.90,
    "amped": 0.90,
    "amped up": 0.90,
    "revved": 0.85,
    "revved up": 0.88,
    "fired up": 0.90,
    "wired": 0.85,
    "buzzing": 0.82,
    "wild": 0.85,
    "intense": 0.80,
    "restless": 0.70,
    "tense": 0.72,
    "fast": 0.72,
    "faster": 0.72,
    "loud": 0.75,
    "louder": 0.75,
}
"""Energy states: negation flips them to the other side of neutral at half their distance."""

_FEELINGS_AND_ACTIVITIES: dict[str, float] = {
    # low-arousal unpleasant feelings (Russell's sad/depressed quadrant)
    "sad": 0.30,
    "sadness": 0.30,
    "unhappy": 0.38,
    "lonely": 0.30,
    "got the blues": 0.30,
    "have the blues": 0.30,
    "lonesome": 0.30,
    "depressed": 0.18,
    "depression": 0.20,
    "miserable": 0.28,
    "hopeless": 0.22,
    "pointless": 0.30,
    "heartbroken": 0.28,
    "gloomy": 0.28,
    "glum": 0.30,
    "mopey": 0.25,
    "moping": 0.25,
    "melancholy": 0.30,
    "melancholic": 0.30,
    "gutted": 0.32,
    "devastated": 0.30,
    "grief": 0.28,
    "grieving": 0.28,
    "mourning": 0.28,
    "homesick": 0.35,
    "bummed": 0.35,
    "numb": 0.20,
    "empty": 0.25,
    "hollow": 0.25,
    "defeated": 0.25,
    "discouraged": 0.30,
    "dejected": 0.25,
    "despondent": 0.20,
    "unmotivated": 0.20,
    "apathetic": 0.22,
    "no motivation": 0.15,
    "zero motivation": 0.15,
    "bored": 0.30,
    "lazy": 0.22,
    "meh": 0.38,
    "blah": 0.38,
    "boredom": 0.30,
    "under the weather": 0.30,
    "can't be bothered": 0.25,
    "cannot be bothered": 0.25,
    "nothing matters": 0.25,
    "what's the point": 0.28,
    "nostalgic": 0.35,
    "wistful": 0.32,
    "cry": 0.30,
    "crying": 0.30,
    "cried": 0.32,
    "tears": 0.32,
    "tearful": 0.30,
    "weeping": 0.30,
    "i miss": 0.36,
    "feeling down": 0.30,
    "feel down": 0.30,
    "felt down": 0.30,
    "so down": 0.30,
    "really down": 0.30,
    "pretty down": 0.30,
    "bit down": 0.32,
    "down in the dumps": 0.25,
    "feeling low": 0.28,
    "feel low": 0.28,
    "so low": 0.28,
    "really low": 0.28,
    "pretty low": 0.28,
    "bit low": 0.30,
    "feeling blue": 0.30,
    "feel blue": 0.30,
    "bit blue": 0.32,
    # low-arousal pleasant feelings
    "content": 0.35,
    # high-arousal pleasant feelings and expressions
    "excited": 0.85,
    "excitement": 0.85,
    "exciting": 0.80,
    "thrilled": 0.88,
    "ecstatic": 0.92,
    "elated": 0.82,
    "euphoric": 0.90,
    "exhilarated": 0.90,
    "overjoyed": 0.82,
    "giddy": 0.80,
    "psyched": 0.90,
    "stoked": 0.85,
    "can't wait": 0.80,
    "cannot wait": 0.80,
    "let's go": 0.85,
    "lets go": 0.85,
    "ready to go": 0.78,
    "raring to go": 0.88,
    "full of beans": 0.85,
    "bouncing off the walls": 0.92,
    "bouncing": 0.75,
    "can't sit still": 0.85,
    "jump around": 0.85,
    "jumping around": 0.85,
    "jumping": 0.72,
    "on fire": 0.85,
    "adrenaline": 0.88,
    "racing": 0.80,
    "pounding": 0.80,
    "over the moon": 0.78,
    "cloud nine": 0.75,
    "going nuts": 0.85,
    "going crazy": 0.85,
    "driving me crazy": 0.80,
    "unstoppable": 0.85,
    "let's do this": 0.80,
    "scream": 0.88,
    "screaming": 0.88,
    "yell": 0.85,
    "yelling": 0.85,
    "shout": 0.85,
    "shouting": 0.85,
    "losing my patience": 0.80,
    "lost my patience": 0.80,
    # tears of joy
    "happy i could cry": 0.72,
    "so happy i could cry": 0.75,
    "tears of joy": 0.72,
    "happy tears": 0.70,
    # good news told as it happens
    "my birthday": 0.72,
    "getting married": 0.78,
    "got married": 0.72,
    "got engaged": 0.80,
    "got the job": 0.80,
    "got promoted": 0.78,
    "we won": 0.85,
    "i won": 0.80,
    "passed my exam": 0.72,
    "passed my exams": 0.72,
    "passed my test": 0.72,
    "passed my driving test": 0.72,
    "passed my finals": 0.72,
    # high-arousal unpleasant feelings (Russell's tense/angry quadrant)
    "furious": 0.95,
    "enraged": 0.95,
    "outraged": 0.90,
    "irate": 0.90,
    "livid": 0.92,
    "fuming": 0.92,
    "raging": 0.92,
    "rage": 0.90,
    "seething": 0.90,
    "angry": 0.82,
    "anger": 0.80,
    "mad": 0.78,
    "pissed": 0.80,
    "pissed off": 0.82,
    "annoyed": 0.65,
    "irritated": 0.68,
    "irritable": 0.68,
    "agitated": 0.80,
    "fed up": 0.65,
    "frustrated": 0.68,
    "panicked": 0.90,
    "panicking": 0.90,
    "panic": 0.90,
    "frantic": 0.90,
    "terrified": 0.90,
    "frightened": 0.78,
    "scared": 0.75,
    "afraid": 0.70,
    "stressed": 0.75,
    "stressed out": 0.80,
    "stress": 0.72,
    "stressful": 0.72,
    "anxious": 0.72,
    "anxiety": 0.75,
    "nerves are shot": 0.80,
    "nerves are frayed": 0.78,
    "nervous": 0.70,
    "nervous wreck": 0.85,
    "worried": 0.65,
    "worrying": 0.65,
    "overwhelmed": 0.72,
    "jittery": 0.78,
    "jumpy": 0.75,
    "edgy": 0.72,
    "uptight": 0.70,
    "on edge": 0.78,
    "wound up": 0.80,
    "freaking out": 0.90,
    "freak out": 0.88,
    "freaked out": 0.88,
    "losing my mind": 0.85,
    "hectic": 0.72,
    "chaos": 0.75,
    "chaotic": 0.75,
    "snapping": 0.72,
    "shaking": 0.72,
    "trembling": 0.72,
    "pacing": 0.72,
    "explode": 0.88,
    "can't sleep": 0.70,
    "cannot sleep": 0.70,
    "yelled at me": 0.75,
    "shouted at me": 0.75,
    "screamed at me": 0.78,
    # activities
    "party": 0.88,
    "partying": 0.88,
    "dance": 0.82,
    "dancing": 0.82,
    "workout": 0.85,
    "work out": 0.85,
    "working out": 0.85,
    "gym": 0.80,
    "run": 0.75,
    "running": 0.78,
    "sprint": 0.85,
    "celebrate": 0.82,
    "celebrating": 0.82,
}
"""Feelings and activities: negation cancels them ("not sad" says nothing about energy)."""

_HEDGES = ("kind of", "kinda", "sort of", "sorta", "a little", "a little bit", "a bit", "a tad", "a touch")
_LOW_MOOD: dict[str, tuple[float, float, tuple[str, ...]]] = {
    # word: (energy, valence on VADER's scale, who says it of themselves)
    "down": (0.32, -1.4, ("feel", "feeling", "felt", "i'm", "im", "i am", "been")),
    "low": (0.32, -1.4, ("feel", "feeling", "felt", "i'm", "im", "i am", "been")),
    "blue": (0.32, -1.4, ("feel", "feeling", "felt", "i'm", "im", "i am", "been")),
    "flat": (0.34, -1.0, ("feel", "feeling", "felt")),
}
_HEDGED_LOW_MOOD: dict[str, tuple[float, float]] = {
    f"{subject} {hedge} {word}": (energy, valence)
    for word, (energy, valence, subjects) in _LOW_MOOD.items()
    for subject in subjects
    for hedge in _HEDGES
}
"""A hedged low mood said of oneself ("I feel kind of down", "I'm a little down", "feeling a bit
flat"): the hedge is part of the entry (a milder value), so the hedge words do not shrink it again.
Without the speaker's feeling verb or "I'm" the words say nothing ("a bit down the road", "kind of
low on milk", "Kind of Blue")."""
_FEELINGS_AND_ACTIVITIES.update({k: energy for k, (energy, _) in _HEDGED_LOW_MOOD.items()})
_FEELINGS_AND_ACTIVITIES.update({"in a funk": 0.30, "bit of a funk": 0.32})
_ENERGY_STATES.update(
    {
        f"{subject} {degree}wrecked": 0.12
        for subject in ("i'm", "im", "i am", "feel", "feeling", "felt")
        for degree in ("", "so ", "really ", "pretty ", "totally ", "completely ", "absolutely ", "utterly ")
    }
)
""""Wrecked" is fatigue said of oneself ("I'm wrecked", "feeling totally wrecked"); "my car got
wrecked" says nothing of the listener's energy."""
_IDIOMS: dict[str, tuple[str, ...]] = {"sleep": ("on", "it"), "run": ("out", "of"), "running": ("out", "of")}
"""Expressions that mean something else before these words ("let me sleep on it": decide later;
"we ran out of milk", "running out of time")."""
_PLACE_AFTER = frozenset({"the", "road", "street", "stairs", "hall", "hallway", "there", "here"})
"""After "down" or "low", a word that makes it a place, not a mood ("a bit down the road")."""

AROUSAL_LEXICON: dict[str, float] = {**_ENERGY_STATES, **_FEELINGS_AND_ACTIVITIES}
"""Energy expression (one or more lower-case words) → energy on the 0–1 scale (0.5 neutral)."""

NEGATION_CANCELS: frozenset[str] = frozenset(_FEELINGS_AND_ACTIVITIES)
"""Entries a negator cancels instead of flipping."""

_ABSENT_WHEN_NEGATED: dict[str, float] = {"energy": AROUSAL_LEXICON["no energy"]}
"""Entries whose negation means their absence: "I don't have any energy" is "no energy"."""
_AT_ALL = 1.5
"""Degree of "at all" after an expression ("not tired at all")."""

_LONGEST = max(len(key.split()) for key in AROUSAL_LEXICON)

VALENCE_LEXICON: dict[str, float] = {
    # words VADER's lexicon lacks
    "gutted": -2.0,
    "bummed": -1.5,
    "grumpy": -1.5,
    "cranky": -1.5,
    "mopey": -1.5,
    "unwell": -1.5,
    "hungover": -1.5,
    "hung over": -1.5,
    "so done": -1.6,
    "rough": -1.3,
    "bleak": -1.8,
    "pointless": -1.5,
    "seething": -2.5,
    "hectic": -0.8,
    "wrecked": -1.5,
    "knackered": -0.8,
    "meh": -0.8,
    "blah": -1.0,
    "under the weather": -1.5,
    "can't be bothered": -1.0,
    "cannot be bothered": -1.0,
    "could be better": -1.0,
    "could have been better": -1.0,
    "dead tired": -1.2,
    "dead on my feet": -1.2,
    "nothing matters": -2.0,
    "what's the point": -1.8,
    "can't sleep": -1.2,
    "cannot sleep": -1.2,
    "yelled at me": -2.0,
    "shouted at me": -2.0,
    "screamed at me": -2.2,
    "my birthday": 1.8,
    "happy i could cry": 2.8,
    "so happy i could cry": 3.0,
    "tears of joy": 2.5,
    "happy tears": 2.2,
    "getting married": 2.5,
    "got married": 2.5,
    "got engaged": 2.5,
    "got the job": 2.5,
    "got promoted": 2.2,
    "passed my exam": 2.0,
    "passed my exams": 2.0,
    "passed my test": 2.0,
    "passed my driving test": 2.0,
    "passed my finals": 2.0,
    "stoked": 2.2,
    "psyched": 2.0,
    "chuffed": 2.0,
    "content": 1.5,
    "rested": 1.2,
    "refreshed": 1.5,
    "recharged": 1.5,
    "comfy": 1.5,
    "cozy": 1.5,
    "cosy": 1.5,
    "snug": 1.2,
    # words VADER reads otherwise than a listener means them about their own state
    "overwhelmed": -1.5,
    "giddy": 1.5,
    "buzzing": 1.5,
    "unstoppable": 2.0,
    "feeling": 0.0,
    "pretty": 0.0,
    "super": 0.0,
    "heart": 0.0,
    "honestly": 0.0,
    "please": 0.0,
    "play": 0.0,  # to a music player, "play …" is a command ("Play Kind of Blue"), not pleasure
    "pls": 0.0,
    "plz": 0.0,
    "mellow": 1.0,
    "beaming": 2.0,
    "nerves are shot": -2.0,
    "nerves are frayed": -2.0,
    "feel off": -1.0,
    "feeling off": -1.0,
    "bit off": -1.0,
    "chill": 1.0,
    "empty": -1.5,
    "chilled": 1.0,
    "chilling": 0.8,
    "anxiety": -2.0,
    "can't shake": 0.0,
    "cannot shake": 0.0,
    "can't help": 0.0,
    "cannot help": 0.0,
    "got the blues": -1.8,
    "have the blues": -1.8,
    "had the blues": -1.8,
    "fried": -1.2,
    "pooped": -0.8,
    # expressions, read whole
    "feeling down": -1.8,
    "feel down": -1.8,
    "felt down": -1.8,
    "so down": -1.8,
    "really down": -1.8,
    "pretty down": -1.8,
    "bit down": -1.4,
    "in a funk": -1.6,
    "bit of a funk": -1.4,
    **{k: valence for k, (_, valence) in _HEDGED_LOW_MOOD.items()},
    "down in the dumps": -2.0,
    "feeling low": -1.6,
    "feel low": -1.6,
    "so low": -1.6,
    "really low": -1.6,
    "pretty low": -1.6,
    "bit low": -1.2,
    "feeling blue": -1.6,
    "feel blue": -1.6,
    "bit blue": -1.2,
    "fed up": -1.8,
    "on edge": -1.4,
    "wound up": -1.2,
    "freaking out": -2.0,
    "freak out": -2.0,
    "freaked out": -2.0,
    "losing my mind": -1.8,
    "nervous wreck": -2.0,
    "stressed out": -1.8,
    "burnt out": -1.8,
    "burned out": -1.8,
    "worn out": -1.2,
    "run down": -1.2,
    "no motivation": -1.5,
    "zero motivation": -1.5,
    "no energy": -1.2,
    "zero energy": -1.2,
    "low energy": -1.0,
    "low on energy": -1.0,
    "running on empty": -1.2,
    "fired up": 1.8,
    "on fire": 1.5,
    "full of energy": 1.8,
    "full of beans": 1.8,
    "can't wait": 1.8,
    "cannot wait": 1.8,
    "raring to go": 1.5,
    "pumped": 1.8,
    "amped": 1.5,
    "hyped": 1.8,
    "cloud nine": 2.5,
    "lazy sunday": 1.0,
    "lazy morning": 1.0,
    "lazy afternoon": 1.0,
    "lazy day": 1.0,
    "losing my patience": -1.8,
    "lost my patience": -1.8,
    "laid back": 1.2,
    "chilled out": 1.0,
    "over the moon": 2.5,
    "on top of the world": 2.5,
    "couldn't be happier": 3.0,
    "could not be happier": 3.0,
    "couldn't be better": 2.5,
    "could not be better": 2.5,
    "never been happier": 3.0,
    "looking forward": 1.5,
    "driving me crazy": -1.8,
    "going nuts": 0.0,
    "going crazy": 0.0,
}
"""Valence on VADER's −4 … +4 scale of listener-state words and expressions that VADER's lexicon
lacks or reads otherwise ("feeling" +0.5, "pretty" +2.2 in "pretty tired", "super" +2.9 in "super
tense", "heart" +3.2 in "my heart is racing", "fired" −2.6 in "fired up"). Multi-word expressions are joined into one token before VADER reads the text, so VADER's own
negation and degree rules apply to them ("not feeling down")."""


def _is_place_sensitive(expression: str) -> bool:
    """Whether a mood expression ends in "down" or "low" without a feeling verb that makes it a mood
    whatever follows ("feeling down the whole day")."""
    words = expression.split()
    return words[-1] in ("down", "low") and words[0] not in ("feel", "feeling", "felt")


def _place_guard(expression: str) -> str:
    """The lookahead that keeps a mood expression ending in "down" or "low" from matching a place."""
    if not _is_place_sensitive(expression):
        return ""
    return r"\b(?!\s+(?:" + "|".join(sorted(_PLACE_AFTER)) + r")\b)"


_JOINED = re.compile(
    r"\b(?:"
    + "|".join(
        re.escape(k).replace(r"\ ", r"\s+") + _place_guard(k)
        for k in sorted((k for k in VALENCE_LEXICON if " " in k), key=len, reverse=True)
    )
    + r")\b",
    re.IGNORECASE,
)
_KEEP_ON = re.compile(
    r"\b(?:can't|cannot|can not|couldn't|could not|won't|will not|wouldn't)\s+stop\b", re.IGNORECASE
)
"""A double negation VADER does not see: "I can't stop smiling" keeps smiling."""
_POSTURE = re.compile(
    r"\b(?:lying|laying)(?=\s+(?:in|on|down|around|awake|here|there|next|under|by)\b)", re.IGNORECASE
)
""""lying" of where one lies ("lying in bed", "lying on the couch"), which VADER scores as telling lies
(-2.4)."""

NEGATORS: frozenset[str] = frozenset(
    {"not", "no", "never", "hardly", "barely", "nor", "without", "neither", "nothing"}
)
"""Words (and any word ending in n't) that negate an energy expression up to three content words after them."""

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


_FUNCTION_WORDS = frozenset(
    {"the", "a", "an", "to", "my", "me", "for", "of", "it", "this", "that", "in", "at"}
)
"""Skipped when looking back for a negator ("not going to the gym")."""


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
    """0–1: grows with the number and strength of energy expressions (0 when there are none)."""
    compound: float
    """VADER's compound score, -1 … 1."""
    hits: tuple[ArousalHit, ...] = ()
    request_words: int = 0
    """Words left out because a request took them (see :func:`read_text`)."""

    def to_dict(self) -> dict[str, float]:
        """Numbers only, for ``MoodEstimate.evidence["text"]``."""
        return {
            "valence": round(self.valence, 4),
            "valence_confidence": round(self.valence_confidence, 4),
            "energy": round(self.energy, 4),
            "energy_confidence": round(self.energy_confidence, 4),
            "compound": round(self.compound, 4),
            "energy_words": float(len(self.hits)),
            "request_words": float(self.request_words),
        }


@dataclass(frozen=True, slots=True)
class TextReading:
    """A text read for mood and requests: the requests' own words are not mood evidence."""

    affect: TextAffect
    intents: tuple[Intent, ...]


@functools.lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update({_joined(k): v for k, v in VALENCE_LEXICON.items()})
    return analyzer


def _joined(expression: str) -> str:
    return "_".join(expression.lower().split())


_DISCOURSE = re.compile(
    r"(?:^|(?<=[,.;:!?]))\s*(?:yeah|yes|yep|ok|okay|well|so|um|uh|oh|hmm|anyway)\b"
    r"(?=\s*,|\s+(?:i|i'm|im|i've|i'd|we|we're|it's|its|this|that's|my|today|tonight|everything)\b)",
    re.IGNORECASE,
)
"""A discourse marker opening a clause ("Yeah, I'm exhausted", "Ok I'm tired"), which VADER scores
as pleasant ("yeah" +1.2, "ok" +1.2, "well" +1.1) though it says nothing about the listener."""


def _for_vader(text: str) -> str:
    """``text`` with :data:`VALENCE_LEXICON`'s expressions joined into single tokens and the discourse
    markers that open its clauses left out."""
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = _DISCOURSE.sub("", text)
    text = _KEEP_ON.sub("keep", text)
    text = _POSTURE.sub("resting", text)
    text = _ENERGY_THING.sub(lambda m: _joined(m.group(0)), text)
    return _JOINED.sub(lambda m: _joined(m.group(0)), text)


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


def _longest_entry(tokens: list[str], i: int) -> tuple[str, int] | None:
    """The longest lexicon expression starting at ``tokens[i]``, and its length in tokens."""
    for width in range(min(_LONGEST, len(tokens) - i), 0, -1):
        phrase = " ".join(tokens[i : i + width])
        if phrase in AROUSAL_LEXICON:
            return phrase, width
    return None


def _reaches_past(tokens: list[str], k: int, end: int) -> bool:
    """Whether the longest expression starting at ``tokens[k]`` ends after ``tokens[end - 1]``."""
    entry = _longest_entry(tokens, k)
    return entry is not None and k + entry[1] > end


_ENERGY_NOUNS = frozenset({"energy", "energy's"})
ENERGY_THINGS: frozenset[str] = frozenset(
    {
        "bill", "bills", "price", "prices", "cost", "costs", "company", "companies", "supplier",
        "suppliers", "provider", "tariff", "meter", "crisis", "market", "markets", "policy", "sector",
        "supply", "source", "sources", "usage", "use", "consumption", "efficiency", "saving",
        "savings", "drink", "drinks", "bar", "bars", "gel", "gels", "storage",
    }
)  # fmt: skip
"""Nouns that make "energy" before them a thing ("our energy bill is high", "an energy drink"): not the
listener's energy, and not pleasant either (VADER scores the word "energy" +1.6)."""
_ENERGY_THING = re.compile(r"\benergy\s+(" + "|".join(sorted(ENERGY_THINGS)) + r")\b", re.IGNORECASE)
_LEVEL_NOUNS = frozenset({"level", "levels", "level's"})
_LEVEL_FILLERS = frozenset({*INTENSIFIERS, *DIMINISHERS, "kind", "sort", "of", "a", "pretty", "that"})
"""Words between the verb and the level ("is really low", "is kind of low"); their degree is :func:`_degree`'s."""
_LEVEL_VERBS = frozenset({"is", "was", "are", "were", "feels", "felt", "seems", "been", "running", "getting"})
ENERGY_LEVELS: dict[str, float] = {
    "low": AROUSAL_LEXICON["low energy"],
    "down": 0.22,
    "gone": AROUSAL_LEXICON["out of energy"],
    "zero": AROUSAL_LEXICON["zero energy"],
    "shot": 0.12,
    "drained": AROUSAL_LEXICON["drained"],
    "high": 0.82,
    "up": 0.72,
    "good": 0.65,
    "great": 0.72,
    "back": 0.65,
}
"""What "my energy is …" says (the bare word "energy" alone reads as having energy: "so much energy")."""


def _energy_level(tokens: list[str], start: int) -> tuple[float, int, float, bool] | None:
    """The level an "energy" at ``tokens[start - 1]`` is said to be at, as in "my energy is really low",
    "energy levels are high", "my energy's gone": (energy, tokens read after "energy", degree,
    negated), or None if no level follows."""
    j = start
    if tokens[start - 1] != "energy's":
        j += tokens[j : j + 1] != [] and tokens[j] in _LEVEL_NOUNS
        if j < len(tokens) and tokens[j] in ("has", "have") and tokens[j + 1 : j + 2] == ["been"]:
            j += 1
        if j >= len(tokens) or not (tokens[j] in _LEVEL_VERBS or tokens[j] in ("isn't", "wasn't", "aren't")):
            return None
        negated = tokens[j].endswith("n't")
        j += 1
    else:
        negated = False
    for _ in range(3):  # "is not that low", "is really low", "is kind of low"
        if j >= len(tokens) or tokens[j] in ENERGY_LEVELS:
            break
        if _is_negator(tokens[j]):
            negated = True
        elif tokens[j] not in _LEVEL_FILLERS:
            return None
        j += 1
    if j >= len(tokens) or tokens[j] not in ENERGY_LEVELS:
        return None
    if tokens[j + 1 : j + 2] and tokens[j + 1] in _PLACE_AFTER:  # "energy is down the hall"
        return None
    return ENERGY_LEVELS[tokens[j]], j + 1 - start, _degree(tokens, j), negated


def _arousal_hits(tokens: list[str]) -> list[ArousalHit]:
    hits: list[ArousalHit] = []
    i = 0
    while i < len(tokens):
        if tokens[i] == "energy" and tokens[i + 1 : i + 2] and tokens[i + 1] in ENERGY_THINGS:
            i += 2  # a thing, not the listener's energy: "energy bill", "energy drink"
            continue
        if tokens[i] in _ENERGY_NOUNS and (level := _energy_level(tokens, i + 1)) is not None:
            value, read, degree, negated = level
            distance = (value - 0.5) * (-0.5 if negated else 1.0) * degree
            hits.append(
                ArousalHit(
                    " ".join(tokens[i : i + 1 + read]), 0.5 + min(0.48, max(-0.48, distance)), negated, degree
                )
            )
            i += 1 + read
            continue
        entry = _longest_entry(tokens, i)
        if entry is None:
            i += 1
            continue
        phrase, width = entry
        # an expression starting inside this one that reaches further is the one meant ("feeling low
        # on energy" is "low on energy", not "feeling low" and "energy")
        inner = [k for k in range(i + 1, i + width) if _reaches_past(tokens, k, i + width)]
        if inner:
            i = inner[0]
            continue
        after = tokens[i + width] if i + width < len(tokens) else ""
        idiom = _IDIOMS.get(phrase)
        if idiom is not None and tuple(tokens[i + width : i + width + len(idiom)]) == idiom:
            i += width  # "sleep on it", "running out of time"
            continue
        if after in _PLACE_AFTER and _is_place_sensitive(phrase):
            i += width  # a place, not a mood: "a bit down the road"
            continue
        degree = _degree(tokens, i)
        # a negator among the three content words before the expression (one inside it, as in "no
        # energy" or "can't sit still", is part of its meaning)
        before = [j for j in range(i) if tokens[j] not in _FUNCTION_WORDS][-3:]
        negated = any(
            _is_negator(tokens[j]) and tokens[j + 1 : j + 2] not in (["stop"], ["shake"], ["help"])
            for j in before
        )  # "can't stop crying", "can't shake this anxiety": double negations
        if negated and phrase in NEGATION_CANCELS:
            i += width
            continue
        if negated and phrase in _ABSENT_WHEN_NEGATED:
            distance, negated = _ABSENT_WHEN_NEGATED[phrase] - 0.5, False
        else:
            distance = AROUSAL_LEXICON[phrase] - 0.5
        if negated:
            distance = -0.5 * distance
        if tokens[i + width : i + width + 2] == ["at", "all"]:
            degree *= _AT_ALL  # "not tired at all"
        distance *= degree
        energy = 0.5 + min(0.48, max(-0.48, distance))
        hits.append(ArousalHit(phrase, energy, negated, degree))
        i += width
    return hits


def _without(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with the character ranges ``spans`` cut out, each cut a clause boundary."""
    pieces, position = [], 0
    for start, end in sorted(spans):
        pieces.append(text[position:start])
        position = max(position, end)
    pieces.append(text[position:])
    return ", ".join(piece for piece in pieces if piece.strip())


_SENTENCE_PIECE = re.compile(
    r"(?<=[,.;:!?])\s+|\s+(?=(?:and|but)\s+(?:i|i'm|im|i've|i am|he|he's|she|she's|they|they're)\b)",
    re.IGNORECASE,
)
_VADER_ALPHA = 15.0
"""VADER's normalisation constant: compound = s / sqrt(s² + alpha) for a raw valence sum s."""
_SELF_REPORT = re.compile(
    r"^\W*(?:and\s+|but\s+|so\s+|now\s+|honestly\s+|just\s+)?(?:i\s+(?:feel|felt|am|was|'ve been|have been|"
    r"just feel|really feel|kind of feel|kinda feel)|i'm|im|i've been|feeling|feel)\b",
    re.IGNORECASE,
)
"""A clause in which the listener says how they are ("I feel awful", "I'm so happy", "feeling low")."""
_OTHER_SUBJECT = re.compile(
    r"^\W*(?:and\s+|but\s+|so\s+)?(?:my|the|this|that|it|it's|its|he|she|they|his|her|their|our|your|you"
    r"|everyone|everybody|someone|somebody|people)\b",
    re.IGNORECASE,
)
"""A clause about someone or something else ("My best friend is moving away", "the people here are
so kind"); a clause without a subject of its own ("just happy") goes on with the one before."""
_TOPIC_WEIGHT = 0.25
"""How much the other clauses count beside a self-report that carries valence: in "My best friend is
moving away and I feel awful" the listener's "awful" outweighs the pleasant words of the topic
("best", "friend"), which VADER alone adds up to pleasant."""


_PERSON = (
    r"^\W*(?:and\s+|but\s+|so\s+|then\s+)?(?:he|she|they|someone|somebody|everyone|everybody|people|nobody"
    r"|(?:his|her|their)\s+\w+|(?:my|our|your)\s+(?:\w+\s+)?(?:(?:best|close|old|little|big|older|younger"
    r"|new)\s+)?(?:friends?|brothers?|sisters?|siblings|mom|mum|mother|dad|father|parents|kids?|children|sons?"
    r"|daughters?|wife|husband|partner|boyfriend|girlfriend|roommates?|flatmates?|neighbou?rs?|boss"
    r"|colleagues?|co-?workers?|family|grand(?:ma|pa|mother|father|parents)|uncles?|aunts?|cousins?|baby"
    r"|cats?|dogs?|team|teachers?|classmates?))(?=\W|$)"
)
_PERSON_SUBJECT = re.compile(_PERSON, re.IGNORECASE)
"""A clause opening with another person as its subject ("my brother", "she", "everyone at work")."""
_FILLER_WORDS = r"(?:\s+(?:\w+\s+){0,3}?\w+)??"
_THEIR_VIEW = re.compile(
    _FILLER_WORDS + r"(?:'s|\s+)(?:thinks?|thought|feels?|felt|feeling|seems?|seemed|looks?|looked|sounds?"
    r"|sounded|(?:says?|said|told (?:me|us))\s+(?:that\s+)?(?:he|she|they|it))\b",
    re.IGNORECASE,
)
"""Their own view or state, whatever its words ("… thinks this song is boring", "… seems relaxed",
"… said he was exhausted")."""
_THEIR_STATE = re.compile(
    _FILLER_WORDS + r"(?:'s|'re|\s+(?:is|was|are|were|been|gets?|got|getting|keeps?|kept|can't stop))\b",
    re.IGNORECASE,
)
"""A verb of being: their feeling only when a feeling word follows (:data:`_EMOTION_WORDS`)."""
_EMOTION_WORDS = frozenset(
    [
        "happy",
        "unhappy",
        "glad",
        "proud",
        "upset",
        "miserable",
        "cheerful",
        "delighted",
        "disappointed",
        "jealous",
        "grumpy",
        "content",
        "heartbroken",
        "devastated",
        "ecstatic",
        "overjoyed",
        "joyful",
        "sorry",
        "hurt",
        "mood",
        "blast",
        "fun",
    ]
)
"""Feelings with no energy of their own; the arousal lexicon's words are feelings too."""
_ON_LISTENER = re.compile(
    r"\b(?:makes?|made|making|drives?|drove|driving|gets?|got|getting|leaves?|left|keeps?|kept|has|had"
    r"|have|drive|make|get|leave|keep)\s+(?:me|us)\b|\b(?:and|&)\s+(?:i|me)\b",
    re.IGNORECASE,
)
"""Someone acting on the listener ("he's driving me crazy", "they get me so stressed") or the listener
among the subjects ("my friends and I are so excited"): the feeling is the listener's."""
_JUDGED = re.compile(
    r"\b(?:is|are|was|were|'s|'re)\s+(?:being\b|(?:so\s+|really\s+|very\s+|such\s+|just\s+|always\s+)*"
    r"(?:an?\s+)?(?:nice|kind|sweet|lovely|rude|mean|annoying|awesome|amazing|wonderful|great|terrible"
    r"|awful|horrible|cruel|funny|hilarious|cute|adorable|generous|helpful|supportive|caring|brilliant"
    r"|the best|the worst|a pain|jerks?|idiots?|gems?|angels?)\b)",
    re.IGNORECASE,
)
"""The listener's judgement of someone ("my coworkers are so rude", "my boyfriend is being so
annoying", "my neighbours are lovely people"): the listener's own valence."""


def tells_others_feelings(clause: str) -> bool:
    """Whether ``clause`` tells how another person feels, not the listener (pure).

    Its subject is another person (:data:`_PERSON_SUBJECT`), followed by their view or state
    (:data:`_THEIR_VIEW`: "she seems relaxed", "he said he was exhausted") or by a verb of being and a
    feeling word (:data:`_THEIR_STATE`: "my brother is furious", "everyone was having a blast"); nobody
    acts on the listener, the listener is not among the subjects (:data:`_ON_LISTENER`) and it is no
    judgement of that person (:data:`_JUDGED`). What happened to someone ("my dog is sick", "my team
    is winning", "she said yes!") is about the listener's life and is read.
    """
    subject = _PERSON_SUBJECT.match(clause)
    if subject is None or _ON_LISTENER.search(clause) or _JUDGED.search(clause):
        return False
    rest = clause[subject.end() :]
    if _THEIR_VIEW.match(rest):
        return True
    if not _THEIR_STATE.match(rest):
        return False
    tokens = tokenize(rest)
    grams = {" ".join(tokens[i : i + n]) for n in (1, 2, 3) for i in range(len(tokens) - n + 1)}
    return any(g in _EMOTION_WORDS or g in AROUSAL_LEXICON for g in grams)


def _piece_kind(piece: str) -> str:
    """The piece's subject: "self" (the listener says how they are), "person" (another person's
    feelings, :func:`tells_others_feelings`), "other" (someone or something else) or "" (none)."""
    if _SELF_REPORT.match(piece):
        return "self"
    if tells_others_feelings(piece.replace("_", " ")):  # expressions joined for VADER read as words
        return "person"
    return "other" if _OTHER_SUBJECT.match(piece) else ""


def _sentiment(text: str) -> tuple[float, float]:
    """VADER's compound (-1 … 1) and affective share (pos + neg, 0 … 1) of ``text``, with VADER's
    negation kept inside its clause: VADER alone reads "I'm not calm, I'm freaking out" as pleasant
    (its "not" flips "freaking out" too). Each clause is scored alone; their raw valence sums (VADER's
    compound is ``s / sqrt(s² + 15)``, inverted here) are added and normalised as VADER does for a
    whole text, and the affective shares are averaged by clause length. Where a clause is a
    self-report with valence of its own, the clauses about someone or something else count
    :data:`_TOPIC_WEIGHT` as much; a clause telling another person's feelings
    (:func:`tells_others_feelings`) does not count at all."""
    sums: list[tuple[float, str]] = []
    affective_words = words = 0.0
    for piece in _SENTENCE_PIECE.split(_for_vader(text)):
        if not piece.strip():
            continue
        scores = _vader().polarity_scores(piece)
        compound = max(-0.9999, min(0.9999, float(scores["compound"])))
        raw = compound * math.sqrt(_VADER_ALPHA / (1.0 - compound * compound))
        kind = _piece_kind(piece)
        if kind == "person":
            continue  # someone else's feelings: no evidence of the listener's
        sums.append((raw, kind))
        n = float(len(piece.split()))
        affective_words += (float(scores["pos"]) + float(scores["neg"])) * n
        words += n
    if words == 0.0:
        return 0.0, 0.0
    reported = any(kind == "self" and raw != 0.0 for raw, kind in sums)
    total = sum(_TOPIC_WEIGHT * raw if reported and kind == "other" else raw for raw, kind in sums)
    return total / math.sqrt(total * total + _VADER_ALPHA), affective_words / words


def text_affect(text: str, *, exclude: Sequence[tuple[int, int]] = ()) -> TextAffect:
    """Valence and energy of ``text`` with their confidences (pure; VADER's lexicon is loaded once).

    Parameters:
        text: What the listener said or typed.
        exclude: (start, end) character ranges of ``text`` to leave out (the words of requests).
    """
    request_words = sum(len(tokenize(text[a:b])) for a, b in exclude)
    text = _without(text, exclude) if exclude else text
    if not text.strip():
        return TextAffect(0.5, 0.0, 0.5, 0.0, 0.0, request_words=request_words)
    compound, affective = _sentiment(text)
    valence = 0.5 + 0.5 * compound
    valence_confidence = min(1.0, 0.6 * abs(compound) + 0.8 * affective) if compound != 0.0 else 0.0
    hits = [
        hit
        for piece in _SENTENCE_PIECE.split(text)
        if _piece_kind(piece) != "person"
        for clause in _CLAUSE.split(piece)
        for hit in _arousal_hits(tokenize(clause))
    ]
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
        request_words=request_words,
    )


def read_text(text: str) -> TextReading:
    """The requests in ``text`` and the affect of its other words (pure).

    "Something calmer please, I'm stressed" asks for calmer music and reads tense from "I'm stressed"
    alone; "It's a lovely calm Sunday morning" asks for nothing and reads calm and pleasant.
    """
    requests = find_requests(text)
    return TextReading(text_affect(text, exclude=requests.spans), requests.intents)
