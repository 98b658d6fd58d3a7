"""Text affect: VADER valence and the arousal lexicon with negation and degree words."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mood.text import AROUSAL_LEXICON, text_affect, tokenize


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
