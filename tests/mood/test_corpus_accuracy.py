"""Energy and valence on the espeak-ng mood-script corpus, through the real VAD, Whisper and prosody."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.stats import spearmanr

from mood.analyzer import MoodAnalyzer
from mood.audio import load_wav, normalise
from mood.prosody import ProsodyFeatures, SpeakerBaseline, extract_prosody, prosodic_arousal
from mood.stream import utterance_from_samples
from mood.types import MoodEstimate
from tests.support.mood_corpus import VOICES, MoodCorpusItem

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Result:
    item: MoodCorpusItem
    estimate: MoodEstimate
    """Read against the speaker's baseline (warmed on that voice, as a server session would be)."""
    prior_arousal: float
    """Prosodic arousal of the same utterance against the population prior (no baseline)."""


def _prosody(item: MoodCorpusItem) -> ProsodyFeatures:
    samples, rate = load_wav(item.path)
    utt = utterance_from_samples(normalise(samples, rate))
    return extract_prosody(utt.samples, frame_probs=utt.frame_probs, transcript=item.text)


@pytest.fixture(scope="module")
def corpus_results(mood_analyzer: MoodAnalyzer, mood_corpus: list[MoodCorpusItem]) -> list[Result]:
    """Every corpus utterance analysed once; each voice read against its own warmed baseline."""
    # a speaker baseline per voice, warmed on that voice's speech (prosody only: cheap), then frozen:
    # each utterance is analysed against a copy so the order of analysis does not matter
    features = {it.path: _prosody(it) for it in mood_corpus}
    baselines: dict[str, SpeakerBaseline] = {}
    for it in mood_corpus:
        baselines.setdefault(it.voice, SpeakerBaseline()).update(features[it.path])
    frozen = {voice: b.to_dict() for voice, b in baselines.items()}
    results = []
    for it in mood_corpus:
        samples, rate = load_wav(it.path)
        estimate = mood_analyzer.analyze_utterance(
            samples, rate, baseline=SpeakerBaseline.from_dict(frozen[it.voice])
        )
        results.append(Result(it, estimate, prosodic_arousal(features[it.path]).arousal))
    return results


@pytest.mark.parametrize("voice", VOICES)
def test_energy_ranks_with_designed_arousal_within_each_voice(
    corpus_results: list[Result], voice: str
) -> None:
    """Within one voice, Spearman's rho of the energy estimate with the designed arousal level ≥ 0.8."""
    rows = [r for r in corpus_results if r.item.voice == voice]
    assert len(rows) >= 40
    rho = spearmanr([r.item.arousal for r in rows], [r.estimate.energy for r in rows]).statistic
    assert rho >= 0.8, f"{voice}: rho {rho:.3f}"
    means = [np.mean([r.estimate.energy for r in rows if r.item.arousal == level]) for level in range(4)]
    assert means == sorted(means), f"{voice}: mean energy by level {means}"


def test_speaker_baseline_removes_the_voice_difference(corpus_results: list[Result]) -> None:
    """Against the population prior the high female voice reads more energetic than the male voices;
    against each speaker's own baseline the voices' mean energies agree."""
    prior: dict[str, list[float]] = defaultdict(list)
    own: dict[str, list[float]] = defaultdict(list)
    for r in corpus_results:
        prior[r.item.voice].append(r.prior_arousal)
        own[r.item.voice].append(r.estimate.energy)
    prior_gap = np.mean(prior["en-us+f2"]) - np.mean(prior["en-us"])
    own_gap = np.mean(own["en-us+f2"]) - np.mean(own["en-us"])
    assert prior_gap > 0.1
    assert abs(own_gap) < 0.05
    assert all(abs(np.mean(v) - 0.5) < 0.08 for v in own.values())


def test_valence_is_on_the_correct_side_for_valenced_sentences(corpus_results: list[Result]) -> None:
    """For ≥ 85 % of the clearly positive/negative utterances, valence is on the correct side of 0.5."""
    valenced = [r for r in corpus_results if r.item.valence != "neutral"]
    right = [
        r
        for r in valenced
        if (r.estimate.valence > 0.5 and r.item.valence == "positive")
        or (r.estimate.valence < 0.5 and r.item.valence == "negative")
    ]
    share = len(right) / len(valenced)
    wrong = [
        (r.item.text, r.estimate.transcript, round(r.estimate.valence, 2)) for r in valenced if r not in right
    ]
    assert share >= 0.85, f"{share:.0%} right; wrong: {wrong}"


def test_neutral_sentences_stay_near_neutral_valence(corpus_results: list[Result]) -> None:
    """Factual sentences keep valence within 0.15 of neutral, whatever the arousal."""
    neutral = [r.estimate.valence for r in corpus_results if r.item.valence == "neutral"]
    assert np.median(np.abs(np.array(neutral) - 0.5)) < 0.05
    assert np.mean(np.abs(np.array(neutral) - 0.5) < 0.15) >= 0.9


def test_labels_follow_the_design_at_the_extremes(corpus_results: list[Result]) -> None:
    """Positive words said with high arousal are mostly happy/excited; negative words with low arousal
    mostly sad/tired/calm-side labels."""
    high_positive = [
        r.estimate.label for r in corpus_results if r.item.valence == "positive" and r.item.arousal == 3
    ]
    low_negative = [
        r.estimate.label for r in corpus_results if r.item.valence == "negative" and r.item.arousal == 0
    ]
    assert np.mean([lab in ("happy", "excited") for lab in high_positive]) >= 0.7
    assert np.mean([lab in ("sad", "tired") for lab in low_negative]) >= 0.7


def test_voice_gives_energy_confidence_and_words_give_valence_confidence(
    corpus_results: list[Result],
) -> None:
    """Factual sentences: the voice makes energy confident while valence, with no sentiment words, stays
    at 0.5 with confidence 0; valenced sentences are confident on both axes."""
    neutral = [r.estimate for r in corpus_results if r.item.valence == "neutral"]
    assert all(e.valence_confidence == 0.0 and e.valence == 0.5 for e in neutral)
    assert np.mean([e.axis_confidences[1] > 0.5 for e in neutral]) >= 0.9
    valenced = [r.estimate for r in corpus_results if r.item.valence != "neutral"]
    assert np.mean([min(e.axis_confidences) > 0.5 for e in valenced]) >= 0.9


def test_spoken_statements_ask_for_nothing(corpus_results: list[Result]) -> None:
    """None of the corpus's statements ("This is a good day and I love my friends") is read as a request."""
    assert [r.estimate.transcript for r in corpus_results if r.estimate.intents] == []
