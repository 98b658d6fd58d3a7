"""mood.stream: streaming endpointing over real espeak speech fed as microphone chunks."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from mood.audio import TARGET_RATE, load_wav, normalise
from mood.errors import AudioFormatError, NonFiniteAudioError, NoSpeechError
from mood.stream import Utterance, UtteranceStream, VadEvent, utterance_from_samples
from mood.vad import FRAME_S, FRAME_SAMPLES
from tests.support.mood_corpus import MoodCorpusItem

TOLERANCE_S = 0.15
"""The issue's bound on endpoint error."""


def _speech16k(item: MoodCorpusItem) -> np.ndarray:
    samples, rate = load_wav(item.path)
    return normalise(samples, rate)


def _truth_bounds_s(samples: np.ndarray) -> tuple[float, float]:
    """Where the speech really is: first/last 10 ms frame within 35 dB of the loudest one."""
    hop = 160
    frames = samples[: samples.size // hop * hop].reshape(-1, hop)
    rms_db = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-12)
    loud = np.flatnonzero(rms_db > rms_db.max() - 35.0)
    return loud[0] * hop / TARGET_RATE, (loud[-1] + 1) * hop / TARGET_RATE


def _two_utterances(
    first: np.ndarray, second: np.ndarray, *, lead_s: float = 0.5, gap_s: float = 1.0, tail_s: float = 1.0
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """16 kHz stream: silence, first, 1 s of silence, second, silence; and the true speech bounds."""
    parts = [
        np.zeros(int(lead_s * TARGET_RATE), np.float32),
        first,
        np.zeros(int(gap_s * TARGET_RATE), np.float32),
        second,
        np.zeros(int(tail_s * TARGET_RATE), np.float32),
    ]
    offsets = np.cumsum([0] + [p.size for p in parts])
    truth = []
    for index, clip in ((1, first), (3, second)):
        t0, t1 = _truth_bounds_s(clip)
        truth.append((offsets[index] / TARGET_RATE + t0, offsets[index] / TARGET_RATE + t1))
    return np.concatenate(parts), truth


def _as_pcm(samples16k: np.ndarray, rate: int, channels: int, fmt: str) -> bytes:
    audio = soxr.resample(samples16k, TARGET_RATE, rate) if rate != TARGET_RATE else samples16k
    frames = np.repeat(audio[:, None], channels, axis=1)
    if fmt == "s16le":
        return (np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes()
    return frames.astype("<f4").tobytes()


def _feed_in_chunks(
    stream: UtteranceStream, pcm: bytes, rng: np.random.Generator, *, bytes_per_ms: float
) -> list[VadEvent | Utterance]:
    """Feed PCM in random 20–100 ms chunks (cut at arbitrary bytes), then finish."""
    out: list[VadEvent | Utterance] = []
    pos = 0
    while pos < len(pcm):
        size = int(rng.uniform(20, 100) * bytes_per_ms) + int(rng.integers(0, 3))
        out += stream.feed(pcm[pos : pos + size])
        pos += size
    out += stream.finish()
    return out


@pytest.fixture(scope="module")
def two_clips(mood_corpus: list[MoodCorpusItem]) -> tuple[np.ndarray, np.ndarray]:
    """Two utterances by different voices (corpus voices 0 and 1, arousal levels 1 and 2)."""
    voices = sorted({i.voice for i in mood_corpus})
    first = next(i for i in mood_corpus if i.voice == voices[0] and i.arousal == 1)
    second = next(i for i in mood_corpus if i.voice == voices[1] and i.arousal == 2 and i.sentence_id > 0)
    return _speech16k(first), _speech16k(second)


@pytest.mark.parametrize(
    ("rate", "channels", "fmt"),
    [(16000, 1, "s16le"), (48000, 2, "s16le"), (44100, 1, "f32le"), (22050, 2, "f32le")],
)
def test_two_utterances_with_a_second_of_silence(
    two_clips: tuple[np.ndarray, np.ndarray], rate: int, channels: int, fmt: str
) -> None:
    """Two utterances 1 s apart, streamed in 20–100 ms chunks at common rates and layouts, give
    exactly two utterances whose start and end are within 150 ms of the truth."""
    stream16k, truth = _two_utterances(*two_clips)
    pcm = _as_pcm(stream16k, rate, channels, fmt)
    stream = UtteranceStream(rate, channels, fmt)  # type: ignore[arg-type]
    bytes_per_ms = rate / 1000 * channels * (2 if fmt == "s16le" else 4)
    out = _feed_in_chunks(stream, pcm, np.random.default_rng(rate), bytes_per_ms=bytes_per_ms)
    utterances = [o for o in out if isinstance(o, Utterance)]
    assert len(utterances) == 2
    for utterance, (t0, t1) in zip(utterances, truth, strict=True):
        assert abs(utterance.start_s - t0) <= TOLERANCE_S, (utterance.start_s, t0)
        assert abs(utterance.end_s - t1) <= TOLERANCE_S, (utterance.end_s, t1)
        assert utterance.samples.dtype == np.float32 and utterance.samples.ndim == 1
        assert utterance.frame_probs.size == -(-utterance.samples.size // FRAME_SAMPLES)
        assert 0.5 * (t1 - t0) <= utterance.speech_s <= utterance.end_s - utterance.start_s + 1e-6
        # the samples hold the speech: offset_s maps them back onto the stream
        assert utterance.offset_s <= utterance.start_s
        assert utterance.offset_s + utterance.duration_s >= utterance.end_s - 1e-6


def test_events_come_in_order(two_clips: tuple[np.ndarray, np.ndarray]) -> None:
    """Each utterance is preceded by a speech event and a silence event at its bounds."""
    stream16k, _ = _two_utterances(*two_clips)
    stream = UtteranceStream(16000, 1, "s16le")
    out = _feed_in_chunks(
        stream, _as_pcm(stream16k, 16000, 1, "s16le"), np.random.default_rng(1), bytes_per_ms=32
    )
    kinds = [o.state if isinstance(o, VadEvent) else "utterance" for o in out]
    assert kinds == ["speech", "silence", "utterance", "speech", "silence", "utterance"]
    utterances = [o for o in out if isinstance(o, Utterance)]
    events = [o for o in out if isinstance(o, VadEvent)]
    assert events[0].t_s == utterances[0].start_s and events[1].t_s == utterances[0].end_s
    assert events[2].t_s == utterances[1].start_s and events[3].t_s == utterances[1].end_s


def test_utterance_is_emitted_as_soon_as_the_endpoint_silence_has_passed(
    two_clips: tuple[np.ndarray, np.ndarray],
) -> None:
    """The first utterance comes out while feeding the gap, once ~600 ms of silence has arrived,
    not at finish(): the stream does not wait for more audio than the endpoint needs."""
    stream16k, truth = _two_utterances(*two_clips)
    stream = UtteranceStream(16000, 1, "f32le", endpoint_silence_ms=600)
    pcm = stream16k.astype("<f4").tobytes()
    chunk = 20 * 16 * 4  # 20 ms
    for pos in range(0, len(pcm), chunk):
        out = stream.feed(pcm[pos : pos + chunk])
        if any(isinstance(o, Utterance) for o in out):
            emitted_at_s = stream.duration_s
            break
    else:
        pytest.fail("no utterance before the end of the stream")
    assert truth[0][1] + 0.5 <= emitted_at_s <= truth[0][1] + 0.6 + TOLERANCE_S + 0.04


def test_chunking_does_not_change_the_result(two_clips: tuple[np.ndarray, np.ndarray]) -> None:
    """One big chunk and many small odd-sized chunks give the same utterances, sample for sample."""
    stream16k, _ = _two_utterances(*two_clips)
    pcm = _as_pcm(stream16k, 16000, 1, "s16le")
    whole = UtteranceStream(16000, 1, "s16le")
    big = [o for o in whole.feed(pcm) + whole.finish() if isinstance(o, Utterance)]
    small_stream = UtteranceStream(16000, 1, "s16le")
    small: list[VadEvent | Utterance] = []
    for pos in range(0, len(pcm), 333):  # odd: splits samples across chunks
        small += small_stream.feed(pcm[pos : pos + 333])
    small += small_stream.finish()
    small_utts = [o for o in small if isinstance(o, Utterance)]
    assert len(big) == len(small_utts) == 2
    for a, b in zip(big, small_utts, strict=True):
        assert (a.start_s, a.end_s, a.speech_s, a.offset_s) == (b.start_s, b.end_s, b.speech_s, b.offset_s)
        np.testing.assert_array_equal(a.samples, b.samples)


def test_speech_running_into_the_end_is_closed_by_finish(two_clips: tuple[np.ndarray, np.ndarray]) -> None:
    """Audio that stops mid-speech (audio.stop while talking) yields its utterance at finish()."""
    speech = two_clips[0]
    cut = speech[: int(speech.size * 0.7)]
    stream = UtteranceStream(16000, 1, "f32le")
    out = stream.feed(np.concatenate([np.zeros(8000, np.float32), cut]).astype("<f4").tobytes())
    assert not any(isinstance(o, Utterance) for o in out)
    assert stream.in_speech
    tail = stream.finish()
    utterances = [o for o in tail if isinstance(o, Utterance)]
    assert len(utterances) == 1
    assert utterances[0].end_s == pytest.approx(stream.duration_s, abs=FRAME_S)
    assert stream.finish() == []


def test_over_long_speech_is_emitted_at_the_limit(two_clips: tuple[np.ndarray, np.ndarray]) -> None:
    """Speech without a long enough pause is cut into utterances of at most max_utterance_s."""
    a, b = two_clips
    gap = np.zeros(int(0.2 * TARGET_RATE), np.float32)  # shorter than the endpoint silence
    talk = np.concatenate([a, gap, b, gap, a, gap, b])
    stream = UtteranceStream(16000, 1, "f32le", max_utterance_s=4.0)
    out = stream.feed(talk.astype("<f4").tobytes()) + stream.finish()
    utterances = [o for o in out if isinstance(o, Utterance)]
    assert len(utterances) >= 3
    assert all(u.duration_s <= 4.0 + 1e-6 for u in utterances)
    assert sum(u.end_s - u.start_s for u in utterances) >= 0.8 * (talk.size / TARGET_RATE - 1.0)


def test_every_piece_of_over_long_speech_is_marked_and_a_whole_utterance_is_not(
    two_clips: tuple[np.ndarray, np.ndarray],
) -> None:
    """Cut while the listener talks, every piece is marked ``reached_limit`` (the session refuses
    them): the first one too, shorter than the limit because the start of the stream shortened its
    leading margin, and the rest of the speech up to its pause. After a real pause, a whole
    utterance is not marked."""
    a, _ = two_clips
    pause = np.zeros(int(1.5 * TARGET_RATE), np.float32)
    short = a[: int(1.2 * TARGET_RATE)]
    stream = UtteranceStream(16000, 1, "f32le", max_utterance_s=2.0)
    out = stream.feed(np.concatenate([a, pause, short, pause]).astype("<f4").tobytes()) + stream.finish()
    utterances = [o for o in out if isinstance(o, Utterance)]
    shown = [(u.start_s, u.end_s, u.duration_s, u.reached_limit) for u in utterances]
    assert len(utterances) >= 3, shown
    first, last = utterances[0], utterances[-1]
    assert first.reached_limit and first.duration_s < 2.0 - 0.064, shown
    assert all(u.reached_limit for u in utterances[:-1]), shown
    assert not last.reached_limit and last.start_s > a.size / TARGET_RATE + 1.0, shown


def test_silence_and_noise_floor_give_nothing() -> None:
    """Three seconds of silence with a faint noise floor give no events and no utterances."""
    rng = np.random.default_rng(5)
    floor = (rng.standard_normal(3 * TARGET_RATE) * 1e-4).astype(np.float32)
    stream = UtteranceStream(16000, 1, "f32le")
    assert stream.feed(floor.astype("<f4").tobytes()) + stream.finish() == []


def test_bad_stream_formats_are_rejected_up_front() -> None:
    """An unsupported rate, channel count or sample format fails at construction with AudioFormatError."""
    with pytest.raises(AudioFormatError):
        UtteranceStream(4000, 1, "s16le")
    with pytest.raises(AudioFormatError):
        UtteranceStream(16000, 0, "s16le")
    with pytest.raises(AudioFormatError):
        UtteranceStream(16000, 1, "mp3")  # type: ignore[arg-type]


def test_non_finite_chunk_is_rejected_and_the_stream_goes_on(
    two_clips: tuple[np.ndarray, np.ndarray],
) -> None:
    """A NaN chunk raises NonFiniteAudioError and is dropped; later chunks still yield the utterance."""
    stream = UtteranceStream(16000, 1, "f32le")
    with pytest.raises(NonFiniteAudioError):
        stream.feed(np.array([0.0, np.nan], "<f4").tobytes())
    speech = np.concatenate([np.zeros(8000, np.float32), two_clips[0], np.zeros(16000, np.float32)])
    out = stream.feed(speech.astype("<f4").tobytes()) + stream.finish()
    assert len([o for o in out if isinstance(o, Utterance)]) == 1


def test_feed_after_finish_is_an_error() -> None:
    """A finished stream refuses more audio."""
    stream = UtteranceStream(16000, 1, "s16le")
    stream.finish()
    with pytest.raises(RuntimeError):
        stream.feed(b"\x00\x00")


def test_utterance_from_samples_trims_to_the_speech(two_clips: tuple[np.ndarray, np.ndarray]) -> None:
    """A clip with silence around its speech becomes one utterance trimmed to the speech (plus margins)."""
    speech = two_clips[1]
    t0, t1 = _truth_bounds_s(speech)
    clip = np.concatenate([np.zeros(TARGET_RATE, np.float32), speech, np.zeros(TARGET_RATE, np.float32)])
    utterance = utterance_from_samples(clip)
    assert abs(utterance.start_s - (1.0 + t0)) <= TOLERANCE_S
    assert abs(utterance.end_s - (1.0 + t1)) <= TOLERANCE_S
    assert utterance.duration_s < clip.size / TARGET_RATE - 1.5


def test_utterance_from_samples_without_speech_raises() -> None:
    """A clip VAD hears no speech in raises NoSpeechError (code no_speech)."""
    tone = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(TARGET_RATE) / TARGET_RATE)).astype(np.float32)
    with pytest.raises(NoSpeechError) as info:
        utterance_from_samples(np.zeros(TARGET_RATE, np.float32) + tone * 0)
    assert info.value.code == "no_speech"
