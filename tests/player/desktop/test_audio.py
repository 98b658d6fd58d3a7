"""Audio in and out for `cadence listen`: sources, the deck, pacing, file stand-ins, device errors."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr

from player.desktop import audio as audio_io
from player.desktop.audio import (
    ArraySource,
    Deck,
    FileSource,
    WavFileInput,
    WavFileOutput,
    _Pacer,
    decode_track,
)
from player.errors import DeviceError

REPO = Path(__file__).resolve().parents[3]
PYTHON = sys.executable


def _tone(freq_hz: float, seconds: float, rate: int, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def _drain(deck: Deck) -> tuple[np.ndarray, list[audio_io.DeckEvent]]:
    blocks, events = [], []
    while deck.loaded:
        block, evs = deck.next_block()
        if block is not None:
            blocks.append(block)
        events.extend(evs)
    return (np.concatenate(blocks) if blocks else np.zeros((0, deck.channels))), events


# ----------------------------------------------------------------------------------------------- deck


def test_deck_plays_track_with_fades_and_reports_completion() -> None:
    """A whole track comes out sample-exact between short fade-in and fade-out ramps, then `completed` at its length."""
    rate = 8000
    source = np.full((rate, 2), 0.5, dtype=np.float32)  # 1 s of DC: the gain curve is visible directly
    deck = Deck(rate, 2, block_frames=256, fade_s=0.05)
    started = deck.load("a", ArraySource(source, rate))
    assert started == audio_io.DeckEvent("started", "a", 0.0)
    out, events = _drain(deck)
    assert events == [audio_io.DeckEvent("completed", "a", 1.0)]
    assert out.shape == source.shape
    fade = deck.fade_frames
    assert fade == 400
    assert out[0, 0] == pytest.approx(0.5 / fade)  # starts near silence
    assert np.all(np.diff(out[:fade, 0]) > 0)  # rises
    np.testing.assert_array_equal(out[fade : rate - fade], source[fade : rate - fade])
    assert np.all(np.diff(out[rate - fade :, 0]) < 0)  # falls
    assert out[-1, 0] == pytest.approx(0.5 / fade)


def test_deck_skip_reports_position_and_fades_out() -> None:
    """A skip is reported at the position it was asked, and the track fades to silence within fade_s."""
    rate = 8000
    deck = Deck(rate, 1, block_frames=200, fade_s=0.05)
    deck.load("a", ArraySource(np.full((rate * 3, 1), 0.5, np.float32), rate))
    played = []
    for _ in range(10):  # 2000 frames = 0.25 s
        block, events = deck.next_block()
        assert events == [] and block is not None
        played.append(block)
    assert deck.position_s == pytest.approx(0.25)
    assert deck.skip() is True
    assert deck.skip() is False  # already skipping
    tail, events = _drain(deck)
    assert events == [audio_io.DeckEvent("skipped", "a", 0.25)]
    assert len(tail) == deck.fade_frames
    assert tail[0, 0] < 0.5 and tail[-1, 0] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.diff(tail[:, 0]) < 0)
    assert not deck.loaded


def test_deck_skip_is_reported_where_the_listener_heard_it() -> None:
    """Frames still in the output when the skip is asked are not counted: the position is what was heard."""
    rate = 8000
    deck = Deck(rate, 1, block_frames=800, fade_s=0.01)
    deck.load("a", ArraySource(np.full((rate * 2, 1), 0.5, np.float32), rate))
    for _ in range(5):
        deck.next_block()
    assert deck.skip(heard_frames=800) is True  # 0.5 s handed out, 0.1 s of it not heard yet
    _, events = _drain(deck)
    assert events == [audio_io.DeckEvent("skipped", "a", 0.4)]


def test_deck_pause_plays_silence_without_moving() -> None:
    """While paused the deck hands out silence and the position stands still; resuming continues where it was."""
    rate = 8000
    source = _tone(440, 1.0, rate)
    deck = Deck(rate, 1, block_frames=100, fade_s=0.01)
    deck.load("a", ArraySource(source, rate))
    deck.next_block()
    position = deck.position_s
    deck.set_paused(True)
    for _ in range(5):
        block, events = deck.next_block()
        assert block is not None and not block.any() and events == []
    assert deck.position_s == position
    deck.set_paused(False)
    block, _ = deck.next_block()
    assert block is not None
    np.testing.assert_allclose(block, source[100:200])


def test_deck_without_track_gives_nothing() -> None:
    """An empty deck hands out no frames and no events, and cannot skip."""
    deck = Deck(8000, 2)
    assert deck.next_block() == (None, [])
    assert deck.skip() is False


# -------------------------------------------------------------------------------------------- sources


def test_file_source_resamples_and_maps_channels(tmp_path: Path) -> None:
    """A 22.05 kHz mono file comes out at 44.1 kHz stereo with its pitch and length kept, block by block."""
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(1000, 2.0, 22050)[:, 0], 22050)
    source = FileSource(path, 44100, 2)
    assert source.total_frames == 88200
    blocks = []
    while len(block := source.read(1000)):
        assert block.shape[1] == 2
        blocks.append(block)
    source.close()
    out = np.concatenate(blocks)
    assert abs(len(out) - 88200) <= 2
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    spectrum = np.abs(np.fft.rfft(out[4410:48510, 0]))
    peak_hz = np.argmax(spectrum) * 44100 / 44100
    assert peak_hz == pytest.approx(1000, abs=2)


def test_decode_track_matches_one_shot_resampling(tmp_path: Path) -> None:
    """The streamed decode is the file resampled by soxr in one go (so tests can correlate against either)."""
    path = tmp_path / "noise.wav"
    rng = np.random.default_rng(3)
    noise = (0.3 * rng.standard_normal((48000, 2))).astype(np.float32)
    sf.write(path, noise, 48000, subtype="FLOAT")
    streamed = decode_track(path, 44100, 2)
    one_shot = soxr.resample(noise, 48000, 44100, quality="HQ")
    n = min(len(streamed), len(one_shot))
    assert abs(len(streamed) - len(one_shot)) <= 2
    middle = slice(1000, n - 1000)
    np.testing.assert_allclose(streamed[middle], one_shot[middle], atol=2e-3)


def test_file_source_refuses_non_audio(tmp_path: Path) -> None:
    """A file that is not audio raises when opened (the player reports it and moves on)."""
    path = tmp_path / "notes.txt"
    path.write_text("not audio")
    with pytest.raises(sf.LibsndfileError):
        FileSource(path, 44100, 2)


# ------------------------------------------------------------------------------------- pacing and files


def test_pacer_sleeps_only_when_ahead_of_real_time() -> None:
    """The pacer lets a stream run up to max_lead_s ahead of the clock and sleeps off the rest."""
    now = [100.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    pacer = _Pacer(1000, max_lead_s=0.2, clock=lambda: now[0], sleep=sleep)
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
    import time

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
        audio_io.open_output(wav_path=None, device=None)
    assert caught.value.code == "no_audio_device"
    assert "libportaudio2" in caught.value.message
    assert "--output-wav" in caught.value.message


def _run_listen(args: list[str], alsa_conf: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{alsa_conf}", CADENCE_HOME=str(home))
    return subprocess.run(
        [PYTHON, "-m", "player", "listen", "--home", str(home), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_no_sound_card_exits_2_with_advice(tmp_path: Path) -> None:
    """With no sound devices at all, `cadence listen` exits 2 naming the problem and the options, no traceback."""
    conf = tmp_path / "asoundrc"
    conf.write_text("# no devices defined here\n")
    result = _run_listen([], conf, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "error [no_audio_device]" in result.stderr
    assert "--list-devices" in result.stderr and "--output-device" in result.stderr


def test_unknown_device_name_lists_the_choices(tmp_path: Path) -> None:
    """An --output-device that matches nothing is refused with the names that exist."""
    conf = tmp_path / "asoundrc"
    conf.write_text(_virtual_card(tmp_path))
    result = _run_listen(["--output-device", "no-such-speaker"], conf, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "no-such-speaker" in result.stderr and "cadence_speaker" in result.stderr


def test_list_devices_shows_the_virtual_card(tmp_path: Path) -> None:
    """`cadence listen --list-devices` prints the devices PortAudio sees, with their channels."""
    conf = tmp_path / "asoundrc"
    conf.write_text(_virtual_card(tmp_path))
    result = _run_listen(["--list-devices"], conf, tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "cadence_mic" in result.stdout and "cadence_speaker" in result.stdout


def _virtual_card(directory: Path) -> str:
    raw = directory / "silence.raw"
    raw.write_bytes(b"\0" * 3200)
    return f"""
pcm.cadence_mic {{
    type plug
    slave {{ pcm {{ type file slave.pcm "null" file "/dev/null" infile "{raw}" format "raw" }}
            format S16_LE rate 16000 channels 1 }}
    hint {{ show on description "Cadence test microphone" }}
}}
pcm.cadence_speaker {{
    type plug
    slave {{ pcm {{ type file slave.pcm "null" file "{directory / "played.raw"}" format "raw" }}
            format S16_LE rate 44100 channels 2 }}
    hint {{ show on description "Cadence test speaker" }}
}}
"""
