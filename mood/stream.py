"""Streaming endpointing: microphone chunks in, :class:`VadEvent` and :class:`Utterance` out.

An :class:`UtteranceStream` takes PCM chunks of any size in the stream's declared format (``s16le`` or
``f32le``, any rate from 8 to 192 kHz, 1–8 interleaved channels), converts them to 16 kHz mono as they
arrive (an incremental soxr resampler, time-aligned with the input), and runs Silero VAD on every
completed 32 ms frame, so by the time the listener stops talking the VAD work is already done. When
``endpoint_silence_ms`` of silence follows speech, it returns the utterance: the 16 kHz samples from a
small margin before the speech to a small margin after it, the speech start and end in stream seconds,
and the per-frame speech probabilities.

Over-long speech: when an utterance reaches ``max_utterance_s`` (including its leading margin) the
stream **emits it at that length** (a ``silence`` event at the cut, then the utterance) and, if the
listener keeps talking, starts the next utterance on the next speech frame. Every piece of such
speech, up to its next real pause, is marked :attr:`Utterance.reached_limit`. It never raises
:class:`~mood.errors.AudioTooLongError`: in a live stream that would throw the speech away.

Chunks need not hold whole frames: a trailing partial sample is kept for the next chunk (and dropped,
with a warning, at :meth:`UtteranceStream.finish`). An ``f32le`` chunk holding NaN or infinity raises
:class:`~mood.errors.NonFiniteAudioError` and is discarded; the stream stays usable.

Recognition while the listener speaks (issue 14). Given a ``transcriber``, the stream keeps an
:class:`~mood.incremental.IncrementalTranscriber` for the utterance in progress, fed every sample of it.
The stream itself never decodes: its owner asks :meth:`UtteranceStream.decode_due` after each chunk and,
when it says so, runs :meth:`UtteranceStream.advance` wherever decoding belongs (a server's speech
workers), which returns a :class:`PartialTranscript`. A decode is due every ``decode_every_s`` of new
speech, and once per pause when ``pause_decode_ms`` of it has passed, so that a decode has heard the
speech up to the pause. The utterance carries its transcriber (:attr:`Utterance.transcription`), and
the analyzer finalizes it instead of decoding the whole utterance again.

Smarter endpointing: given ``endpointing`` settings too, every frame of a pause asks
:func:`mood.endpoint.decide_endpoint` with the partial transcript that heard the pause (none yet: wait)
and the voice's final pitch fall (:func:`mood.endpoint.final_pitch_fall_st`), and closes the utterance
as soon as it says "close"; ``endpoint_silence_ms`` remains the upper bound. A decode that lands during
a pause may let the utterance close before the next chunk arrives: :meth:`UtteranceStream.poll` asks
again without new audio.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

import numpy as np
import soxr

from mood.audio import TARGET_RATE, SampleFormat, bytes_per_frame, check_format, decode_pcm
from mood.endpoint import EndpointSettings, decide_endpoint, final_pitch_fall_st
from mood.errors import NoSpeechError
from mood.incremental import IncrementalTranscriber
from mood.prosody import measure_frames
from mood.vad import FRAME_S, FRAME_SAMPLES, Endpointer, EndpointEvent, SileroVad, load_vad

if TYPE_CHECKING:
    from mood.transcribe import Transcriber

__all__ = [
    "DEFAULT_MARGIN_MS",
    "PartialTranscript",
    "StreamItem",
    "Utterance",
    "UtteranceStream",
    "VadEvent",
    "utterance_from_samples",
]

logger = logging.getLogger(__name__)

DEFAULT_MARGIN_MS = 192
"""Milliseconds of audio kept before and after the speech in an utterance (6 VAD frames): Whisper and
the prosody's onset detection both do better with a little context than with a cut at the first phone."""


@dataclass(frozen=True, slots=True)
class VadEvent:
    """The listener started or stopped speaking."""

    state: Literal["speech", "silence"]
    t_s: float
    """Seconds from the start of the stream: where the speech starts, or where it ended."""


@dataclass(frozen=True, slots=True)
class Utterance:
    """One stretch of speech, ready for transcription and prosody."""

    samples: np.ndarray
    """float32 [shape=(n,)], 16 kHz mono: the speech with up to ``DEFAULT_MARGIN_MS`` either side."""
    start_s: float
    """Seconds from the start of the stream to the first speech frame."""
    end_s: float
    """Seconds from the start of the stream to the end of the last speech frame."""
    speech_s: float
    """Seconds of frames voiced by VAD (probability >= threshold) between ``start_s`` and ``end_s``."""
    frame_probs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """float32 [shape=(ceil(n / 512),)]: VAD speech probability per 32 ms frame of ``samples``."""
    offset_s: float = 0.0
    """Seconds from the start of the stream to ``samples[0]`` (so ``start_s - offset_s`` is the
    speech onset within ``samples``)."""
    reached_limit: bool = False
    """True if this is part of speech that ran past ``max_utterance_s``: a piece the stream cut at
    the limit, or the rest of that speech up to its pause. Not a whole utterance; the session
    refuses it with ``audio_too_long``."""
    transcription: IncrementalTranscriber | None = field(default=None, compare=False, repr=False)
    """The utterance decoded while it was spoken (closed: its ``finalize()`` gives the transcript of
    ``samples``), when the stream had a transcriber; None: decode ``samples`` in one go."""

    @property
    def duration_s(self) -> float:
        """Seconds of audio in ``samples``."""
        return self.samples.shape[0] / TARGET_RATE


@dataclass(frozen=True, slots=True)
class PartialTranscript:
    """What the listener has said so far in the utterance they are still speaking."""

    text: str
    """The partial transcript (Whisper's words, with its punctuation)."""
    stable_chars: int
    """Characters at the start of ``text`` that later decodes are unlikely to change."""
    start_s: float
    """Seconds from the start of the stream to the utterance's first speech frame (its
    :attr:`Utterance.start_s`, so a partial and the utterance's mood can be matched)."""
    heard_s: float
    """Seconds from the start of the stream to the end of the audio ``text`` covers."""


@dataclass(frozen=True, slots=True)
class _InProgress:
    """The utterance being spoken, as :meth:`UtteranceStream.advance` reads it (in one attribute read,
    from another thread)."""

    transcription: IncrementalTranscriber
    origin_frame: int
    """Stream frame of the transcription's first sample (the utterance's leading margin)."""
    start_s: float


StreamItem: TypeAlias = VadEvent | Utterance
"""What a stream yields, in order: a speech boundary or a finished utterance (tell them apart with
``isinstance``)."""


class UtteranceStream:
    """Incremental VAD and endpointing over one audio stream (one ``audio.start`` … ``audio.stop``).

    Not thread-safe: one stream is fed from one task. The VAD model is shared (see
    :func:`mood.vad.load_vad`); the stream holds only its own state.

    Raises (from the constructor):
        AudioFormatError: If the rate, channel count or sample format is unsupported.
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        sample_format: SampleFormat,
        *,
        endpoint_silence_ms: int = 600,
        max_utterance_s: float = 30.0,
        vad: SileroVad | None = None,
        threshold: float = 0.5,
        min_speech_ms: int = 250,
        margin_ms: int = DEFAULT_MARGIN_MS,
        transcriber: Transcriber | None = None,
        endpointing: EndpointSettings | None = None,
        decode_every_s: float = 1.0,
        pause_decode_ms: int = 128,
    ) -> None:
        check_format(sample_rate, channels, sample_format)
        if max_utterance_s <= 1.0:
            raise ValueError(f"max_utterance_s must exceed 1 s, got {max_utterance_s}")
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.sample_format: SampleFormat = sample_format
        self.max_utterance_s = float(max_utterance_s)
        self.threshold = float(threshold)
        self._frame_bytes = bytes_per_frame(sample_format, channels)
        self._resampler = (
            soxr.ResampleStream(self.sample_rate, TARGET_RATE, 1, dtype="float32", quality="HQ")
            if self.sample_rate != TARGET_RATE
            else None
        )
        self._vad = vad if vad is not None else load_vad()
        self._vad_state = self._vad.new_state()
        self._endpointer = Endpointer(
            threshold=threshold, min_silence_ms=endpoint_silence_ms, min_speech_ms=min_speech_ms
        )
        self._margin_frames = max(0, round(margin_ms / 1000.0 / FRAME_S))
        self._max_frames = int(self.max_utterance_s / FRAME_S)
        self._leftover = b""
        # Audio and probabilities kept from frame `_origin_frame` on: while silent only the margin,
        # while speaking everything since the utterance's leading margin.
        self._origin_frame = 0
        self._chunks: list[np.ndarray] = []
        self._probs: list[float] = []
        self._received = 0
        self._finished = False
        self._after_cut = False
        """The last utterance closed was cut at the limit: the speech that follows it is its rest."""
        self._transcriber = transcriber
        self._policy = endpointing if transcriber is not None else None
        self._decode_every = max(1, round(decode_every_s * TARGET_RATE))
        self._pause_frames = max(1, round(pause_decode_ms / 1000.0 / FRAME_S))
        self._current: _InProgress | None = None
        self._pitch_fall: tuple[int, float | None] | None = None
        """(pause's first frame, final pitch fall before it), measured once per pause."""

    @property
    def duration_s(self) -> float:
        """Seconds of (16 kHz) audio received so far."""
        return self._received / TARGET_RATE

    @property
    def in_speech(self) -> bool:
        """Whether the listener is speaking at the end of the audio received so far."""
        return self._endpointer.in_speech

    def decode_due(self) -> bool:
        """Whether :meth:`advance` has new work: ``decode_every_s`` of speech nobody decoded yet, or a
        pause ``pause_decode_ms`` long that no decode has heard. Always False without a transcriber."""
        current = self._current
        if current is None or self._finished:
            return False
        transcription = current.transcription
        received, heard = transcription.received_samples, transcription.heard_samples
        pause = self._endpointer.candidate_end
        if pause is not None:
            target = (pause - current.origin_frame + self._pause_frames) * FRAME_SAMPLES
            return received >= target > heard
        return received - heard >= self._decode_every

    def advance(self) -> PartialTranscript | None:
        """Decode the utterance in progress up to the audio received so far (slow: tens to hundreds of
        ms). Safe to call from another thread while :meth:`feed` runs; one call at a time.

        Returns:
            The partial transcript, or None (no utterance in progress, it ended meanwhile, or too little
            new audio).

        Raises:
            CadenceError: If the transcriber fails (the stream is unaffected).
        """
        current = self._current
        if current is None:
            return None
        hypothesis = current.transcription.advance()
        if hypothesis is None:
            return None
        return PartialTranscript(
            text=hypothesis.text,
            stable_chars=hypothesis.stable_chars,
            start_s=current.start_s,
            heard_s=round(current.origin_frame * FRAME_S + hypothesis.heard_s, 6),
        )

    def is_current(self, partial: PartialTranscript) -> bool:
        """Whether ``partial`` belongs to the utterance still in progress (not to one already closed)."""
        current = self._current
        return current is not None and current.start_s == partial.start_s

    def poll(self) -> list[StreamItem]:
        """Ask the endpoint policy again without new audio (after a decode landed during a pause): the
        events and utterance that closing now yields, or nothing."""
        frames = self._vad_state.frames
        if self._finished or not self._closes_early(frames):
            return []
        event = self._endpointer.cut(frames)
        return self._close(event, available_frames=frames) if event is not None else []

    def feed(self, chunk: bytes) -> list[StreamItem]:
        """Add a chunk of PCM bytes; return the events and finished utterances it completes, in order.

        Raises:
            NonFiniteAudioError: If an ``f32le`` chunk holds NaN or infinity (the chunk is dropped).
            RuntimeError: If called after :meth:`finish`.
        """
        if self._finished:
            raise RuntimeError("this utterance stream is finished; open a new one")
        data = self._leftover + bytes(chunk)
        whole = len(data) - len(data) % self._frame_bytes
        samples = decode_pcm(data[:whole], self.sample_format, self.channels)
        self._leftover = data[whole:]
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        return self._consume(samples)

    def finish(self) -> list[StreamItem]:
        """End the stream: flush the resampler and VAD, close an utterance still in progress."""
        if self._finished:
            return []
        self._finished = True
        if self._leftover:
            logger.warning("dropping %d trailing bytes that are not a whole frame", len(self._leftover))
            self._leftover = b""
        out: list[StreamItem] = []
        if self._resampler is not None:
            out += self._consume(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        if self._vad_state.pending.size:
            # the last partial frame is zero-padded for VAD; the audio itself is not padded
            out += self._on_probs(self._vad.flush(self._vad_state))
        event = self._endpointer.cut(self._vad_state.frames)
        if event is not None:
            out += self._close(event, available_frames=self._vad_state.frames)
        return out

    # -- internals -------------------------------------------------------------------------------

    def _append_audio(self, samples: np.ndarray) -> None:
        if samples.size:
            self._chunks.append(np.asarray(samples, dtype=np.float32))
            self._received += samples.shape[0]
            if self._current is not None:
                self._current.transcription.feed(samples)

    def _consume(self, samples16k: np.ndarray) -> list[StreamItem]:
        self._append_audio(samples16k)
        out = self._on_probs(self._vad.process(self._vad_state, samples16k))
        if not self._endpointer.in_speech:
            self._trim(self._vad_state.frames - self._margin_frames)
        return out

    def _on_probs(self, probs: np.ndarray) -> list[StreamItem]:
        out: list[StreamItem] = []
        first = self._vad_state.frames - probs.shape[0]
        for i, prob in enumerate(probs.tolist()):
            frame = first + i
            self._probs.append(prob)
            event = self._endpointer.push(prob, frame)
            if event is not None and event.kind == "start":
                self._trim(frame - self._margin_frames)
                out.append(VadEvent("speech", round(frame * FRAME_S, 6)))
                self._begin_transcription(frame)
            elif event is not None:
                out += self._close(event, available_frames=frame + 1)
            elif self._closes_early(frame + 1):
                early = self._endpointer.cut(frame + 1)
                if early is not None:
                    out += self._close(early, available_frames=frame + 1)
            elif (
                self._endpointer.in_speech
                and frame + 1 - self._endpointer.start_frame + self._margin_frames >= self._max_frames
            ):
                # Cut during a pause, the utterance ends where the speech paused and is whole;
                # cut while the listener is still talking, it is a piece of over-long speech.
                talking = not self._endpointer.pausing
                cut = self._endpointer.cut(frame + 1)
                if cut is not None:
                    logger.info("utterance reached the %.1f s limit; emitting it", self.max_utterance_s)
                    out += self._close(cut, available_frames=frame + 1, reached_limit=talking)
        return out

    def _begin_transcription(self, start_frame: int) -> None:
        """A new utterance: decode it as it arrives, from its leading margin (the audio kept now)."""
        if self._transcriber is None:
            return
        transcription = IncrementalTranscriber(self._transcriber, speech_guard_s=self._pause_frames * FRAME_S)
        transcription.feed(self._audio())
        self._pitch_fall = None
        self._current = _InProgress(transcription, self._origin_frame, round(start_frame * FRAME_S, 6))

    def _closes_early(self, frames: int) -> bool:
        """Whether the endpoint policy closes the paused utterance after ``frames`` frames of audio."""
        current, policy = self._current, self._policy
        pause = self._endpointer.candidate_end
        if current is None or policy is None or pause is None:
            return False
        silence_ms = (frames - pause) * FRAME_S * 1000.0
        if silence_ms < min(policy.complete_falling_ms, policy.complete_ms, policy.open_ms):
            return False
        heard_to = (pause - current.origin_frame + self._pause_frames) * FRAME_SAMPLES
        text = current.transcription.text_heard_to(heard_to)
        if text is None:  # no decode has heard the pause yet: the fixed endpointer decides
            return False
        if self._pitch_fall is None or self._pitch_fall[0] != pause:
            fall = self._final_pitch_fall(current.origin_frame * FRAME_SAMPLES, pause * FRAME_SAMPLES)
            self._pitch_fall = (pause, fall)
        return decide_endpoint(text, silence_ms, policy, pitch_fall_st=self._pitch_fall[1]) == "close"

    def _final_pitch_fall(self, start_sample: int, stop_sample: int) -> float | None:
        """:func:`mood.endpoint.final_pitch_fall_st` of stream samples ``[start, stop)`` (measured here
        from the kept audio; a stream that tracks prosody as it goes reads its frames instead)."""
        audio = self._audio()
        lo = start_sample - self._origin_frame * FRAME_SAMPLES
        hi = stop_sample - self._origin_frame * FRAME_SAMPLES
        if lo < 0 or hi <= lo:
            return None
        return final_pitch_fall_st(measure_frames(audio[lo:hi]))

    def _close(
        self, event: EndpointEvent, *, available_frames: int, reached_limit: bool = False
    ) -> list[StreamItem]:
        out: list[StreamItem] = [VadEvent("silence", round(event.frame * FRAME_S, 6))]
        current, self._current = self._current, None
        if self._endpointer.is_long_enough(event):
            first = max(self._origin_frame, event.start_frame - self._margin_frames)
            last = min(available_frames, event.frame + self._margin_frames)
            last = max(last, first + 1)
            # Never longer than the limit, whatever the margins.
            last = min(last, first + self._max_frames)
            fragment = reached_limit or self._after_cut
            transcription = None
            if current is not None:
                current.transcription.close(
                    end_samples=(last - first) * FRAME_SAMPLES,
                    speech_end_samples=(event.frame - first) * FRAME_SAMPLES,
                )
                if current.origin_frame == first:
                    transcription = current.transcription
                else:  # not the same audio (cannot happen with the margins as they are): decode anew
                    logger.warning("utterance at frame %d: its transcription started elsewhere", first)
            out.append(
                self._utterance(event, first, last, reached_limit=fragment, transcription=transcription)
            )
        else:
            logger.debug("dropping a %d-frame blip", event.frame - event.start_frame)
            if current is not None:
                current.transcription.close(end_samples=0, speech_end_samples=0)
        self._after_cut = reached_limit
        return out

    def _utterance(
        self,
        event: EndpointEvent,
        first_frame: int,
        last_frame: int,
        *,
        reached_limit: bool = False,
        transcription: IncrementalTranscriber | None = None,
    ) -> Utterance:
        audio = self._audio()
        lo = (first_frame - self._origin_frame) * FRAME_SAMPLES
        hi = min((last_frame - self._origin_frame) * FRAME_SAMPLES, audio.shape[0])
        probs = np.asarray(
            self._probs[first_frame - self._origin_frame : last_frame - self._origin_frame], np.float32
        )
        voiced = np.asarray(
            self._probs[event.start_frame - self._origin_frame : event.frame - self._origin_frame]
        )
        end_s = min(event.frame * FRAME_S, self._received / TARGET_RATE)
        return Utterance(
            samples=np.ascontiguousarray(audio[lo:hi]),
            start_s=round(event.start_frame * FRAME_S, 6),
            end_s=round(end_s, 6),
            speech_s=round(float(np.count_nonzero(voiced >= self.threshold)) * FRAME_S, 6),
            frame_probs=probs,
            offset_s=round(first_frame * FRAME_S, 6),
            reached_limit=reached_limit,
            transcription=transcription,
        )

    def _audio(self) -> np.ndarray:
        if len(self._chunks) != 1:
            self._chunks = [
                np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32),
            ]
        return self._chunks[0]

    def _trim(self, keep_from_frame: int) -> None:
        """Forget audio and probabilities before frame ``keep_from_frame``."""
        drop = keep_from_frame - self._origin_frame
        if drop <= 0:
            return
        audio = self._audio()
        self._chunks = [audio[drop * FRAME_SAMPLES :].copy()]
        del self._probs[:drop]
        self._origin_frame = keep_from_frame


def utterance_from_samples(
    samples16k: np.ndarray,
    *,
    vad: SileroVad | None = None,
    threshold: float = 0.5,
    min_silence_ms: int = 600,
    margin_ms: int = DEFAULT_MARGIN_MS,
) -> Utterance:
    """Make one :class:`Utterance` of a whole 16 kHz clip: VAD over it, trimmed to its speech.

    Everything from the first speech onset to the last speech end is kept (pauses inside included),
    with ``margin_ms`` either side; ``start_s``/``end_s`` are relative to the clip.

    Raises:
        NoSpeechError: If VAD finds no speech in the clip.
    """
    model = vad if vad is not None else load_vad()
    samples = np.ascontiguousarray(samples16k, dtype=np.float32).reshape(-1)
    probs = model.speech_probabilities(samples)
    endpointer = Endpointer(threshold=threshold, min_silence_ms=min_silence_ms)
    segments: list[EndpointEvent] = []
    for i, prob in enumerate(probs.tolist()):
        event = endpointer.push(prob, i)
        if event is not None and event.kind == "end" and endpointer.is_long_enough(event):
            segments.append(event)
    final = endpointer.cut(len(probs))
    if final is not None and endpointer.is_long_enough(final):
        segments.append(final)
    if not segments:
        raise NoSpeechError("no speech was found in the audio")
    margin = max(0, round(margin_ms / 1000.0 / FRAME_S))
    start_frame, end_frame = segments[0].start_frame, segments[-1].frame
    first, last = max(0, start_frame - margin), min(len(probs), end_frame + margin)
    voiced = probs[start_frame:end_frame]
    duration_s = samples.shape[0] / TARGET_RATE
    return Utterance(
        samples=np.ascontiguousarray(samples[first * FRAME_SAMPLES : last * FRAME_SAMPLES]),
        start_s=round(start_frame * FRAME_S, 6),
        end_s=round(min(end_frame * FRAME_S, duration_s), 6),
        speech_s=round(float(np.count_nonzero(voiced >= threshold)) * FRAME_S, 6),
        frame_probs=np.asarray(probs[first:last], np.float32),
        offset_s=round(first * FRAME_S, 6),
    )
