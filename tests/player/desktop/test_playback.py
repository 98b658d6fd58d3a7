"""Playing tracks: streaming decode and resampling, and the playback thread over a WAV output."""

from __future__ import annotations

import io
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from player.desktop.deck import DeckEvent, TrackSource
from player.desktop.devices import WavFileOutput
from player.desktop.playback import (
    FfmpegSource,
    FileSource,
    PlaybackThread,
    _opened,
    decode_track,
    open_track,
)

FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(
    FFMPEG is None, reason="ffmpeg is not installed (scripts/install.sh installs it)"
)


def _tone(freq_hz: float, seconds: float, rate: int, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


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


@pytest.mark.parametrize(
    ("fmt", "channel", "left", "right"),
    [
        ("FLAC", 1, 0.0, 1.0),  # WAVE/FLAC order: FL FR FC LFE BL BR
        ("FLAC", 2, 0.5**0.5, 0.5**0.5),  # the centre, into both sides at -3 dB
        ("FLAC", 3, 0.0, 0.0),  # the LFE is left out
        ("OGG", 2, 0.0, 1.0),  # Vorbis order: FL FC FR BL BR LFE
        ("OGG", 1, 0.5**0.5, 0.5**0.5),
        ("OGG", 3, 0.5**0.5, 0.0),  # rear left, into the left side
        ("OGG", 4, 0.0, 0.5**0.5),  # rear right
    ],
)
def test_a_surround_file_is_downmixed_to_stereo_in_its_own_channel_order(
    tmp_path: Path, fmt: str, channel: int, left: float, right: float
) -> None:
    """A 5.1 file used to lose all but its first two channels (in an Ogg file the front right was
    dropped and the centre played on the right); each channel now reaches the side it belongs to."""
    rate = 48000
    frames = np.zeros((rate, 6), dtype=np.float32)
    frames[:, channel] = _tone(440.0, 1.0, rate, amp=0.5)[:, 0]
    path = tmp_path / f"surround.{fmt.lower()}"
    sf.write(path, frames, rate, format=fmt, subtype="VORBIS" if fmt == "OGG" else None)
    heard = decode_track(path, rate, 2)
    rms = np.sqrt(np.mean(heard[rate // 10 : -rate // 10] ** 2, axis=0))
    tone_rms = 0.5 / np.sqrt(2)
    assert rms == pytest.approx([left * tone_rms, right * tone_rms], abs=0.02)


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


def test_playback_thread_plays_tracks_in_turn_and_passes_over_unplayable_ones(tmp_path: Path) -> None:
    """The thread asks for a track whenever the deck is empty, reports started and completed at each track's
    length, writes each track's own audio, and reports a missing file without stopping."""
    rate = 22050
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(first, _tone(440, 0.5, rate)[:, 0], rate)
    sf.write(second, _tone(660, 0.25, rate)[:, 0], rate)
    to_play = [("a", first), ("gone", tmp_path / "missing.wav"), ("b", second)]
    events: list[DeckEvent] = []
    errors: list[tuple[str, str]] = []
    spent = threading.Event()

    def next_track() -> tuple[str, Path] | None:
        if to_play:
            return to_play.pop(0)
        spent.set()
        return None

    output = WavFileOutput(tmp_path / "out.wav", realtime=False)
    playback = PlaybackThread(
        output, next_track=next_track, on_event=events.append, on_error=lambda i, m: errors.append((i, m))
    )
    playback.start()
    assert spent.wait(10)
    playback.stop()
    output.close()

    assert [(e.kind, e.track_id) for e in events] == [
        ("started", "a"), ("completed", "a"), ("started", "b"), ("completed", "b"),
    ]  # fmt: skip
    assert events[1].position_s == pytest.approx(0.5, abs=1e-3)
    assert events[3].position_s == pytest.approx(0.25, abs=1e-3)
    assert [i for i, _ in errors] == ["gone"] and "missing.wav" in errors[0][1]
    out, out_rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert out_rate == 44100 and abs(len(out) - round(0.75 * 44100)) <= 4
    heard_a = decode_track(first, 44100, 2)
    fade = round(0.05 * 44100)  # away from the fades, the output is the decoded track
    np.testing.assert_allclose(out[fade : len(heard_a) - fade], heard_a[fade:-fade], atol=1e-4)


def test_track_location_prefers_a_local_file_then_the_servers_audio_url(tmp_path: Path) -> None:
    from player.desktop.playback import track_location

    here = tmp_path / "a.flac"
    here.write_bytes(b"x")
    assert track_location(str(here), "/tracks/a/audio", "ws://h:1") == here
    assert track_location("", "/tracks/a/audio?exp=1&sig=s", "ws://10.0.0.2:8765") == (
        "http://10.0.0.2:8765/tracks/a/audio?exp=1&sig=s"
    )
    assert (
        track_location("/elsewhere/a.flac", "/tracks/a/audio", "wss://h:8765/")
        == "https://h:8765/tracks/a/audio"
    )
    assert track_location("/elsewhere/a.flac", None, "ws://h:1") == Path("/elsewhere/a.flac")


def _aac(tmp_path: Path, seconds: float, *, faststart: bool) -> Path:
    """An M4A (AAC) excerpt of real music, its index at the start or (ffmpeg's default) at the end."""
    assert FFMPEG is not None
    target = tmp_path / ("fast.m4a" if faststart else "late.m4a")
    flags = ["-movflags", "+faststart"] if faststart else []
    music = "/usr/share/games/etr/music/race1-jt.ogg"  # Debian's extremetuxracer-data
    subprocess.run(
        [
            FFMPEG,
            "-loglevel",
            "error",
            "-y",
            "-t",
            str(seconds),
            "-i",
            music,
            "-c:a",
            "aac",
            *flags,
            str(target),
        ],
        check=True,
    )
    return target


def _drain(source: TrackSource) -> np.ndarray:
    blocks = []
    while len(block := source.read(65536)):
        blocks.append(block)
    source.close()
    return np.concatenate(blocks)


@needs_ffmpeg
@pytest.mark.parametrize("faststart", [True, False])
def test_a_track_libsndfile_cannot_open_plays_through_ffmpeg(tmp_path: Path, faststart: bool) -> None:
    """An M4A (AAC) in the library, on this machine or fetched from the server into memory, was
    passed over as unplayable (libsndfile does not read MP4): it now plays whole through ffmpeg, at the
    output's rate and channels, its length known from its tags before the end."""
    path = _aac(tmp_path, 6.0, faststart=faststart)
    with pytest.raises(sf.LibsndfileError):
        FileSource(path, 44100, 2)
    # a local file, and the bytes a remote track is fetched into (open_track's two paths)
    for source in (open_track(path, 48000, 2), _opened(io.BytesIO(path.read_bytes()), 48000, 2)):
        assert isinstance(source, FfmpegSource)
        assert source.total_frames == pytest.approx(6.0 * 48000, abs=0.05 * 48000)
        audio = _drain(source)
        assert audio.shape[1] == 2 and len(audio) / 48000 == pytest.approx(6.0, abs=0.05)
        assert float(np.sqrt(np.mean(audio**2))) > 0.01, "music, not silence"


@needs_ffmpeg
def test_bytes_that_are_not_audio_are_refused_by_ffmpeg_too() -> None:
    with pytest.raises(OSError, match="ffmpeg"):
        _opened(io.BytesIO(b"these are not the sounds you are looking for" * 50), 44100, 2)


@needs_ffmpeg
def test_an_opus_file_libsndfile_stops_in_plays_whole(tmp_path: Path) -> None:
    """libsndfile 1.2.2 stops about 6 s into this Ogg Opus (ffmpeg-written, real music): opened
    through ffmpeg it plays whole; read by libsndfile the track ends where decoding stopped instead
    of the error stopping the playback thread."""
    assert FFMPEG is not None
    path = tmp_path / "track.opus"
    music = "/usr/share/games/etr/music/race1-jt.ogg"
    subprocess.run(
        [FFMPEG, "-loglevel", "error", "-y", "-t", "12", "-i", music, "-c:a", "libopus", str(path)],
        check=True,
    )
    source = open_track(path, 48000, 2)
    assert isinstance(source, FfmpegSource)
    assert len(_drain(source)) / 48000 == pytest.approx(12.0, abs=0.05)
    cut_short = _drain(FileSource(path, 48000, 2))
    assert 1.0 < len(cut_short) / 48000 < 11.0, "libsndfile's own stop, ended quietly"
