"""Shared fixtures of the mood tests: the espeak-ng mood-script corpus and the real analyzer (session scope)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mood.analyzer import MoodAnalyzer, MoodConfig
from tests.support.mood_corpus import MoodCorpusItem, build_mood_corpus


@pytest.fixture(scope="session")
def mood_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the full corpus (WAVs + index.json), generated once per test run."""
    out = tmp_path_factory.mktemp("mood-corpus")
    build_mood_corpus(out)
    return out


@pytest.fixture(scope="session")
def mood_corpus(mood_corpus_dir: Path) -> list[MoodCorpusItem]:
    """Every corpus item (voice × sentence × arousal level), ordered by voice, sentence, level.

    Each item has ``path`` (16-bit mono WAV, 22 050 Hz), ``text``, ``voice``, ``arousal`` (0–3) and
    ``valence`` ("positive" / "negative" / "neutral"); see tests/support/mood_corpus.py.
    """
    from tests.support.mood_corpus import load_index

    return load_index(mood_corpus_dir)


@pytest.fixture(scope="session")
def mood_analyzer() -> Iterator[MoodAnalyzer]:
    """The real analyzer (bundled Whisper tiny.en on faster-whisper, Silero VAD), warmed once."""
    analyzer = MoodAnalyzer(MoodConfig())
    analyzer.warm_up()
    yield analyzer
    analyzer.close()
