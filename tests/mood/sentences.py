"""A labelled corpus of things a listener types or says to a music player, for the text path.

Written from everyday phrasing, independently of mood/'s word lists (the sentences came first; the
lexicon and the request rules were then improved against them, never the other way round). Each
sentence carries what a careful human reader takes from it, per axis:

* ``valence``: ``"+"`` pleasant, ``"-"`` unpleasant, ``"0"`` says nothing about it (no movement
  expected), ``"?"`` not graded (a reader could go either way, e.g. whether "I'm sleepy" is
  unpleasant).
* ``energy``: ``"^"`` high, ``"v"`` low, ``"0"`` says nothing about it, ``"?"`` not graded.
* ``intents``: the requests made of the player (space-separated :data:`mood.types.IntentKind`
  names; empty for a statement). Announcing a music-relevant activity ("I'm heading to the gym",
  "time for bed") is a request for its music; a statement of state ("I feel calm") is not.
* ``group``: what the sentence is there to test (``quadrant``, ``valence``, ``energy``,
  ``neutral``, ``negation``, ``request``, ``statement``, ``mixed``, and ``fresh`` for the sentences
  written after the model was frozen, see :data:`FRESH`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CHAT",
    "FRESH",
    "FRESH_2",
    "FRESH_3",
    "FRESH_4",
    "FRESH_5",
    "OTHERS",
    "OTHERS_2",
    "SENTENCES",
    "LabelledSentence",
]

ValenceMark = Literal["+", "-", "0", "?"]
EnergyMark = Literal["^", "v", "0", "?"]


@dataclass(frozen=True, slots=True)
class LabelledSentence:
    """One sentence and what a human reads in it."""

    text: str
    valence: ValenceMark
    energy: EnergyMark
    intents: frozenset[str]
    group: str


def _s(
    text: str, valence: ValenceMark, energy: EnergyMark, intents: str = "", *, group: str
) -> LabelledSentence:
    return LabelledSentence(text, valence, energy, frozenset(intents.split()), group)


def _group(group: str, rows: list[tuple[str, ValenceMark, EnergyMark, str]]) -> list[LabelledSentence]:
    return [_s(text, v, e, i, group=group) for text, v, e, i in rows]


_PLEASANT_HIGH = _group(
    "quadrant",
    [
        ("I just got the job, I'm so excited I can't sit still!", "+", "^", ""),
        ("Best news ever, I'm bouncing off the walls", "+", "^", ""),
        ("We won the match tonight, I'm buzzing!", "+", "^", ""),
        ("Feeling amazing and full of energy this morning", "+", "^", ""),
        ("I'm so hyped for the concert tonight, it's going to be great", "+", "^", ""),
        ("Let's go! Today is going to be awesome", "+", "^", ""),
        ("I'm thrilled, we're finally going on holiday tomorrow", "+", "^", ""),
        ("I feel fantastic and ready to take on the world", "+", "^", ""),
        ("Woohoo, it's Friday and I'm pumped", "+", "^", ""),
        ("I'm in such a great mood, I want to jump around", "+", "^", ""),
        ("Just finished my exams and I'm ecstatic", "+", "^", ""),
        ("So stoked about this weekend, it's going to be amazing", "+", "^", ""),
        ("I'm really energetic and happy today", "+", "^", ""),
        ("I'm wide awake and loving life", "+", "^", ""),
        ("My heart is racing, she said yes!", "+", "^", ""),
        ("Can't wait to see my friends tonight, so excited", "+", "^", ""),
        ("I feel lively and cheerful", "+", "^", ""),
        ("Great workout earlier, I'm fired up and feeling strong", "+", "^", ""),
        ("Yes! I nailed the presentation, I'm so pumped", "+", "^", ""),
        ("I'm full of beans today and everything feels great", "+", "^", ""),
        ("So much energy today, I love it", "+", "^", ""),
        ("I'm giddy with excitement", "+", "^", ""),
        ("Feeling wild and happy tonight", "+", "^", ""),
        ("I'm super motivated and in a brilliant mood", "+", "^", ""),
        ("This is the most exciting day of my life", "+", "^", ""),
        ("I'm psyched, the trip is finally here", "+", "^", ""),
        ("I feel alive and energized after that swim", "+", "^", ""),
        ("Three coffees in and I feel great and totally wired", "+", "^", ""),
        ("I'm jumping for joy", "+", "^", ""),
        ("We got the tickets, I'm so excited I could scream", "+", "^", ""),
    ],
)

_PLEASANT_LOW = _group(
    "quadrant",
    [
        ("I feel calm and content tonight", "+", "v", ""),
        ("Such a peaceful evening on the porch", "+", "v", ""),
        ("I'm relaxed and happy after my bath", "+", "v", ""),
        ("Lazy Sunday, feeling cozy and good", "+", "v", ""),
        ("It's a lovely calm Sunday morning", "+", "v", ""),
        ("I feel at peace with everything", "+", "v", ""),
        ("I'm comfortable and mellow, all is well", "+", "v", ""),
        ("Curled up with tea and a book, feeling relaxed and blissful", "+", "v", ""),
        ("Feeling serene after my yoga class", "+", "v", ""),
        ("Nice and chilled out, good day overall", "+", "v", ""),
        ("I'm content, just taking it easy", "+", "v", ""),
        ("Everything's quiet and I feel good", "+", "v", ""),
        ("I'm pleasantly sleepy after a lovely dinner", "+", "v", ""),
        ("Soft rain outside, I feel so relaxed and grateful", "+", "v", ""),
        ("Just lying in the sun, totally at ease and happy", "+", "v", ""),
        ("I'm in a gentle, happy mood", "+", "v", ""),
        ("A slow, sweet morning with my coffee", "+", "v", ""),
        ("Feeling tranquil and thankful", "+", "v", ""),
        ("I'm unwinding with a glass of wine and it's nice", "+", "v", ""),
        ("Happy and drowsy, the day went well", "+", "v", ""),
        ("I'm cozy under a blanket and loving it", "+", "v", ""),
        ("Feeling laid back and pleased with myself", "+", "v", ""),
        ("Quiet night in, I'm really enjoying the calm", "+", "v", ""),
        ("I'm at ease and smiling", "+", "v", ""),
        ("So relaxed right now, life is good", "+", "v", ""),
        ("The kids are asleep and I finally feel peaceful", "+", "v", ""),
        ("I feel rested, comfortable and calm", "+", "v", ""),
        ("Just a soothing, pleasant afternoon", "+", "v", ""),
        ("I'm mellow and satisfied", "+", "v", ""),
        ("Feeling sleepy and grateful after a wonderful day", "+", "v", ""),
    ],
)

_UNPLEASANT_HIGH = _group(
    "quadrant",
    [
        ("I'm so stressed about this deadline", "-", "^", ""),
        ("I'm furious with my landlord", "-", "^", ""),
        ("I'm really anxious about tomorrow's interview", "-", "^", ""),
        ("My boss yelled at me and I'm livid", "-", "^", ""),
        ("I'm panicking, nothing is working", "-", "^", ""),
        ("I want to scream", "-", "^", ""),
        ("I'm so angry I could punch a wall", "-", "^", ""),
        ("Everything is going wrong and I'm freaking out", "-", "^", ""),
        ("I'm nervous and on edge", "-", "^", ""),
        ("Traffic was horrible and I'm fuming", "-", "^", ""),
        ("I'm overwhelmed and my heart is pounding", "-", "^", ""),
        ("So frustrated and wound up with this stupid computer", "-", "^", ""),
        ("I'm really irritated and tense", "-", "^", ""),
        ("I'm scared and can't calm down", "-", "^", ""),
        ("I'm so annoyed and agitated right now", "-", "^", ""),
        ("I'm restless and worried tonight", "-", "^", ""),
        ("This day is a nightmare, I'm so tense", "-", "^", ""),
        ("I hate everything, I'm raging", "-", "^", ""),
        ("I'm jittery and worried", "-", "^", ""),
        ("I'm totally stressed out and snapping at everyone", "-", "^", ""),
        ("I'm mad at myself and can't stop pacing", "-", "^", ""),
        ("My exam is in an hour and I'm terrified", "-", "^", ""),
        ("Ugh, I'm pissed off and ready to explode", "-", "^", ""),
        ("I'm losing my mind, I'm so stressed", "-", "^", ""),
        ("I'm so wound up I can't think straight", "-", "^", ""),
        ("Argh, everything's chaos and I'm stressed", "-", "^", ""),
        ("I'm fed up and seething", "-", "^", ""),
        ("I'm frantic, I lost my keys again", "-", "^", ""),
        ("I'm shaking with anger", "-", "^", ""),
        ("The neighbours are so loud and I'm getting really angry", "-", "^", ""),
    ],
)

_UNPLEASANT_LOW = _group(
    "quadrant",
    [
        ("I feel sad and lonely today", "-", "v", ""),
        ("I'm depressed and have no energy", "-", "v", ""),
        ("I miss her, I just want to cry", "-", "v", ""),
        ("I'm exhausted and everything feels pointless", "-", "v", ""),
        ("So tired and miserable", "-", "v", ""),
        ("I feel empty and drained", "-", "v", ""),
        ("I'm heartbroken and worn out", "-", "v", ""),
        ("Gloomy day, I feel low and sluggish", "-", "v", ""),
        ("I'm so sad I can't get out of bed", "-", "v", ""),
        ("I'm lonely and sleepy", "-", "v", ""),
        ("Feeling blue and tired", "-", "v", ""),
        ("I've been crying all night", "-", "v", ""),
        ("I'm burnt out and unhappy", "-", "v", ""),
        ("Everything is grey and I'm exhausted and sad", "-", "v", ""),
        ("I'm weary and sad", "-", "v", ""),
        ("I'm so tired of everything, I feel hopeless", "-", "v", ""),
        ("I'm feeling really down and have zero motivation", "-", "v", ""),
        ("I'm drained and depressed", "-", "v", ""),
        ("Sad and sleepy, long week", "-", "v", ""),
        ("Nothing matters, I'm numb and tired", "-", "v", ""),
        ("I'm gutted and worn out", "-", "v", ""),
        ("I feel defeated and so, so tired", "-", "v", ""),
        ("Rainy day, feeling mopey and lethargic", "-", "v", ""),
        ("I'm lonely and can barely keep my eyes open", "-", "v", ""),
        ("I just want to curl up and cry", "-", "v", ""),
        ("I'm miserable and wiped out", "-", "v", ""),
        ("I have no energy and feel awful", "-", "v", ""),
        ("I'm sad and sluggish this morning", "-", "v", ""),
        ("Grief is heavy today, I feel so low and drained", "-", "v", ""),
        ("I'm bored and unhappy, nothing to do", "-", "v", ""),
    ],
)

_ONE_AXIS = _group(
    "valence",
    [
        ("I'm happy", "+", "0", ""),
        ("Today was a good day", "+", "0", ""),
        ("I got great news", "+", "0", ""),
        ("I love my friends", "+", "0", ""),
        ("Feeling good about life", "+", "0", ""),
        ("I'm so grateful for you", "+", "0", ""),
        ("What a wonderful surprise", "+", "0", ""),
        ("I'm proud of myself", "+", "0", ""),
        ("Things are going well at work", "+", "0", ""),
        ("I'm in a good mood", "+", "0", ""),
        ("I'm not happy", "-", "0", ""),
        ("Today was terrible", "-", "0", ""),
        ("I feel awful", "-", "0", ""),
        ("That was a really bad meeting", "-", "0", ""),
        ("I'm disappointed in myself", "-", "0", ""),
        ("Everything went wrong", "-", "0", ""),
        ("I feel like a failure", "-", "0", ""),
        ("This week has been rough", "-", "0", ""),
        ("I'm upset", "-", "?", ""),
        ("My day was horrible", "-", "0", ""),
    ],
) + _group(
    "energy",
    [
        ("I'm wide awake", "0", "^", ""),
        ("I've got so much energy", "?", "^", ""),
        ("I'm wired after all that coffee", "0", "^", ""),
        ("Feeling hyper today", "0", "^", ""),
        ("I'm all revved up", "0", "^", ""),
        ("I'm full of energy", "?", "^", ""),
        ("I'm so pumped right now!", "?", "^", ""),
        ("I can't sit still", "0", "^", ""),
        ("Ready to go!", "?", "^", ""),
        ("Let's go!", "?", "^", ""),
        ("I'm sleepy", "?", "v", ""),
        ("I'm so tired", "?", "v", ""),
        ("I'm completely wiped out", "?", "v", ""),
        ("Can barely keep my eyes open", "?", "v", ""),
        ("I'm knackered", "?", "v", ""),
        ("I'm running on empty", "?", "v", ""),
        ("I feel sluggish", "?", "v", ""),
        ("I'm drowsy", "?", "v", ""),
        ("I'm half asleep", "?", "v", ""),
        ("I'm so groggy this morning", "?", "v", ""),
    ],
)

_NEUTRAL = _group(
    "neutral",
    [
        ("I'm at the office", "0", "0", ""),
        ("It's Tuesday", "0", "0", ""),
        ("I had pasta for lunch", "0", "0", ""),
        ("The meeting starts at three", "0", "0", ""),
        ("I'm in the kitchen", "0", "0", ""),
        ("My sister is visiting next week", "0", "0", ""),
        ("It's raining outside", "0", "0", ""),
        ("I'm reading the news", "0", "0", ""),
        ("We're driving to my parents' place", "0", "0", ""),
        ("I just got home", "0", "0", ""),
        ("The train leaves at six", "0", "0", ""),
        ("I'm cooking dinner", "0", "0", ""),
        ("My phone is charging", "0", "0", ""),
        ("There's a cat on the windowsill", "0", "0", ""),
        ("I'm sitting on the couch", "0", "0", ""),
        ("hello", "0", "0", ""),
        ("What time is it", "0", "0", ""),
        ("I'm wearing a blue shirt", "0", "0", ""),
        ("The store closes at nine", "0", "0", ""),
        ("We have a test on Monday", "0", "0", ""),
    ],
)

_NEGATION = _group(
    "negation",
    [
        ("I'm not tired at all", "?", "^", ""),
        ("I'm not sad anymore, I feel good", "+", "0", ""),
        ("I don't feel calm at all", "-", "^", ""),
        ("I'm not angry, just disappointed", "-", "?", ""),
        ("I'm not excited about this at all", "-", "?", ""),
        ("I'm not stressed anymore", "+", "?", ""),
        ("Not feeling lonely today", "+", "0", ""),
        ("I don't have any energy", "?", "v", ""),
        ("It's not a bad day", "+", "0", ""),
        ("I'm not unhappy, just sleepy", "?", "v", ""),
        ("I'm not feeling great and I'm really worn out", "-", "v", ""),
        ("I'm no longer nervous, just happy", "+", "0", ""),
        ("I'm not calm, I'm freaking out", "-", "^", ""),
        ("I'm not exhausted anymore, I feel refreshed", "?", "^", ""),
        ("I'm not feeling sleepy at all tonight", "?", "^", ""),
        ("I'm not in a bad mood", "+", "0", ""),
        ("Never been less relaxed, I'm a nervous wreck", "-", "^", ""),
    ],
)

_REQUESTS = _group(
    "request",
    [
        ("play something calm", "0", "0", "calmer"),
        ("calm it down", "0", "0", "calmer"),
        ("skip", "0", "0", "skip"),
        ("can you play something upbeat", "0", "0", "energize"),
        ("could you put on some relaxing music", "0", "0", "calmer"),
        ("I want something to dance to", "0", "0", "party"),
        ("I need music to focus", "0", "0", "focus"),
        ("I'd like some quiet songs", "0", "0", "calmer"),
        ("give me something with more energy", "0", "0", "energize"),
        ("let's have some party music", "0", "0", "party"),
        ("something calmer please", "0", "0", "calmer"),
        ("more energy please", "0", "0", "energize"),
        ("next song", "0", "0", "skip"),
        ("turn it up!", "0", "0", "energize"),
        ("pause the music", "0", "0", "stop"),
        ("I love this track", "?", "0", "like"),
        ("play something to cheer me up", "0", "0", "cheer_up"),
        ("put on my workout playlist", "0", "0", "workout"),
        ("help me fall asleep", "0", "0", "sleep"),
        ("can we have something slower", "0", "0", "calmer"),
        ("not this one, next please", "0", "0", "skip"),
        ("could you play something happier", "0", "0", "cheer_up"),
        ("something mellow for studying", "0", "0", "calmer focus"),
        ("I'd love some chill tunes", "?", "0", "calmer"),
        ("Play me something energetic for the gym", "0", "0", "energize workout"),
        ("turn this off", "0", "0", "stop"),
        ("keep this one playing, it's perfect", "?", "0", "like"),
        ("change the song", "0", "0", "skip"),
        ("slow things down a bit", "0", "0", "calmer"),
        ("pick up the pace", "0", "0", "energize"),
        ("let's get this party started", "0", "0", "party"),
        ("please stop", "0", "0", "stop"),
        ("could I get some music for sleeping", "0", "0", "sleep"),
        ("give me something uplifting", "0", "0", "cheer_up"),
        ("I need something to get me going", "0", "0", "energize"),
        ("put on something soothing", "0", "0", "calmer"),
        ("quieter please", "0", "0", "calmer"),
        ("I'm in the mood for something lively", "0", "0", "energize"),
        ("what a great song", "?", "0", "like"),
        ("I don't like this one", "?", "0", "skip"),
        ("I'm heading to the gym", "0", "0", "workout"),
        ("Time for bed", "0", "0", "sleep"),
        ("We've got friends coming over tonight for a party", "?", "0", "party"),
        ("I'm studying for my finals", "0", "0", "focus"),
        ("going for a run now", "0", "0", "workout"),
    ],
)

_STATEMENTS = _group(
    "statement",
    [
        ("I feel calm", "+", "v", ""),
        ("The party last night was so much fun", "+", "?", ""),
        ("I went running this morning", "0", "?", ""),
        ("My roommate keeps skipping class", "?", "0", ""),
        ("The song on the radio at work was too loud", "?", "?", ""),
        ("I stopped by the bakery on the way home", "0", "0", ""),
        ("I used to dance a lot when I was young", "?", "?", ""),
        ("My kid finally fell asleep", "?", "?", ""),
        ("I feel relaxed now", "+", "v", ""),
        ("I'm so happy with this new job", "+", "0", ""),
        ("It's quiet in the house today", "?", "?", ""),
        ("Yesterday's workout destroyed me", "?", "?", ""),
        ("I like the rain", "+", "0", ""),
        ("I need to stop eating so much sugar", "?", "0", ""),
        ("The next bus is in ten minutes", "0", "0", ""),
        ("I'm listening to the rain and feeling peaceful", "+", "v", ""),
        ("We danced all night at the wedding", "?", "?", ""),
        ("I finally get to sleep in tomorrow", "+", "?", ""),
        ("I can't stop smiling today", "+", "?", ""),
        ("My mom told me to calm down", "?", "?", ""),
        ("I'm feeling more energetic than yesterday", "?", "^", ""),
        ("The movie was a bit slow", "?", "?", ""),
        ("My brother is studying abroad this year", "0", "0", ""),
        ("The gym was packed this morning", "?", "?", ""),
        ("She wants me to cheer up but I can't", "-", "?", ""),
    ],
)

_MIXED = _group(
    "mixed",
    [
        ("Something calmer please, I'm stressed", "-", "^", "calmer"),
        ("I'm exhausted, play something calmer", "?", "v", "calmer"),
        ("I'm feeling down, can you cheer me up", "-", "?", "cheer_up"),
        ("I'm so pumped, put on something loud", "?", "^", "energize"),
        ("Rough day at work, just play something soothing", "-", "?", "calmer"),
        ("I'm bored, give me something fun", "?", "v", "cheer_up"),
        ("I'm anxious, could you play something relaxing", "-", "^", "calmer"),
        ("Feeling great, let's have some dance music!", "+", "?", "party"),
        ("I'm sleepy but I have to study, give me something to focus to", "?", "v", "focus"),
        ("I'm lonely, play me something happy", "-", "v", "cheer_up"),
        ("So tired, turn the music down", "?", "v", "calmer"),
        ("I'm angry and I want something heavy", "-", "^", "energize"),
        ("Amazing day! Play something upbeat", "+", "?", "energize"),
        ("I'm nervous about my exam, help me concentrate", "-", "^", "focus"),
        ("I'm happy and relaxed, keep it mellow", "+", "v", "calmer"),
        ("Skip this, it's depressing", "?", "?", "skip"),
        ("I'm tired but happy, play something gentle", "+", "v", "calmer"),
        ("My head hurts, please stop the music", "-", "?", "stop"),
        ("Wow I feel so alive, crank it up!", "+", "^", "energize"),
        ("I'm overwhelmed, could you slow it down", "-", "^", "calmer"),
    ],
)

SENTENCES: tuple[LabelledSentence, ...] = tuple(
    _PLEASANT_HIGH
    + _PLEASANT_LOW
    + _UNPLEASANT_HIGH
    + _UNPLEASANT_LOW
    + _ONE_AXIS
    + _NEUTRAL
    + _NEGATION
    + _REQUESTS
    + _STATEMENTS
    + _MIXED
)
"""The corpus, grouped as above."""

FRESH: tuple[LabelledSentence, ...] = tuple(
    _group(
        "fresh",
        [
            ("Just got promoted and I'm over the moon, can't stop grinning", "+", "^", ""),
            ("Finally the weekend, I'm bursting with energy", "+", "^", ""),
            ("My team scored in the last minute and I'm going nuts", "+", "^", ""),
            ("So excited for the road trip tomorrow!", "+", "^", ""),
            ("Feeling unstoppable today, let's do this", "+", "^", ""),
            ("I'm buzzing after that gig, what a night", "+", "^", ""),
            ("Huge win at work today, I'm hyped", "+", "^", ""),
            ("Energy through the roof and loving every minute", "+", "^", ""),
            ("Sitting by the fire with a cup of cocoa, feeling cosy and content", "+", "v", ""),
            ("Such a relaxing evening, I feel really good", "+", "v", ""),
            ("Slow morning, coffee in bed, perfectly happy", "+", "v", ""),
            ("I'm sleepy and warm and content", "+", "v", ""),
            ("Peaceful walk by the lake, feeling grateful", "+", "v", ""),
            ("Happy and a little tired after the beach", "+", "v", ""),
            ("Chilling on the sofa, life is sweet", "+", "v", ""),
            ("Calm and happy, nothing to worry about", "+", "v", ""),
            ("I'm so mad at my brother right now", "-", "^", ""),
            ("Work is driving me crazy and I'm super tense", "-", "^", ""),
            ("I'm anxious and can't stop worrying about money", "-", "^", ""),
            ("My flight got cancelled and I'm absolutely furious", "-", "^", ""),
            ("Everything's going wrong, I'm in a total panic", "-", "^", ""),
            ("I'm irritated and on edge all day", "-", "^", ""),
            ("My heart won't stop racing, I'm so nervous", "-", "^", ""),
            ("Stressed to the max with these exams", "-", "^", ""),
            ("I'm so lonely since she left, I just want to sleep all day", "-", "v", ""),
            ("Feeling pretty down and worn out tonight", "-", "v", ""),
            ("I've been sad all week and I'm so tired", "-", "v", ""),
            ("Gloomy and exhausted, what a day", "-", "v", ""),
            ("Heartbroken, I can't stop crying", "-", "v", ""),
            ("I'm lonely and have zero energy", "-", "v", ""),
            ("Empty and sleepy, nothing feels right", "-", "v", ""),
            ("So drained and miserable after the funeral", "-", "v", ""),
            ("That's wonderful news", "+", "0", ""),
            ("I'm really pleased with how things went", "+", "0", ""),
            ("I hate Mondays", "-", "0", ""),
            ("That was a disaster", "-", "0", ""),
            ("I'm feeling good today", "+", "0", ""),
            ("I feel terrible about what happened", "-", "0", ""),
            ("I'm totally wired tonight", "0", "^", ""),
            ("I'm so sleepy I could nap right here", "?", "v", ""),
            ("Barely awake this morning", "?", "v", ""),
            ("I'm bursting with energy", "?", "^", ""),
            ("Dead tired", "?", "v", ""),
            ("I'm on the bus", "0", "0", ""),
            ("It's five o'clock", "0", "0", ""),
            ("We're having pasta tonight", "0", "0", ""),
            ("My laptop is updating", "0", "0", ""),
            ("I'm at my desk", "0", "0", ""),
            ("Tomorrow is Wednesday", "0", "0", ""),
            ("I'm not stressed at all today", "+", "?", ""),
            ("Not in the mood for anything, I'm just so tired", "?", "v", ""),
            ("I don't feel sad anymore", "+", "0", ""),
            ("I'm not feeling energetic today", "?", "v", ""),
            ("put on some chill music", "0", "0", "calmer"),
            ("could you play something with a bit more energy", "0", "0", "energize"),
            ("I need something relaxing", "0", "0", "calmer"),
            ("can we skip this one", "0", "0", "skip"),
            ("play me something to help me study", "0", "0", "focus"),
            ("I'd love something upbeat", "?", "0", "energize"),
            ("turn it down please", "0", "0", "calmer"),
            ("throw on some dance music", "0", "0", "party"),
            ("I want to hear something happy", "0", "0", "cheer_up"),
            ("shut it off", "0", "0", "stop"),
            ("can you play something to help me sleep", "0", "0", "sleep"),
            ("more chill stuff please", "0", "0", "calmer"),
            ("this song is great", "?", "0", "like"),
            ("I'm off to the gym, something energetic please", "0", "0", "workout energize"),
            ("nah, not this one", "0", "0", "skip"),
            ("I feel so relaxed", "+", "v", ""),
            ("I danced so much last night", "?", "?", ""),
            ("The gym closes early on Sundays", "0", "?", ""),
            ("My dog loves to run on the beach", "?", "?", ""),
            ("I calmed down after the call", "?", "?", ""),
            ("I skipped breakfast today", "?", "0", ""),
            ("I love a quiet evening", "+", "?", ""),
            ("The concert was so loud my ears are ringing", "?", "?", ""),
            ("I'm wiped out, put on something gentle", "?", "v", "calmer"),
            ("Feeling fantastic, crank up the volume!", "+", "?", "energize"),
            ("I'm really stressed, can you play something soothing", "-", "^", "calmer"),
            ("Ugh I'm bored, play something fun", "?", "v", "cheer_up"),
            ("I'm sad, put on something to cheer me up", "-", "v", "cheer_up"),
            ("My head is pounding, please turn it off", "-", "?", "stop"),
            ("Long day at work, I need to unwind", "?", "v", "calmer"),
        ],
    )
)
"""Sentences written after the model was frozen and measured once before any change to it; the
figures of that first run are in docs/mood.md."""

FRESH_2: tuple[LabelledSentence, ...] = tuple(
    _group(
        "fresh",
        [
            ("Ugh, today was exhausting, I can barely keep my eyes open", "-", "v", ""),
            ("I'm buzzing, just got the job!", "+", "^", ""),
            ("Honestly I'm furious with my landlord", "-", "^", ""),
            ("Feeling pretty mellow and content this evening", "+", "v", ""),
            ("I'm anxious about my exam tomorrow", "-", "^", ""),
            ("I'm so relaxed after that massage", "+", "v", ""),
            ("I've been stressed all week", "-", "^", ""),
            ("I studied for hours and I'm fried", "-", "v", ""),
            ("I'm bored", "-", "?", ""),
            ("My dog died this morning", "-", "?", ""),
            ("not feeling great, kind of blah", "-", "?", ""),
            ("I'm in love!", "+", "?", ""),
            ("Everything is fine I guess", "?", "0", ""),
            ("I'm exhausted", "?", "v", ""),
            ("I feel great today", "+", "0", ""),
            ("It's been a calm, quiet day", "?", "v", ""),
            ("I was dancing all night", "?", "^", ""),
            ("My workout was brutal", "?", "?", ""),
            ("I'm so sleepy", "?", "v", ""),
            ("The party last night was amazing", "+", "?", ""),
            ("Life is good", "+", "0", ""),
            ("Feeling low", "-", "?", ""),
            ("I'm cheerful today", "+", "?", ""),
            ("Everything feels calm now", "?", "v", ""),
            ("This song makes me happy", "+", "0", "like"),
            ("Could you put on something to help me focus?", "0", "0", "focus"),
            ("Play me some upbeat stuff", "0", "0", "energize"),
            ("We're having people over, let's get this party started", "?", "?", "party"),
            ("Turn it down a notch, it's too much", "?", "?", "calmer"),
            ("I could really use something cheerful right now", "?", "0", "cheer_up"),
            ("Give me something heavier", "0", "0", "energize"),
            ("I could definitely use some chill music", "0", "0", "calmer"),
            ("Would love something upbeat", "0", "0", "energize"),
            ("Anything relaxing?", "0", "0", "calmer"),
            ("Something to dance to", "0", "0", "party"),
            ("Maybe some mellow tunes?", "0", "0", "calmer"),
            ("Let's hear something happier", "0", "0", "cheer_up"),
            ("I'd appreciate something quieter", "0", "0", "calmer"),
            ("Could I have something more energetic", "0", "0", "energize"),
            ("Mind playing something calm?", "0", "0", "calmer"),
            ("Can we go a bit slower", "0", "0", "calmer"),
            ("Please, something to cheer me up", "?", "0", "cheer_up"),
            ("Help me relax", "0", "0", "calmer"),
            ("Got anything for a workout?", "0", "0", "workout"),
            ("Music for studying please", "0", "0", "focus"),
            ("I want to dance", "0", "0", "party"),
            ("Need to focus, something instrumental", "0", "0", "focus"),
            ("Lower the energy a bit", "0", "0", "calmer"),
            ("Less intense please", "0", "0", "calmer"),
            ("More upbeat", "0", "0", "energize"),
            ("Pump it up!", "0", "0", "energize"),
            ("Turn up the energy", "0", "0", "energize"),
            ("Something for sleeping", "0", "0", "sleep"),
            ("I'm trying to sleep, keep it gentle", "0", "0", "sleep calmer"),
            ("Help me get going this morning", "0", "0", "energize"),
            ("Make it livelier", "0", "0", "energize"),
            ("I wanna party", "0", "0", "party"),
            ("Let's get pumped", "0", "0", "energize"),
        ],
    )
)
"""A second set written after the first fresh round's fixes (session 13: everyday phrasing of
requests and states, labelled before the reader saw them) and measured once before any change; the
figures of that first run are in docs/mood.md."""

FRESH_3: tuple[LabelledSentence, ...] = tuple(
    _group(
        "fresh",
        [
            ("Just aced my driving test, I'm on cloud nine!", "+", "^", ""),
            ("I'm so pumped for the weekend", "+", "^", ""),
            ("Woke up feeling energetic and happy", "+", "^", ""),
            ("Nothing can bring me down today, I'm flying", "+", "?", ""),
            ("Lazy Sunday, feeling peaceful", "+", "v", ""),
            ("Just had a lovely nap, I feel calm and happy", "+", "v", ""),
            ("Curled up with a good book, very content", "+", "v", ""),
            ("I'm so annoyed, the train is late again", "-", "^", ""),
            ("I'm freaking out about the deadline", "-", "^", ""),
            ("Everyone is yelling and I'm losing my patience", "-", "^", ""),
            ("I feel awful and tired", "-", "v", ""),
            ("So lonely tonight, I don't want to do anything", "-", "v", ""),
            ("Feeling gloomy and sluggish", "-", "v", ""),
            ("Yeah, I'm pretty worn out", "?", "v", ""),
            ("Ok I'm really sad right now", "-", "?", ""),
            ("What a terrible week", "-", "0", ""),
            ("I'm grateful for my friends", "+", "0", ""),
            ("I'm at the supermarket", "0", "0", ""),
            ("The meeting starts at ten", "0", "0", ""),
            ("I'm not sleepy at all", "?", "^", ""),
            ("I'm not happy with how today went", "-", "?", ""),
            ("I went for a run this morning", "?", "?", ""),
            ("My sister is studying medicine", "0", "?", ""),
            ("We danced at the wedding", "?", "?", ""),
            ("The music at the cafe was too loud", "?", "?", ""),
            ("I slept badly last night", "-", "?", ""),
            ("Could you play something soft", "0", "0", "calmer"),
            ("Put on some party music!", "0", "0", "party"),
            ("I'd like something to work to", "0", "0", "focus"),
            ("Maybe something more cheerful?", "0", "0", "cheer_up"),
            ("How about some gym music", "0", "0", "workout"),
            ("Can you slow things down a bit", "0", "0", "calmer"),
            ("Speed it up", "0", "0", "energize"),
            ("We could do with some calmer songs", "0", "0", "calmer"),
            ("Would you mind putting on something relaxing", "0", "0", "calmer"),
            ("Next one please", "0", "0", "skip"),
            ("Not this song again", "0", "0", "skip"),
            ("I really like this track", "?", "0", "like"),
            ("Stop the music please", "0", "0", "stop"),
            ("I'm heading out for a jog", "0", "0", "workout"),
            ("Going to bed now, something soothing please", "0", "0", "sleep calmer"),
            ("Softer please, it's late", "0", "0", "calmer"),
            ("I need some music to help me concentrate", "0", "0", "focus"),
            ("Play some happy songs for me", "0", "0", "cheer_up"),
            ("Crank it up!", "0", "0", "energize"),
            ("I'm stressed, could you put on something calm", "-", "^", "calmer"),
            ("Feeling great, let's have some dance music", "+", "?", "party"),
            ("I'm exhausted, play something gentle", "?", "v", "calmer"),
            ("So bored, give me something upbeat", "-", "?", "energize"),
            ("Honestly I could use some relaxing tunes", "0", "0", "calmer"),
        ],
    )
)
"""A third set, written after FRESH_2's fixes (session 13) and measured once: the honest figure for
those fixes; the figures of that run are in docs/mood.md."""

FRESH_4: tuple[LabelledSentence, ...] = tuple(
    _group(
        "fresh",
        [
            ("I would love to see my grandparents this summer", "+", "0", ""),
            ("Some songs remind me of my dad", "?", "0", ""),
            ("Some happy songs make me cry", "?", "?", ""),
            ("They had to drop the tempo for the slow dance", "0", "?", ""),
            ("We could use some help moving the sofa", "0", "0", ""),
            ("My neighbour plays loud music every night", "?", "?", ""),
            ("I'd rather not talk about it, I'm upset", "-", "?", ""),
            ("The DJ raised the energy and everyone went wild", "?", "?", ""),
            ("I used to listen to calm music when I studied", "0", "?", ""),
            ("My brother wants to go to the gym later", "0", "?", ""),
            ("I'm over it, feeling light and happy", "+", "?", ""),
            ("Exhausted but proud of myself", "+", "v", ""),
            ("Argh, I'm so frustrated with this code", "-", "^", ""),
            ("Meh, kind of a dull day", "-", "?", ""),
            ("Super chill mood right now", "+", "v", ""),
            ("I'm stoked, the band is reuniting!", "+", "^", ""),
            ("I've got the blues tonight", "-", "?", ""),
            ("Can't shake this anxiety", "-", "^", ""),
            ("I'm running late and stressing out", "-", "^", ""),
            ("Sleepy but content", "+", "v", ""),
            ("Could we get something a bit more mellow", "0", "0", "calmer"),
            ("Some workout music would be great", "0", "0", "workout"),
            ("Would really like something to fall asleep to", "0", "0", "sleep"),
            ("I'd prefer something livelier", "0", "0", "energize"),
            ("Reduce the volume a little", "0", "0", "calmer"),
            ("Please boost the tempo", "0", "0", "energize"),
            ("Mind putting on some study music?", "0", "0", "focus"),
            ("Do you have anything happier", "0", "0", "cheer_up"),
            ("Got any party tunes?", "0", "0", "party"),
            ("I could go for something relaxing", "0", "0", "calmer"),
            ("Skip this please", "0", "0", "skip"),
            ("Love this one!", "?", "0", "like"),
            ("Pause for a second", "0", "0", "stop"),
            ("Off to bed, something quiet please", "0", "0", "sleep calmer"),
            ("I'm cooking dinner, play something upbeat", "0", "0", "energize"),
            ("Ugh, I'm tired, can you put on something gentle", "?", "v", "calmer"),
            ("Great day today, let's have some fun music", "+", "?", "cheer_up"),
            ("I'm nervous about tonight, something soothing please", "-", "^", "calmer"),
            ("Feeling lazy, slow it down", "?", "v", "calmer"),
            ("Woohoo, weekend! Turn it up!", "+", "?", "energize"),
        ],
    )
)
"""A fourth set, written after FRESH_3's fixes (session 13) and measured once: statements that
look like the new request frames (wishes, "some … music", "drop the tempo") and more everyday
requests; the figures of that run are in docs/mood.md."""

CHAT: tuple[LabelledSentence, ...] = tuple(
    _group(
        "chat",
        [
            ("I'M SO HAPPY!!!", "+", "?", ""),
            ("im sooo tired", "?", "v", ""),
            ("i'm soooo excited", "+", "^", ""),
            ("tired af", "?", "v", ""),
            ("feeling 😢", "-", "?", ""),
            ("so happy 😀", "+", "?", ""),
            ("ugh mondays 🙄", "-", "?", ""),
            ("I'm sad :(", "-", "?", ""),
            ("yay :)", "+", "?", ""),
            ("vibes are immaculate today", "+", "?", ""),
            ("lol this is great", "?", "0", "like"),
            ("plz play smth chill", "0", "0", "calmer"),
            ("can u play something calm", "0", "0", "calmer"),
            ("gimme sum energy", "0", "0", "energize"),
            ("wanna chill", "0", "0", "calmer"),
            ("need a pick-me-up", "?", "0", "cheer_up"),
            ("play smthn upbeat pls", "0", "0", "energize"),
            ("can ya put on some tunes to relax", "0", "0", "calmer"),
        ],
    )
)
"""Typed as in a chat (capitals, stretched words, emoji, emoticons, "plz", "u", "wanna"): tried once
(session 13: 3 of its 7 requests missed), then labelled and kept as a regression set; not held out."""

FRESH_5: tuple[LabelledSentence, ...] = tuple(
    _group(
        "fresh",
        [
            ("Had the best day at the beach with my kids", "+", "?", ""),
            ("I'm beaming, my painting sold today", "+", "?", ""),
            ("So giddy I can hardly sit down", "+", "^", ""),
            ("Today was rough, I'm drained", "-", "v", ""),
            ("I'm heartbroken and exhausted", "-", "v", ""),
            ("I'm so irritated I could scream", "-", "^", ""),
            ("My nerves are shot before the interview", "-", "^", ""),
            ("Feeling mellow after a long bath", "+", "v", ""),
            ("I'm content just sitting here", "+", "v", ""),
            ("I feel a bit off today", "-", "?", ""),
            ("Nothing special going on", "0", "0", ""),
            ("I'm waiting for the bus", "0", "0", ""),
            ("Dinner is in the oven", "0", "0", ""),
            ("I'm not upset at all, just tired", "?", "v", ""),
            ("I don't feel energetic today", "?", "v", ""),
            ("Mum said the party was fun", "?", "?", ""),
            ("I read that calm music helps with sleep", "0", "?", ""),
            ("The gym was closed for repairs", "0", "?", ""),
            ("I skipped the gym today", "0", "?", ""),
            ("My friend loves this band", "0", "0", ""),
            ("Can you play something mellow", "0", "0", "calmer"),
            ("Put something upbeat on, please", "0", "0", "energize"),
            ("How about some chill tunes", "0", "0", "calmer"),
            ("Got anything to help me sleep?", "0", "0", "sleep"),
            ("I'd like something to dance to", "0", "0", "party"),
            ("Play me something cheerful", "0", "0", "cheer_up"),
            ("Something for my run please", "0", "0", "workout"),
            ("Music to focus, please", "0", "0", "focus"),
            ("Skip it", "0", "0", "skip"),
            ("Don't like this one", "0", "0", "skip"),
            ("Ooh I love this song", "?", "0", "like"),
            ("Stop playing", "0", "0", "stop"),
            ("Turn it down a bit", "0", "0", "calmer"),
            ("Faster please", "0", "0", "energize"),
            ("I'm going for a jog, something energetic", "0", "0", "workout energize"),
            ("I feel low, could you cheer me up", "-", "?", "cheer_up"),
            ("I'm wired, help me wind down for bed", "?", "^", "sleep"),
            ("Stressed out, play something relaxing", "-", "^", "calmer"),
            ("Happy Friday! Let's have some party music", "+", "?", "party"),
            ("Bored out of my mind, something lively please", "-", "?", "energize"),
        ],
    )
)
"""A fifth set, written at the end of session 13 after every fix above and measured once: the
reader's generalisation as it was left; the figures of that run are in docs/mood.md."""

OTHERS: tuple[LabelledSentence, ...] = tuple(
    _group(
        "others",
        [
            ("My brother is furious about the game", "0", "0", ""),
            ("He said he was exhausted after the shift", "0", "0", ""),
            ("She's been really depressed lately", "?", "0", ""),
            ("My kids are so excited about the trip", "?", "?", ""),
            ("Our neighbours were screaming at each other all night", "?", "?", ""),
            ("My dad is feeling much better now", "?", "0", ""),
            ("They seem pretty relaxed about the deadline", "0", "0", ""),
            ("My roommate is in a terrible mood today", "?", "0", ""),
            ("Everyone at the party was having a blast", "?", "?", ""),
            ("My boss was really happy with the report", "?", "0", ""),
            ("My girlfriend thinks this song is boring", "0", "0", ""),
            ("His new album sounds angry and loud", "0", "0", ""),
            ("My mom is worried sick about me", "?", "0", ""),
            ("They're all so tired after the hike", "?", "?", ""),
            ("My friend told me she feels lonely", "0", "0", ""),
            ("Somebody at work was crying in the bathroom", "0", "0", ""),
            ("People are so stressed about the election", "0", "0", ""),
            ("My sister just won a big award and she's thrilled", "?", "0", ""),
            ("My friend is sad but I'm doing great", "+", "0", ""),
            ("He's exhausted, but I feel full of energy", "?", "^", ""),
            ("My sister is thrilled and I'm just tired", "?", "v", ""),
            ("Everyone is angry at work and I feel calm", "+", "v", ""),
            ("My partner is stressed, I'm pretty relaxed though", "+", "v", ""),
            ("They were all happy for me and I feel wonderful", "+", "0", ""),
            ("I'm furious at my brother", "-", "^", ""),
            ("I'm so happy for my sister", "+", "?", ""),
            ("My day has been awful", "-", "?", ""),
            ("My head hurts and I'm exhausted", "-", "v", ""),
            ("My whole body feels heavy and tired", "?", "v", ""),
            ("My team won and I'm over the moon", "+", "^", ""),
        ],
    )
)
"""Sentences about other people's feelings, alone or beside the listener's own (session 14), written
before the reader was changed for them and measured once: another person's mood is no evidence of the
listener's; where the listener says how they are too, that decides. Figures in docs/mood.md."""

OTHERS_2: tuple[LabelledSentence, ...] = tuple(
    _group(
        "others",
        [
            ("My friends and I are so excited", "+", "^", ""),
            ("Me and my sister are so happy", "+", "?", ""),
            ("My wife and I feel great", "+", "0", ""),
            ("She makes me so happy", "+", "?", ""),
            ("He's driving me crazy", "-", "?", ""),
            ("My kids are driving me nuts", "-", "?", ""),
            ("My boyfriend is being so annoying today", "-", "?", ""),
            ("My coworkers are so rude", "-", "0", ""),
            ("My neighbours are lovely people", "+", "0", ""),
            ("My mom is sick and I'm worried", "-", "?", ""),
            ("My cat is sleeping on my lap and I feel so cozy", "+", "v", ""),
            ("They always get me so stressed", "-", "^", ""),
            ("My little brother is bored out of his mind", "0", "0", ""),
            ("Her band sounds really mellow", "0", "0", ""),
            ("My parents are thrilled about the wedding", "?", "0", ""),
            ("Everyone else is tired but I feel fantastic", "+", "?", ""),
            ("My sister is furious with me", "?", "?", ""),
            ("My dad said he was proud of me", "?", "0", ""),
        ],
    )
)
"""Written after :data:`OTHERS`' fixes (session 14) to catch their mistakes: the listener among the
subjects ("my friends and I"), someone acting on the listener ("she makes me so happy", "he's
driving me crazy"), and the listener's judgement of someone ("my coworkers are so rude"). Measured
once before the fixes they prompted; figures in docs/mood.md."""

HEDGES: tuple[LabelledSentence, ...] = tuple(
    _group(
        "hedges",
        [
            ("I feel kind of down", "-", "v", ""),
            ("I'm a little down today", "-", "v", ""),
            ("Feeling sort of low this afternoon", "-", "v", ""),
            ("I'm kinda sad tbh", "-", "v", ""),
            ("I'm somewhat stressed about tomorrow", "-", "^", ""),
            ("I'm a tad anxious", "-", "^", ""),
            ("I'm sort of excited about the trip", "+", "^", ""),
            ("Kind of sleepy right now", "?", "v", ""),
            ("I'm a bit on edge", "-", "^", ""),
            ("Feeling a little blue", "-", "v", ""),
            ("Honestly I'm pretty wiped", "?", "v", ""),
            ("I'm in a bit of a funk", "-", "v", ""),
            ("I'm sort of restless", "?", "^", ""),
            ("Quietly happy, somewhat content", "+", "v", ""),
            ("I'm a little wired from all the coffee", "?", "^", ""),
            ("I'm fairly relaxed", "+", "v", ""),
            ("Pretty chill evening, feeling good", "+", "v", ""),
            ("I'm kinda bummed out", "-", "v", ""),
            ("I'm a touch nervous about the interview", "-", "^", ""),
            ("I feel a bit flat today", "-", "v", ""),
            ("Things have been kind of rough lately", "-", "?", ""),
            ("I'm sort of fed up", "-", "?", ""),
            ("Play Kind of Blue by Miles Davis", "0", "0", ""),
            ("The sun is going down", "0", "0", ""),
            ("I'm down for some jazz", "0", "0", ""),
            ("My phone battery is kind of low", "0", "0", ""),
            ("We're a little low on milk", "0", "0", ""),
            ("The shop is a bit down the road", "0", "0", ""),
        ],
    )
)
"""Hedged and colloquial statements of how the listener feels ("kind of down", "a tad anxious", "in
a bit of a funk"), with sentences where the same words say nothing about the listener ("Kind of
Blue", "a bit down the road", "kind of low" on milk). Written in session 15 from a held-out
mood-following sentence the reader missed ("It's raining and I feel kind of down"), measured once
before the change it prompted; figures in docs/mood.md."""

FRESH_6: tuple[LabelledSentence, ...] = tuple(
    _group(
        "fresh",
        [
            ("Just finished a marathon of meetings and my brain is fried", "-", "v", ""),
            ("I'm on top of the world today", "+", "?", ""),
            ("Everything is annoying me this morning", "-", "?", ""),
            ("I'm chilling on the balcony with a cup of tea", "+", "v", ""),
            ("I'm so nervous my hands are shaking", "-", "^", ""),
            ("We won the match!", "+", "^", ""),
            ("I feel empty inside", "-", "v", ""),
            ("Ugh, Mondays", "-", "?", ""),
            ("I'm absolutely knackered", "?", "v", ""),
            ("Couldn't be happier right now", "+", "?", ""),
            ("I'm raging at my landlord", "-", "^", ""),
            ("Feeling peaceful after my yoga class", "+", "v", ""),
            ("I'm really looking forward to the weekend", "+", "?", ""),
            ("I'm dreading tomorrow's exam", "-", "?", ""),
            ("My head is pounding and I'm grumpy", "-", "?", ""),
            ("I'm buzzing after that concert", "+", "^", ""),
            ("Honestly I just feel numb", "-", "v", ""),
            ("Such a cozy rainy afternoon", "+", "v", ""),
            ("I can't stop yawning", "?", "v", ""),
            ("I'm hyped for the game tonight", "+", "^", ""),
            ("I'm gutted we lost the final", "-", "?", ""),
            ("I'm not feeling great", "-", "?", ""),
            ("Not bad at all, actually pretty good", "+", "?", ""),
            ("I'm sitting at my desk", "0", "0", ""),
            ("The laundry is done", "0", "0", ""),
            ("I'm cooking pasta for dinner", "0", "0", ""),
            ("I'm an aunt now, I'm so thrilled", "+", "^", ""),
            ("I went to a party last night", "?", "?", ""),
            ("I fell asleep on the couch earlier", "?", "?", ""),
            ("Could you put on something soothing", "0", "0", "calmer"),
            ("I need some pump-up music for the gym", "0", "0", "workout energize"),
            ("Give me something mellow to read to", "0", "0", "calmer"),
            ("Time for bed, play something to drift off to", "0", "0", "sleep"),
            ("Next song please", "0", "0", "skip"),
            ("This one's a banger, love it", "?", "?", "like"),
            ("Pause the music for a sec", "0", "0", "stop"),
            ("Can you cheer me up, I've had an awful day", "-", "?", "cheer_up"),
            ("Something with more energy, I'm falling asleep at my desk", "?", "v", "energize"),
            ("Slow it down a little", "0", "0", "calmer"),
            ("I'm in the mood for something upbeat", "0", "0", "energize"),
        ],
    )
)
"""A sixth set, written in session 15 after every fix before it and measured once: the reader's
generalisation as it stood; the figures of that run are in docs/mood.md."""
