"""Incremental recognition of one utterance while it is spoken: fed audio, asked to advance, finalized.

An :class:`IncrementalTranscriber` holds one utterance's 16 kHz audio as it arrives (:meth:`feed`).
Each :meth:`advance` decodes what is not yet settled — the audio from the *commit point* to the end of
what has arrived — through the ordinary :class:`~mood.transcribe.Transcriber` (the fitted-window
decode, with its repetition guard and word alignment), and returns a :class:`Hypothesis`: the whole
text so far and how much of it is stable. When the utterance ends (:meth:`close`), :meth:`finalize`
gives its :class:`~mood.transcribe.Transcript`, decoding only what no decode has heard yet:

- **Stable prefix (local agreement).** Words on which the last two decodes of the same stretch agree
  are stable (``Hypothesis.stable_chars``): the policy of Macháček, Dabre & Bojar (2023, "Turning
  Whisper into Real-Time Transcription System", IJCNLP-AACL demo), LocalAgreement-2.
- **Commit, and re-decode only the tail.** Once the undecided audio is longer than ``commit_after_s``
  and an agreed sentence in it ends (".", "!", "?") with a next word after a gap and at least 1 s
  before the end of the audio heard, the audio up to the middle of that gap is *committed*: its words
  are kept as they are and later decodes start after it, so the work per decode stays bounded by the
  last sentences instead of the whole utterance. The tail is decoded on its own, without the
  committed text as Whisper's previous-text prompt: with the prompt, tiny.en's word error rate on
  the 18 long espeak-ng utterances of docs/mood.md rose from 2.5 % to 3.8 % (one-shot: 1.6 %), the
  prompt inviting the decoder to continue the committed text rather than read the tail. A tail that
  runs past ``max_tail_s`` without a sentence end commits at its widest agreed gap instead. Shorter
  utterances are decoded whole each time: a seam costs accuracy (a word whose onset the alignment
  misplaces is cut), and re-decoding a few seconds is cheap.
- **Finalize reuses the last decode when it heard all the speech.** If the last decode's audio reaches
  ``speech_guard_s`` past the end of the speech (the stream decodes at every pause), the final
  transcript is that decode — committed sentences plus its words — and nothing is decoded at the
  endpoint. Otherwise the tail from the commit point to the utterance's end is decoded once, and so
  is a last decode that repeats a sentence ("Thank you so much. Thank you so much. …": tiny.en's
  repetition loop, which Whisper's compression-ratio test misses in text this short). An utterance
  with nothing committed whose last decode is reused differs from a one-shot decode of it only by the
  end of the margin after the speech, which that decode did not hear (tests/mood/test_incremental.py
  measures the word error rates of both on the espeak-ng corpus).

Thread-safety: :meth:`feed` (the stream's thread) may run while :meth:`advance` decodes (a speech
worker); state is kept under a lock and the decode runs outside it on a snapshot. Decodes of one
utterance run one at a time: :meth:`finalize` waits for a running :meth:`advance` and then uses it.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from dataclasses import dataclass, replace

import numpy as np

from mood.audio import TARGET_RATE
from mood.transcribe import MAX_WINDOW_S, Transcriber, Transcript, Word, segments_from_words

__all__ = ["Hypothesis", "IncrementalTranscriber"]

logger = logging.getLogger(__name__)

_MIN_DECODE_S = 0.3
"""Shortest audio worth a decode (less is a syllable at most)."""
_COMMIT_LEAD_S = 1.0
"""A sentence is committed only if it ended this long before the end of the audio heard, so that the
next words' onset is well inside the decoded audio."""
_MIN_SENTENCE_GAP_S = 0.15
_MIN_WORD_GAP_S = 0.2
_TERMINAL = (".", "!", "?")
_NON_WORD = re.compile(r"[^\w']+")


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """What an utterance says so far, after a decode."""

    text: str
    """Committed sentences and the latest decode's words, space-separated."""
    stable_chars: int
    """Characters of ``text`` that later decodes are unlikely to change: the committed sentences and
    the words the last two decodes agreed on (a hint for display; the final transcript may differ)."""
    heard_s: float
    """Seconds of the utterance's audio (from its first sample) that the text covers."""
    revision: int
    """1 for the first decode of the utterance, then 2, 3 …"""


@dataclass(frozen=True, slots=True)
class _Piece:
    """A decoded stretch: its transcript (times relative to ``start``) and where its audio starts."""

    transcript: Transcript
    start: int
    """First sample of the stretch, from the utterance's first sample."""
    words_from: int = 0
    """Words of ``transcript`` before this index were committed (they belong to an earlier piece)."""

    def words(self) -> tuple[Word, ...]:
        """The piece's words, timed from the utterance's first sample."""
        offset_s = self.start / TARGET_RATE
        return tuple(
            replace(w, start_s=round(w.start_s + offset_s, 3), end_s=round(w.end_s + offset_s, 3))
            for w in self.transcript.words[self.words_from :]
        )

    def tokens(self) -> list[str]:
        """The piece's text split at spaces (from ``words_from`` on)."""
        return self.transcript.text.split()[self.words_from :]


def _norm(token: str) -> str:
    return _NON_WORD.sub("", token.lower())


class IncrementalTranscriber:
    """One utterance decoded as it arrives (see the module docstring).

    Parameters:
        transcriber: The engine every decode goes through (its ``transcribe`` is thread-safe).
        commit_after_s: Seconds of undecided audio beyond which agreed sentences are committed.
        max_tail_s: Seconds of undecided audio after which the tail commits at an agreed word gap
            even without a sentence end.
        speech_guard_s: How far past the end of the speech the last decode must have heard for
            :meth:`finalize` to reuse it.
    """

    def __init__(
        self,
        transcriber: Transcriber,
        *,
        commit_after_s: float = 8.0,
        max_tail_s: float = 10.0,
        speech_guard_s: float = 0.128,
    ) -> None:
        self._transcriber = transcriber
        self.commit_after_s = float(commit_after_s)
        self.max_tail_s = float(max(max_tail_s, commit_after_s))
        self.speech_guard_s = float(speech_guard_s)
        self._lock = threading.Lock()
        self._decoding = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._received = 0
        self._commit = 0
        self._committed: list[_Piece] = []
        self._latest: _Piece | None = None
        self._heard = 0
        """Samples (from the utterance's first) that the latest decode covered."""
        self._previous: list[str] = []
        """The previous decode's normalised tokens after the commit point (local agreement)."""
        self._agreed = 0
        self._revision = 0
        self._closed = False
        self._end: int | None = None
        self._speech_end: int | None = None
        self._final: Transcript | None = None
        self.final_decoded_s: float | None = None
        """Seconds of audio :meth:`finalize` had to decode (0.0 when it reused the last decode)."""

    # -- audio in ----------------------------------------------------------------------------------

    def feed(self, samples16k: np.ndarray) -> None:
        """Append the utterance's next 16 kHz mono float32 samples (ignored once closed)."""
        samples = np.asarray(samples16k, dtype=np.float32).reshape(-1)
        if samples.size == 0:
            return
        with self._lock:
            if self._closed:
                return
            self._chunks.append(samples.copy())
            self._received += samples.shape[0]

    def close(self, *, end_samples: int, speech_end_samples: int) -> None:
        """The utterance ended: it is its first ``end_samples`` samples, its speech ends at
        ``speech_end_samples``. Later :meth:`feed` calls are ignored and :meth:`advance` decodes nothing."""
        with self._lock:
            self._closed = True
            self._end = max(0, min(int(end_samples), self._received))
            self._speech_end = max(0, min(int(speech_end_samples), self._end))

    @property
    def closed(self) -> bool:
        """Whether the utterance has ended (:meth:`close`)."""
        return self._closed

    @property
    def received_samples(self) -> int:
        """Samples fed so far."""
        return self._received

    @property
    def heard_samples(self) -> int:
        """Samples (from the utterance's first) the latest decode covered; 0 before any."""
        return self._heard

    @property
    def decodes(self) -> int:
        """Decodes run so far (by :meth:`advance` and :meth:`finalize`)."""
        return self._revision

    def latest(self) -> Hypothesis | None:
        """The hypothesis after the latest decode (None before the first)."""
        with self._lock:
            return self._hypothesis() if self._latest is not None else None

    def text_heard_to(self, samples: int) -> str | None:
        """The text so far if the latest decode heard the audio up to ``samples``, else None."""
        with self._lock:
            if self._latest is None or self._heard < samples:
                return None
            return self._text()

    # -- decoding ----------------------------------------------------------------------------------

    def advance(self) -> Hypothesis | None:
        """Decode the audio after the commit point; return the new hypothesis.

        Returns None without decoding when the utterance has ended, or when less than 0.3 s is
        undecided. Decodes of one utterance run one at a time (a second call waits for the first).

        Raises:
            CadenceError: As :meth:`Transcriber.transcribe` (the state is unchanged).
        """
        with self._decoding:
            with self._lock:
                if self._closed:
                    return None
                start, stop = self._commit, self._received
                if (stop - start) / TARGET_RATE < _MIN_DECODE_S:
                    return None
                audio = self._audio(start, stop)
            transcript = self._transcriber.transcribe(audio)
            with self._lock:
                self._revision += 1
                self._take(transcript, start, start + audio.shape[0])
                return None if self._closed else self._hypothesis()

    def finalize(self) -> Transcript:
        """The utterance's transcript (call after :meth:`close`; the first call decodes, later ones
        return the same transcript).

        Raises:
            RuntimeError: If the utterance has not been closed.
            CadenceError: As :meth:`Transcriber.transcribe`.
        """
        with self._decoding:
            with self._lock:
                if not self._closed or self._end is None or self._speech_end is None:
                    raise RuntimeError("finalize() needs the utterance closed first")
                if self._final is not None:
                    return self._final
                end, speech_end = self._end, self._speech_end
                guard = round(self.speech_guard_s * TARGET_RATE)
                latest = self._latest
                reuse = (
                    latest is not None
                    and self._heard >= min(end, speech_end + guard)
                    and not _repeats_itself(latest.tokens())
                )
                pieces = list(self._committed)
                start = self._commit
                # after committed sentences, a tail without speech needs no decode
                audio = None if reuse or (pieces and speech_end <= start) else self._audio(start, end)
            if latest is not None and reuse:
                pieces.append(latest)
                self.final_decoded_s = 0.0
            elif audio is not None and audio.shape[0]:
                transcript = self._transcriber.transcribe(audio)
                with self._lock:
                    self._revision += 1
                pieces.append(_Piece(transcript, start))
                self.final_decoded_s = round(audio.shape[0] / TARGET_RATE, 3)
            else:
                self.final_decoded_s = 0.0
            if (
                not pieces
            ):  # no audio at all: the engine refuses it (EmptyAudioError) as a one-shot decode would
                pieces.append(_Piece(self._transcriber.transcribe(np.zeros(0, np.float32)), 0))
            self._final = _joined(pieces, end)
            return self._final

    # -- internals (called with the lock held) ----------------------------------------------------------

    def _audio(self, start: int, stop: int) -> np.ndarray:
        if len(self._chunks) != 1:
            self._chunks = [np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)]
        stop = min(stop, start + int(MAX_WINDOW_S * TARGET_RATE))
        return np.ascontiguousarray(self._chunks[0][start:stop])

    def _take(self, transcript: Transcript, start: int, stop: int) -> None:
        """Keep a decode of ``[start, stop)``: agreement with the previous one, maybe a commit."""
        piece = _Piece(transcript, start)
        tokens = [_norm(t) for t in piece.tokens()]
        agreed = 0
        for mine, theirs in zip(tokens, self._previous, strict=False):
            if mine != theirs or not mine:
                break
            agreed += 1
        self._latest, self._heard = piece, stop
        self._previous, self._agreed = tokens, agreed
        cut = self._commit_point(transcript, agreed, (stop - start) / TARGET_RATE)
        if cut is None:
            return
        index, cut_s = cut
        committed_words = transcript.words[:index]
        committed = replace(
            transcript,
            text=" ".join(w.text for w in committed_words),
            words=committed_words,
            segments=segments_from_words(committed_words),
            duration_s=round(cut_s, 3),
        )
        self._committed.append(_Piece(committed, start))
        self._commit = start + round(cut_s * TARGET_RATE)
        # the rest of this decode stays the latest hypothesis, counted from its own words
        self._latest = _Piece(transcript, start, words_from=index)
        self._previous = tokens[index:]
        self._agreed = agreed - index
        logger.debug("committed %d words up to %.2f s", index, self._commit / TARGET_RATE)

    def _commit_point(self, transcript: Transcript, agreed: int, heard_s: float) -> tuple[int, float] | None:
        """Where to commit in this decode: (words kept, seconds into it), or None.

        Only agreed words with a next word after them, ending ``_COMMIT_LEAD_S`` before the end of the
        audio heard; the last sentence end among them, else (a tail over ``max_tail_s``) the widest gap.
        """
        words = transcript.words
        if heard_s <= self.commit_after_s or agreed < 1 or len(words) != len(transcript.text.split()):
            return None  # short, nothing agreed, or words and text disagree (alignment failed)
        candidates = [
            i
            for i in range(min(agreed, len(words) - 1))
            if words[i].end_s <= heard_s - _COMMIT_LEAD_S
            and words[i + 1].start_s - words[i].end_s >= _MIN_SENTENCE_GAP_S
        ]
        sentence_ends = [i for i in candidates if words[i].text.endswith(_TERMINAL)]
        if sentence_ends:
            i = sentence_ends[-1]
        elif heard_s > self.max_tail_s:
            gaps = [(words[i + 1].start_s - words[i].end_s, i) for i in candidates]
            gaps = [(gap, i) for gap, i in gaps if gap >= _MIN_WORD_GAP_S]
            if not gaps:
                return None
            i = max(gaps)[1]
        else:
            return None
        return i + 1, (words[i].end_s + words[i + 1].start_s) / 2.0

    def _text(self) -> str:
        parts = [p.transcript.text for p in self._committed]
        if self._latest is not None:
            parts.append(" ".join(self._latest.tokens()))
        return " ".join(p for p in parts if p)

    def _hypothesis(self) -> Hypothesis:
        stable_parts = [p.transcript.text for p in self._committed]
        if self._latest is not None and self._agreed:
            stable_parts.append(" ".join(self._latest.tokens()[: self._agreed]))
        stable = " ".join(p for p in stable_parts if p)
        return Hypothesis(
            text=self._text(),
            stable_chars=len(stable),
            heard_s=round(self._heard / TARGET_RATE, 3),
            revision=self._revision,
        )


def _repeats_itself(tokens: list[str]) -> bool:
    """Whether a decode holds the same sentence (of two words or more) twice in a row."""
    sentences: list[tuple[str, ...]] = []
    current: list[str] = []
    for token in tokens:
        current.append(_norm(token))
        if token.endswith(_TERMINAL):
            sentences.append(tuple(current))
            current = []
    return any(len(a) >= 2 and a == b for a, b in itertools.pairwise(sentences))


def _joined(pieces: list[_Piece], end_samples: int) -> Transcript:
    """One transcript of consecutive pieces, times from the utterance's first sample.

    A single piece that starts at the utterance's first sample is returned as it is (so a reused
    decode is exactly what the engine said)."""
    if len(pieces) == 1 and pieces[0].start == 0 and pieces[0].words_from == 0:
        return pieces[0].transcript
    if not pieces:
        raise ValueError("no decoded pieces to join")
    words = tuple(w for p in pieces for w in p.words())
    texts = [" ".join(p.tokens()) for p in pieces]
    weights = np.array([max(1, len(p.tokens())) for p in pieces], dtype=np.float64)
    last = pieces[-1].transcript
    return Transcript(
        text=" ".join(t for t in texts if t).strip(),
        words=words,
        segments=segments_from_words(words),
        avg_logprob=float(np.average([p.transcript.avg_logprob for p in pieces], weights=weights)),
        no_speech_prob=float(np.average([p.transcript.no_speech_prob for p in pieces], weights=weights)),
        duration_s=round(end_samples / TARGET_RATE, 3),
        engine=last.engine,
        window_s=max(p.transcript.window_s for p in pieces),
        language=pieces[0].transcript.language,
    )
