"""Text affect: VADER valence and the arousal lexicon with negation and degree words."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mood.text import (
    AROUSAL_LEXICON,
    NEGATION_CANCELS,
    VALENCE_LEXICON,
    read_text,
    tells_others_feelings,
    text_affect,
    tokenize,
)


@pytest.mark.parametrize(
    "text", ["I feel wonderful today", "what a lovely surprise, thank you", "this is the best day ever"]
)
def test_positive_words_read_pleasant(text: str) -> None:
    """Clearly positive text has valence above 0.5 with real confidence."""
    affect = text_affect(text)
    assert affect.valence > 0.65
    assert affect.valence_confidence > 0.5


@pytest.mark.parametrize("text", ["I feel terrible", "this is awful and I hate it", "I am so sad and lonely"])
def test_negative_words_read_unpleasant(text: str) -> None:
    """Clearly negative text has valence below 0.5."""
    assert text_affect(text).valence < 0.35


def test_neutral_text_is_neutral_with_no_confidence() -> None:
    """A factual sentence is 0.5/0.5 with zero confidence on both axes; so is empty text."""
    for text in ("The car is parked in front of the house.", "", "   "):
        affect = text_affect(text)
        assert (affect.valence, affect.energy) == (0.5, 0.5)
        assert affect.valence_confidence == affect.energy_confidence == 0.0


def test_energy_words_move_energy() -> None:
    """Fatigue and calm words lower energy; activation and activity words raise it."""
    assert text_affect("I'm exhausted").energy < 0.2
    assert text_affect("feeling sleepy and calm").energy < 0.3
    assert text_affect("I'm pumped, let's party").energy > 0.8
    assert text_affect("I am furious").energy > 0.8
    assert text_affect("I'm exhausted").energy_confidence > 0.5


def test_negation_flips_energy_to_the_other_side_at_half_distance() -> None:
    """'not tired' is somewhat energetic (not wired); 'not calm' is somewhat aroused."""
    tired, not_tired = text_affect("I'm tired"), text_affect("I'm not tired")
    assert tired.energy < 0.5 < not_tired.energy
    assert not_tired.energy - 0.5 == pytest.approx((0.5 - AROUSAL_LEXICON["tired"]) / 2)
    assert text_affect("I don't feel calm at all").energy > 0.5
    assert text_affect("never sleepy").energy > 0.5


def test_negation_does_not_cross_a_clause() -> None:
    """In "I'm not sad, just tired" the negation stays with "sad": tired still lowers energy."""
    assert text_affect("I'm not sad, just tired").energy < 0.3


def test_intensifiers_and_diminishers_scale_distance_from_neutral() -> None:
    """'so tired' < 'tired' < 'a bit tired' < 0.5 in energy."""
    so, plain, bit = (text_affect(t).energy for t in ("I'm so tired", "I'm tired", "I'm a bit tired"))
    assert so < plain < bit < 0.5
    assert text_affect("kind of excited").energy < text_affect("excited").energy


def test_two_word_expressions() -> None:
    """'worn out' and 'fired up' are energy phrases, not their separate words."""
    assert text_affect("totally worn out").energy < 0.15
    assert text_affect("fired up").energy > 0.85


@pytest.mark.parametrize(
    "text",
    [
        "I feel sad and lonely today",
        "I'm depressed",
        "I miss her",
        "I just want to cry",
        "completely drained",
        "I'm exhausted",
        "feeling really down",
        "I have no energy",
        "I don't have any energy",
        "I'm running on empty",
    ],
)
def test_low_arousal_unpleasant_words_lower_energy(text: str) -> None:
    """Sadness, loneliness, crying and fatigue are low-energy evidence (they used to leave energy at 0.5)."""
    affect = text_affect(text)
    assert affect.energy < 0.4
    assert affect.energy_confidence > 0.3


@pytest.mark.parametrize(
    "text",
    [
        "I'm full of energy",
        "let's go!",
        "I want to scream",
        "I'm so pumped right now!",
        "I can't sit still",
        "bouncing off the walls",
        "I'm freaking out",
        "can't wait for tonight",
    ],
)
def test_high_arousal_expressions_raise_energy(text: str) -> None:
    """Multi-word and single-word high-arousal expressions are high-energy evidence."""
    affect = text_affect(text)
    assert affect.energy > 0.7
    assert affect.energy_confidence > 0.4


def test_negation_cancels_feelings_but_flips_states() -> None:
    """'not sad' and 'not angry' say nothing about energy; 'not tired at all' is above neutral."""
    for text in ("I'm not sad", "I'm not angry", "I'm not excited", "not going to the gym"):
        assert text_affect(text).energy_confidence == 0.0, text
    assert text_affect("I'm not tired at all").energy > text_affect("I'm not tired").energy > 0.5


def test_longest_expression_wins() -> None:
    """'running on empty' is fatigue, not the activity 'running'; 'no energy' is not 'energy' negated."""
    assert text_affect("I'm running on empty").hits[0].phrase == "running on empty"
    assert text_affect("I have no energy").hits[0].phrase == "no energy"


def test_an_expression_reaching_further_wins_over_an_overlapping_one() -> None:
    """'feeling low on energy' is 'low on energy' (low), not 'feeling low' plus 'energy' (high), which
    averaged to a confident neutral; the negation still reaches it."""
    for text in ("I'm feeling low on energy", "feeling really low on energy today"):
        affect = text_affect(text)
        assert [h.phrase for h in affect.hits] == ["low on energy"], text
        assert affect.energy < 0.3, text
    assert text_affect("I'm not feeling low on energy").energy > 0.5
    assert [h.phrase for h in text_affect("I'm feeling low").hits] == ["feeling low"]


def test_valence_reads_listener_expressions_vader_lacks() -> None:
    """'feeling down' is unpleasant and 'fired up' pleasant (VADER alone: neutral and negative)."""
    assert text_affect("I'm feeling down").valence < 0.4
    assert text_affect("I'm fired up").valence > 0.6
    assert text_affect("I'm fed up").valence < 0.4


def test_negation_in_valence_stays_in_its_clause() -> None:
    """'not calm' does not flip the next clause's 'freaking out'; 'can't stop smiling' is pleasant."""
    assert text_affect("I'm not calm, I'm freaking out").valence < 0.4
    assert text_affect("I can't stop smiling today").valence > 0.6


def test_excluded_spans_are_not_evidence() -> None:
    """With the request's characters excluded, only the rest of the text is read."""
    text = "Something calmer please, I'm stressed"
    whole = text_affect(text)
    rest = text_affect(text, exclude=[(0, len("Something calmer please"))])
    assert any(h.phrase == "calmer" for h in whole.hits)
    assert [h.phrase for h in rest.hits] == ["stressed"]
    assert rest.energy > 0.6 and rest.valence < 0.45
    assert rest.request_words == 3


def test_read_text_reads_mood_from_the_words_a_request_did_not_take() -> None:
    """A request's words are not mood evidence; a statement's words are, and ask for nothing."""
    request = read_text("Something calmer please, I'm stressed")
    assert [i.kind for i in request.intents] == ["calmer"]
    assert request.affect.energy > 0.6 and request.affect.valence < 0.45
    only_request = read_text("play something calm")
    assert only_request.affect.energy_confidence == 0.0
    assert only_request.affect.valence_confidence == 0.0
    statement = read_text("It's a lovely calm Sunday morning")
    assert statement.intents == ()
    assert statement.affect.energy < 0.4 and statement.affect.valence > 0.6


def test_lexicons_are_well_formed() -> None:
    """Entries are lower-case words on their scales; negation-cancelled entries are lexicon entries."""
    for phrase, energy in AROUSAL_LEXICON.items():
        assert phrase == phrase.lower().strip() and 0.0 <= energy <= 1.0
        assert tokenize(phrase) == phrase.split(), phrase
    assert NEGATION_CANCELS.issubset(AROUSAL_LEXICON)
    assert all(-4.0 <= v <= 4.0 and k == k.lower() for k, v in VALENCE_LEXICON.items())


def test_tokenize_keeps_contractions() -> None:
    """Curly apostrophes are folded and contractions stay one token."""
    assert tokenize("I DON\u2019T feel calm, it's fine") == ["i", "don't", "feel", "calm", "it's", "fine"]


def test_evidence_is_numbers_only() -> None:
    """to_dict holds only floats (it goes into MoodEstimate.evidence)."""
    assert all(isinstance(v, float) for v in text_affect("so tired, not happy").to_dict().values())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_values_on_the_scale(text: str) -> None:
    """Arbitrary unicode never raises and stays on the 0–1 scales."""
    affect = text_affect(text)
    for value in (affect.valence, affect.valence_confidence, affect.energy, affect.energy_confidence):
        assert 0.0 <= value <= 1.0


@pytest.mark.parametrize(
    ("marked", "plain"),
    [
        ("Yeah, I'm exhausted", "I'm exhausted"),
        ("Ok I'm tired", "I'm tired"),
        ("Honestly I'm furious with my landlord", "I'm furious with my landlord"),
        ("Well, I feel sad", "I feel sad"),
    ],
)
def test_discourse_markers_carry_no_valence(marked: str, plain: str) -> None:
    """A marker opening a clause ("yeah,", "ok", "honestly", "well,"), which VADER scores pleasant,
    leaves the reading as it is without it; "well" as a word keeps its meaning."""
    assert text_affect(marked).valence == pytest.approx(text_affect(plain).valence, abs=0.02)
    assert text_affect("I'm doing well").valence > 0.55


@pytest.mark.parametrize(
    ("text", "low_valence", "energy_side"),
    [
        ("I can't stop crying", True, -1),
        ("I can't shake this anxiety", True, 1),
        ("I can't help feeling sad", True, -1),
    ],
)
def test_double_negations_keep_the_feeling(text: str, low_valence: bool, energy_side: int) -> None:
    """ "can't stop / shake / help" does not negate the feeling after it."""
    affect = text_affect(text)
    assert (affect.valence < 0.4) is low_valence
    assert (affect.energy - 0.5) * energy_side > 0.15 and affect.energy_confidence > 0.3


@pytest.mark.parametrize(
    ("text", "pleasant"),
    [
        ("My best friend is moving away and I feel awful.", False),
        ("My dog died last week, but today I feel great", True),
        ("The weather is lovely and I'm miserable", False),
    ],
)
def test_the_listeners_own_state_outweighs_the_topic(text: str, pleasant: bool) -> None:
    """Where a clause says how the listener is ("I feel awful"), the clauses about someone or something
    else count a quarter as much: VADER alone reads the first sentence pleasant ("best", "friend")."""
    assert (text_affect(text).valence > 0.5) is pleasant


@pytest.mark.parametrize(
    ("clause", "theirs"),
    [
        ("My brother is furious about the game", True),
        ("She's been really depressed lately", True),
        ("Everyone at the party was having a blast", True),
        ("He said he was exhausted after the shift", True),
        ("My best friend feels lonely", True),
        ("His new album sounds angry and loud", True),
        ("My dog died this morning", False),  # what happened, not how they feel
        ("My dog is sick", False),
        ("My team is winning", False),
        ("My heart is racing", False),  # the listener's own
        ("My friends and I are so excited", False),  # the listener among the subjects
        ("He's driving me crazy", False),  # acting on the listener
        ("They always get me so stressed", False),
        ("My coworkers are so rude", False),  # the listener's judgement
        ("My boyfriend is being so annoying today", False),
        ("I'm furious at my brother", False),
        ("It's a lovely calm morning", False),
    ],
)
def test_another_person_s_feelings_are_told_apart(clause: str, theirs: bool) -> None:
    """A clause telling how someone else feels is theirs; what happened to them, the listener among
    them, someone acting on the listener or the listener's judgement of them are the listener's."""
    assert tells_others_feelings(clause) is theirs


def test_another_person_s_feelings_move_nothing() -> None:
    """A sentence about someone else's feelings reads no evidence; beside the listener's own, the
    listener's decides."""
    theirs = text_affect("My brother is furious about the game")
    assert theirs.valence_confidence == 0.0 and theirs.energy_confidence == 0.0
    mixed = text_affect("My friend is sad but I'm doing great")
    assert mixed.valence > 0.6 and mixed.valence_confidence > 0.3
    assert mixed.valence == pytest.approx(text_affect("but I'm doing great").valence)  # "sad" adds nothing


@pytest.mark.parametrize(
    ("text", "side"),
    [
        ("my energy is low", -1),
        ("My energy is really low today", -1),
        ("my energy's gone", -1),
        ("my energy levels have been low all week", -1),
        ("honestly my energy is kind of down", -1),
        ("energy levels are high", 1),
        ("my energy is up again", 1),
        ("my energy isn't that high", -1),
        ("my energy is not low at all", 1),
    ],
)
def test_what_the_energy_is_said_to_be_is_the_reading(text: str, side: int) -> None:
    """ "my energy is low" is low energy (the bare word "energy" alone reads as having some), with its
    degree words and negation; the level sits on the side it names."""
    affect = text_affect(text)
    assert (affect.energy - 0.5) * side > 0.05, affect
    assert affect.energy_confidence > 0.3


@pytest.mark.parametrize(
    "text",
    ["our energy bill is high", "the energy drink is gone", "Energy prices went up again", "an energy bar"],
)
def test_energy_as_a_thing_is_no_evidence(text: str) -> None:
    """ "energy bill", "energy drink": a thing, not the listener's energy, and not pleasant (VADER
    alone scores the word "energy" as pleasant)."""
    affect = text_affect(text)
    assert affect.energy_confidence == 0.0 and not affect.hits, affect
    assert affect.valence == pytest.approx(0.5, abs=0.02), affect


def test_the_listener_s_energy_next_to_a_thing_is_still_read() -> None:
    """The thing is skipped, the feeling beside it is not: "I need an energy drink, I'm exhausted"."""
    affect = text_affect("I need an energy drink, I'm exhausted")
    assert affect.energy < 0.2 and affect.energy_confidence > 0.5, affect
    assert text_affect("I have so much energy").energy > 0.75


def test_not_staying_awake_is_sleepy_not_half_awake() -> None:
    """ "I can't stay awake" read 0.46 (a negated "awake"); it is as sleepy as "can't keep my eyes open"."""
    assert text_affect("I can't stay awake").energy == pytest.approx(
        text_affect("I can't keep my eyes open").energy
    )
    assert text_affect("I can't stay awake").energy < 0.2


def test_hungover_and_so_done_are_low_and_unpleasant() -> None:
    """ "I'm hungover" read no energy evidence, "I'm so done with today" read nothing at all."""
    for text in ("I'm hungover", "I'm so done with today"):
        affect = text_affect(text)
        assert affect.energy < 0.35 and affect.energy_confidence > 0.3, (text, affect)
        assert affect.valence < 0.4, (text, affect)


def test_lying_in_bed_is_where_one_lies_not_a_lie() -> None:
    """VADER scores "lying" as telling lies (-2.4): "Lying in bed, half asleep" read sad. Where one
    lies is no valence evidence; lying to someone still is."""
    assert text_affect("I'm lying on the couch").valence_confidence == 0.0
    bed = text_affect("Lying in bed, half asleep")
    assert bed.valence == pytest.approx(0.5, abs=0.02) and bed.energy < 0.3, bed
    assert text_affect("Stop lying to me").valence < 0.3


def test_an_energy_level_reads_its_degree_words() -> None:
    """ "really low" is lower than "low", "kind of low" higher (closer to neutral)."""
    low = text_affect("my energy is low").energy
    assert (
        text_affect("my energy is really low").energy
        < low
        < text_affect("my energy is kind of low").energy
        < 0.5
    )


@pytest.mark.parametrize(
    "text", ["It's my birthday!", "Got the job!!", "We won the match!", "I'm getting married tomorrow!",
             "Just got promoted!", "I passed my driving test!"]
)  # fmt: skip
def test_good_news_is_pleasant_and_lively(text: str) -> None:
    """Good news told as it happens read no energy (birthday, the job, a wedding: nothing at all)."""
    affect = text_affect(text)
    assert affect.valence > 0.65 and affect.valence_confidence > 0.5, affect
    assert affect.energy > 0.6 and affect.energy_confidence > 0.3, affect


@pytest.mark.parametrize(
    ("text", "valence_side", "energy_side"),
    [
        ("Honestly I'm feeling pretty meh", -1, -1),
        ("I'm feeling kind of blah", -1, -1),
        ("Nothing matters anymore", -1, -1),
        ("What's the point of anything", -1, -1),
        ("I just finished a marathon and I'm wrecked", -1, -1),
        ("My boss yelled at me again", -1, 1),
        ("Can't sleep, my mind is racing", -1, 1),
        ("I can't sleep", -1, 1),
        ("I'm a bit under the weather", -1, -1),
        ("I'm literally dying of boredom", -1, -1),
    ],
)
def test_plain_spoken_states_read_their_quadrant(text: str, valence_side: int, energy_side: int) -> None:
    """Everyday ways of saying how one is that read nothing on an axis (or "Nothing matters" as
    neutral): each reads on the side it says, with evidence."""
    affect = text_affect(text)
    assert (affect.valence - 0.5) * valence_side > 0.05 and affect.valence_confidence > 0.25, affect
    assert (affect.energy - 0.5) * energy_side > 0.05 and affect.energy_confidence > 0.25, affect


def test_wrecked_is_the_listener_s_fatigue_not_a_car_s() -> None:
    """ "I'm (so) wrecked" is tired; "my car got wrecked" says nothing of the listener's energy."""
    assert text_affect("I'm so wrecked").energy < 0.3
    assert text_affect("feeling totally wrecked").energy < 0.3
    assert text_affect("My car got wrecked").energy_confidence == 0.0


def test_feeling_nostalgic_is_quiet() -> None:
    affect = text_affect("Feeling nostalgic tonight")
    assert affect.energy < 0.45 and affect.energy_confidence > 0.3, affect


def test_understatements_and_dead_tired_read_as_meant() -> None:
    """ "Could be better" and "I can't be bothered" read happy (VADER: "better", a negated
    "bothered"); "I'm dead tired" read as grief-level unhappiness ("dead" −3.3), not fatigue."""
    assert text_affect("Could be better").valence < 0.45
    bothered = text_affect("I can't be bothered")
    assert bothered.valence < 0.45 and bothered.energy < 0.4 and bothered.energy_confidence > 0.3
    tired = text_affect("I'm dead tired")
    assert tired.energy < 0.25 and tired.valence > 0.3, tired


def test_tears_of_joy_are_not_sadness() -> None:
    """ "I'm so happy I could cry" read low energy ("cry" 0.30); happy tears are lively and pleasant,
    sad ones still low."""
    for text in ("I'm so happy I could cry", "tears of joy!", "Happy tears today"):
        affect = text_affect(text)
        assert affect.valence > 0.65 and affect.energy > 0.55, (text, affect)
    sad = text_affect("I'm so sad I could cry")
    assert sad.valence < 0.3 and sad.energy < 0.4


@pytest.mark.parametrize("text", ["Let me sleep on it", "We're running out of time", "We ran out of milk"])
def test_idioms_are_not_the_activity(text: str) -> None:
    """ "sleep on it" is deciding later, "running out of" is having little left: no energy evidence."""
    assert text_affect(text).energy_confidence == 0.0
