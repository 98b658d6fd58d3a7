"""The facade of mood/: text or speech in, :class:`~mood.types.MoodEstimate` out.

:class:`MoodAnalyzer` ties the stages together::

    samples ─ normalise ─ VAD (utterance) ─┬─ Whisper ───────────── text affect, intents ─┐
                                           └─ prosody (in parallel) ─ baseline z-scores ──┴─ fuse

Models (Silero VAD, Whisper) are loaded once per process, lazily, behind a lock; :meth:`warm_up`
loads them and runs a real short utterance (a 1.2 s asset shipped with the package) through every
stage, the way a client's stream would, so the first real utterance pays no start-up cost.

Work is kept off the end of speech. In a live stream (:meth:`MoodAnalyzer.open_stream`) VAD *and*
the per-frame prosody (YIN, levels, band powers) run as the audio arrives, so when the utterance ends
only the aggregation of its frames (a few ms) and Whisper remain. With ``endpointing="smart"`` (the
default) the stream also decodes the utterance while it is spoken, when its owner asks it to
(:meth:`mood.stream.UtteranceStream.advance`; a server does so on its speech workers), and closes it
by :mod:`mood.endpoint`'s policy; the utterance's transcript is then finalized from those decodes
(:class:`mood.incremental.IncrementalTranscriber`): when the last one heard all the speech nothing is
decoded at the endpoint. Prosody still reads the whole utterance and text affect the final transcript,
so the estimate is the same kind as a one-shot analysis. For raw samples (no stream), prosody
runs on a worker thread while Whisper decodes (CTranslate2 and numpy's FFTs release the GIL). Only the
syllable count from the transcript (microseconds) waits for the words.

Thread-safe: one analyzer serves every connection of a server; per-speaker state lives in the
:class:`~mood.prosody.SpeakerBaseline` the caller passes in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from mood.asr_models import DEFAULT_ASR_MODEL, AsrModelName
from mood.audio import TARGET_RATE, SampleFormat, normalise
from mood.endpoint import EndpointingMode, EndpointSettings, final_pitch_fall_st
from mood.errors import AudioTooLongError, EmptyAudioError, NonFiniteAudioError
from mood.fusion import AsrQuality, fuse
from mood.intents import find_requests, names_no_request
from mood.prosody import (
    FrameMeasures,
    ProsodyFeatures,
    ProsodyTracker,
    SpeakerBaseline,
    extract_prosody,
    features_from_frames,
    prosodic_arousal,
    with_transcript_rate,
)
from mood.stream import StreamItem, Utterance, UtteranceStream, utterance_from_samples
from mood.text import read_text
from mood.transcribe import (
    VOCABULARY_PROMPT,
    EngineName,
    PromptableTranscriber,
    Transcriber,
    Transcript,
    load_transcriber,
    warm_up_speech,
)
from mood.types import MoodEstimate
from mood.vad import SileroVad, load_vad

__all__ = ["EngineName", "MoodAnalyzer", "MoodConfig"]

logger = logging.getLogger(__name__)

_WHISPER_MAX_S = 30.0
SECOND_HEARING_MAX_S = 10.0
"""Longest utterance heard a second time (seconds): spoken requests are short, and a second decode
of a long one would cost its listener a second or more."""


@dataclass(frozen=True, slots=True)
class MoodConfig:
    """How the analyzer hears speech."""

    engine: EngineName = "faster-whisper"
    """Speech recogniser: CTranslate2 (default) or the PyTorch reference (optional extra)."""
    model_path: Path | None = None
    """A faster-whisper model directory or an openai-whisper checkpoint; None: :attr:`asr_model`."""
    asr_model: AsrModelName = DEFAULT_ASR_MODEL
    """The packaged Whisper (:mod:`mood.asr_models`): tiny.en (English), base or small (multilingual)."""
    asr_cache_dir: Path | None = None
    """Where base/small's split weights are joined once (None: ``~/.cache/cadence/asr``)."""
    fitted_window: bool = True
    """Pad each utterance to a window fitted to its length instead of Whisper's 30 s."""
    asr_prompt: bool = False
    """Tell the recogniser the player's request words before each English utterance
    (:data:`mood.transcribe.VOCABULARY_PROMPT`): more spoken requests heard right, statements a
    little worse (docs/mood.md)."""
    second_hearing: bool = True
    """Without :attr:`asr_prompt`: when an English transcript has the form of a request yet asks for
    nothing the player knows ("Play something, comment please"), decode the utterance once more after
    the request words (:data:`mood.transcribe.VOCABULARY_PROMPT`) and keep that transcript if it asks
    for something ("Play something calmer, please"). Only utterances up to :data:`SECOND_HEARING_MAX_S`."""
    max_utterance_s: float = 30.0
    """Longest utterance accepted (seconds)."""
    endpoint_silence_ms: int = 600
    """Silence that ends an utterance (milliseconds); with smart endpointing the upper bound."""
    endpointing: EndpointingMode = "smart"
    """``smart``: streams decode while the listener speaks and close utterances by
    :func:`mood.endpoint.decide_endpoint`; ``silence``: after ``endpoint_silence_ms`` of silence, with one
    decode of the whole utterance then (the behaviour before issue 14)."""


class MoodAnalyzer:
    """Mood from typed text or from an utterance; thread-safe, models loaded once and lazily."""

    def __init__(self, config: MoodConfig | None = None) -> None:
        self.config = config if config is not None else MoodConfig()
        self._lock = threading.Lock()
        self._transcriber: Transcriber | None = None
        self._second_ear: Transcriber | None = None
        self._vad: SileroVad | None = None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="prosody")

    # -- engines ------------------------------------------------------------------------------

    def transcriber(self) -> Transcriber:
        """The Whisper engine (loaded on first use).

        Raises:
            EngineError: If the engine or its weights are unavailable.
        """
        with self._lock:
            if self._transcriber is None:
                self._transcriber = load_transcriber(
                    self.config.engine,
                    self.config.model_path,
                    fitted_window=self.config.fitted_window,
                    asr_model=self.config.asr_model,
                    cache_dir=self.config.asr_cache_dir,
                    prompt=VOCABULARY_PROMPT if self.config.asr_prompt else None,
                )
            return self._transcriber

    def second_ear(self) -> Transcriber | None:
        """The recogniser that listens again after the request words (:attr:`MoodConfig.second_hearing`),
        on the same loaded model; None when the second hearing is off or the engine cannot do it."""
        if not self.config.second_hearing or self.config.asr_prompt:
            return None
        transcriber = self.transcriber()
        with self._lock:
            if self._second_ear is None and isinstance(transcriber, PromptableTranscriber):
                self._second_ear = transcriber.prompted(VOCABULARY_PROMPT)
            return self._second_ear

    def _heard_again(
        self, utt: Utterance, transcript: Transcript, timing: dict[str, float]
    ) -> Transcript | None:
        """The second hearing of ``utt`` if ``transcript`` asks for nothing in a request's form and
        the second hearing asks for something; None otherwise (``timing`` gets its cost)."""
        if (
            transcript.language != "en"
            or utt.duration_s > SECOND_HEARING_MAX_S
            or not names_no_request(transcript.text, elliptical=True)
        ):
            return None
        ear = self.second_ear()
        if ear is None:
            return None
        started = time.perf_counter()
        try:
            heard = ear.transcribe(utt.samples[: int(_WHISPER_MAX_S * TARGET_RATE)])
        finally:
            timing["asr_second"] = (time.perf_counter() - started) * 1000.0
        if heard.language == "en" and find_requests(heard.text).intents:
            return heard
        return None

    def vad(self) -> SileroVad:
        """The Silero VAD (loaded on first use)."""
        with self._lock:
            if self._vad is None:
                self._vad = load_vad()
            return self._vad

    def warm_up(self) -> MoodEstimate:
        """Load VAD and Whisper and run a real short utterance through the live path.

        The utterance (:data:`mood.transcribe.WARM_UP_PATH`, "I feel good today.", 1.2 s) is fed to a
        stream as a client's audio would be, so the stream's VAD and prosody tracker, the
        fitted-window decode (a 4 s window) with its word alignment, text affect, intents and fusion
        all run once; then the batch prosody runs on a worker (the path of raw samples), which also
        starts that thread. No state is kept: no speaker baseline is read or updated.

        Returns:
            The warm-up utterance's estimate (its ``evidence["utterance"]["window_s"]`` is the
            fitted window: 4.0 unless the decoder fell back to 30 s).

        Raises:
            EngineError: If a model or the warm-up utterance cannot be loaded.
        """
        started = time.perf_counter()
        speech = warm_up_speech()
        self.transcriber()
        stream = self.open_stream(TARGET_RATE, 1, "f32le")
        pause = np.zeros(int(TARGET_RATE * (self.config.endpoint_silence_ms / 1000.0 + 0.2)), np.float32)
        audio = np.concatenate([pause, speech, pause])
        chunk = TARGET_RATE // 50  # 20 ms, as a client sends
        items: list[StreamItem] = []
        for at in range(0, audio.shape[0], chunk):
            items += stream.feed(audio[at : at + chunk].tobytes())
        items += stream.finish()
        utterances = [item for item in items if isinstance(item, Utterance)]
        if len(utterances) != 1:  # VAD did not find the one utterance: warm the batch path on it instead
            logger.warning("warm-up: the stream found %d utterances in the warm-up speech", len(utterances))
            estimate = self.analyze_utterance(speech, TARGET_RATE)
        else:
            estimate = self.analyze_utterance(utterances[0])
            self._pool.submit(_timed_prosody, utterances[0].samples, utterances[0].frame_probs).result()
        logger.info(
            "mood analyzer warmed up in %.2f s (heard %r in a %g s window)",
            time.perf_counter() - started,
            estimate.transcript,
            estimate.evidence["utterance"]["window_s"],
        )
        return estimate

    def close(self) -> None:
        """Stop the prosody worker threads."""
        self._pool.shutdown(wait=False)

    # -- analysis -----------------------------------------------------------------------------

    def analyze_text(self, text: str) -> MoodEstimate:
        """Mood and intents from typed text (valence from the words, energy from energy words; the
        words of a request are not mood evidence, see :func:`mood.text.read_text`)."""
        started = time.perf_counter()
        reading = read_text(text)
        text_ms = (time.perf_counter() - started) * 1000.0
        started = time.perf_counter()
        estimate = fuse(None, reading.affect, intents=reading.intents, transcript=text.strip())
        timing = {"text": text_ms, "fusion": (time.perf_counter() - started) * 1000.0}
        return _with_evidence(estimate, timing_ms=_rounded(timing))

    def analyze_utterance(
        self,
        utterance: Utterance | np.ndarray,
        sample_rate: int = TARGET_RATE,
        *,
        baseline: SpeakerBaseline | None = None,
    ) -> MoodEstimate:
        """Mood, transcript and intents from one utterance.

        Parameters:
            utterance: An :class:`~mood.stream.Utterance` from a stream (16 kHz, VAD done), or raw
                samples (shape (n,) or (n, channels), int or float) at ``sample_rate``, which are
                normalised and trimmed to their speech by VAD first.
            baseline: The speaker's running baseline: prosody is read against it, then it is updated
                with this utterance. None: the population prior, nothing updated.

        Raises:
            EmptyAudioError, NonFiniteAudioError, SilentAudioError, AudioFormatError: If the samples are bad.
            AudioTooLongError: If the audio is longer than ``max_utterance_s``.
            NoSpeechError: If VAD finds no speech in raw samples.
            EngineError: If Whisper cannot be loaded.
        """
        timing: dict[str, float] = {}
        started = time.perf_counter()
        if isinstance(utterance, Utterance):
            utt = utterance
            _check_utterance(utt.samples, self.config.max_utterance_s)
        else:
            samples = normalise(np.asarray(utterance), int(sample_rate), max_s=self.config.max_utterance_s)
            utt = utterance_from_samples(
                samples, vad=self.vad(), min_silence_ms=self.config.endpoint_silence_ms
            )
            timing["vad"] = (time.perf_counter() - started) * 1000.0  # normalisation included
        transcriber = self.transcriber()

        measures = utt.prosody_frames if isinstance(utt, _StreamedUtterance) else None
        prosody_future: Future[tuple[ProsodyFeatures, float]] | None = None
        if measures is not None:
            # measured while the listener spoke (open_stream): only the aggregation is left
            started = time.perf_counter()
            features = features_from_frames(measures, utt.duration_s, frame_probs=utt.frame_probs)
            timing["prosody"] = (time.perf_counter() - started) * 1000.0
        else:
            # prosody on a worker while Whisper decodes on this thread
            prosody_future = self._pool.submit(_timed_prosody, utt.samples, utt.frame_probs)
        started = time.perf_counter()
        try:
            if utt.transcription is not None:
                # decoded while it was spoken: at most the part no decode has heard is decoded now
                transcript = utt.transcription.finalize()
            else:
                # Whisper's window is at most 30 s; a stream's cut may carry a few ms of margin beyond it
                transcript = transcriber.transcribe(utt.samples[: int(_WHISPER_MAX_S * TARGET_RATE)])
        finally:
            timing["asr"] = (time.perf_counter() - started) * 1000.0
        heard = self._heard_again(utt, transcript, timing)
        if prosody_future is not None:
            features, timing["prosody"] = prosody_future.result()
        return self._finish(
            utt,
            heard or transcript,
            features,
            baseline,
            timing,
            streamed=measures is not None,
            heard_again=heard is not None,
        )

    def _finish(
        self,
        utt: Utterance,
        transcript: Transcript,
        features: ProsodyFeatures,
        baseline: SpeakerBaseline | None,
        timing: dict[str, float],
        *,
        streamed: bool,
        heard_again: bool = False,
    ) -> MoodEstimate:
        started = time.perf_counter()
        text = transcript.text.strip()
        features = with_transcript_rate(features, text) if text else features
        arousal = prosodic_arousal(features, baseline)
        if baseline is not None:
            baseline.update(features)
        # Text affect and intents are English-only: other languages' words are no evidence (fusion then
        # leans on prosody alone) rather than a wrong reading of them.
        reading = read_text(text) if text and transcript.language == "en" else None
        timing["text"] = (time.perf_counter() - started) * 1000.0
        started = time.perf_counter()
        estimate = fuse(
            arousal,
            reading.affect if reading else None,
            asr=AsrQuality(transcript.avg_logprob, transcript.no_speech_prob, len(text.split())),
            features=features,
            intents=reading.intents if reading else (),
            transcript=text,
        )
        timing["fusion"] = (time.perf_counter() - started) * 1000.0
        incremental = utt.transcription
        return _with_evidence(
            replace(estimate, language=transcript.language),
            timing_ms=_rounded(timing),
            utterance={
                "duration_s": round(utt.duration_s, 3),
                "speech_s": round(float(utt.speech_s), 3),
                "window_s": float(transcript.window_s),
                "prosody_streamed": 1.0 if streamed else 0.0,
                # 1: the transcript is the second hearing's (MoodConfig.second_hearing)
                "asr_heard_again": 1.0 if heard_again else 0.0,
                # decodes while it was spoken (and at the end), and seconds decoded after the endpoint
                "asr_decodes": float(incremental.decodes) if incremental is not None else 1.0,
                "asr_final_decode_s": float(
                    incremental.final_decoded_s
                    if incremental is not None and incremental.final_decoded_s is not None
                    else utt.duration_s
                ),
            },
        )

    def open_stream(self, sample_rate: int, channels: int, sample_format: SampleFormat) -> UtteranceStream:
        """A streaming endpointer for one audio stream, on this analyzer's VAD and limits; with smart
        endpointing (:attr:`MoodConfig.endpointing`) it also decodes while the listener speaks (when
        asked: :meth:`~mood.stream.UtteranceStream.decode_due`, :meth:`~mood.stream.UtteranceStream.advance`).

        Raises:
            AudioFormatError: If the rate, channel count or sample format is unsupported.
            EngineError: If smart endpointing needs Whisper and it cannot be loaded.
        """
        smart = self.config.endpointing == "smart"
        return _ProsodyStream(
            sample_rate,
            channels,
            sample_format,
            endpoint_silence_ms=self.config.endpoint_silence_ms,
            max_utterance_s=self.config.max_utterance_s,
            vad=self.vad(),
            transcriber=self.transcriber() if smart else None,
            endpointing=EndpointSettings(max_silence_ms=self.config.endpoint_silence_ms) if smart else None,
        )


@dataclass(frozen=True, slots=True)
class _StreamedUtterance(Utterance):
    """An utterance from :meth:`MoodAnalyzer.open_stream`, carrying the prosody frames measured while
    it was spoken (a copy made with ``dataclasses.replace`` carries them too)."""

    prosody_frames: FrameMeasures | None = None


class _ProsodyStream(UtteranceStream):
    """The endpointing stream, also measuring prosody frames as the audio arrives.

    Every 16 kHz sample the stream keeps passes through ``_append_audio`` (mood.stream's one hook for
    it) into a :class:`~mood.prosody.ProsodyTracker`; when an utterance is emitted its frames are
    already measured but for its last few, and are handed to the analyzer with it.
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        sample_format: SampleFormat,
        *,
        endpoint_silence_ms: int,
        max_utterance_s: float,
        vad: SileroVad,
        transcriber: Transcriber | None = None,
        endpointing: EndpointSettings | None = None,
    ) -> None:
        self._tracker = ProsodyTracker(keep_s=max_utterance_s + 2.0)
        super().__init__(
            sample_rate,
            channels,
            sample_format,
            endpoint_silence_ms=endpoint_silence_ms,
            max_utterance_s=max_utterance_s,
            vad=vad,
            transcriber=transcriber,
            endpointing=endpointing,
        )

    def _append_audio(self, samples: np.ndarray) -> None:
        super()._append_audio(samples)
        self._tracker.push(samples)

    def feed(self, chunk: bytes) -> list[StreamItem]:
        return self._prepare(super().feed(chunk))

    def finish(self) -> list[StreamItem]:
        return self._prepare(super().finish())

    def poll(self) -> list[StreamItem]:
        return self._prepare(super().poll())

    def _final_pitch_fall(self, start_sample: int, stop_sample: int) -> float | None:
        """The endpoint policy's pitch cue from the frames the tracker already measured."""
        try:
            measures = self._tracker.measures(start_sample, max(start_sample, stop_sample - 1))
        except ValueError:  # off the grid or too old: measure the kept audio instead
            return super()._final_pitch_fall(start_sample, stop_sample)
        return final_pitch_fall_st(measures)

    def _prepare(self, events: Sequence[StreamItem]) -> list[StreamItem]:
        """The stream's events, each utterance carrying its prosody frames when the tracker has them."""
        return [self._with_frames(e) if isinstance(e, Utterance) else e for e in events]

    def _with_frames(self, utterance: Utterance) -> Utterance:
        start = round(utterance.offset_s * TARGET_RATE)
        stop = start + utterance.samples.shape[0]
        if self._tracker.received < stop:
            # the tracker has not seen this audio (mood.stream changed how audio is kept)
            logger.warning("prosody tracker is behind the stream; measuring from the samples")
            return utterance
        try:
            measures = self._tracker.measures(start, stop)
        except ValueError:  # off the grid or too old: the analyzer measures the samples
            logger.debug("utterance at %.3f s left to batch prosody", utterance.offset_s)
            return utterance
        return _StreamedUtterance(
            **{f.name: getattr(utterance, f.name) for f in fields(Utterance)}, prosody_frames=measures
        )


def _timed_prosody(samples: np.ndarray, frame_probs: np.ndarray) -> tuple[ProsodyFeatures, float]:
    started = time.perf_counter()
    features = extract_prosody(samples, frame_probs=frame_probs if frame_probs.size else None)
    return features, (time.perf_counter() - started) * 1000.0


def _check_utterance(samples: np.ndarray, max_s: float) -> None:
    array: Any = np.asarray(samples)
    if array.size == 0:
        raise EmptyAudioError("the utterance has no samples")
    if not np.isfinite(array).all():
        raise NonFiniteAudioError("the utterance contains NaN or infinite samples")
    # a stream cuts over-long speech at max_utterance_s plus its margins; allow those margins
    if array.shape[0] / TARGET_RATE > max_s + 1.0:
        raise AudioTooLongError(
            f"the utterance lasts {array.shape[0] / TARGET_RATE:.1f} s, over the {max_s:g} s limit"
        )


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in values.items()}


def _with_evidence(estimate: MoodEstimate, **parts: dict[str, float]) -> MoodEstimate:
    """A copy of ``estimate`` whose evidence also holds ``parts`` (the estimate itself is not touched)."""
    return replace(estimate, evidence={**estimate.evidence, **parts})
