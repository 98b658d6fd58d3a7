"""Sound devices for `cadence listen`: finding and opening them, and their file stand-ins.

- **Discovery**: :func:`list_devices`, :func:`format_devices` (``--list-devices``),
  :func:`resolve_device` (``--input-device`` / ``--output-device``: an index, a name, or the default).
- **Outputs** (:class:`SoundDeviceOutput`, :class:`WavFileOutput`) take float32 frames
  ``[n, channels]`` at their own rate and block until it is time for more.
- **Inputs** (:class:`SoundDeviceInput`, :class:`WavFileInput`) deliver the microphone as float32
  mono chunks at 16 kHz (what the server's voice activity detection and Whisper want), at real time.
- **Opening**: :func:`open_output`, :func:`open_input`, and :func:`open_devices` for a session's pair.
  Every way a sound card can be missing or unusable (no PortAudio, no devices, an unknown name, a
  device that fails to open or fails while playing) becomes :class:`~player.errors.DeviceError`
  with a message naming what is missing and how to choose (:data:`DEVICE_HELP`).

Each device has a file stand-in, so the whole session runs headless (``--input-wav`` /
``--output-wav``). What is played through an output (decoding, the deck, the playback thread) is
:mod:`player.desktop.playback`.

Pacing. Some "devices" consume or produce audio faster than real time (ALSA's ``null`` and ``file``
plugins, which the tests use as a virtual sound card; a WAV file). :class:`_Pacer` keeps every stream
at most a little ahead of the wall clock; on a real sound card the device's own blocking keeps the
stream behind that ceiling and the pacer never sleeps.
"""

from __future__ import annotations

import argparse
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
    "WAV_OUTPUT_CHANNELS",
    "WAV_OUTPUT_RATE_HZ",
    "AudioInput",
    "AudioOutput",
    "DeviceInfo",
    "SoundDeviceInput",
    "SoundDeviceOutput",
    "WavFileInput",
    "WavFileOutput",
    "format_devices",
    "list_devices",
    "load_sounddevice",
    "open_devices",
    "open_input",
    "open_output",
    "resolve_device",
]

logger = logging.getLogger(__name__)

MIC_SAMPLE_RATE_HZ = 16_000
"""Rate of the chunks every :class:`AudioInput` delivers (the rate the server's VAD and Whisper use)."""

WAV_OUTPUT_RATE_HZ = 44_100
"""Sample rate of the file ``--output-wav`` writes."""
WAV_OUTPUT_CHANNELS = 2
"""Channels of the file ``--output-wav`` writes (stereo, 16-bit PCM)."""

DEVICE_HELP = (
    "List the devices with `cadence listen --list-devices` and choose one with "
    "`--input-device NAME|INDEX` / `--output-device NAME|INDEX`, "
    "or run without a sound card: `--input-wav FILE` feeds a WAV as the microphone and "
    "`--output-wav FILE` writes what would have played."
)


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


# ------------------------------------------------------------------------------------- a session's pair


def open_devices(args: argparse.Namespace) -> tuple[AudioOutput, AudioInput | None, str | None]:
    """The output and the microphone the options name, and a notice if the session goes without one.

    Without a speaker there is no session. Without a microphone there still is one (moods are typed)
    unless one was asked for by name (``--input-device``) or file (``--input-wav``).

    Raises:
        DeviceError: If the output, or an explicitly chosen input, cannot be used.
    """
    output = open_output(wav_path=args.output_wav, device=args.output_device)
    try:
        return output, open_input(wav_path=args.input_wav, device=args.input_device), None
    except DeviceError as exc:
        if args.input_wav is not None or args.input_device is not None:
            output.close()
            raise
        reason = exc.message.replace(DEVICE_HELP, "").strip().rstrip(".")
        notice = (
            f"no microphone ({reason}): type your mood with t, "
            "or choose one with --input-device (see --list-devices)"
        )
        logger.warning("%s", notice)
        return output, None, notice
    except BaseException:
        output.close()
        raise
