"""MoodAnalyzer with the real models: text, utterances, streams, baselines, bad audio, threads."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields

import numpy as np
import pytest
import soxr

from mood.analyzer import MoodAnalyzer, MoodConfig
from mood.audio import load_wav
from mood.errors import (
    AudioFormatError,
    AudioTooLongError,
    EmptyAudioError,
    NonFiniteAudioError,
    NoSpeechError,
    SilentAudioError,
)
from mood.prosody import SpeakerBaseline
from mood.stream import Utterance
from mood.types import MOOD_LABELS
from tests.support.mood_corpus import MoodCorpusItem

pytestmark = pytest.mark.slow


def _item(corpus: list[MoodCorpusItem], voice: str, sentence_id: int, arousal: int) -> MoodCorpusItem:
    return next(
        it for it in corpus if it.voice == voice and it.sentence_id == sentence_id and it.arousal == arousal
    )


def test_analyze_text_reads_mood_and_intents(mood_analyzer: MoodAnalyzer) -> None:
    """Typed text: valence from the words, energy from energy words, intents, the transcript kept."""
    tired = mood_analyzer.analyze_text("I'm exhausted, play something calmer")
    assert tired.energy < 0.35
    assert [i.kind for i in tired.intents] == ["calmer"]
    assert tired.transcript == "I'm exhausted, play something calmer"
    happy = mood_analyzer.analyze_text("I'm so happy today, this is wonderful!")
    assert happy.valence > 0.75 and happy.label in ("happy", "excited", "content")
    assert "prosody" not in happy.evidence


def test_analyze_utterance_from_raw_samples(
    mood_analyzer: MoodAnalyzer, mood_corpus: list[MoodCorpusItem]
) -> None:
    """A 22.05 kHz espeak WAV is normalised, trimmed by VAD, transcribed and fused into an estimate."""
    item = _item(mood_corpus, "en-us", 0, 2)
    samples, rate = load_wav(item.path)
    est = mood_analyzer.analyze_utterance(samples, rate)
    assert "wonderful" in est.transcript.lower()
    assert est.valence > 0.6
    assert est.label in MOOD_LABELS
    assert {"prosody", "text", "asr", "weights", "timing_ms"} <= set(est.evidence)
    assert {"vad", "asr", "prosody", "text", "fusion"} <= set(est.evidence["timing_ms"])
    assert est.evidence["prosody"]["rate_from_transcript"] == 1.0
    assert 0.0 < est.confidence <= 1.0
    valence_conf, energy_conf = est.axis_confidences
    assert est.valence_confidence is not None and valence_conf > 0.3  # "wonderful"
    assert est.energy_confidence is not None and energy_conf > 0.5  # the voice
    assert est.evidence["utterance"]["prosody_streamed"] == 0.0


def test_int16_stereo_input_is_accepted(
    mood_analyzer: MoodAnalyzer, mood_corpus: list[MoodCorpusItem]
) -> None:
    """int16 two-channel samples at 48 kHz give the same words as the float mono original."""
    item = _item(mood_corpus, "en-gb-x-rp", 10, 1)
    samples, rate = load_wav(item.path)
    up = soxr.resample(samples, rate, 48000)
    stereo = np.stack([up, up], axis=1)
    pcm = np.clip(stereo * 32767, -32768, 32767).astype(np.int16)
    est = mood_analyzer.analyze_utterance(pcm, 48000)
    assert "report" in est.transcript.lower()


def test_stream_utterance_is_analysed(mood_analyzer: MoodAnalyzer, mood_corpus: list[MoodCorpusItem]) -> None:
    """open_stream endpoints s16le chunks into an Utterance, which analyses like the whole file."""
    item = _item(mood_corpus, "en-us", 6, 1)
    samples, rate = load_wav(item.path)
    pcm = (np.concatenate([samples, np.zeros(rate, np.float32)]) * 32767).astype("<i2").tobytes()
    stream = mood_analyzer.open_stream(rate, 1, "s16le")
    chunk = int(rate * 0.05) * 2
    events = [e for i in range(0, len(pcm), chunk) for e in stream.feed(pcm[i : i + chunk])]
    events += stream.finish()
    utterances = [e for e in events if isinstance(e, Utterance)]
    assert len(utterances) == 1
    est = mood_analyzer.analyze_utterance(utterances[0])
    assert "miserable" in est.transcript.lower()
    assert est.valence < 0.4
    assert "vad" not in est.evidence["timing_ms"]  # the stream already ran VAD
    assert est.evidence["utterance"]["prosody_streamed"] == 1.0  # and measured the prosody frames


def test_streamed_prosody_matches_batch_prosody(
    mood_analyzer: MoodAnalyzer, mood_corpus: list[MoodCorpusItem]
) -> None:
    """Prosody measured while the audio streamed in agrees with prosody measured from the samples."""
    item = _item(mood_corpus, "en-us+f2", 3, 3)
    samples, rate = load_wav(item.path)
    pcm = np.concatenate([np.zeros(rate // 2, np.float32), samples, np.zeros(rate, np.float32)]) * 32767
    data = pcm.astype("<i2").tobytes()
    stream = mood_analyzer.open_stream(rate, 1, "s16le")
    events = [e for i in range(0, len(data), 1764) for e in stream.feed(data[i : i + 1764])] + stream.finish()
    (utterance,) = [e for e in events if isinstance(e, Utterance)]
    streamed = mood_analyzer.analyze_utterance(utterance)
    # the same audio as a plain Utterance, not prepared by the stream
    plain = Utterance(**{f.name: getattr(utterance, f.name) for f in fields(Utterance)})
    batch = mood_analyzer.analyze_utterance(plain)
    assert (
        streamed.evidence["utterance"]["prosody_streamed"],
        batch.evidence["utterance"]["prosody_streamed"],
    ) == (1.0, 0.0)
    for name in ("f0_mean_st", "loudness_mean_db", "speaking_rate_sps", "voiced_s"):
        assert streamed.evidence["prosody"][name] == pytest.approx(
            batch.evidence["prosody"][name], rel=0.02, abs=0.02
        )
    assert streamed.energy == pytest.approx(batch.energy, abs=0.01)


def test_open_stream_rejects_bad_formats(mood_analyzer: MoodAnalyzer) -> None:
    """An unsupported rate or sample format is an AudioFormatError at open time."""
    with pytest.raises(AudioFormatError):
        mood_analyzer.open_stream(1000, 1, "s16le")
    with pytest.raises(AudioFormatError):
        mood_analyzer.open_stream(16000, 1, "u8")  # type: ignore[arg-type]


def test_baseline_is_read_then_updated(
    mood_analyzer: MoodAnalyzer, mood_corpus: list[MoodCorpusItem]
) -> None:
    """analyze_utterance reads prosody against the speaker baseline and then adds the utterance to it."""
    baseline = SpeakerBaseline()
    item = _item(mood_corpus, "en-us+f2", 11, 1)
    samples, rate = load_wav(item.path)
    first = mood_analyzer.analyze_utterance(samples, rate, baseline=baseline)
    assert baseline.utterances == 1
    assert baseline.speech_s == pytest.approx(first.evidence["prosody"]["speech_s"], abs=0.01)
    unchanged = mood_analyzer.analyze_utterance(samples, rate)  # no baseline: population prior
    assert unchanged.energy == pytest.approx(first.energy, abs=1e-6)
    for _ in range(6):
        mood_analyzer.analyze_utterance(samples, rate, baseline=baseline)
    # the same high voice, heard again and again, reads closer to this speaker's usual
    again = mood_analyzer.analyze_utterance(samples, rate, baseline=baseline)
    assert abs(again.evidence["prosody"]["arousal"] - 0.5) < abs(first.evidence["prosody"]["arousal"] - 0.5)


@pytest.mark.parametrize(
    ("samples", "rate", "error"),
    [
        (np.zeros(0, np.float32), 16000, EmptyAudioError),
        (np.full(16000, np.nan, np.float32), 16000, NonFiniteAudioError),
        (np.zeros(16000, np.float32), 16000, SilentAudioError),
        (
            np.zeros(16000, np.float32) + 1e-3 * np.sin(np.arange(16000) / 3.0).astype(np.float32),
            16000,
            NoSpeechError,
        ),
        (0.1 * np.ones((31 * 16000,), np.float32), 16000, AudioTooLongError),
        (np.zeros((100, 2, 2), np.float32), 16000, AudioFormatError),
        (np.ones(16000, np.float32), 1234567, AudioFormatError),
    ],
    ids=["empty", "nan", "zeros", "no-speech", "too-long", "bad-shape", "bad-rate"],
)
def test_bad_audio_raises_its_error(
    mood_analyzer: MoodAnalyzer, samples: np.ndarray, rate: int, error: type[Exception]
) -> None:
    """Each kind of bad audio raises its documented, coded error."""
    with pytest.raises(error) as info:
        mood_analyzer.analyze_utterance(samples, rate)
    assert info.value.code != "internal"  # type: ignore[attr-defined]


def test_bad_utterance_records_raise(mood_analyzer: MoodAnalyzer) -> None:
    """An Utterance record that is empty, non-finite or too long is refused before Whisper runs."""

    def utt(samples: np.ndarray) -> Utterance:
        return Utterance(samples=samples, start_s=0.0, end_s=samples.shape[0] / 16000, speech_s=0.5)

    with pytest.raises(EmptyAudioError):
        mood_analyzer.analyze_utterance(utt(np.zeros(0, np.float32)))
    with pytest.raises(NonFiniteAudioError):
        mood_analyzer.analyze_utterance(utt(np.full(8000, np.inf, np.float32)))
    with pytest.raises(AudioTooLongError):
        mood_analyzer.analyze_utterance(utt(np.full(40 * 16000, 0.1, np.float32)))


def test_concurrent_analyses_match_sequential(
    mood_analyzer: MoodAnalyzer, mood_corpus: list[MoodCorpusItem]
) -> None:
    """Four utterances analysed on four threads give the estimates they give one at a time."""
    items = [
        _item(mood_corpus, v, s, a)
        for v, s, a in [("en-us", 1, 0), ("en-gb-x-rp", 5, 3), ("en-us+f2", 12, 2), ("en-us", 9, 1)]
    ]
    audio = [load_wav(it.path) for it in items]
    sequential = [mood_analyzer.analyze_utterance(x, sr) for x, sr in audio]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda a: mood_analyzer.analyze_utterance(a[0], a[1]), audio))
    for s, p in zip(sequential, parallel, strict=True):
        assert p.transcript == s.transcript
        assert math.isclose(p.energy, s.energy, abs_tol=1e-6)
        assert math.isclose(p.valence, s.valence, abs_tol=1e-6)


def test_models_load_once_per_analyzer(mood_analyzer: MoodAnalyzer) -> None:
    """The transcriber and VAD are created once and shared (the process-wide cached engines)."""
    assert mood_analyzer.transcriber() is mood_analyzer.transcriber()
    assert mood_analyzer.vad() is mood_analyzer.vad()
    other = MoodAnalyzer(MoodConfig())
    assert other.transcriber() is mood_analyzer.transcriber()
    other.close()


def test_package_exports_the_facade_lazily() -> None:
    """`mood.MoodAnalyzer`, `mood.MoodConfig` and `mood.SpeakerBaseline` are the real classes."""
    import mood
    import mood.analyzer
    import mood.prosody

    assert mood.MoodAnalyzer is mood.analyzer.MoodAnalyzer
    assert mood.MoodConfig is mood.analyzer.MoodConfig
    assert mood.SpeakerBaseline is mood.prosody.SpeakerBaseline
    with pytest.raises(AttributeError):
        _ = mood.NoSuchThing
