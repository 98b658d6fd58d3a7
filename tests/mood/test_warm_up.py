"""The warm-up utterance (issue 14): a real short utterance, shipped with the package, that the warm-up
decodes in its fitted window (no repetition loop, no 30 s re-decode)."""

from __future__ import annotations

import fnmatch
import logging
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from mood.analyzer import MoodAnalyzer
from mood.audio import TARGET_RATE
from mood.transcribe import (
    MAX_WINDOW_S,
    WARM_UP_PATH,
    WARM_UP_TEXT,
    fitted_window_s,
    load_transcriber,
    warm_up_speech,
)

REPO = Path(__file__).resolve().parents[2]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def test_warm_up_asset_is_a_short_16k_utterance_shipped_as_package_data() -> None:
    """The asset is a small 1–2 s 16 kHz mono file, and pyproject's package data for ``mood`` ships it."""
    assert WARM_UP_PATH.parent == REPO / "mood"
    assert WARM_UP_PATH.stat().st_size < 16_000
    samples = warm_up_speech()
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert 1.0 <= samples.shape[0] / TARGET_RATE <= 2.0
    assert 0.1 < float(np.abs(samples).max()) <= 1.0
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert any(fnmatch.fnmatch(WARM_UP_PATH.name, pattern) for pattern in package_data.get("mood", []))


@pytest.mark.integration
def test_warm_up_speech_decodes_cleanly_in_its_fitted_window(caplog: pytest.LogCaptureFixture) -> None:
    """tiny.en hears the asset's words in the fitted window, with aligned words, and does not fall back
    to the 30 s re-decode (the old synthetic signal looped in the 4 s window and always did)."""
    samples = warm_up_speech()
    caplog.set_level(logging.INFO, logger="mood.transcribe")
    transcript = load_transcriber("faster-whisper").transcribe(samples)
    assert transcript.window_s == fitted_window_s(samples.shape[0] / TARGET_RATE) < MAX_WINDOW_S
    assert _words(transcript.text) == _words(WARM_UP_TEXT)
    assert len(transcript.words) == len(_words(WARM_UP_TEXT))  # the word alignment ran too
    assert not [r for r in caplog.records if "re-decoding" in r.getMessage()]


@pytest.mark.integration
def test_analyzer_warm_up_runs_the_live_path_without_the_fallback(
    mood_analyzer: MoodAnalyzer, caplog: pytest.LogCaptureFixture
) -> None:
    """warm_up() streams the utterance (VAD and prosody while it arrives), decodes it in a fitted
    window and reads its text: the estimate it returns shows every stage ran, none at 30 s."""
    caplog.set_level(logging.INFO, logger="mood.transcribe")
    estimate = mood_analyzer.warm_up()
    utterance = estimate.evidence["utterance"]
    assert utterance["prosody_streamed"] == 1.0
    assert utterance["window_s"] == fitted_window_s(utterance["duration_s"]) < MAX_WINDOW_S
    assert _words(estimate.transcript) == _words(WARM_UP_TEXT)
    assert {"asr", "prosody", "text", "fusion"} <= set(estimate.evidence["timing_ms"])
    assert estimate.valence > 0.5  # "good" reached the text affect
    assert not [r for r in caplog.records if "re-decoding" in r.getMessage()]
