"""MoodAnalyzer without Whisper: the typed-text path, and the prosody a stream measures for its utterances."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import fields, replace
from typing import Any

import numpy as np
import pytest

import mood.analyzer
from mood.analyzer import MoodAnalyzer
from mood.audio import load_wav
from mood.stream import Utterance
from mood.types import MoodEstimate
from tests.support.mood_corpus import MoodCorpusItem


@pytest.fixture(scope="module")
def analyzer() -> Iterator[MoodAnalyzer]:
    """An analyzer whose Whisper is never loaded (text and streams only)."""
    mood_analyzer = MoodAnalyzer()
    yield mood_analyzer
    mood_analyzer.close()


def test_analyze_text_sets_both_axis_confidences(analyzer: MoodAnalyzer) -> None:
    """Typed text gives per-axis confidences; an axis without evidence stays at 0.5 with confidence 0."""
    wired = analyzer.analyze_text("I'm so wired right now!")  # no valence word ("pumped" is pleasant)
    assert wired.valence_confidence == 0.0 and wired.valence == 0.5
    assert wired.energy_confidence is not None and wired.energy_confidence > 0.6
    assert wired.energy > 0.75 and wired.label == "excited"
    sad = analyzer.analyze_text("I feel sad and lonely today")
    assert sad.label == "sad" and sad.energy < 0.4
    assert analyzer.analyze_text("I'm not happy").label == "down"


def test_analyze_text_takes_request_words_out_of_the_mood(analyzer: MoodAnalyzer) -> None:
    """'Something calmer please, I'm stressed' asks for calmer and reads tense from 'I'm stressed' alone."""
    est = analyzer.analyze_text("Something calmer please, I'm stressed")
    assert [i.kind for i in est.intents] == ["calmer"]
    assert est.label == "tense"
    assert est.evidence["text"]["request_words"] == 3.0
    only = analyzer.analyze_text("play something calmer")
    assert only.axis_confidences == (0.0, 0.0) and only.label == "neutral"


def test_analyze_text_builds_its_evidence_without_mutating_the_fused_estimate(
    analyzer: MoodAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The returned estimate carries timing evidence; the estimate fusion built is left as it was."""
    fused: list[tuple[MoodEstimate, dict[str, Any]]] = []
    real_fuse = mood.analyzer.fuse

    def recording_fuse(*args: Any, **kwargs: Any) -> MoodEstimate:
        estimate = real_fuse(*args, **kwargs)
        fused.append((estimate, copy.deepcopy(estimate.evidence)))
        return estimate

    monkeypatch.setattr(mood.analyzer, "fuse", recording_fuse)
    est = analyzer.analyze_text("I'm exhausted")
    ((inner, evidence_at_fusion),) = fused
    assert inner.evidence == evidence_at_fusion  # not touched afterwards
    assert "timing_ms" not in inner.evidence
    assert {"text", "fusion"} <= set(est.evidence["timing_ms"])
    assert est.evidence["text"] == inner.evidence["text"]


def test_stream_utterances_carry_their_prosody_frames(
    analyzer: MoodAnalyzer, mood_corpus: list[MoodCorpusItem]
) -> None:
    """An utterance from open_stream carries the frames measured while it streamed (a copy keeps
    them); the same audio as a plain Utterance carries none."""
    item = next(it for it in mood_corpus if it.voice == "en-us" and it.arousal == 2)
    samples, rate = load_wav(item.path)
    pcm = (np.concatenate([samples, np.zeros(rate, np.float32)]) * 32767).astype("<i2").tobytes()
    stream = analyzer.open_stream(rate, 1, "s16le")
    chunk = int(rate * 0.02) * 2
    events = [e for i in range(0, len(pcm), chunk) for e in stream.feed(pcm[i : i + chunk])]
    events += stream.finish()
    (utterance,) = [e for e in events if isinstance(e, Utterance)]
    frames = getattr(utterance, "prosody_frames", None)
    assert frames is not None and len(frames) > 0
    assert getattr(replace(utterance), "prosody_frames", None) is frames
    plain = Utterance(**{f.name: getattr(utterance, f.name) for f in fields(Utterance)})
    assert getattr(plain, "prosody_frames", None) is None
