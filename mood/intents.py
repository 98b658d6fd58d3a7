"""Intents: what a listener explicitly asks of the player, found in what they said or typed.

A request is a matter of phrasing, not of words: "calm" in "It's a lovely calm Sunday morning" or "I
feel calm" states a mood, in "play something calm" it asks for music. So a small, documented rule set
reads each clause (split at punctuation, "but", "because", "and" before a new subject, and before a
new "I'm …" statement) for:

* **Request frames** (:data:`REQUEST_FRAMES`) that open a request running to the end of the clause:
  an imperative at the start of a clause ("play …", "calm it down", "turn …", "keep it …", "help me
  …", "let's …"), or after "and"/"then"/"please"; a question or wish addressed to the player ("can
  you …", "could we …", "can I get …", "I want/need/'d like/'d love/could use …", the subject left
  out as in speech ("would love …"), "mind playing …", "I'm in the mood for …", "give me …", "how
  about …", "time for …").
* **Elliptical requests**: a clause that starts with "something", "anything", "more", "less",
  "another", "music", "songs" … ("something calmer please", "more energy please"), a clause that is
  only "some … music/songs/tunes" (alone or wished for: "maybe some mellow tunes?"), or a bare
  comparative ("calmer", "a bit quieter please", "louder!").
* Per :data:`~mood.types.IntentKind` (:data:`INTENT_RULES`), **descriptors** say what is asked for
  ("calm", "upbeat", "something to dance to") and count *only inside a request*; **phrases** are
  requests or feedback by their form wherever they appear ("skip", "next song", "turn it off",
  "I love this song", "it's too loud", "cheer me up"), including **activity announcements** for the
  activity kinds ("I'm heading to the gym", "time for bed", "friends are coming over", "I'm studying
  for my finals"): telling a music player what you are about to do asks for its music.

Negation: a negator in the three content words before a match (or before the request frame that
licenses it), inside the same clause, cancels it ("don't stop", "not calmer", "I don't want anything
loud", "I'm not going to the gym"); "can't stop dancing" is a double negation. Phrases may contain
their own negation where the negated form *is* a request ("not so loud" → calmer, "I don't like this
one" → skip); a match inside a longer match of another kind defers to it.

Strength: 0.7, 1.0 with an intensifier near it or "!" after it, 0.4 with a diminisher. One intent
per kind (its strongest match), in the order spoken.

The words a request takes (from its frame, or the phrase itself, to the end of its clause) are returned
as :attr:`Requests.spans` so that they are **not also** read as mood evidence: in "something calmer
please, I'm stressed" the mood comes from "I'm stressed" alone (see :func:`mood.text.read_text`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mood.types import Intent, IntentKind

__all__ = [
    "BASE_STRENGTH",
    "INTENT_RULES",
    "REQUEST_FRAMES",
    "STRONG",
    "WEAK",
    "IntentRules",
    "Requests",
    "detect_intents",
    "find_requests",
    "names_no_request",
]


@dataclass(frozen=True, slots=True)
class IntentRules:
    """The patterns of one intent kind, as regular expressions over a lower-cased clause."""

    phrases: tuple[str, ...]
    """Requests, feedback or activity announcements by their form, wherever they appear."""
    descriptors: tuple[str, ...]
    """What is asked for; counts only inside a request frame or an elliptical request."""
    anaphoric: tuple[str, ...] = ()
    """Feedback whose "it" needs the music as its referent ("I like it"): counts as the first clause
    of a text or right after a request ("keep it playing, I like it"), not after a statement ("so
    much energy today, I love it")."""
    verdicts: tuple[str, ...] = ()
    """A judgement of "this" that is about the music only right after a request ("next, this is
    awful"), never as the first clause ("This is terrible, I lost my job")."""


_BAD_VERDICT = (
    r"(?:(?:so|really|just|pretty|absolutely) )?(?:terrible|awful|horrible|boring|bad|annoying|trash|rubbish"
    r"|garbage|painful|unbearable)"
)
"""What a listener says of a track they want gone ("this song is awful")."""


_INTERJECTION = re.compile(r"^\s*(?:ugh|oh|god|man|no|nah|meh|yeah|ok|okay|hmm|um|uh|wow|come on)?\s*$")
"""A clause that is only an interjection (or empty): the clause after it still follows the one before."""


def _words(*alternatives: str) -> str:
    return r"\b(?:" + "|".join(alternatives) + r")\b"


_FILLER = (
    r"(?:please|pls|plz|just|ok|okay|hey|yeah|yes|oh|well|now|alright|right|so|and|then|also|maybe|um|uh"
    r"|hmm|cadence|honestly|actually|ugh|oi)"
)
_LEAD = rf"^(?:{_FILLER}\s+)*"
"""The start of a clause and any discourse fillers after it."""

_IMPERATIVE = (
    r"(?:play|put|throw|queue|give|gimme|find|bring|make|turn|switch|crank|pump|speed|tone|liven|lift"
    r"|cheer|pick|keep|change|skip|stop|pause|mute|shut|help|wake|get|start|take|drop|dial|raise|try"
    r"|let's|lets|let|blast|choose|select|shuffle|go with"
    # words that are adjectives too ("Calm evening", "a slow morning") only with their object
    r"|calm(?= (?:it|things|everything|me|us|down))|slow(?= (?:it|things|everything|down))"
    r"|lower(?= (?:the|it|this))"
    r"|(?:reduce|decrease|raise|increase|boost|cut|lessen)(?= (?:the|that|this) (?:energy|tempo|volume"
    r"|intensity|pace|bpm|bass)))"
)
_SUBJECT_I = r"(?:i|we)"
_SUBJECT_I_AM = r"(?:i'm|im|i am|we're|we are)"
_DEGREE = (
    r"(?:really|just|kinda|kind of|sort of|badly|still|so|actually|honestly|definitely|totally|seriously"
    r"|desperately)"
)

REQUEST_FRAMES: tuple[str, ...] = (
    rf"{_LEAD}{_IMPERATIVE}\b",
    rf"\b(?:and|then|please|just)\s+{_IMPERATIVE}\b",
    # "can you believe / imagine …" is rhetorical, not a request
    r"\b(?:can|could|would|will)\s+(?:you|u|ya|we)\b(?!\s+(?:believe|imagine|guess)\b)",
    r"\b(?:can|could|may)\s+(?:i|we)\s+(?:get|have|hear)\b",
    # "I just want to sleep all day" vents; "I just want something calm" still asks
    rf"\b{_SUBJECT_I}\s+(?!just\s+(?:want|wanna)\s+to\b)(?:{_DEGREE}\s+)*(?:want|wanna|need"
    rf"|could\s+(?:{_DEGREE}\s+)*(?:use|do with|go for)|prefer|feel like|fancy|crave)\b",
    rf"\b(?:i'd|id|i would|we'd|we would)\s+(?:{_DEGREE}\s+)*(?:like|love|prefer|rather|appreciate|enjoy)\b",
    # the subject left out, as in speech: "would love something upbeat", "could use some quiet"
    rf"{_LEAD}(?:would|could)\s+(?:{_DEGREE}\s+)*(?:love|like|appreciate|enjoy|use|do with|go for)\b",
    # typed as in a chat: "wanna chill", "need something upbeat"
    rf"{_LEAD}(?:wanna|want|need|could use|feel like|fancy)\b",
    rf"{_LEAD}(?:(?:would|do) you\s+)?mind\s+(?:playing|putting|throwing|switching|turning|queu(?:e)?ing"
    r"|giving|changing|finding)\b",
    rf"\b{_SUBJECT_I_AM}\s+(?:{_DEGREE}\s+)*(?:in the mood for|after|looking for|craving|up for)\b",
    r"\bin the mood for\b",
    r"\bhit (?:me|us) with\b",
    r"\b(?:give|gimme|get|find|bring|show)\s+(?:me|us)\b",
    r"\blet's\s+(?:have|hear|get|put|do|try|go with|listen|play|keep|make|start|switch|change)\b",
    r"\b(?:how|what)\s+about\b",
    r"\b(?:do|have)\s+you\s+(?:have|got)\b",
    r"\b(?:got|any chance of|is there)\s+(?:anything|something|any)\b",
    r"\btime\s+(?:for|to)\b",
    r"\b(?:need|want|wanna)\s+(?:some|something|more|a|music|songs)\b",
)
"""A request runs from one of these to the end of its clause."""

_ELLIPTICAL = re.compile(
    rf"{_LEAD}(?:something|anything|more|less|another|a (?:bit|little|lot|touch|tad) (?:more|less)"
    r"|music|songs|tunes|a song|a playlist|a track|not so|no more"
    # "some mellow tunes?", "some jazz music would be nice": a noun phrase naming music, alone or
    # wished for ("some happy songs make me cry" states)
    r"|some\s+(?:[a-z'-]+\s+){0,3}?(?:music|songs|tunes|tracks|beats|jams|stuff|sounds|vibes)"
    r"(?:\s+(?:please|pls|now|thanks|thank you|for (?:me|us|now|a (?:bit|while))|would be (?:great|nice|good"
    r"|lovely|perfect|ideal|awesome)|maybe|perhaps))*\s*$)\b"
)
_COMPARATIVES = (
    r"calmer|quieter|softer|slower|gentler|mellower|chiller|louder|faster|livelier|happier|heavier"
    r"|harder|brighter|cheerier|cheerfuller"
)
_BARE = re.compile(
    rf"{_LEAD}(?:(?:much|a bit|a little|a lot|way|even|slightly|bit|little|a touch|a tad)\s+)?"
    rf"(?:{_COMPARATIVES})(?:\s+(?:please|pls|plz|now|thanks|thank you|again|instead))*\s*$"
)
"""A clause that is only a comparative ("calmer", "a bit quieter please") asks for it."""

_OPEN_OBJECT = re.compile(
    r"\b(?:something|anything|some|some (?:music|songs|tunes|stuff)|music|songs|tunes|a song|a track)\s*$"
)
"""How a request that still waits for its quality ends ("play something", "give me some music"): a
recogniser's comma often cuts the quality off ("Play something, relaxing."), so the next clause is the
rest of that request."""
_FILLERS = re.compile(rf"\b{_FILLER}\b")
_QUALITY_WORDS = 3
"""The most words (fillers aside) the rest of an open request has: its quality alone."""

_DEICTIC = (
    r"(?:it's|its|it is|this is|that's|that is|this one's|this one is|this (?:song|track|tune) is"
    r"|the (?:music|song|track|volume|beat)(?:'s| is))"
)
_TOO_DEGREE = r"(?:getting|way|much|far|a bit|a little|bit|little|kinda|slightly|just|really|so|bit|kind of)"


def _too(*words: str) -> str:
    """A complaint about what is playing: "(it's / this is / …) too loud" at the start of a clause."""
    return rf"(?:{_LEAD}|\b{_DEICTIC}\s+)(?:{_TOO_DEGREE}\s+)*too\s+(?:" + "|".join(words) + r")\b"


def _not_too(*words: str) -> str:
    """Asking for music without what the words say: "something (that's) not too loud", "nothing too
    heavy" (opening its clause), "I don't want anything too loud" (the negation is the request, not a
    cancelled one)."""
    quality = r"(?:(?:too|so|very|that|overly)\s+)?(?:" + "|".join(words) + r")\b"
    return (
        r"\b(?:something|anything|music|songs?|stuff|tracks?)\s+(?:that's\s+|that\s+is\s+|which\s+is\s+)?not\s+"
        + quality
        + rf"|{_LEAD}nothing\s+"  # at the start: "there is nothing too hard about it" asks for nothing
        + quality
        # with a degree word only: "I don't want anything loud" stays a cancelled request
        + r"|\b(?:don't|do not|dont)\s+(?:want|need)\s+(?:anything|something|music)\s+(?:too|so|overly)\s+"
        + quality
    )


INTENT_RULES: Mapping[IntentKind, IntentRules] = {
    "calmer": IntentRules(
        phrases=(
            r"\bnot so (?:loud|fast|intense|hectic|heavy|aggressive|noisy)\b",
            r"^\s*(?:s+h+|shush|hush)\b",  # "shh, the baby is sleeping"
            r"\b(?:calm|slow|tone|turn|bring|take|dial|wind|keep) (?:it|this|things|the music|the volume"
            r"|everything|the tempo|the pace) (?:down|low)\b",
            r"\b(?:turn|tone|bring|dial) down the (?:music|volume|tempo|energy|bass)\b",
            _too(
                "loud",
                "fast",
                "intense",
                "much",
                "hectic",
                "noisy",
                "aggressive",
                "heavy",
                "busy",
                "harsh",
                "energetic",
                "wild",
                "crazy",
                "hard",
            ),
            _not_too(
                "loud",
                "fast",
                "intense",
                "hectic",
                "noisy",
                "aggressive",
                "heavy",
                "energetic",
                "upbeat",
                "wild",
                "crazy",
                "hard",
                "busy",
                "harsh",
            ),
            r"\bease off\b",
            r"\b(?:bring|take|turn|tone|dial|settle|calm|knock) (?:the (?:energy|tempo|intensity|pace|mood|vibe)"
            r"|things|everything|it|this) (?:(?:a|way) )?down\b",
            r"\b(?:dial|tone|pull) (?:the (?:energy|tempo|intensity|pace)|things|everything|it|this) back\b",
            rf"{_LEAD}(?:the )?volume down(?=\s*(?:$|please|pls|a bit|a little|a notch|a touch|now|thanks))",
        ),
        descriptors=(
            _words(
                r"calm(?:er|ing)?",
                r"chill(?:er|ed|y)?",
                r"chill ?out",
                r"mellow(?:er)?",
                r"relax(?:ing|ed)?",
                r"sooth(?:ing|e)",
                r"gentle(?:r)?",
                r"soft(?:er)?",
                r"quiet(?:er)?",
                r"slow(?:er)?",
                "peaceful",
                "ambient",
                "tranquil",
                r"down ?tempo",
                "lower",
                "low[- ]key",
                "easy listening",
                r"unwind(?:ing)?",
                "decompress",
                r"de-?stress",
                r"calm down",
                r"slow down",
                r"meditat(?:e|ing|ion)",
                "yoga",
                "take it easy",
                "acoustic",
                "lo[- ]?fi",
            ),
            r"\bless (?:intense|loud|noisy|noise|energy|energetic|hectic|busy|heavy|aggressive|harsh|bass)\b",
            # inside a request only: "they had to drop the tempo for the slow dance" tells a story
            r"\b(?:lower|reduce|decrease|drop|lessen|cut|soften) (?:the |that |this )?(?:energy|tempo|volume"
            r"|intensity|pace|bpm|bass)\b",
        ),
    ),
    "energize": IntentRules(
        phrases=(
            r"\b(?:pump|crank|turn|speed|liven|amp|hype|juice|perk|jazz|bring|kick) (?:it|this|things|me|the music"
            r"|the volume|us|the energy|the tempo) up\b",
            r"\bpick up the (?:pace|tempo|energy)\b",
            rf"{_LEAD}(?:the )?volume up(?=\s*(?:$|please|pls|a bit|a little|a notch|a touch|now|thanks))",
            r"\b(?:pump|crank|turn|amp) up the (?:music|volume|energy|tempo|bass|beat)\b",
            r"\bwake me up\b",
            r"\b(?:help me|make me) (?:wake up|stay awake)\b|\bkeep me (?:awake|going)\b",
            r"\bget (?:me |us )?(?:going|pumped|moving|hyped|fired up|energi[sz]ed)\b",
            _too("slow", "boring", "sleepy", "quiet", "mellow", "calm", "soft", "dull", "chill", "sleepy"),
            _not_too("slow", "boring", "sleepy", "quiet", "mellow", "soft", "dull"),
        ),
        descriptors=(
            _words(
                "upbeat",
                "energetic",
                r"motivat(?:ion|ing|ional)",
                r"energi[sz]ing",
                "energy",
                r"live(?:ly|lier)",
                r"fast(?:er)?",
                r"quick(?:er)?",
                r"loud(?:er)?",
                r"heav(?:y|ier)",
                "harder",
                "pumping",
                "punchy",
                "hype",
                "intense",
                "powerful",
                r"bang(?:ing|ers?)",
                r"pump[- ]up",
                "with a (?:beat|groove)",
                "boost",
                "uptempo",
                "up[- ]tempo",
            ),
            r"\bmore (?:energy|energetic|upbeat|lively|life|power|oomph|tempo|bass|beat|punch|drive)\b",
            r"\b(?:raise|increase|boost|up) (?:the |that |this )?(?:energy|tempo|intensity|pace|bpm)\b",
        ),
    ),
    "focus": IntentRules(
        phrases=(
            rf"\b{_SUBJECT_I_AM}\s+(?:(?:trying to|going to|about to|gonna)\s+)?(?:studying|revising|cramming"
            r"|coding|programming|doing (?:my |some )?homework|writing (?:my|an|a|the) (?:essay|paper"
            r"|thesis|report|code)|preparing for (?:my|an|a|the) (?:exam|test|finals|interview))\b",
            r"\b(?:need|have|got|has|want) to (?:focus|concentrate|study|revise|get (?:some )?work done"
            r"|finish (?:my|this) (?:essay|paper|work|report|homework))\b",
            r"\b(?:get|getting) (?:some )?work done\b",
            r"\b(?:study|studying|focus|work|coding|reading|concentration|homework|deep work|exam) (?:music"
            r"|songs|tunes|playlist|mix|session|mode|time)\b",
        ),
        descriptors=(
            _words(
                r"focus(?:ing|ed)?",
                r"concentrat\w*",
                r"stud(?:y|ying)",
                "homework",
                "deep work",
                r"revis(?:e|ing|ion)",
                "coding",
                "reading",
                "work to",
                "for work",
                "while i work",
                r"while (?:i|i'm) (?:read|reading|study|studying|write|writing|code|coding)",
            ),
        ),
    ),
    "workout": IntentRules(
        phrases=(
            r"\b(?:going|heading|headed|off|on my way|on our way) (?:out )?(?:to|for) (?:the gym|a run|a jog"
            r"|my run|my jog|a workout|my workout|training|practice|a ride|a bike ride|spin class"
            r"|my spin class|a hike)\b",
            rf"\b{_SUBJECT_I_AM}\s+(?:(?:at|in) the gym|working out|lifting|jogging|exercising"
            r"|on (?:a|my) (?:run|jog|ride)|running(?=\s*(?:$|now|today|tonight|this|right|again)))",
            r"\babout to (?:work out|run|go running|lift|hit the gym|train|exercise)\b",
            r"(?<!\bwas )(?<!\bwere )\b(?:about to|gonna|going to|time to|ready to|off to) go (?:out )?(?:to|for)"
            r" (?:the gym|a run|a jog"
            r"|my run|my jog|a workout|a ride|a bike ride|a hike|a swim)\b",
            rf"{_LEAD}(?:working out|(?:at|in) the gym|lifting|jogging|exercising)(?=\s*(?:$|now|right now|today))",
            r"\b(?:workout|gym|running|training|cardio|exercise|lifting|spin|hiit) (?:music|songs|tunes"
            r"|playlist|mix|jams)\b",
            r"\b(?:leg day|gym time)\b",
        ),
        descriptors=(
            _words(
                r"work ?out",
                "workout",
                "gym",
                r"exercis\w*",
                "cardio",
                "lifting",
                "weights",
                "training",
                r"run(?:ning)?",
                r"jog(?:ging)?",
                r"spin(?:ning)? class",
                "hiit",
            ),
        ),
    ),
    "sleep": IntentRules(
        phrases=(
            r"\b(?:time for|off to|going to|heading to|ready for|getting ready for|about to go to"
            r"|climbing into|getting into) bed\b",
            r"\b(?:trying|going|gonna|about|ready|time) to (?:sleep|fall asleep"
            r"|get some sleep|get to sleep|nap|take a nap|drift off|nod off|wind down)\b",
            r"\b(?:bed ?time|night night)\b",
            r"\b(?:sleep|sleeping|nap|bedtime|bed time|lullaby|night ?time) (?:music|songs|tunes|playlist"
            r"|mix|sounds)\b",
            r"\blullab\w*",
            r"\bwind(?:ing)? down for (?:bed|the night|sleep)\b",
        ),
        descriptors=(
            _words(
                r"sleep(?:ing)?(?! on it\b)",  # "let me sleep on it" decides later
                "asleep",
                r"bed ?time",
                "bed",
                r"nap(?:ping)?",
                "drift off",
                "nod off",
                r"doze(?: off)?",
                r"wind(?:ing)? down",
            ),
        ),
    ),
    "party": IntentRules(
        phrases=(
            rf"\b(?:having|throwing|hosting|going to|heading to|off to|(?:{_SUBJECT_I_AM}) (?:now |just )?at)"
            r" (?:a |the )?party\b",
            r"\b(?:friends|people|guests|mates|the gang|everyone|folks) (?:are |is )?(?:coming|comin)"
            r" (?:over|round|around|by)\b",
            r"\b(?:having|got|have) (?:some |a few )?(?:friends|people|guests|mates) (?:coming )?over\b",
            rf"\b(?:{_SUBJECT_I_AM}|keep|can't stop|cannot stop) (?:dancing|partying|celebrating)\b",
            r"\bget (?:this|the) party started\b",
            r"\b(?:getting ready for|going on|heading out for|off on|ready for) (?:a |our |my )?(?:big )?night out\b",
            r"\b(?:party|dance|club|disco|dancing) (?:music|songs|tunes|playlist|mix|time|mode|anthems"
            r"|bangers)\b",
        ),
        descriptors=(
            _words(
                r"part(?:y|ying)", r"danc(?:e|ing|ey|y)", r"club(?:bing)?", r"celebrat\w*", "disco", "rave"
            ),
        ),
    ),
    "cheer_up": IntentRules(
        phrases=(
            r"\bcheer (?:me|us) up\b",
            r"\bmake me (?:feel )?(?:happy|happier|better|smile|laugh)\b",
            r"\b(?:lift|raise|boost) (?:my|our) (?:mood|spirits)\b",
            r"\bpick[- ]me[- ]up\b",
            r"\bput me in a (?:good|better|happy|happier) mood\b",
            _too("sad", "depressing", "gloomy", "dark", "miserable", "melancholy", "bleak"),
            _not_too("sad", "depressing", "gloomy", "dark", "miserable", "melancholy", "bleak"),
        ),
        descriptors=(
            _words(
                r"cheer(?:ful|y)?",
                "cheer up",
                "uplifting",
                r"happ(?:y|ier)",
                "fun",
                r"feel[- ]good",
                "positive",
                r"bright(?:er|en)?",
                "sunny",
                "joyful",
                "optimistic",
            ),
        ),
    ),
    "skip": IntentRules(
        phrases=(
            r"\bskip\b",
            rf"{_LEAD}next\b(?! to\b)",
            r"\bnext (?:song|track|one|please)\b",
            r"\b(?:another|different) (?:song|track|one)\b",
            r"\bsomething else\b",
            rf"{_LEAD}(?:switch|mix|shake|change) (?:it|things) up\b",
            r"\bchange (?:the |this )?(?:song|track|music|tune)\b",
            r"\b(?:don't|do not|dont) (?:like|love|want|enjoy) (?:this|that|it)(?: one| song| track| tune"
            r"| music)?(?: (?:at all|much|very much|anymore|either))?\s*$",
            r"\bnot this (?:one|song|track|tune)\b",
            r"^\s*not this(?: again| one again)?\s*$",
            # the music is what is not reached ("not feeling it", "I'm not into this one"), at the clause's end
            r"\bnot (?:feeling|into|digging) (?:this|that|it)(?: one| song| track| tune| music)?"
            r"(?: (?:at all|much|anymore))?\s*$",
            r"\b(?:hate|can't stand|sick of|tired of|bored of|bored with|fed up with) this (?:one|song|track"
            r"|tune|music)\b",
            # the listener's own verdict opens its clause ("my girlfriend thinks this song is boring" is hers)
            rf"^\s*(?:(?:ugh|oh|god|man|honestly)\s+)?(?:this|that|the) (?:song|track|tune|music) (?:is|'s)"
            rf" {_BAD_VERDICT}\b",
        ),
        # "next to the door", "next week" are no skip
        descriptors=(
            _words(
                "move on",
                "skip",
                r"next(?! (?:to|time|week|year|month|day|morning|weekend|light|lights|exit|stop|station|turn"
                r"|street|corner|bus|train|left|right)\b)",
                "something different",
            ),
        ),
        # "skip this, I hate it", "next, this is awful": the track is what is hated, not the day
        # ("I hate this, it is the worst day ever" is about the day: these only after a request)
        verdicts=(
            r"\b(?:hate|can't stand|cannot stand|can not stand|detest) (?:it|this|that)\s*$",
            rf"^\s*(?:(?:ugh|oh|god|man|no)\s+)?(?:this|that|it)(?: one)? (?:is|'s) {_BAD_VERDICT}\s*$",
        ),
    ),
    "like": IntentRules(
        phrases=(
            # "this"/"that" alone is the music only when nothing follows it ("I love this!", "love this
            # so much"); "I love this city" is about the city
            r"\b(?:love|like|adore|enjoy(?:ing)?|digging|dig) (?:(?:this|that) (?:one|song|track|tune|music)\b"
            r"|(?:this|that)(?=\s*$| (?:so much|a lot|very much|too|again|already|though|right now)\b)"
            r"|the (?:song|track|tune|music)\b)",
            r"\b(?:great|good|nice|awesome|amazing|perfect|brilliant|cool|lovely|beautiful|fantastic)"
            r" (?:song|track|tune|choice|pick)\b",
            r"\bthis is my jam\b",
            r"\b(?:this|that)(?: song| track| one| tune)? (?:is|'s) (?:(?:so|really|such) )?(?:a )?(?:great"
            r"|awesome|amazing|perfect|brilliant|good|nice|banger|bop|tune|jam)(?: (?:song|track|tune|one))?"
            r"(?: (?:too|again|though))?\s*$",  # "this is a good day" is about the day, not the song
            r"\b(?:favou?rite (?:song|track|tune)|thumbs up|more like this|what a (?:song|tune|track|banger))\b",
            r"\bkeep (?:this|it|that)(?: one| song)? (?:on|playing|going)\b",
            r"\bkeep (?:this|the|these|those) vibes? (?:going|coming|alive)(?: please)?\s*$",
            r"^\s*(?:(?:give me|play|let's have|i want|i need)\s+)?(?:some\s+)?more of (?:this|that)"
            r"(?: (?:please|stuff|kind of (?:thing|music|stuff)))?\s*$",
            r"\b(?:this|that)(?: (?:song|track|one|tune|beat))? (?:really |totally |absolutely )?(?:slaps"
            r"|rocks|bangs|goes hard|hits different|is fire|is lit)\s*$",
            r"\b(?:this|that|the) (?:song|track|tune|music|one)(?: (?:really|just|always|totally))? (?:makes|is"
            r" making) me (?:(?:so|really|feel|want to) )*(?:happy|smile|dance|good|great|better|alive|glad)\b",
        ),
        descriptors=(),
        anaphoric=(r"\b(?:love|like|adore|enjoy(?:ing)?|digging|dig) it\s*$",),
    ),
    "stop": IntentRules(
        phrases=(
            r"\b(?:stop|pause|halt)\b(?=\s*(?:$|please|the music|the song|this|that|it\b|playing|now"
            r"|for now|for a (?:bit|sec|second|minute|moment)|everything|music))",
            r"\b(?:turn|switch|shut) (?:it|this|that|the music|everything|the song) off\b",
            r"\bshut (?:it )?up\b",
            r"\b(?:mute|enough music|no more music)\b",
            rf"{_LEAD}(?:silence|quiet)(?: please)?\s*$",
        ),
        descriptors=(),
    ),
}
"""Intent kind → its phrases and descriptors."""

_FRAMES = tuple(re.compile(p) for p in REQUEST_FRAMES)
_Needs = Literal["nothing", "frame", "referent", "request"]


def _compile_rules() -> tuple[tuple[IntentKind, _Needs, re.Pattern[str]], ...]:
    """(kind, what a match needs to count, pattern) for every pattern of :data:`INTENT_RULES`."""
    compiled: list[tuple[IntentKind, _Needs, re.Pattern[str]]] = []
    for kind, rules in INTENT_RULES.items():
        groups: tuple[tuple[_Needs, tuple[str, ...]], ...] = (
            ("nothing", rules.phrases),
            ("frame", rules.descriptors),
            ("referent", rules.anaphoric),
            ("request", rules.verdicts),
        )
        compiled.extend((kind, needs, re.compile(p)) for needs, patterns in groups for p in patterns)
    return tuple(compiled)


_RULES = _compile_rules()

_CLAUSE_BREAK = re.compile(
    r"[,.;:!?]+|\b(?:but|because|cause|cos|though|although|since|so that)\b"
    r"|\band\s+(?=(?:i|i'm|im|i've|i'd|we|we're|it|it's|this|that|that's|my|she|he|they|everything"
    r"|nothing|life|today)\b)"
    r"|(?<=\w)\s+(?=(?:i'm|i am|i feel|i've|we're)\b)"
    r"|\bthen\b"
)
_NEGATORS = re.compile(
    r"\b(?:not|no|never|don't|dont|do not|doesn't|didn't|won't|can't|cannot|stop|without|neither|nor"
    r"|isn't|wasn't|aren't)\b"
)
_DOUBLE_NEGATION = re.compile(r"\b(?:can't|cannot|can not|won't|couldn't) stop\b")
_FUNCTION_WORDS = frozenset(
    {"the", "a", "an", "to", "my", "me", "for", "some", "of", "it", "this", "that", "any", "in"}
)
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
class Requests:
    """What a text asks of the player, and which of its characters the asking took."""

    intents: tuple[Intent, ...]
    """One per kind, in the order spoken."""
    spans: tuple[tuple[int, int], ...]
    """(start, end) character ranges of the original text taken by the requests (not mood evidence)."""


@dataclass(frozen=True, slots=True)
class _Normalised:
    """Lower-cased text with apostrophes folded and whitespace runs collapsed, mapped back to the original."""

    text: str
    origin: tuple[int, ...]
    """``origin[i]`` is the index in the original text of ``text[i]``."""

    @classmethod
    def of(cls, original: str) -> _Normalised:
        chars: list[str] = []
        origin: list[int] = []
        for index, char in enumerate(original):
            if char.isspace():
                if chars and chars[-1] != " ":
                    chars.append(" ")
                    origin.append(index)
                continue
            lower = char.lower()
            if lower in ("\u2019", "\u2018"):
                lower = "'"
            chars.append(lower if len(lower) == 1 else char)
            origin.append(index)
        while chars and chars[-1] == " ":
            chars.pop()
            origin.pop()
        return cls("".join(chars), tuple(origin))

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        return self.origin[start], self.origin[end - 1] + 1


@dataclass(frozen=True, slots=True)
class _Match:
    kind: IntentKind
    start: int
    end: int
    taken: tuple[int, int]
    """What the request takes: from its frame (or itself) to the end of its clause."""
    strength: float
    negated: bool
    phrase: str


def _clauses(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for brk in _CLAUSE_BREAK.finditer(text):
        if brk.start() > start:
            spans.append((start, brk.start()))
        start = max(start, brk.end())
    if start < len(text):
        spans.append((start, len(text)))
    return [(a + len(text[a:b]) - len(text[a:b].lstrip()), b) for a, b in spans if text[a:b].strip()]


def _negated_before(clause: str, position: int) -> bool:
    """A negator among the last three content words of ``clause`` before ``position``."""
    before = _DOUBLE_NEGATION.sub(" ", clause[:position])
    words = [w for w in before.split() if w not in _FUNCTION_WORDS]
    return bool(_NEGATORS.search(" ".join(words[-3:])))


def _strength(clause: str, start: int, end: int, *, exclaimed: bool) -> float:
    """WEAK with a diminisher near the match, STRONG with an intensifier or a "!" closing its clause."""
    window = clause[max(0, start - 24) : min(len(clause), end + 12)]
    if _DIMINISHERS.search(window):
        return WEAK
    if _INTENSIFIERS.search(window) or (exclaimed and len(clause) - end <= 3):
        return STRONG
    return BASE_STRENGTH


def _clause_matches(
    text: str, start: int, end: int, *, exclaimed: bool, after_request: bool, first: bool, continues: bool
) -> list[_Match]:
    """Every match in the clause ``text[start:end]`` that its context lets count (negated ones too);
    ``continues``: the clause is the rest of an open request before it (:data:`_OPEN_OBJECT`)."""
    clause = text[start:end]
    # the rest of an open request is its quality alone, a few words ("relaxing", "more chill please")
    continues = continues and len(_FILLERS.sub(" ", clause).split()) <= _QUALITY_WORDS
    whole = continues or _ELLIPTICAL.match(clause) is not None or _BARE.match(clause) is not None
    frames = sorted(m.start() for pattern in _FRAMES for m in pattern.finditer(clause))
    if whole:
        frames.insert(0, 0)
    found: list[_Match] = []
    for kind, needs, pattern in _RULES:
        if (needs == "referent" and not after_request) or (
            needs == "request" and (first or not after_request)
        ):
            continue
        for m in pattern.finditer(clause):
            frame = max((f for f in frames if f <= m.start()), default=None)
            if needs == "frame" and frame is None:
                continue  # a descriptor outside a request states, it does not ask
            negated = _negated_before(clause, m.start()) or (
                frame is not None and _negated_before(clause, frame)
            )
            taken = (start + (frame if frame is not None else m.start()), end)
            strength = _strength(clause, m.start(), m.end(), exclaimed=exclaimed)
            found.append(
                _Match(kind, start + m.start(), start + m.end(), taken, strength, negated, m.group(0))
            )
    return found


def find_requests(text: str) -> Requests:
    """The intents expressed in ``text`` and the character spans their requests took (pure)."""
    norm = _Normalised.of(text)
    found: list[_Match] = []
    after_request = True  # the first clause has nothing before it to be "it"
    first = True  # no clause with words of its own before this one
    open_request = False  # the clause before framed a request that is still waiting for its quality
    for start, end in _clauses(norm.text):
        exclaimed = norm.text[end : end + 1] == "!"
        matched = _clause_matches(
            norm.text,
            start,
            end,
            exclaimed=exclaimed,
            after_request=after_request,
            first=first,
            continues=open_request,
        )
        found.extend(matched)
        clause = norm.text[start:end]
        open_request = (
            not matched
            and _OPEN_OBJECT.search(clause) is not None
            and any(pattern.search(clause) for pattern in _FRAMES)
            and not _negated_before(clause, len(clause))
        )
        if not _INTERJECTION.match(norm.text[start:end]):  # "skip. ugh, this is awful": "ugh" says nothing
            after_request = any(not m.negated for m in matched)
            first = False
    # a match inside a longer match of another kind defers to it ("don't like this" is skip, not
    # like; "this is too slow" is energize, not calmer)
    kept = [
        a
        for a in found
        if not any(
            b.kind != a.kind
            and b.start <= a.start
            and a.end <= b.end
            and (b.end - b.start) > (a.end - a.start)
            for b in found
        )
    ]
    best: dict[IntentKind, _Match] = {}
    taken: list[tuple[int, int]] = []
    for m in sorted(kept, key=lambda x: (x.start, x.kind)):
        if m.negated:
            continue
        taken.append(m.taken)
        current = best.get(m.kind)
        if current is None or m.strength > current.strength:
            best[m.kind] = m
    ordered = sorted(best.values(), key=lambda m: m.start)
    intents = tuple(Intent(kind=m.kind, strength=m.strength, phrase=m.phrase) for m in ordered)
    return Requests(intents, tuple(norm.original_span(a, b) for a, b in _merge(taken)))


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def detect_intents(text: str) -> tuple[Intent, ...]:
    """The intents expressed in ``text``: one per kind (its strongest un-negated match), in text order."""
    return find_requests(text).intents


_CHEER = re.compile(rf"{_LEAD}(?:let's|lets|let us) (?:go|do (?:this|it)|roll|get going)\s*$")
"""A cheer, not a request, though it opens like one ("Let's go!", "let's do this")."""


def names_no_request(text: str, *, elliptical: bool = False) -> bool:
    """Whether ``text`` has the form of a request ("play something …", "can you …", "I want …")
    and yet asks for nothing the player knows (pure).

    What a recogniser makes of a spoken request it half heard ("Play something, comment please",
    "Can you tear me up?"): the analyzer may listen again with the request words in mind
    (:attr:`mood.analyzer.MoodConfig.second_hearing`). ``elliptical``: a clause without a frame that
    opens like a request ("something …", "more …") counts as one too.
    """
    norm = _Normalised.of(text)
    if not norm.text or find_requests(text).intents:
        return False
    for start, end in _clauses(norm.text):
        clause = norm.text[start:end]
        if _CHEER.match(clause):
            continue
        if any(pattern.search(clause) for pattern in _FRAMES):
            return True
        if elliptical and _ELLIPTICAL.match(clause) is not None:
            return True
    return False
