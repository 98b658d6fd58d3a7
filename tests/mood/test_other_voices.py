"""The voice path on voices and sentences the mood corpus does not have (held out from everything the
reader was tuned on): espeak-ng's Lancastrian and New York voices saying eight new sentences at the
corpus's four arousal levels, through the real VAD, Whisper tiny.en and prosody, each voice read
against its own warmed baseline. The same targets as the corpus (tests/mood/test_corpus_accuracy.py);
docs/mood.md has the figures, with three more voices measured by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from mood.analyzer import MoodAnalyzer, MoodConfig
from mood.audio import load_wav, normalise
from mood.prosody import SpeakerBaseline, extract_prosody
from mood.stream import utterance_from_samples
from mood.transcribe import VOCABULARY_PROMPT
from mood.types import MoodEstimate
from tests.support.mood_corpus import AROUSAL_LEVELS, VOICES, ValenceClass, said_at_the_extremes, synthesize

pytestmark = pytest.mark.slow

OTHER_VOICES = ("en-gb-x-gbclan", "en-us-nyc")

NEW_SENTENCES: tuple[tuple[str, ValenceClass], ...] = (
    ("My sister just had a baby girl and we are all so happy.", "positive"),
    ("I love this city, the people here are so kind.", "positive"),
    ("We had a beautiful dinner with old friends tonight.", "positive"),
    ("I lost my wallet and the whole trip is ruined.", "negative"),
    ("My best friend is moving away and I feel awful.", "negative"),
    ("The doctor called with bad news about my father.", "negative"),
    ("The train leaves from platform four at nine.", "neutral"),
    ("Please put the boxes next to the kitchen door.", "neutral"),
)
"""Written for this test, not chosen for Whisper reading them back right."""


@pytest.fixture(scope="module")
def readings(
    mood_analyzer: MoodAnalyzer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[tuple[int, ValenceClass, MoodEstimate]]]:
    """(designed arousal, valence class, estimate) for every utterance, by voice."""
    folder = tmp_path_factory.mktemp("other-voices")
    out: dict[str, list[tuple[int, ValenceClass, MoodEstimate]]] = {}
    for voice in OTHER_VOICES:
        items = []
        for n, (text, valence) in enumerate(NEW_SENTENCES):
            for level in AROUSAL_LEVELS:
                path = synthesize(text, voice, level, folder / f"{voice}-{n}-{level.level}.wav")
                items.append((path, text, valence, level.level))
        baseline = SpeakerBaseline()
        for path, text, _, _ in items:
            samples, rate = load_wav(path)
            utt = utterance_from_samples(normalise(samples, rate))
            baseline.update(extract_prosody(utt.samples, frame_probs=utt.frame_probs, transcript=text))
        frozen = baseline.to_dict()
        out[voice] = []
        for path, _, valence, level_index in items:
            samples, rate = load_wav(path)
            estimate = mood_analyzer.analyze_utterance(
                samples, rate, baseline=SpeakerBaseline.from_dict(frozen)
            )
            out[voice].append((level_index, valence, estimate))
    return out


def test_the_voices_are_not_the_corpus_voices() -> None:
    assert not set(OTHER_VOICES) & set(VOICES)


@pytest.mark.parametrize("voice", OTHER_VOICES)
def test_energy_ranks_with_designed_arousal_on_other_voices(
    readings: dict[str, list[tuple[int, ValenceClass, MoodEstimate]]], voice: str
) -> None:
    """Spearman's rho of energy with the designed arousal ≥ 0.8 within each voice, means in order."""
    rows = readings[voice]
    rho = spearmanr([level for level, _, _ in rows], [e.energy for _, _, e in rows]).statistic
    assert rho >= 0.8, f"{voice}: rho {rho:.3f}"
    means = [np.mean([e.energy for level, _, e in rows if level == k]) for k in range(len(AROUSAL_LEVELS))]
    assert means == sorted(means), f"{voice}: mean energy by level {means}"


def test_valence_side_on_new_sentences(
    readings: dict[str, list[tuple[int, ValenceClass, MoodEstimate]]],
) -> None:
    """≥ 85 % of the valenced utterances on the right side of 0.5 (transcription errors included)."""
    valenced = [(v, e) for rows in readings.values() for _, v, e in rows if v != "neutral"]
    right = [(e.valence > 0.5) if v == "positive" else (e.valence < 0.5) for v, e in valenced]
    wrong = [
        (e.transcript, round(e.valence, 2)) for ok, (_, e) in zip(right, valenced, strict=True) if not ok
    ]
    assert sum(right) / len(valenced) >= 0.85, wrong


def test_statements_on_other_voices_ask_for_nothing(
    readings: dict[str, list[tuple[int, ValenceClass, MoodEstimate]]],
) -> None:
    """ "I love this city …" is no like, "put the boxes next to the kitchen door" no skip."""
    asked = [
        (e.transcript, [i.kind for i in e.intents])
        for rows in readings.values()
        for *_, e in rows
        if e.intents
    ]
    assert asked == []


HELD_OUT_VOICES = ("en-gb-x-gbcwmd", "en-us+m5")
REQUESTS: tuple[tuple[str, frozenset[str]], ...] = (
    ("Can you put on something relaxing.", frozenset({"calmer"})),
    ("Next song please.", frozenset({"skip"})),
    ("I want to dance tonight, play some dance music.", frozenset({"party"})),
    ("Could you play something happier.", frozenset({"cheer_up"})),
    ("Pause the music.", frozenset({"stop"})),
    ("This track is great.", frozenset({"like"})),
    ("I'm heading to the gym.", frozenset({"workout"})),
    ("Something quieter please.", frozenset({"calmer"})),
    ("Give me some energetic music.", frozenset({"energize"})),
    ("I need to study now.", frozenset({"focus"})),
)
STATEMENTS = (
    "I walked the dog in the park this morning.",
    "My brother is coming home for the holidays.",
    "The kitchen light is broken again.",
    "We bought a new sofa for the living room.",
    "I called my mother after lunch.",
    "The bakery on the corner sells fresh bread.",
)
"""Requests and statements the vocabulary prompt was not written with, said by two more voices."""


def test_the_vocabulary_prompt_hears_more_requests(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Side by side on the same utterances (lowest and highest arousal): with ``asr_prompt`` more
    spoken requests are read right than without, and no statement becomes a request."""
    prompted = MoodAnalyzer(MoodConfig(asr_prompt=True))
    plain = MoodAnalyzer(MoodConfig(second_hearing=False))  # one decode, no prompt
    assert getattr(prompted.transcriber(), "prompt", None) == VOCABULARY_PROMPT
    assert getattr(plain.transcriber(), "prompt", None) is None
    folder = tmp_path_factory.mktemp("held-out-requests")
    right = {"plain": 0, "prompted": 0}
    asked: list[str] = []
    for _, kinds, samples, rate in said_at_the_extremes(HELD_OUT_VOICES, REQUESTS, STATEMENTS, folder):
        for name, analyzer in (("plain", plain), ("prompted", prompted)):
            estimate = analyzer.analyze_utterance(samples, rate)
            got = {i.kind for i in estimate.intents}
            if kinds:
                right[name] += got == kinds
            elif got and name == "prompted":
                asked.append(estimate.transcript)
    prompted.close()
    plain.close()
    assert right["prompted"] > right["plain"], right
    assert asked == []
