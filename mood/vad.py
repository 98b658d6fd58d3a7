"""Voice activity: Silero VAD (v6, ONNX) through onnxruntime, and a pure endpointing state machine.

The model is the ``silero_vad_v6.onnx`` that faster-whisper ships in ``faster_whisper/assets``; no torch.
It reads 16 kHz audio in frames of 512 samples (32 ms), each prefixed with the last 64 samples of the
frame before, and carries an LSTM state ``(h, c)`` from frame to frame. A batch of frames handed to one
``run`` call is treated as consecutive in time, so a stream can be processed incrementally: keep the
state, the 64-sample context and the not-yet-complete tail between calls (:class:`VadState`). The
session is loaded once per process (:func:`load_vad`) and shared; onnxruntime sessions are safe to run
from several threads, and every stream has its own :class:`VadState`.

Endpointing (:class:`Endpointer`) follows the hysteresis of the reference ``get_speech_timestamps`` in
snakers4/silero-vad: speech starts on a frame with probability ``>= threshold``; once in speech, a frame
below ``neg_threshold`` (default ``threshold - 0.15``) marks a candidate end, confirmed when no frame
reaches ``threshold`` again for ``min_silence_ms``. Segments shorter than ``min_speech_ms`` are dropped.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from mood.errors import EngineError

__all__ = [
    "CONTEXT_SAMPLES",
    "FRAME_S",
    "FRAME_SAMPLES",
    "EndpointEvent",
    "Endpointer",
    "SileroVad",
    "VadState",
    "load_vad",
    "speech_segments",
    "vad_model_path",
]

logger = logging.getLogger(__name__)

FRAME_SAMPLES = 512
"""Samples per VAD frame at 16 kHz."""
FRAME_S = FRAME_SAMPLES / 16000
"""Seconds per VAD frame (0.032)."""
CONTEXT_SAMPLES = 64
"""Samples of the previous frame prepended to each frame (Silero v5/v6 at 16 kHz)."""
_STATE_SHAPE = (1, 1, 128)


def vad_model_path() -> Path:
    """Path of the Silero VAD v6 ONNX model bundled with faster-whisper.

    Raises:
        EngineError: If faster-whisper is not installed or the file is missing.
    """
    try:
        from faster_whisper.utils import get_assets_path
    except ImportError as exc:  # pragma: no cover - faster-whisper is a core dependency
        raise EngineError("faster-whisper is not installed: pip install faster-whisper") from exc
    path = Path(get_assets_path()) / "silero_vad_v6.onnx"
    if not path.is_file():
        raise EngineError(f"Silero VAD model not found at {path}")
    return path


@dataclass
class VadState:
    """The per-stream state of :class:`SileroVad`: LSTM state, frame context and the partial tail."""

    h: np.ndarray = field(default_factory=lambda: np.zeros(_STATE_SHAPE, np.float32))
    c: np.ndarray = field(default_factory=lambda: np.zeros(_STATE_SHAPE, np.float32))
    context: np.ndarray = field(default_factory=lambda: np.zeros(CONTEXT_SAMPLES, np.float32))
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """Samples received but not yet a whole frame."""
    frames: int = 0
    """Frames processed so far."""


class SileroVad:
    """Silero VAD v6 on onnxruntime (one thread, CPU); use :func:`load_vad` for the shared instance."""

    def __init__(self, model_path: Path | None = None) -> None:
        import onnxruntime

        path = model_path if model_path is not None else vad_model_path()
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 4
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EngineError(f"cannot load the Silero VAD model {path}: {exc}") from exc
        self.model_path = Path(path)

    def new_state(self) -> VadState:
        """A fresh state for one stream."""
        return VadState()

    def process(self, state: VadState, samples16k: np.ndarray) -> np.ndarray:
        """Feed more 16 kHz samples of a stream; return the probabilities of the frames they complete.

        Returns:
            np.ndarray [shape=(k,), dtype=float32]: speech probability 0–1 of each new 32 ms frame;
            frame ``state.frames - k + i`` of the stream is entry ``i``.
        """
        samples = np.asarray(samples16k, dtype=np.float32).reshape(-1)
        if state.pending.size:
            samples = np.concatenate([state.pending, samples])
        whole = samples.shape[0] // FRAME_SAMPLES
        state.pending = samples[whole * FRAME_SAMPLES :].copy()
        if whole == 0:
            return np.zeros(0, np.float32)
        frames = samples[: whole * FRAME_SAMPLES].reshape(whole, FRAME_SAMPLES)
        contexts = np.empty((whole, CONTEXT_SAMPLES), np.float32)
        contexts[0] = state.context
        if whole > 1:
            contexts[1:] = frames[:-1, -CONTEXT_SAMPLES:]
        batch = np.ascontiguousarray(np.concatenate([contexts, frames], axis=1))
        probs, state.h, state.c = self._session.run(None, {"input": batch, "h": state.h, "c": state.c})
        state.context = frames[-1, -CONTEXT_SAMPLES:].copy()
        state.frames += whole
        return np.asarray(probs, dtype=np.float32).reshape(-1)

    def flush(self, state: VadState) -> np.ndarray:
        """End a stream: zero-pad the partial last frame (if any) and return its probability."""
        if state.pending.size == 0:
            return np.zeros(0, np.float32)
        tail = np.zeros(FRAME_SAMPLES - state.pending.size, np.float32)
        return self.process(state, tail)

    def speech_probabilities(self, samples16k: np.ndarray) -> np.ndarray:
        """Speech probability of every 32 ms frame of a whole recording (the last frame zero-padded).

        Parameters:
            samples16k: np.ndarray [shape=(n,)], float32 at 16 kHz.

        Returns:
            np.ndarray [shape=(ceil(n / 512),), dtype=float32], each 0–1.
        """
        state = self.new_state()
        probs = self.process(state, samples16k)
        tail = self.flush(state)
        return np.concatenate([probs, tail]) if tail.size else probs


_vad_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_vad_cached(model_path: Path | None) -> SileroVad:
    return SileroVad(model_path)


def load_vad(model_path: Path | None = None) -> SileroVad:
    """The process-wide :class:`SileroVad` (loaded once, on first use, thread-safely)."""
    with _vad_lock:
        return _load_vad_cached(model_path)


EndpointKind = Literal["start", "end"]


@dataclass(frozen=True, slots=True)
class EndpointEvent:
    """A speech boundary found by :class:`Endpointer`, in frames of 32 ms from the stream's start."""

    kind: EndpointKind
    frame: int
    """For ``start``: the first speech frame. For ``end``: the first frame after the speech."""
    start_frame: int
    """The first frame of the speech segment this event belongs to."""


class Endpointer:
    """Pure hysteresis endpointing over per-frame speech probabilities (no model, no clock).

    Push probabilities in frame order; get ``start`` when speech begins and ``end`` once
    ``min_silence_ms`` of silence confirms it finished. A segment shorter than ``min_speech_ms`` yields
    an ``end`` event too (so listeners can clear a "speaking" indicator) but :meth:`is_long_enough`
    says it is too short to keep.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        neg_threshold: float | None = None,
        min_silence_ms: int = 600,
        min_speech_ms: int = 250,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.threshold = float(threshold)
        self.neg_threshold = (
            float(neg_threshold) if neg_threshold is not None else max(self.threshold - 0.15, 0.01)
        )
        self.min_silence_frames = max(1, round(min_silence_ms / 1000.0 / FRAME_S))
        self.min_speech_frames = max(1, round(min_speech_ms / 1000.0 / FRAME_S))
        self.in_speech = False
        self.start_frame = 0
        self._candidate_end: int | None = None

    def push(self, probability: float, frame: int) -> EndpointEvent | None:
        """Consume the probability of frame ``frame``; return a boundary if this frame confirms one."""
        if not self.in_speech:
            if probability >= self.threshold:
                self.in_speech = True
                self.start_frame = frame
                self._candidate_end = None
                return EndpointEvent("start", frame, frame)
            return None
        if probability >= self.threshold:
            self._candidate_end = None
            return None
        if probability < self.neg_threshold and self._candidate_end is None:
            self._candidate_end = frame
        if self._candidate_end is not None and frame + 1 - self._candidate_end >= self.min_silence_frames:
            return self._close(self._candidate_end)
        return None

    @property
    def pausing(self) -> bool:
        """In speech, but the last frames were silent (a pause not yet long enough to end it)."""
        return self.in_speech and self._candidate_end is not None

    @property
    def candidate_end(self) -> int | None:
        """While pausing: the first silent frame of the pause (where the speech would end), else None."""
        return self._candidate_end if self.in_speech else None

    def cut(self, frame: int) -> EndpointEvent | None:
        """Force the current segment (if any) to end before ``frame`` (end of stream, length limit)."""
        if not self.in_speech:
            return None
        end = self._candidate_end if self._candidate_end is not None else frame
        return self._close(end)

    def is_long_enough(self, event: EndpointEvent) -> bool:
        """Whether the segment closed by ``event`` lasts at least ``min_speech_ms``."""
        return event.frame - event.start_frame >= self.min_speech_frames

    def _close(self, end_frame: int) -> EndpointEvent:
        self.in_speech = False
        self._candidate_end = None
        return EndpointEvent("end", end_frame, self.start_frame)


def speech_segments(
    samples16k: np.ndarray,
    *,
    threshold: float = 0.5,
    neg_threshold: float | None = None,
    min_silence_ms: int = 600,
    min_speech_ms: int = 250,
    vad: SileroVad | None = None,
) -> list[tuple[float, float]]:
    """Speech segments of a whole 16 kHz recording, as ``(start_s, end_s)`` pairs in seconds.

    Uses the same :class:`Endpointer` as the streaming path, so a file and a stream of the same audio
    segment alike. Returns an empty list when there is no speech.
    """
    model = vad if vad is not None else load_vad()
    probs = model.speech_probabilities(samples16k)
    endpointer = Endpointer(
        threshold=threshold,
        neg_threshold=neg_threshold,
        min_silence_ms=min_silence_ms,
        min_speech_ms=min_speech_ms,
    )
    segments: list[tuple[float, float]] = []
    duration_s = np.asarray(samples16k).shape[0] / 16000.0
    events = [endpointer.push(float(p), i) for i, p in enumerate(probs)]
    events.append(endpointer.cut(len(probs)))
    for event in events:
        if event is not None and event.kind == "end" and endpointer.is_long_enough(event):
            segments.append((event.start_frame * FRAME_S, min(event.frame * FRAME_S, duration_s)))
    return segments
