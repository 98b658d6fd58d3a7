"""Sound in and out for `cadence listen`: devices through sounddevice, and their file stand-ins.

Four small pieces, each replaceable by a file so the whole session runs headless:

- **Track sources** (:class:`FileSource`, :class:`ArraySource`) decode a track with soundfile and
  resample it block by block to the output's rate with a streaming soxr resampler, so a five-minute
  track never sits in memory whole.
- **Outputs** (:class:`SoundDeviceOutput`, :class:`WavFileOutput`) take float32 frames
  ``[n, channels]`` at their own rate and block until it is time for more.
- **Inputs** (:class:`SoundDeviceInput`, :class:`WavFileInput`) deliver the microphone as float32
  mono chunks at 16 kHz (what the server's voice activity detection and Whisper want), at real time.
- **Devices**: :func:`list_devices`, :func:`open_output`, :func:`open_input`. Every way a sound card
  can be missing or unusable (no PortAudio, no devices, an unknown name, a device that fails to open)
  becomes :class:`~player.errors.DeviceError` with a message naming what is missing and how to choose.

Pacing. Some "devices" consume or produce audio faster than real time (ALSA's ``null`` and ``file``
plugins, which the tests use as a virtual sound card; a WAV file). :class:`_Pacer` keeps every stream
at most a little ahead of the wall clock; on a real sound card the device's own blocking keeps the
stream behind that ceiling and the pacer never sleeps.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Protocol

import numpy as np
import soundfile as sf
import soxr

from player.errors import DeviceError

__all__ = [
    "DEVICE_HELP",
    "MIC_SAMPLE_RATE_HZ",
    "ArraySource",
    "AudioInput",
    "AudioOutput",
    "Deck",
    "DeckEvent",
    "DeviceInfo",
    "FileSource",
    "NowPlaying",
    "Player",
    "SoundDeviceInput",
    "SoundDeviceOutput",
    "TrackSource",
    "WavFileInput",
    "WavFileOutput",
    "decode_track",
    "format_devices",
    "list_devices",
    "load_sounddevice",
    "open_input",
    "open_output",
    "resolve_device",
]

logger = logging.getLogger(__name__)

MIC_SAMPLE_RATE_HZ = 16_000
"""Rate of the chunks every :class:`AudioInput` delivers (the rate the server's VAD and Whisper use)."""

WAV_OUTPUT_RATE_HZ = 44_100
WAV_OUTPUT_CHANNELS = 2

DEVICE_HELP = (
    "List the devices with `cadence listen --list-devices` and choose one with "
    "`--input-device NAME|INDEX` / `--output-device NAME|INDEX`, "
    "or run without a sound card: `--input-wav FILE` feeds a WAV as the microphone and "
    "`--output-wav FILE` writes what would have played."
)

_DECODE_BLOCK_FRAMES = 8192


# --------------------------------------------------------------------------------------------- devices


def load_sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing PortAudio library into :class:`DeviceError`.

    Raises:
        DeviceError: If the PortAudio shared library cannot be loaded.
    """
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError("PortAudio library not found")
        raise DeviceError(
            f"the PortAudio library is missing ({exc}); install it (Debian/Ubuntu: "
            f"`apt install libportaudio2`). {DEVICE_HELP}"
        ) from exc
    return sounddevice


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One sound device as PortAudio reports it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate_hz: float


def list_devices() -> list[DeviceInfo]:
    """Every device PortAudio sees (possibly none).

    Raises:
        DeviceError: If PortAudio is missing.
    """
    sd = load_sounddevice()
    try:
        raw = sd.query_devices()
        hostapis = sd.query_hostapis()
    except Exception as exc:  # PortAudioError: host API failed to initialise
        raise DeviceError(f"PortAudio could not list the sound devices ({exc}). {DEVICE_HELP}") from exc
    devices: list[DeviceInfo] = []
    for entry in raw:
        api = hostapis[entry["hostapi"]]["name"] if entry["hostapi"] < len(hostapis) else "?"
        devices.append(
            DeviceInfo(
                index=int(entry["index"]),
                name=str(entry["name"]),
                hostapi=str(api),
                max_input_channels=int(entry["max_input_channels"]),
                max_output_channels=int(entry["max_output_channels"]),
                default_samplerate_hz=float(entry["default_samplerate"]),
            )
        )
    return devices


def format_devices(devices: list[DeviceInfo]) -> str:
    """The text `cadence listen --list-devices` prints."""
    if not devices:
        return "no sound devices found (PortAudio sees none).\n" + DEVICE_HELP
    lines = [f"{'#':>3}  {'in':>3} {'out':>3}  {'rate':>7}  name (host API)"]
    for d in devices:
        lines.append(
            f"{d.index:>3}  {d.max_input_channels:>3} {d.max_output_channels:>3}  "
            f"{d.default_samplerate_hz:>7.0f}  {d.name} ({d.hostapi})"
        )
    return "\n".join(lines)


def resolve_device(spec: str | None, kind: Literal["input", "output"]) -> DeviceInfo:
    """The device ``spec`` names (an index, an exact name or a unique part of one), or the default.

    Raises:
        DeviceError: If PortAudio is missing, there are no devices of that kind, or ``spec``
            matches none or several of them.
    """
    devices = list_devices()
    channels_of: Callable[[DeviceInfo], int] = (
        (lambda d: d.max_input_channels) if kind == "input" else (lambda d: d.max_output_channels)
    )
    usable = [d for d in devices if channels_of(d) > 0]
    flag = f"--{kind}-device"
    if not usable:
        what = "microphone (input)" if kind == "input" else "speaker (output)"
        raise DeviceError(
            f"no sound {what} device found: PortAudio sees {len(devices)} device(s), none with {kind} channels. {DEVICE_HELP}"
        )
    if spec is None or spec == "":
        sd = load_sounddevice()
        try:
            default_index = sd.default.device[0 if kind == "input" else 1]
        except Exception:
            default_index = -1
        for d in usable:
            if d.index == default_index:
                return d
        return usable[0]
    if spec.strip().lstrip("-").isdigit():
        index = int(spec)
        for d in usable:
            if d.index == index:
                return d
        raise DeviceError(f"{flag} {spec}: no {kind} device has index {index}. {DEVICE_HELP}")
    exact = [d for d in usable if d.name == spec]
    if len(exact) == 1:
        return exact[0]
    matches = [d for d in usable if spec.lower() in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        names = ", ".join(repr(d.name) for d in usable)
        raise DeviceError(f"{flag} {spec!r}: no {kind} device matches (there are: {names}). {DEVICE_HELP}")
    names = ", ".join(f"{d.index}: {d.name!r}" for d in matches)
    raise DeviceError(f"{flag} {spec!r} matches several devices ({names}); give the index. {DEVICE_HELP}")


# ---------------------------------------------------------------------------------------------- pacing


class _Pacer:
    """Keeps a stream of frames at most ``max_lead_s`` ahead of the wall clock.

    ``clock`` and ``sleep`` are injectable for tests; the defaults are the monotonic clock.
    """

    def __init__(
        self,
        sample_rate_hz: int,
        *,
        max_lead_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.max_lead_s = max_lead_s
        self._clock = clock
        self._sleep = sleep
        self._start_s: float | None = None
        self._frames = 0

    def lead_s(self) -> float:
        """How far the stream is ahead of the wall clock now, seconds (0 when behind)."""
        if self._start_s is None:
            return 0.0
        return max(0.0, self._frames / self.sample_rate_hz - (self._clock() - self._start_s))

    def restart(self) -> None:
        """Anchor the clock again (after a pause or a gap in the stream)."""
        self._start_s = None
        self._frames = 0

    def advance(self, frames: int) -> None:
        """Count ``frames`` more and sleep while the stream is too far ahead of real time."""
        now = self._clock()
        if self._start_s is None:
            self._start_s = now
        self._frames += frames
        lead_s = self._frames / self.sample_rate_hz - (now - self._start_s)
        if lead_s > self.max_lead_s:
            self._sleep(lead_s - self.max_lead_s)
        elif lead_s < -1.0:
            # Far behind (a stall, a suspended laptop): re-anchor rather than race to catch up.
            self._start_s = now - self._frames / self.sample_rate_hz


# ---------------------------------------------------------------------------------------------- tracks


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


def _map_channels(block: np.ndarray, channels: int) -> np.ndarray:
    """float32 ``[n, c_in]`` -> ``[n, channels]``: mono is duplicated, extra channels are dropped,
    and a mono output gets the mean of the input channels."""
    if block.ndim == 1:
        block = block[:, None]
    have = block.shape[1]
    if have == channels:
        return block
    if channels == 1:
        return block.mean(axis=1, keepdims=True)
    if have == 1:
        return np.repeat(block, channels, axis=1)
    if have > channels:
        return block[:, :channels]
    return np.concatenate([block, np.repeat(block[:, -1:], channels - have, axis=1)], axis=1)


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


class FileSource:
    """A track file decoded with soundfile and resampled with a streaming soxr resampler.

    Raises (from the constructor):
        soundfile.LibsndfileError: If the file is missing or not audio soundfile can read (the
            player reports it and moves on to the next track).
    """

    def __init__(self, path: Path | str, sample_rate_hz: int, channels: int) -> None:
        self.path = Path(path)
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self._file = sf.SoundFile(str(self.path))
        self._in_rate = int(self._file.samplerate)
        self._in_channels = int(self._file.channels)
        self._resampler: soxr.ResampleStream | None = None
        if self._in_rate != sample_rate_hz:
            self._resampler = soxr.ResampleStream(
                self._in_rate, sample_rate_hz, self._in_channels, dtype="float32", quality="HQ"
            )
        self._pending = np.zeros((0, channels), dtype=np.float32)
        self._eof = False
        self._delivered = 0
        frames_in = int(self._file.frames) if self._file.frames > 0 else 0
        self._estimate = round(frames_in * sample_rate_hz / self._in_rate)

    @property
    def total_frames(self) -> int:
        if self._eof:
            return self._delivered + len(self._pending)
        return max(self._estimate, self._delivered + len(self._pending))

    def _fill(self, frames: int) -> None:
        while len(self._pending) < frames and not self._eof:
            raw = self._file.read(_DECODE_BLOCK_FRAMES, dtype="float32", always_2d=True)
            last = len(raw) < _DECODE_BLOCK_FRAMES
            if self._resampler is not None:
                out = self._resampler.resample_chunk(raw, last=last)
                out = np.asarray(out, dtype=np.float32).reshape(-1, self._in_channels)
            else:
                out = raw
            if len(out):
                self._pending = np.concatenate([self._pending, _map_channels(out, self.channels)])
            if last:
                self._eof = True

    def read(self, frames: int) -> np.ndarray:
        self._fill(frames)
        block, self._pending = self._pending[:frames], self._pending[frames:]
        self._delivered += len(block)
        return block

    def close(self) -> None:
        self._file.close()


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


# --------------------------------------------------------------------------------------------- outputs


class AudioOutput(Protocol):
    """Where playback goes: float32 frames ``[n, channels]`` at ``sample_rate_hz``."""

    sample_rate_hz: int
    channels: int
    description: str

    def write(self, frames: np.ndarray) -> None:
        """Play ``frames``, returning when the output is ready for more (about real time)."""
        ...

    def gap(self) -> None:
        """Nothing will be written for a while (between tracks, paused without a device)."""
        ...

    def latency_s(self) -> float:
        """Seconds between the last frame written and the moment it is heard (now)."""
        ...

    def close(self) -> None: ...


class WavFileOutput:
    """Writes what would have played to a WAV file (16-bit PCM), at real time unless told otherwise."""

    def __init__(
        self,
        path: Path,
        *,
        sample_rate_hz: int = WAV_OUTPUT_RATE_HZ,
        channels: int = WAV_OUTPUT_CHANNELS,
        realtime: bool = True,
    ) -> None:
        self.path = Path(path)
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.description = f"WAV file {self.path} ({sample_rate_hz} Hz, {channels} ch)"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = sf.SoundFile(
            str(self.path), "w", samplerate=sample_rate_hz, channels=channels, subtype="PCM_16"
        )
        self._pacer = _Pacer(sample_rate_hz, max_lead_s=0.05) if realtime else None
        self._lock = threading.Lock()

    @property
    def frames_written(self) -> int:
        return int(self._file.frames)

    def write(self, frames: np.ndarray) -> None:
        with self._lock:
            if self._file.closed:
                return
            self._file.write(np.clip(frames, -1.0, 1.0))
        if self._pacer is not None:
            self._pacer.advance(len(frames))

    def gap(self) -> None:
        if self._pacer is not None:
            self._pacer.restart()

    def latency_s(self) -> float:
        # "Heard" is the wall clock: the file runs at most a block or so ahead of it.
        return self._pacer.lead_s() if self._pacer is not None else 0.0

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()


def _close_stream(stream: Any, kind: str) -> None:
    """Stop and close a sounddevice stream; a device that already failed is only logged."""
    try:
        stream.stop()
        stream.close()
    except Exception as exc:
        logger.debug("closing %s stream: %s", kind, exc)


class SoundDeviceOutput:
    """A sound card output through a blocking sounddevice stream.

    Raises (from the constructor):
        DeviceError: If the device cannot be opened at its default rate.
    """

    def __init__(self, device: DeviceInfo, *, latency_s: float | None = None) -> None:
        sd = load_sounddevice()
        self.device = device
        self.sample_rate_hz = int(device.default_samplerate_hz) or WAV_OUTPUT_RATE_HZ
        self.channels = max(1, min(2, device.max_output_channels))
        self.description = (
            f"sound device {device.index}: {device.name} ({self.sample_rate_hz} Hz, {self.channels} ch)"
        )
        try:
            self._stream = sd.OutputStream(
                device=device.index,
                samplerate=self.sample_rate_hz,
                channels=self.channels,
                dtype="float32",
                latency=latency_s if latency_s is not None else "high",
            )
            self._stream.start()
            # Some devices open fine and fail on the first write (a broken ALSA plugin chain):
            # find out now, before any model loads, with 10 ms of silence.
            self._stream.write(np.zeros((self.sample_rate_hz // 100, self.channels), dtype=np.float32))
        except Exception as exc:  # sd.PortAudioError and ValueError from bad settings
            raise DeviceError(
                f"the output device {device.name!r} (index {device.index}) failed to open at "
                f"{self.sample_rate_hz} Hz, {self.channels} ch: {exc}. {DEVICE_HELP}"
            ) from exc
        self._pacer = _Pacer(self.sample_rate_hz, max_lead_s=0.25)
        self._closed = False

    def write(self, frames: np.ndarray) -> None:
        if self._closed:
            return
        try:
            underflowed = self._stream.write(
                np.ascontiguousarray(np.clip(frames, -1.0, 1.0), dtype=np.float32)
            )
        except Exception as exc:
            raise DeviceError(
                f"the output device {self.device.name!r} (index {self.device.index}) failed while "
                f"playing: {exc}. {DEVICE_HELP}"
            ) from exc
        if underflowed:
            logger.debug("output underflow on %s", self.device.name)
        self._pacer.advance(len(frames))

    def gap(self) -> None:
        self._pacer.restart()

    def latency_s(self) -> float:
        # PortAudio's output latency: roughly what sits in the device buffer after a blocking write.
        return float(self._stream.latency) + self._pacer.lead_s()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _close_stream(self._stream, "output")


def open_output(*, wav_path: Path | None, device: str | None) -> AudioOutput:
    """``--output-wav`` when given, else the named (or default) output device.

    Raises:
        DeviceError: If no output device is usable.
    """
    if wav_path is not None:
        return WavFileOutput(wav_path)
    return SoundDeviceOutput(resolve_device(device, "output"))


# ---------------------------------------------------------------------------------------------- inputs


class AudioInput(Protocol):
    """The microphone: float32 mono chunks at :data:`MIC_SAMPLE_RATE_HZ`, at real time."""

    sample_rate_hz: int
    description: str

    def read(self) -> np.ndarray | None:
        """The next chunk (blocks for about its duration); None when the input has ended."""
        ...

    def close(self) -> None: ...


class WavFileInput:
    """A WAV (any format soundfile reads) fed as the microphone, chunk by chunk at real time."""

    def __init__(self, path: Path, *, chunk_ms: int = 50, realtime: bool = True) -> None:
        self.path = Path(path)
        self.sample_rate_hz = MIC_SAMPLE_RATE_HZ
        self.description = f"WAV file {self.path} as the microphone"
        try:
            samples, rate = sf.read(str(self.path), dtype="float32", always_2d=True)
        except (OSError, sf.LibsndfileError) as exc:
            raise DeviceError(f"--input-wav {self.path}: cannot read it ({exc})") from exc
        mono = samples.mean(axis=1)
        if rate != MIC_SAMPLE_RATE_HZ:
            mono = soxr.resample(mono, rate, MIC_SAMPLE_RATE_HZ, quality="HQ")
        self.samples = np.asarray(mono, dtype=np.float32)
        self._chunk = max(1, MIC_SAMPLE_RATE_HZ * chunk_ms // 1000)
        self._pos = 0
        self._pacer = _Pacer(MIC_SAMPLE_RATE_HZ, max_lead_s=0.0) if realtime else None

    def read(self) -> np.ndarray | None:
        if self._pos >= len(self.samples):
            return None
        chunk = self.samples[self._pos : self._pos + self._chunk]
        self._pos += len(chunk)
        if self._pacer is not None:
            # A microphone delivers a chunk once it has been spoken: wait for its duration.
            self._pacer.advance(len(chunk))
        return chunk

    def close(self) -> None:
        return None


class SoundDeviceInput:
    """A microphone through a blocking sounddevice stream, resampled to 16 kHz mono.

    Raises (from the constructor):
        DeviceError: If the device cannot be opened.
    """

    def __init__(self, device: DeviceInfo, *, chunk_ms: int = 50) -> None:
        sd = load_sounddevice()
        self.device = device
        self.sample_rate_hz = MIC_SAMPLE_RATE_HZ
        self.device_rate_hz = int(device.default_samplerate_hz) or MIC_SAMPLE_RATE_HZ
        self.channels = max(1, min(2, device.max_input_channels))
        self.description = (
            f"sound device {device.index}: {device.name} ({self.device_rate_hz} Hz, {self.channels} ch)"
        )
        self._block = max(1, self.device_rate_hz * chunk_ms // 1000)
        try:
            self._stream = sd.InputStream(
                device=device.index,
                samplerate=self.device_rate_hz,
                channels=self.channels,
                dtype="float32",
                blocksize=self._block,
            )
            self._stream.start()
            # Read the first block now so a device that opens but cannot deliver fails here.
            first, _ = self._stream.read(self._block)
        except Exception as exc:
            raise DeviceError(
                f"the input device {device.name!r} (index {device.index}) failed to open at "
                f"{self.device_rate_hz} Hz, {self.channels} ch: {exc}. {DEVICE_HELP}"
            ) from exc
        self._resampler: soxr.ResampleStream | None = None
        if self.device_rate_hz != MIC_SAMPLE_RATE_HZ:
            self._resampler = soxr.ResampleStream(self.device_rate_hz, MIC_SAMPLE_RATE_HZ, 1, dtype="float32")
        # A real microphone blocks in read(); a virtual one (ALSA file/null) would not, so pace it.
        self._pacer = _Pacer(self.device_rate_hz, max_lead_s=0.0)
        self._first: np.ndarray | None = np.asarray(first)
        self._closed = False

    def read(self) -> np.ndarray | None:
        if self._closed:
            return None
        if self._first is not None:
            data, overflowed, self._first = self._first, False, None
        else:
            try:
                data, overflowed = self._stream.read(self._block)
            except Exception as exc:
                logger.warning("microphone read failed: %s", exc)
                return None
        if overflowed:
            logger.debug("input overflow on %s", self.device.name)
        self._pacer.advance(len(data))
        mono = np.asarray(data, dtype=np.float32).mean(axis=1)
        if self._resampler is not None:
            mono = np.asarray(self._resampler.resample_chunk(mono), dtype=np.float32)
        return mono

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _close_stream(self._stream, "input")


def open_input(*, wav_path: Path | None, device: str | None) -> AudioInput:
    """``--input-wav`` when given, else the named (or default) input device.

    Raises:
        DeviceError: If no input device is usable or the WAV cannot be read.
    """
    if wav_path is not None:
        return WavFileInput(wav_path)
    return SoundDeviceInput(resolve_device(device, "input"))


# -------------------------------------------------------------------------------------------- playback

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


NextTrack = Callable[[], "tuple[str, Path] | None"]


@dataclass(frozen=True, slots=True)
class NowPlaying:
    """A snapshot of the deck for the screen."""

    track_id: str | None
    position_s: float
    duration_s: float
    paused: bool


class Player:
    """Plays tracks one after another on a background thread, through an :class:`AudioOutput`.

    ``next_track()`` is asked (from the player thread) for the next ``(track_id, path)`` whenever the
    deck is empty; it may block briefly and return None when there is nothing to play yet.
    ``on_event`` and ``on_error(track_id, message)`` are called from the player thread; an empty
    ``track_id`` means the player itself stopped (the output device failed).
    """

    def __init__(
        self,
        output: AudioOutput,
        *,
        next_track: NextTrack,
        on_event: Callable[[DeckEvent], None],
        on_error: Callable[[str, str], None],
        open_source: Callable[[Path, int, int], TrackSource] = FileSource,
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
        self._thread = threading.Thread(target=self._run, name="cadence-player", daemon=True)

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
            logger.exception("the player thread failed")
            self._on_error("", "the player stopped on an internal error (see the log)")

    def _load_next(self) -> None:
        self.output.gap()
        item = self._next_track()
        if item is None:
            self._stop.wait(0.05)
            return
        track_id, path = item
        try:
            source = self._open_source(Path(path), self.output.sample_rate_hz, self.output.channels)
        except Exception as exc:  # unreadable, missing or not audio: say so and move on
            self._on_error(track_id, f"cannot play {path}: {exc}")
            return
        with self._lock:
            if self._stop.is_set():
                source.close()
                return
            event = self._deck.load(track_id, source)
        self._on_event(event)
