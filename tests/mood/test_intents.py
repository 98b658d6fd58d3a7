"""Intents from what a listener says to a player: a table of phrasings, negations and strengths."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mood.intents import detect_intents, find_requests
from mood.text import read_text

# phrasing -> the set of intent kinds expected (empty: none)
TABLE: list[tuple[str, set[str]]] = [
    ("play something calmer", {"calmer"}),
    ("can you slow it down a bit", {"calmer"}),
    ("this is too loud", {"calmer"}),
    ("not so fast please", {"calmer"}),
    ("I need to chill out", {"calmer"}),
    ("something more relaxing", {"calmer"}),
    ("tone it down", {"calmer"}),
    ("more energy please", {"energize"}),
    ("give me something upbeat", {"energize"}),
    ("pump it up!", {"energize"}),
    ("this is too slow", {"energize"}),
    ("wake me up", {"energize"}),
    ("something faster", {"energize"}),
    ("I need to focus", {"focus"}),
    ("music for studying", {"focus"}),
    ("help me concentrate on my homework", {"focus"}),
    ("I have to get some work done", {"focus"}),
    ("time for my workout", {"workout"}),
    ("I'm going for a run", {"workout"}),
    ("heading to the gym", {"workout"}),
    ("something for exercising", {"workout"}),
    ("help me fall asleep", {"sleep"}),
    ("time to wind down", {"sleep"}),
    ("bedtime music", {"sleep"}),
    ("let's party", {"party"}),
    ("we're having friends over, something to dance to", {"party"}),
    ("cheer me up", {"cheer_up"}),
    ("I'm feeling down, make me smile", {"cheer_up"}),
    ("something uplifting", {"cheer_up"}),
    ("skip", {"skip"}),
    ("next", {"skip"}),
    ("next song please", {"skip"}),
    ("I don't like this one", {"skip"}),
    ("play something else", {"skip"}),
    ("I love this song", {"like"}),
    ("great track", {"like"}),
    ("this is my jam", {"like"}),
    ("keep it playing, I like it", {"like"}),
    ("stop the music", {"stop"}),
    ("pause", {"stop"}),
    ("turn it off", {"stop"}),
    ("stop skipping my songs", set()),
    ("music for my run", {"workout"}),
    ("time for bed", {"sleep"}),
    ("louder please", {"energize"}),
    ("let's get pumped", {"energize"}),
    # negations
    ("don't stop", set()),
    ("please don't stop the music", set()),
    ("not calmer", set()),
    ("I don't want to sleep", set()),
    ("don't skip this one", set()),
    ("I'm not going to the gym today", set()),
    ("it's not too loud", set()),
    ("I can't stop dancing", {"party"}),
    ("no need to slow down", set()),
    # combinations and plain statements
    ("skip this and play something calmer", {"skip", "calmer"}),
    ("I'm off for a run, pump it up", {"workout", "energize"}),
    ("I had a long day at the office", set()),
    ("the weather is nice today", set()),
    ("I feel wonderful today", set()),
]


def test_table_is_at_least_ninety_percent_right() -> None:
    """At least 90 % of the ≥ 40 phrasings (negations included) give exactly the expected intents."""
    assert len(TABLE) >= 40
    wrong = [(text, expected, {i.kind for i in detect_intents(text)}) for text, expected in TABLE]
    wrong = [w for w in wrong if w[1] != w[2]]
    share_right = 1.0 - len(wrong) / len(TABLE)
    assert share_right >= 0.9, f"{share_right:.0%} right; wrong: {wrong}"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("don't stop", "stop"),
        ("not calmer", "calmer"),
        ("please don't skip it", "skip"),
        ("never sleep", "sleep"),
    ],
)
def test_negated_request_is_dropped(text: str, kind: str) -> None:
    """A negator before a request cancels it."""
    assert kind not in {i.kind for i in detect_intents(text)}


def test_strength_follows_degree_words() -> None:
    """'a bit calmer' < 'calmer' < 'much calmer'."""

    def strength(text: str) -> float:
        (intent,) = detect_intents(text)
        return intent.strength

    assert strength("a bit calmer") < strength("calmer") < strength("much calmer")


def test_one_intent_per_kind_in_text_order_with_phrase() -> None:
    """Repeated kinds collapse to one; intents keep text order and carry the matched words."""
    intents = detect_intents("skip, skip this, and then something calmer, calmer")
    assert [i.kind for i in intents] == ["skip", "calmer"]
    assert intents[1].phrase == "calmer"
    assert all(0.0 < i.strength <= 1.0 for i in intents)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("play something calm", "calmer"),
        ("calm it down", "calmer"),
        ("skip", "skip"),
        ("can you put on something upbeat", "energize"),
        ("could you play something relaxing", "calmer"),
        ("I want something to dance to", "party"),
        ("I need music to focus", "focus"),
        ("I'd like some quiet songs", "calmer"),
        ("give me something mellow", "calmer"),
        ("let's have some party music", "party"),
        ("something calmer please", "calmer"),
        ("more energy please", "energize"),
        ("a bit quieter please", "calmer"),
        # wishes as they are said in passing, and ellipses
        ("I could really use something cheerful", "cheer_up"),
        ("would love something upbeat", "energize"),
        ("I'd appreciate something quieter", "calmer"),
        ("mind playing something calm?", "calmer"),
        ("maybe some mellow tunes", "calmer"),
        ("some dance music would be great", "party"),
        ("lower the energy a bit", "calmer"),
        ("can you raise the tempo", "energize"),
        ("please boost the tempo", "energize"),
        ("this song makes me want to dance", "like"),
        ("I love this!", "like"),
        ("love this so much", "like"),
    ],
)
def test_request_phrasings_ask(text: str, kind: str) -> None:
    """Imperatives, questions and wishes addressed to the player, and elliptical requests, are requests."""
    assert [i.kind for i in detect_intents(text)] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "It's a lovely calm Sunday morning",
        "I'm not sad anymore, I feel good",
        "I feel calm",
        "I'm so sleepy",
        "I'm so happy with this new job",
        "Calm evening on the porch",
        "My mom told me to calm down",
        "I'm feeling more energetic than yesterday",
        "The party last night was so much fun",
        "I stopped by the bakery",
        "I need to stop eating so much sugar",
        "The next bus is in ten minutes",
        "So much energy today, I love it",
        "This is a good day and I love my friends.",
        "Some happy songs make me cry",
        "They had to drop the tempo for the slow dance",
        "I would love to see my grandparents this summer",
        "We could use some help moving the sofa",
        "The DJ raised the energy and everyone went wild",
        "I love this city, the people here are so kind",
        "I love that band",
        "Please put the boxes next to the kitchen door",
        "See you next week",
    ],
)
def test_statements_are_not_requests(text: str) -> None:
    """Words that could name a request ("calm", "party", "stop", "next", "love it") in a statement of
    state or of fact ask for nothing."""
    assert detect_intents(text) == ()


def test_negated_request_frame_cancels_what_it_asks() -> None:
    """A negator before the request frame cancels the descriptors inside it."""
    assert detect_intents("I don't want anything loud") == ()
    assert detect_intents("I'm not in the mood for anything upbeat") == ()


def test_it_needs_the_music_as_referent() -> None:
    """'I like it' is feedback on its own or after a request, not after a statement about something else."""
    assert [i.kind for i in detect_intents("I love it!")] == ["like"]
    assert [i.kind for i in detect_intents("keep it playing, I like it")] == ["like"]
    assert detect_intents("So much energy today, I love it") == ()


@pytest.mark.parametrize(
    "text",
    [
        "Skip this, I hate it",
        "Next, this is terrible",
        "Change the song, I can't stand it",
        "This song is awful",
    ],
)
def test_a_verdict_on_the_track_is_part_of_the_skip(text: str) -> None:
    """After a skip (or naming the song), "I hate it" / "this is awful" judge the track: they are part
    of the request, not the listener's mood (they read valence 0.26-0.31, "down", before)."""
    assert [i.kind for i in detect_intents(text)] == ["skip"]
    reading = read_text(text)
    assert reading.affect.valence_confidence == 0.0, reading.affect


def test_an_interjection_between_does_not_cut_the_verdict_from_its_request() -> None:
    """ "Skip. Ugh, this is so boring": "ugh" on its own says nothing about what "this" is."""
    assert [i.kind for i in detect_intents("Skip. Ugh, this is so boring")] == ["skip"]
    assert [i.kind for i in detect_intents("Yeah, I love it")] == ["like"]


@pytest.mark.parametrize(
    "text",
    [
        "I hate this, it is the worst day ever.",
        "This is terrible, I lost my job",
        "I hate it",
        "Ugh, this is so boring",
    ],
)
def test_a_verdict_without_a_request_is_about_the_day(text: str) -> None:
    """Without a request before it, "I hate this" may be the day: a statement, no skip."""
    assert detect_intents(text) == ()
    assert read_text(text).affect.valence < 0.4


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Can you put on something that's not too intense? I've got a headache.", "calmer"),
        ("play something not too loud", "calmer"),
        ("nothing too heavy please", "calmer"),
        ("I don't want anything too loud", "calmer"),
        ("something not too slow", "energize"),
        ("nothing sad please", "cheer_up"),
    ],
)
def test_asking_for_music_without_a_quality_asks_for_the_other_way(text: str, kind: str) -> None:
    """ "Something not too intense" asks for calmer music: the negation is the request (these asked for
    nothing before, the "not" cancelling the match)."""
    assert [i.kind for i in detect_intents(text)] == [kind]


def test_hush_and_a_bare_activity_ask_for_their_music() -> None:
    """ "Shh, the baby is sleeping" asks for calmer; "Working out now" (no subject, as speech often
    comes) announces a workout; "she said shh" asks for nothing."""
    assert [i.kind for i in detect_intents("Shh, the baby is sleeping")] == ["calmer"]
    assert [i.kind for i in detect_intents("Working out now")] == ["workout"]
    assert detect_intents("She said shh") == ()


@pytest.mark.parametrize(
    "text", ["there is nothing too hard about it", "The music is not too loud", "I am not too tired"]
)
def test_a_statement_with_not_too_asks_for_nothing(text: str) -> None:
    assert detect_intents(text) == ()


@pytest.mark.parametrize(
    "text", ["Help me wake up", "Help me stay awake", "Something to keep me awake while I drive"]
)
def test_asking_to_be_kept_awake_is_energize(text: str) -> None:
    """ "Help me wake up" read as a pleasant statement ("help" is +1.7 for VADER), no request."""
    assert [i.kind for i in detect_intents(text)] == ["energize"]
    assert read_text(text).affect.valence_confidence == 0.0


def test_spans_are_the_requests_words_in_the_original_text() -> None:
    """Spans index the original text (any spacing, curly quotes, capitals) and cover what the request took."""
    text = "I\u2019m   STRESSED,  Something  CALMER please"
    requests = find_requests(text)
    assert [i.kind for i in requests.intents] == ["calmer"]
    ((start, end),) = requests.spans
    assert text[start:end] == "Something  CALMER please"
    assert find_requests("I feel calm").spans == ()
    assert find_requests("don't stop the music").spans == ()  # a negated request takes nothing


def test_activity_announcements_ask_for_their_music() -> None:
    """Announcing a music-relevant activity asks for it; the same activity in the past does not."""
    assert [i.kind for i in detect_intents("I'm heading to the gym")] == ["workout"]
    assert [i.kind for i in detect_intents("time for bed")] == ["sleep"]
    assert [i.kind for i in detect_intents("friends are coming over tonight")] == ["party"]
    assert [i.kind for i in detect_intents("I'm studying for my finals")] == ["focus"]
    assert detect_intents("I went running this morning") == ()
    assert detect_intents("Yesterday's workout destroyed me") == ()


def test_plain_text_has_no_intent() -> None:
    """A sentence without a request yields no intent (empty tuple)."""
    assert detect_intents("") == ()
    assert detect_intents("The car is parked in front of the house.") == ()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_well_formed_intents(text: str) -> None:
    """Arbitrary unicode never raises; each kind appears at most once with strength in (0, 1]; spans are
    ordered, disjoint ranges inside the text."""
    requests = find_requests(text)
    kinds = [i.kind for i in requests.intents]
    assert len(kinds) == len(set(kinds))
    assert all(0.0 < i.strength <= 1.0 and i.phrase for i in requests.intents)
    previous_end = 0
    for start, end in requests.spans:
        assert previous_end <= start < end <= len(text)
        previous_end = end


@pytest.mark.parametrize(
    "text", ["This song slaps", "this slaps", "This beat goes hard", "Keep this vibe going", "More of this",
             "More of this please", "Give me more of that"]
)  # fmt: skip
def test_slang_praise_and_asking_for_more_are_likes(text: str) -> None:
    assert [i.kind for i in detect_intents(text)] == ["like"]


@pytest.mark.parametrize(
    "text", ["Not feeling this one", "I'm not into this", "Not this again", "not feeling it",
             "Not into this song at all", "I'm not digging this"]
)  # fmt: skip
def test_not_reaching_the_listener_is_a_skip(text: str) -> None:
    assert [i.kind for i in detect_intents(text)] == ["skip"]


@pytest.mark.parametrize(
    "text", ["I'm not feeling well", "I'm not into sports", "This city rocks", "I'm not feeling it today",
             "I want more of this city"]
)  # fmt: skip
def test_the_same_words_about_something_else_ask_for_nothing(text: str) -> None:
    assert detect_intents(text) == ()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Bring the energy down a bit", "calmer"),  # was energize: "energy" matched, "down" was not read
        ("Take it down a notch", "calmer"),
        ("Dial it back a bit", "calmer"),
        ("Bring the energy up", "energize"),
        ("I need some motivation", "energize"),
        ("Hit me with something loud", "energize"),
        ("Music for meditation", "calmer"),
        ("Something for yoga", "calmer"),
        ("Put on some background music while I read", "focus"),
        ("I'm about to go for a run", "workout"),
        ("Getting ready for a night out", "party"),
    ],
)
def test_more_ways_of_asking(text: str, kind: str) -> None:
    """Requests that asked for nothing, or (the first) for the opposite; their words are not mood."""
    assert [i.kind for i in detect_intents(text)] == [kind]
    assert read_text(text).affect.energy_confidence == 0.0


@pytest.mark.parametrize(
    "text", ["I have no motivation", "I used to go for a run every day", "Bring it back",
             "Take this back to the shop", "They turned it down", "The price came down",
             "Keep the vibes going at work is our motto", "I was going to go for a run but it rained",
             "Let me sleep on it", "Can you believe how loud the neighbours were",
             "Turn left at the next light"]
)  # fmt: skip
def test_the_same_words_in_statements_ask_for_nothing(text: str) -> None:
    assert detect_intents(text) == ()


@pytest.mark.parametrize(
    ("text", "kind"),
    [("Volume down please", "calmer"), ("Volume up!", "energize"), ("Switch it up", "skip"),
     ("Mix things up a bit", "skip")],
)  # fmt: skip
def test_volume_and_switching_it_up(text: str, kind: str) -> None:
    assert [i.kind for i in detect_intents(text)] == [kind]
    assert detect_intents("The volume up there was crazy") == ()
    assert detect_intents("They had to mix it up at the studio") == ()
