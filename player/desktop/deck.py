"""The pure core of playback: a deck that hands out a track's frames with fades, and what it reports.

No threads, no clock, no device, no file: :class:`Deck` takes a :class:`TrackSource` (a file decoded
by :class:`player.desktop.playback.FileSource`, or :class:`ArraySource` in memory) and hands out one
block of frames at a time with the :class:`DeckEvent` s they complete (``started``, ``skipped`` at
the position the listener heard, ``completed`` at the track's length). :class:`NowPlaying` is the
snapshot the screen draws. The thread that feeds a sound device from a deck is
:class:`player.desktop.playback.PlaybackThread`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

__all__ = [
    "ArraySource",
    "Deck",
    "DeckEvent",
    "DeckEventKind",
    "NowPlaying",
    "TrackSource",
]


class TrackSource(Protocol):
    """A track decoded block by block at the output's rate and channel count."""

    sample_rate_hz: int
    channels: int

    @property
    def total_frames(self) -> int:
        """The track's length in output frames (an estimate until the end is reached)."""
        ...

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` frames, float32 ``[n, channels]``; an empty array at the end."""
        ...

    def close(self) -> None: ...


class ArraySource:
    """A track already in memory: float32 ``[n, channels]`` at ``sample_rate_hz``."""

    def __init__(self, samples: np.ndarray, sample_rate_hz: int) -> None:
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim == 1:
            samples = samples[:, None]
        self.samples = samples
        self.sample_rate_hz = sample_rate_hz
        self.channels = int(samples.shape[1])
        self._pos = 0

    @property
    def total_frames(self) -> int:
        return int(self.samples.shape[0])

    def read(self, frames: int) -> np.ndarray:
        block = self.samples[self._pos : self._pos + frames]
        self._pos += len(block)
        return block

    def close(self) -> None:
        return None


DeckEventKind = Literal["started", "skipped", "completed"]


@dataclass(frozen=True, slots=True)
class DeckEvent:
    """Something the listener's playback did, reported to the server as a ``playback`` message."""

    kind: DeckEventKind
    track_id: str
    position_s: float
    """Seconds into the track: 0 when started, where the skip was asked, the length when completed."""


class Deck:
    """The pure core of playback: one track at a time, its position, pause, and fades.

    No threads, no clock, no device: :meth:`next_block` hands out the next block of frames to play
    and the events it completes. A track fades in over ``fade_s`` and out over its last ``fade_s``;
    a skip fades the track out over ``fade_s`` from where it was asked, so tracks never cut with a
    click. Positions count frames handed out, so they are exact to the sample.
    """

    def __init__(
        self, sample_rate_hz: int, channels: int, *, block_frames: int = 2048, fade_s: float = 0.05
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.block_frames = block_frames
        self.fade_frames = max(1, round(fade_s * sample_rate_hz))
        self._source: TrackSource | None = None
        self._track_id: str | None = None
        self._frame = 0
        self._paused = False
        self._skip_at: int | None = None
        """Frame at which a skip was asked (the reported position); None when not skipping."""
        self._fade_left = 0

    # state ------------------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._source is not None

    @property
    def track_id(self) -> str | None:
        return self._track_id

    @property
    def position_s(self) -> float:
        return self._frame / self.sample_rate_hz

    @property
    def duration_s(self) -> float:
        return self._source.total_frames / self.sample_rate_hz if self._source is not None else 0.0

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def skipping(self) -> bool:
        return self._skip_at is not None

    # commands ---------------------------------------------------------------------------------------

    def load(self, track_id: str, source: TrackSource) -> DeckEvent:
        """Start ``source`` from its beginning (closing any track still loaded, without an event)."""
        self.unload()
        if source.sample_rate_hz != self.sample_rate_hz or source.channels != self.channels:
            raise ValueError(
                f"source is {source.sample_rate_hz} Hz × {source.channels}, deck is {self.sample_rate_hz} Hz × {self.channels}"
            )
        self._source = source
        self._track_id = track_id
        self._frame = 0
        self._paused = False
        return DeckEvent("started", track_id, 0.0)

    def unload(self) -> None:
        """Drop the current track without reporting anything (the session is ending)."""
        if self._source is not None:
            self._source.close()
        self._source = None
        self._track_id = None
        self._skip_at = None
        self._fade_left = 0

    def skip(self, *, heard_frames: int = 0) -> bool:
        """Ask to skip the current track; False when there is none or it is already being skipped.

        ``heard_frames``: frames handed out but not heard yet (the output's latency); the skip is
        reported at the position the listener heard, ``heard_frames`` before the deck's own.
        """
        if self._source is None or self._skip_at is not None:
            return False
        self._skip_at = max(0, self._frame - heard_frames)
        self._fade_left = self.fade_frames
        self._paused = False  # a paused track fades out from where it stood
        return True

    def set_paused(self, paused: bool) -> None:
        self._paused = paused

    # the stream -------------------------------------------------------------------------------------

    def next_block(self) -> tuple[np.ndarray | None, list[DeckEvent]]:
        """The next frames to play (float32 ``[n, channels]``) and the events they complete.

        Returns ``(None, [])`` with nothing loaded and a block of silence while paused.
        """
        source = self._source
        if source is None or self._track_id is None:
            return None, []
        track_id = self._track_id
        if self._skip_at is not None:
            block = source.read(min(self.block_frames, self._fade_left))
            n = len(block)
            if n:
                start = self._fade_left
                gain = (start - np.arange(1, n + 1, dtype=np.float32)) / self.fade_frames
                block = block * gain[:, None]
                self._fade_left -= n
                self._frame += n
            if self._fade_left <= 0 or n == 0:
                position_s = self._skip_at / self.sample_rate_hz
                self.unload()
                return (block if n else None), [DeckEvent("skipped", track_id, position_s)]
            return block, []
        if self._paused:
            return np.zeros((self.block_frames, self.channels), dtype=np.float32), []
        block = source.read(self.block_frames)
        n = len(block)
        if n == 0:
            position_s = self._frame / self.sample_rate_hz
            self.unload()
            return None, [DeckEvent("completed", track_id, position_s)]
        frames = self._frame + np.arange(n)
        total = source.total_frames
        gain = np.minimum(
            np.minimum((frames + 1) / self.fade_frames, (total - frames) / self.fade_frames), 1.0
        ).astype(np.float32)
        np.clip(gain, 0.0, 1.0, out=gain)
        if gain.min() < 1.0:
            block = block * gain[:, None]
        self._frame += n
        return block, []


@dataclass(frozen=True, slots=True)
class NowPlaying:
    """A snapshot of the deck for the screen."""

    track_id: str | None
    position_s: float
    duration_s: float
    paused: bool
