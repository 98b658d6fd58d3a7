"""Sound devices and their file stand-ins: pacing, the WAV microphone and speaker, and device errors.

Unit tier: no sound card is opened (a missing PortAudio is simulated, the microphone's absence is
monkeypatched). The errors of a real PortAudio on a virtual ALSA card are in ``test_devices_alsa.py``.
"""

from __future__ import annotations

import argparse
import builtins
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from player.desktop import devices
from player.desktop.devices import WavFileInput, WavFileOutput
from player.errors import DeviceError


def _tone(freq_hz: float, seconds: float, rate: int, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def test_pacer_sleeps_only_when_ahead_of_real_time() -> None:
    """The pacer lets a stream run up to max_lead_s ahead of the clock and sleeps off the rest."""
    now = [100.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    pacer = devices._Pacer(1000, max_lead_s=0.2, clock=lambda: now[0], sleep=sleep)
    pacer.advance(100)  # 0.1 s ahead: fine
    assert sleeps == []
    pacer.advance(400)  # 0.5 s ahead
    assert sleeps == [pytest.approx(0.3)]
    now[0] += 1.0  # the device took its time: no sleep
    pacer.advance(100)
    assert len(sleeps) == 1


def test_wav_input_delivers_16k_mono_chunks_then_ends(tmp_path: Path) -> None:
    """--input-wav: a 22.05 kHz stereo file becomes 50 ms chunks of 16 kHz mono, then None."""
    path = tmp_path / "speech.wav"
    sf.write(path, _tone(300, 1.0, 22050, channels=2), 22050)
    mic = WavFileInput(path, chunk_ms=50, realtime=False)
    chunks = []
    while (chunk := mic.read()) is not None:
        chunks.append(chunk)
    assert all(len(c) == 800 for c in chunks[:-1])
    assert abs(sum(len(c) for c in chunks) - 16000) <= 2
    assert mic.read() is None


def test_wav_input_runs_at_real_time(tmp_path: Path) -> None:
    """--input-wav feeds the file no faster than it would be spoken (0.5 s of audio takes >= ~0.45 s)."""
    path = tmp_path / "speech.wav"
    sf.write(path, _tone(300, 0.5, 16000), 16000)
    mic = WavFileInput(path, chunk_ms=50)
    start = time.monotonic()
    while mic.read() is not None:
        pass
    assert time.monotonic() - start >= 0.4


def test_wav_output_writes_what_was_played(tmp_path: Path) -> None:
    """--output-wav: the frames written are in the file at its rate, 16-bit."""
    path = tmp_path / "out" / "played.wav"
    out = WavFileOutput(path, realtime=False)
    frames = _tone(440, 0.5, 44100, channels=2)
    out.write(frames)
    out.close()
    data, rate = sf.read(path, dtype="float32")
    assert rate == 44100 and data.shape == frames.shape
    np.testing.assert_allclose(data, frames, atol=1e-4)


def test_wav_input_unreadable_is_a_device_error(tmp_path: Path) -> None:
    """An --input-wav that cannot be read is a DeviceError naming the file."""
    with pytest.raises(DeviceError, match="input-wav"):
        WavFileInput(tmp_path / "missing.wav")


# ------------------------------------------------------------------------------------------- devices


def test_missing_portaudio_is_a_clear_device_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the PortAudio library, opening a device says to install libportaudio2 and how to go without."""
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(DeviceError) as caught:
        devices.open_output(wav_path=None, device=None)
    assert caught.value.code == "no_audio_device"
    assert "libportaudio2" in caught.value.message
    assert "--output-wav" in caught.value.message


def _device_args(tmp_path: Path, **overrides: Any) -> argparse.Namespace:
    values: dict[str, Any] = {"output_wav": tmp_path / "out.wav", "output_device": None, "input_wav": None,
                              "input_device": None}  # fmt: skip
    values.update(overrides)
    return argparse.Namespace(**values)


def _no_microphone(*, wav_path: Path | None, device: str | None) -> Any:
    raise DeviceError("no sound microphone (input) device found")


def test_session_goes_on_without_a_default_microphone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No default microphone: the session still plays, moods are typed, and a notice says so."""
    monkeypatch.setattr(devices, "open_input", _no_microphone)
    output, microphone, notice = devices.open_devices(_device_args(tmp_path))
    output.close()
    assert microphone is None
    assert notice is not None and "type your mood" in notice and "no sound microphone" in notice


def test_a_chosen_microphone_that_fails_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A microphone chosen by --input-device that cannot be used stops the session with DeviceError."""
    monkeypatch.setattr(devices, "open_input", _no_microphone)
    with pytest.raises(DeviceError):
        devices.open_devices(_device_args(tmp_path, input_device="USB"))
