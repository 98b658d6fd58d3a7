"""mood.endpoint: the endpoint policy (pure) and its pitch cue on synthetic glides with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from mood.endpoint import (
    TRAILING_WORDS,
    EndpointSettings,
    classify_text,
    decide_endpoint,
    final_pitch_fall_st,
    silence_needed_ms,
)
from mood.prosody import measure_frames

SETTINGS = EndpointSettings()


@pytest.mark.parametrize(
    "text",
    ["Play something calm.", "I feel wonderful today!", "Can you skip this song?", "something calmer please"],
)
def test_a_finished_sentence_or_request_is_complete(text: str) -> None:
    """Terminal punctuation, or a request without it, reads as complete."""
    assert classify_text(text) == "complete"


@pytest.mark.parametrize(
    "text",
    [
        "I want something calm and",
        "I want something calm and.",  # Whisper's period after a trailing "and" does not finish it
        "Play something, um",
        "Play something, uh.",
        "I had a long day at work, so",
        "Put on the",
        "Something calm,",
        "I was thinking…",
        "Play me something for",
    ],
)
def test_a_trailing_conjunction_filler_or_comma_is_unfinished(text: str) -> None:
    """A partial ending on "and", "um", an article, a preposition or a comma is unfinished."""
    assert classify_text(text) == "unfinished"


def test_words_without_an_ending_are_open_and_nothing_is_empty() -> None:
    """Unpunctuated words that do not dangle are "open"; no words at all is "empty"."""
    assert classify_text("everything went wrong") == "open"
    assert classify_text("  ") == "empty" and classify_text("...") == "empty"


def test_a_complete_sentence_closes_before_the_upper_bound() -> None:
    """A complete sentence closes after complete_ms, sooner still when the voice fell, never at the bound."""
    text = "I feel wonderful today."
    assert decide_endpoint(text, SETTINGS.complete_ms - 1, SETTINGS) == "wait"
    assert decide_endpoint(text, SETTINGS.complete_ms, SETTINGS) == "close"
    falling = SETTINGS.falling_st - 1.0
    assert decide_endpoint(text, SETTINGS.complete_falling_ms, SETTINGS, pitch_fall_st=falling) == "close"
    assert decide_endpoint(text, SETTINGS.complete_falling_ms, SETTINGS, pitch_fall_st=0.5) == "wait"
    assert SETTINGS.complete_falling_ms < SETTINGS.complete_ms < SETTINGS.max_silence_ms


@pytest.mark.parametrize("text", ["I want something calm and", "Play something, um", "Put on the"])
def test_a_trailing_and_or_um_waits_for_the_upper_bound(text: str) -> None:
    """After "and", "um" or an article the policy waits the full upper bound, whatever the pitch."""
    for silence_ms in (SETTINGS.complete_falling_ms, SETTINGS.complete_ms, SETTINGS.open_ms, 599):
        assert decide_endpoint(text, silence_ms, SETTINGS, pitch_fall_st=-6.0) == "wait"
    assert decide_endpoint(text, SETTINGS.max_silence_ms, SETTINGS) == "close"


def test_no_partial_waits_for_the_upper_bound() -> None:
    """Until a decode has heard the pause the policy waits exactly as the fixed endpointer would."""
    assert decide_endpoint(None, SETTINGS.max_silence_ms - 1, SETTINGS) == "wait"
    assert decide_endpoint(None, SETTINGS.max_silence_ms, SETTINGS) == "close"


@pytest.mark.parametrize("upper_ms", [100, 200, 300, 450, 600, 1000])
@pytest.mark.parametrize(
    "text", [None, "", "Play something calm.", "everything went wrong", "calm and", "I am so sad"]
)
def test_never_waits_beyond_the_upper_bound(upper_ms: int, text: str | None) -> None:
    """Whatever was said and however the voice moved, the utterance closes at --endpoint-silence-ms."""
    settings = EndpointSettings(max_silence_ms=upper_ms)
    for fall in (None, -8.0, 0.0, 5.0):
        needed = silence_needed_ms(text, settings, pitch_fall_st=fall)
        assert needed <= upper_ms
        assert decide_endpoint(text, upper_ms, settings, pitch_fall_st=fall) == "close"


def test_settings_refuse_non_positive_silences() -> None:
    """A zero or negative threshold is a configuration error."""
    with pytest.raises(ValueError):
        EndpointSettings(complete_ms=0)


def test_trailing_words_are_lower_case_single_words() -> None:
    """The trailing-word set is matched against lower-cased words, one word per entry."""
    assert all(w == w.lower() and " " not in w for w in TRAILING_WORDS)
    assert {"and", "um", "the", "to"} <= TRAILING_WORDS


def _glide(f0_start_hz: float, f0_end_hz: float, seconds: float = 1.2, rate: int = 16000) -> np.ndarray:
    """A harmonic-rich tone whose F0 moves exponentially from start to end (a voiced glide)."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = f0_start_hz * (f0_end_hz / f0_start_hz) ** (t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    return (0.3 * tone / np.max(np.abs(tone))).astype(np.float32)


def test_pitch_fall_of_falling_level_and_rising_glides() -> None:
    """A 200→150 Hz glide falls (its last 200 ms sit ~3 st under its median), a level tone does not,
    a rising glide rises; silence gives no answer."""
    falling = final_pitch_fall_st(measure_frames(_glide(200.0, 150.0)))
    level = final_pitch_fall_st(measure_frames(_glide(180.0, 180.0)))
    rising = final_pitch_fall_st(measure_frames(_glide(150.0, 200.0)))
    assert falling is not None and level is not None and rising is not None
    # exponential glide over 1.2 s spanning 12·log2(200/150) ≈ 4.98 st: the last 0.2 s centre is
    # ~0.1 s from the end, the median at 0.6 s: 4.98 · (1.1 − 0.6) / 1.2 ≈ 2.1 st below
    assert falling == pytest.approx(-2.1, abs=0.5)
    assert abs(level) < 0.2
    assert rising == pytest.approx(2.1, abs=0.5)
    assert final_pitch_fall_st(measure_frames(np.zeros(16000, np.float32))) is None
