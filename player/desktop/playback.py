"""Playing tracks: decode a file block by block, resample it, and feed a deck to the output on a thread.

- :class:`FileSource` decodes a track with soundfile and resamples it block by block to the output's
  rate with a streaming soxr resampler (HQ), so a five-minute track never sits in memory whole;
  :func:`decode_track` is the same path in one go (what the tests compare against).
- :class:`FfmpegSource` decodes what libsndfile cannot open (AAC/M4A, WMA, …: files a library holds
  and the server sends as they are, browsers playing them) with ffmpeg, streamed through a pipe.
- :class:`PlaybackThread` plays tracks one after another through an
  :class:`~player.desktop.devices.AudioOutput`: it asks for the next track when the deck is empty,
  writes the deck's blocks, and reports the deck's events and unplayable files. The deck itself
  (fades, positions, pause, skip) is the pure :class:`~player.desktop.deck.Deck`.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import threading
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urljoin

import numpy as np
import soundfile as sf
import soxr

from player.core.downmix import to_stereo
from player.core.links import http_url
from player.desktop.deck import Deck, DeckEvent, NowPlaying, TrackSource
from player.desktop.devices import AudioOutput
from player.errors import DeviceError

__all__ = [
    "FfmpegSource",
    "FileSource",
    "NextTrack",
    "PlaybackThread",
    "TrackLocation",
    "decode_track",
    "open_track",
    "track_location",
]

logger = logging.getLogger(__name__)

_DECODE_BLOCK_FRAMES = 8192
"""Frames read from the file per decode step (before resampling)."""


def _map_channels(block: np.ndarray, channels: int, *, vorbis_order: bool = False) -> np.ndarray:
    """float32 ``[n, c_in]`` -> ``[n, channels]``: mono is duplicated; a surround source is downmixed
    (:mod:`player.core.downmix`, in the file's channel order) to stereo or mono, clipped at full
    scale; other extra channels are dropped, and a mono output gets the mean of the input channels."""
    if block.ndim == 1:
        block = block[:, None]
    have = block.shape[1]
    if have == channels:
        return block
    if channels <= 2 and (stereo := to_stereo(block, vorbis_order=vorbis_order)) is not None:
        mixed = stereo if channels == 2 else stereo.mean(axis=1, keepdims=True)
        return np.clip(mixed, -1.0, 1.0)
    if channels == 1:
        return block.mean(axis=1, keepdims=True)
    if have == 1:
        return np.repeat(block, channels, axis=1)
    if have > channels:
        return block[:, :channels]
    return np.concatenate([block, np.repeat(block[:, -1:], channels - have, axis=1)], axis=1)


class _BufferedSource(ABC):
    """What both sources share: decoded frames wait in ``_pending`` until :meth:`read` takes them;
    :meth:`_fill` (each source's own) decodes until ``frames`` wait or the track ends (``_eof``)."""

    sample_rate_hz: int
    channels: int

    def _start_buffer(self, estimate_frames: int) -> None:
        self._pending = np.zeros((0, self.channels), dtype=np.float32)
        self._eof = False
        self._delivered = 0
        self._estimate = estimate_frames

    @property
    def total_frames(self) -> int:
        if self._eof:
            return self._delivered + len(self._pending)
        return max(self._estimate, self._delivered + len(self._pending))

    @abstractmethod
    def _fill(self, frames: int) -> None: ...

    def read(self, frames: int) -> np.ndarray:
        self._fill(frames)
        block, self._pending = self._pending[:frames], self._pending[frames:]
        self._delivered += len(block)
        return block


class FileSource(_BufferedSource):
    """A track file decoded with soundfile and resampled with a streaming soxr resampler.

    Raises (from the constructor):
        soundfile.LibsndfileError: If the file is missing or not audio soundfile can read (the
            playback thread reports it and moves on to the next track).
    """

    def __init__(self, path: Path | str | BinaryIO, sample_rate_hz: int, channels: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self._file = sf.SoundFile(path if isinstance(path, io.IOBase) else str(path))
        self._in_rate = int(self._file.samplerate)
        self._in_channels = int(self._file.channels)
        self._resampler: soxr.ResampleStream | None = None
        if self._in_rate != sample_rate_hz:
            self._resampler = soxr.ResampleStream(
                self._in_rate, sample_rate_hz, self._in_channels, dtype="float32", quality="HQ"
            )
        self.subtype = str(self._file.subtype)
        """libsndfile's codec name ("PCM_16", "VORBIS", "OPUS", "MPEG_LAYER_III" …)."""
        self._vorbis_order = self._file.format == "OGG"
        """Ogg files' surround channels come in the Vorbis order (centre second)."""
        frames_in = int(self._file.frames) if self._file.frames > 0 else 0
        self._start_buffer(round(frames_in * sample_rate_hz / self._in_rate))

    def _fill(self, frames: int) -> None:
        while len(self._pending) < frames and not self._eof:
            try:
                raw = self._file.read(_DECODE_BLOCK_FRAMES, dtype="float32", always_2d=True)
            except sf.LibsndfileError as exc:  # corrupt past here: the track ends where decoding stopped
                logger.warning(
                    "decoding stopped %.1f s into the track: %s", self._delivered / self.sample_rate_hz, exc
                )
                raw = np.zeros((0, self._in_channels), dtype=np.float32)
            last = len(raw) < _DECODE_BLOCK_FRAMES
            if self._resampler is not None:
                out = self._resampler.resample_chunk(raw, last=last)
                out = np.asarray(out, dtype=np.float32).reshape(-1, self._in_channels)
            else:
                out = raw
            if len(out):
                self._pending = np.concatenate(
                    [self._pending, _map_channels(out, self.channels, vorbis_order=self._vorbis_order)]
                )
            if last:
                self._eof = True

    def close(self) -> None:
        self._file.close()


class FfmpegSource(_BufferedSource):
    """A track decoded by ffmpeg, which also resamples it and maps its channels, read from a pipe
    block by block: a file's path, or bytes in memory handed to ffmpeg as an anonymous in-memory file
    (``memfd_create``: seekable, as an MP4 with its index at the end needs; never written to disk).

    Raises (from the constructor):
        OSError: If ffmpeg cannot decode it (the message is ffmpeg's).
    """

    def __init__(
        self, path: Path | str | BinaryIO, sample_rate_hz: int, channels: int, *, ffmpeg: str
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        data = path.read() if isinstance(path, io.IOBase) else None
        self._memory: int | None = None
        if data is not None:
            self._memory = os.memfd_create("cadence-track")
            os.write(self._memory, data)  # memfd writes are whole: it is memory
        source = f"/dev/fd/{self._memory}" if self._memory is not None else str(path)
        command = [
            ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
            "-i", source, "-map", "0:a:0", "-vn",
            "-af", "aresample=async=1:first_pts=0", "-ac", str(channels), "-ar", str(sample_rate_hz),
            "-f", "f32le", "pipe:1",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(self._memory,) if self._memory is not None else (),
        )
        self._start_buffer(round(_duration_s(data, path) * sample_rate_hz))
        self._fill(_DECODE_BLOCK_FRAMES)
        if not len(self._pending):
            message = self._stderr().replace(source, "the track") or "no audio decoded"
            self.close()
            raise OSError(f"ffmpeg: {message}")

    def _decode(self, frames: int) -> np.ndarray:
        assert self._process.stdout is not None
        raw = self._process.stdout.read(frames * self.channels * 4)
        if len(raw) < frames * self.channels * 4:
            self._eof = True
        usable = len(raw) // (self.channels * 4) * self.channels * 4
        return np.frombuffer(raw[:usable], dtype="<f4").reshape(-1, self.channels).copy()

    def _stderr(self) -> str:
        try:
            _, err = self._process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            return ""
        return err.decode("utf-8", "replace").strip().splitlines()[-1] if err.strip() else ""

    def _fill(self, frames: int) -> None:
        while len(self._pending) < frames and not self._eof:
            self._pending = np.concatenate([self._pending, self._decode(_DECODE_BLOCK_FRAMES)])

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()
        if self._memory is not None:
            os.close(self._memory)
            self._memory = None


def _duration_s(data: bytes | None, path: Path | str | BinaryIO) -> float:
    """The track's duration from its tags' stream info (mutagen), 0.0 when it cannot tell."""
    import mutagen

    try:
        info = mutagen.File(io.BytesIO(data) if data is not None else path)
        return float(info.info.length) if info is not None else 0.0
    except Exception:  # only an estimate for the position display
        return 0.0


def decode_track(path: Path | str, sample_rate_hz: int, channels: int) -> np.ndarray:
    """The whole track as float32 ``[n, channels]`` at ``sample_rate_hz`` (as the player hears it)."""
    source = FileSource(path, sample_rate_hz, channels)
    try:
        blocks = []
        while True:
            block = source.read(65536)
            if not len(block):
                break
            blocks.append(block)
    finally:
        source.close()
    return np.concatenate(blocks) if blocks else np.zeros((0, channels), dtype=np.float32)


TrackLocation = Path | str
"""Where a track is: a file on this machine, or the ``http(s)://`` URL of its audio on the server."""

NextTrack = Callable[[], "tuple[str, TrackLocation] | None"]
"""Asked by the playback thread for the next ``(track_id, location)``; None when there is nothing yet."""

MAX_REMOTE_TRACK_BYTES = 1024 * 1024 * 1024
"""A track fetched from the server larger than this is refused (1 GiB)."""


def track_location(path: str, audio_url: str | None, server_url: str) -> TrackLocation:
    """Where to play a queued track from: its ``path`` if that file is on this machine (a server on
    the same machine sends it), else its ``audio_url`` on the server at ``server_url`` (``ws://``)."""
    if path and Path(path).is_file():
        return Path(path)
    if audio_url:
        return urljoin(http_url(server_url) + "/", audio_url)
    return Path(path)


def open_track(location: TrackLocation, sample_rate_hz: int, channels: int) -> TrackSource:
    """A source for a local file, or for a track fetched whole from the server into memory (never to
    disk; transcoded tracks arrive as Ogg Opus): a :class:`FileSource`, or an :class:`FfmpegSource`
    for what libsndfile cannot open (AAC/M4A, WMA …) when ffmpeg is installed.

    Raises:
        OSError: If the server cannot be reached or answers with an error, or ffmpeg cannot decode it.
        soundfile.LibsndfileError: If the file is missing, or it is not audio soundfile can read and
            there is no ffmpeg.
    """
    if isinstance(location, str) and location.startswith(("http://", "https://")):
        request = urllib.request.Request(location, headers={"User-Agent": "cadence-listen"})
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read(MAX_REMOTE_TRACK_BYTES + 1)
        if len(data) > MAX_REMOTE_TRACK_BYTES:
            raise OSError(f"the track at {location.split('?')[0]} is larger than 1 GiB")
        return _opened(io.BytesIO(data), sample_rate_hz, channels)
    return _opened(location, sample_rate_hz, channels)


def _opened(source: Path | str | io.BytesIO, sample_rate_hz: int, channels: int) -> TrackSource:
    ffmpeg = shutil.which("ffmpeg")
    try:
        opened = FileSource(source, sample_rate_hz, channels)
    except sf.LibsndfileError:
        if ffmpeg is None or not (isinstance(source, io.BytesIO) or Path(source).is_file()):
            raise
    else:
        # libsndfile 1.2.2 stops seconds into many Ogg Opus files (ffmpeg-written ones from real
        # music among them): Opus goes through ffmpeg when it is there
        if ffmpeg is None or opened.subtype != "OPUS":
            return opened
        opened.close()
    if isinstance(source, io.BytesIO):
        source.seek(0)
    return FfmpegSource(source, sample_rate_hz, channels, ffmpeg=ffmpeg)


class PlaybackThread:
    """Plays tracks one after another on a background thread, through an :class:`AudioOutput`.

    ``next_track()`` is asked (from this thread) for the next ``(track_id, path)`` whenever the
    deck is empty; it may block briefly and return None when there is nothing to play yet.
    ``on_event`` and ``on_error(track_id, message)`` are called from this thread; an empty
    ``track_id`` means playback itself stopped (the output device failed).
    """

    def __init__(
        self,
        output: AudioOutput,
        *,
        next_track: NextTrack,
        on_event: Callable[[DeckEvent], None],
        on_error: Callable[[str, str], None],
        open_source: Callable[[TrackLocation, int, int], TrackSource] = open_track,
        fade_s: float = 0.05,
        block_s: float = 0.05,
    ) -> None:
        self.output = output
        self._next_track = next_track
        self._on_event = on_event
        self._on_error = on_error
        self._open_source = open_source
        self._deck = Deck(
            output.sample_rate_hz,
            output.channels,
            block_frames=max(64, round(block_s * output.sample_rate_hz)),
            fade_s=fade_s,
        )
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cadence-playback", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after the block being written; the current track is dropped without an event."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        with self._lock:
            self._deck.unload()

    def skip(self) -> bool:
        """Skip the playing track (fading out); False when nothing plays or it is already skipping."""
        latency_frames = round(self.output.latency_s() * self.output.sample_rate_hz)
        with self._lock:
            return self._deck.skip(heard_frames=latency_frames)

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self._deck.set_paused(paused)

    def toggle_pause(self) -> bool:
        """Pause or resume; returns whether it is now paused."""
        with self._lock:
            self._deck.set_paused(not self._deck.paused)
            return self._deck.paused

    def now(self) -> NowPlaying:
        """The playing track and the position the listener hears (the deck's minus the output latency)."""
        latency_s = self.output.latency_s()
        with self._lock:
            d = self._deck
            return NowPlaying(d.track_id, max(0.0, d.position_s - latency_s), d.duration_s, d.paused)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                with self._lock:
                    loaded = self._deck.loaded
                if not loaded:
                    self._load_next()
                    continue
                with self._lock:
                    block, events = self._deck.next_block()
                if block is not None and len(block):
                    self.output.write(block)
                for event in events:
                    self._on_event(event)
        except DeviceError as exc:
            self._on_error("", exc.message)
        except Exception:  # the screen shows it; never a silent dead thread
            logger.exception("the playback thread failed")
            self._on_error("", "the player stopped on an internal error (see the log)")

    def _load_next(self) -> None:
        self.output.gap()
        item = self._next_track()
        if item is None:
            self._stop.wait(0.05)
            return
        track_id, location = item
        try:
            source = self._open_source(location, self.output.sample_rate_hz, self.output.channels)
        except Exception as exc:  # unreadable, missing, unreachable or not audio: say so and move on
            shown = location.split("?")[0] if isinstance(location, str) else location
            self._on_error(track_id, f"cannot play {shown}: {exc}")
            return
        with self._lock:
            if self._stop.is_set():
                source.close()
                return
            event = self._deck.load(track_id, source)
        self._on_event(event)
