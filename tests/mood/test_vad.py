"""mood.vad: the pure Endpointer state machine, and Silero VAD v6 through onnxruntime on real speech."""

from __future__ import annotations

import numpy as np
import pytest

from mood.audio import load_wav, normalise
from mood.vad import (
    FRAME_S,
    FRAME_SAMPLES,
    Endpointer,
    EndpointEvent,
    SileroVad,
    load_vad,
    speech_segments,
    vad_model_path,
)
from tests.support.mood_corpus import MoodCorpusItem

# -- pure: the endpointing state machine -------------------------------------------------------------


def _run(endpointer: Endpointer, probs: list[float]) -> list[EndpointEvent]:
    events = [endpointer.push(p, i) for i, p in enumerate(probs)]
    return [e for e in events if e is not None]


def test_endpointer_start_and_end_after_min_silence() -> None:
    """Speech starts on the first frame >= threshold and ends at the first silent frame, confirmed
    only once min_silence_ms of silence has passed."""
    ep = Endpointer(threshold=0.5, min_silence_ms=320, min_speech_ms=64)  # 10 frames of silence
    probs = [0.1] * 5 + [0.9] * 20 + [0.05] * 9
    events = _run(ep, probs)
    assert events == [EndpointEvent("start", 5, 5)]
    assert ep.in_speech
    end = ep.push(0.05, len(probs))  # the 10th silent frame confirms the end
    assert end == EndpointEvent("end", 25, 5)
    assert not ep.in_speech and ep.is_long_enough(end)


def test_endpointer_short_pause_does_not_end_speech() -> None:
    """A pause shorter than min_silence_ms inside speech keeps one segment."""
    ep = Endpointer(min_silence_ms=600)
    probs = [0.9] * 10 + [0.1] * 10 + [0.9] * 10 + [0.1] * 19
    events = _run(ep, probs)
    assert [e.kind for e in events] == ["start", "end"]
    assert events[1] == EndpointEvent("end", 30, 0)


def test_endpointer_hysteresis_between_thresholds_stays_in_speech() -> None:
    """Frames between neg_threshold and threshold neither start speech nor end it."""
    ep = Endpointer(threshold=0.5, neg_threshold=0.35, min_silence_ms=64)
    assert _run(ep, [0.45] * 10) == []  # never starts
    events = _run(ep, [0.9] + [0.45] * 30)
    assert [e.kind for e in events] == ["start"]
    assert ep.in_speech


def test_endpointer_blip_is_too_short() -> None:
    """A segment shorter than min_speech_ms still ends, but is_long_enough says drop it."""
    ep = Endpointer(min_silence_ms=96, min_speech_ms=250)
    events = _run(ep, [0.1, 0.9, 0.9, 0.1, 0.1, 0.1])
    assert [e.kind for e in events] == ["start", "end"]
    assert not ep.is_long_enough(events[1])


def test_endpointer_cut_closes_at_candidate_or_given_frame() -> None:
    """cut() ends an open segment at the pending silent frame if any, else at the frame given."""
    ep = Endpointer(min_silence_ms=600)
    _run(ep, [0.9] * 10)
    assert ep.cut(10) == EndpointEvent("end", 10, 0)
    assert ep.cut(11) is None
    _run(ep, [0.9] * 10 + [0.1] * 3)
    assert ep.cut(13) == EndpointEvent("end", 10, 0)


def test_endpointer_rejects_bad_threshold() -> None:
    """A threshold outside (0, 1) is a programming error."""
    with pytest.raises(ValueError):
        Endpointer(threshold=1.0)


# -- real model ----------------------------------------------------------------------------------------


def _speech(item: MoodCorpusItem) -> np.ndarray:
    samples, rate = load_wav(item.path)
    return normalise(samples, rate)


def _truth_bounds_s(samples: np.ndarray) -> tuple[float, float]:
    """Where the speech really is: first/last 10 ms frame within 35 dB of the loudest one."""
    hop = 160
    frames = samples[: samples.size // hop * hop].reshape(-1, hop)
    rms_db = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-12)
    loud = np.flatnonzero(rms_db > rms_db.max() - 35.0)
    return loud[0] * hop / 16000, (loud[-1] + 1) * hop / 16000


def test_model_is_the_bundled_silero_v6() -> None:
    """The VAD model is faster-whisper's bundled silero_vad_v6.onnx, loaded once per process."""
    assert vad_model_path().name == "silero_vad_v6.onnx"
    assert load_vad() is load_vad()


def test_silence_has_low_speech_probability() -> None:
    """Two seconds of digital silence: every frame below 0.1, no segments."""
    silence = np.zeros(32000, np.float32)
    probs = load_vad().speech_probabilities(silence)
    assert probs.shape == (32000 // FRAME_SAMPLES + 1,)
    assert float(probs.max()) < 0.1
    assert speech_segments(silence) == []


def test_speech_is_detected_within_its_true_bounds(mood_corpus: list[MoodCorpusItem]) -> None:
    """Real espeak speech padded with 1 s of silence each side gives one segment whose start and end
    are within 150 ms of the speech's true bounds."""
    item = next(i for i in mood_corpus if i.voice == "en-us" and i.arousal == 1)
    speech = _speech(item)
    t0, t1 = _truth_bounds_s(speech)
    padded = np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(16000, np.float32)])
    segments = speech_segments(padded)
    assert len(segments) == 1
    start_s, end_s = segments[0]
    assert abs(start_s - (1.0 + t0)) <= 0.15
    assert abs(end_s - (1.0 + t1)) <= 0.15


def test_incremental_processing_matches_whole_clip(mood_corpus: list[MoodCorpusItem]) -> None:
    """Feeding a clip in uneven chunks gives the same per-frame probabilities as one call."""
    vad = load_vad()
    speech = _speech(mood_corpus[0])
    whole = vad.speech_probabilities(speech)
    state = vad.new_state()
    rng = np.random.default_rng(3)
    parts: list[np.ndarray] = []
    pos = 0
    while pos < speech.size:
        step = int(rng.integers(1, 3000))
        parts.append(vad.process(state, speech[pos : pos + step]))
        pos += step
    parts.append(vad.flush(state))
    streamed = np.concatenate(parts)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, atol=1e-5)
    assert state.frames == whole.size
    assert float(whole.max()) > 0.9  # and it does hear the speech


def test_separate_instances_agree() -> None:
    """A second SileroVad instance (own session) gives identical probabilities: no hidden global state."""
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(8000) * 0.05).astype(np.float32)
    np.testing.assert_allclose(
        SileroVad().speech_probabilities(noise), load_vad().speech_probabilities(noise), atol=1e-6
    )


def test_frame_duration_constant() -> None:
    """A VAD frame is 512 samples = 32 ms at 16 kHz."""
    assert pytest.approx(0.032) == FRAME_S
