"""Feature extraction on synthetic signals with known answers, and decoding of odd files."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from player.core.track import MFCC_COUNT, AudioFeatures
from player.library import features as F

SR = F.ANALYSIS_RATE_HZ


def _audio(y: np.ndarray, sr: int = SR) -> F.DecodedAudio:
    return F.DecodedAudio(y.astype(np.float32), sr, len(y) / sr, False)


def _click_track(bpm: float, seconds: float, sr: int = SR) -> np.ndarray:
    y = np.zeros(int(seconds * sr))
    click = np.exp(-np.arange(int(0.03 * sr)) / (0.005 * sr)) * np.sin(
        2 * np.pi * 1500 * np.arange(int(0.03 * sr)) / sr
    )
    period = 60.0 / bpm * sr
    for k in range(int(len(y) / period)):
        at = round(k * period)
        end = min(len(y), at + len(click))
        y[at:end] += click[: end - at]
    return 0.5 * y


def _chord_tone(midis: list[int], seconds: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    y = np.zeros_like(t)
    for m in midis:
        f = 440.0 * 2 ** ((m - 69) / 12)
        for h in range(1, 5):
            y += np.sin(2 * np.pi * f * h * t) / h**1.5
    env = np.minimum(1.0, np.minimum(t / 0.05, (seconds - t) / 0.05))
    return y * env


def _progression(chords: list[list[int]], seconds_each: float = 1.5) -> np.ndarray:
    return 0.1 * np.concatenate([_chord_tone(c, seconds_each) for c in chords])


def test_click_track_at_120_bpm_has_tempo_120() -> None:
    """A click every 0.5 s is estimated at 120 BPM (within 4 %) with a strong, clear beat."""
    result = F.analyse(_audio(_click_track(120.0, 20.0)))
    assert abs(result.tempo_bpm - 120.0) / 120.0 < 0.04
    assert result.beat_strength > 0.5
    assert 1.5 < result.onset_rate < 2.5


@pytest.mark.parametrize("bpm", [72.0, 95.0, 150.0])
def test_click_tracks_at_other_tempi(bpm: float) -> None:
    """Click tracks at 72, 95 and 150 BPM come out at that tempo or its double/half."""
    tempo = F.analyse(_audio(_click_track(bpm, 20.0))).tempo_bpm
    assert min(abs(tempo / bpm - m) / m for m in (0.5, 1.0, 2.0)) < 0.04


def test_c_major_progression_is_c_major() -> None:
    """C–F–G–C (I–IV–V–I) is detected as C major."""
    y = _progression([[60, 64, 67], [53, 57, 60], [55, 59, 62], [60, 64, 67]] * 3)
    result = F.analyse(_audio(y))
    assert (result.key, result.mode) == (0, "major")


def test_a_minor_progression_is_a_minor() -> None:
    """Am–Dm–E–Am (i–iv–V–i, harmonic minor) is detected as A minor."""
    y = _progression([[57, 60, 64], [50, 53, 57], [52, 56, 59], [57, 60, 64]] * 3)
    result = F.analyse(_audio(y))
    assert (result.key, result.mode) == (9, "minor")


def test_key_profiles_identify_every_rotation() -> None:
    """The Krumhansl–Kessler profile of each of the 24 keys, as a chroma vector, yields that key."""
    for tonic in range(12):
        assert F.estimate_key(np.roll(F._KK_MAJOR, tonic))[:2] == (tonic, "major")
        assert F.estimate_key(np.roll(F._KK_MINOR, tonic))[:2] == (tonic, "minor")
    assert F.estimate_key(np.zeros(12)) == (0, "major", 0.0)


def test_sine_loudness_centroid_and_harmonic_share() -> None:
    """A 1 kHz sine of amplitude 0.1 reads −23 LUFS (BS.1770: full-scale sine is −3.01), its
    centroid is 1 kHz, it is all harmonic and has no dynamics."""
    t = np.arange(10 * SR) / SR
    result = F.analyse(_audio(0.1 * np.sin(2 * np.pi * 1000.0 * t)))
    assert result.loudness_db == pytest.approx(-23.0, abs=0.6)
    assert result.spectral_centroid_hz == pytest.approx(1000.0, rel=0.03)
    assert result.hp_ratio > 0.9
    assert result.dynamic_range_db < 1.0
    assert result.spectral_flatness < 0.01


def test_square_wave_zero_crossing_rate_is_two_over_period() -> None:
    """A square wave with a period of 50 samples crosses zero 2/50 times per sample."""
    n = np.arange(5 * SR)
    y = 0.3 * np.where((n // 25) % 2 == 0, 1.0, -1.0)
    assert F.analyse(_audio(y)).zero_crossing_rate == pytest.approx(2 / 50, rel=0.01)


def test_white_noise_is_flat_percussive_and_not_acoustic(rng: np.random.Generator) -> None:
    """White noise is spectrally flat, mostly not harmonic, and less acoustic than a sustained chord."""
    noise = F.analyse(_audio(0.1 * rng.standard_normal(10 * SR)))
    chord = F.analyse(_audio(0.1 * _chord_tone([60, 64, 67], 10.0)))
    assert noise.spectral_flatness > 0.3
    assert noise.hp_ratio < chord.hp_ratio
    assert noise.acousticness < chord.acousticness


def test_every_field_is_finite_and_descriptors_within_0_1(rng: np.random.Generator) -> None:
    """Clicks, chords and noise all give finite features, 13 MFCC means/stds and 0–1 descriptors."""
    for y in (_click_track(100, 8), _progression([[60, 64, 67]] * 4), 0.05 * rng.standard_normal(4 * SR)):
        result = F.analyse(_audio(y))
        values = [v for k, v in vars_of(result).items() if isinstance(v, float)]
        assert all(math.isfinite(v) for v in values)
        assert len(result.mfcc_mean) == len(result.mfcc_std) == MFCC_COUNT
        for name in ("energy", "danceability", "acousticness", "valence", "beat_strength", "hp_ratio"):
            assert 0.0 <= getattr(result, name) <= 1.0


def vars_of(result: AudioFeatures) -> dict[str, object]:
    return {name: getattr(result, name) for name in AudioFeatures.__dataclass_fields__}


def test_descriptors_move_the_way_their_cues_do() -> None:
    """Louder/faster/busier raises energy; major mode raises valence; a strong beat raises danceability."""
    base = dict(
        loudness_db=-20.0,
        tempo_bpm=100.0,
        onset_rate=3.0,
        beat_strength=0.5,
        pulse_clarity=0.3,
        spectral_centroid_hz=1500.0,
        spectral_flatness=0.01,
        hp_ratio=0.7,
        mode="major",
        key_clarity=0.7,
    )
    d = F.derive_descriptors(**base)  # type: ignore[arg-type]
    louder = F.derive_descriptors(**{**base, "loudness_db": -8.0})  # type: ignore[arg-type]
    faster = F.derive_descriptors(**{**base, "tempo_bpm": 170.0, "onset_rate": 7.0})  # type: ignore[arg-type]
    minor = F.derive_descriptors(**{**base, "mode": "minor"})  # type: ignore[arg-type]
    loose = F.derive_descriptors(**{**base, "beat_strength": 0.0, "pulse_clarity": 0.0})  # type: ignore[arg-type]
    assert louder["energy"] > d["energy"] and faster["energy"] > d["energy"]
    assert minor["valence"] < d["valence"]
    assert loose["danceability"] < d["danceability"]
    assert louder["acousticness"] < d["acousticness"]


def test_two_second_jingle_gets_sane_values(tmp_path: Path) -> None:
    """A 2 s jingle is a playable track: decoded and given finite, in-range values."""
    path = tmp_path / "jingle.wav"
    sf.write(path, _progression([[60, 64, 67], [55, 59, 62]], 1.0).astype(np.float32), SR)
    result = F.extract_file(path)
    assert result.duration_s == pytest.approx(2.0, abs=0.01)
    assert 40.0 <= result.tempo_bpm <= 240.0
    assert all(
        0.0 <= getattr(result, n) <= 1.0 for n in ("energy", "danceability", "acousticness", "valence")
    )
    assert result.loudness_db > -40.0


def test_silent_empty_short_and_non_audio_files_raise_decode_errors(tmp_path: Path) -> None:
    """Silence, 0 bytes, a 0.1 s blip, text named .ogg and a truncated FLAC each raise DecodeError with a reason."""
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(5 * SR, dtype=np.float32), SR)
    with pytest.raises(F.SilentTrackError, match="silent"):
        F.decode(silent)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    with pytest.raises(F.DecodeError, match="empty"):
        F.decode(empty)
    blip = tmp_path / "blip.wav"
    sf.write(blip, 0.5 * np.ones(int(0.1 * SR), dtype=np.float32), SR)
    with pytest.raises(F.DecodeError, match="too short"):
        F.decode(blip)
    text = tmp_path / "notes.ogg"
    text.write_text("these are not the sounds you are looking for\n" * 50)
    with pytest.raises(F.DecodeError, match="not decodable") as refused:
        F.decode(text)
    assert "Format not recognised" in str(refused.value)
    # of a ".mp3" it cannot place libsndfile says "File does not exist …": the file exists
    fake_mp3 = tmp_path / "fake.mp3"
    fake_mp3.write_text("not audio")
    with pytest.raises(F.DecodeError, match="not decodable") as refused:
        F.decode(fake_mp3)
    assert "does not exist" not in str(refused.value) and "no audio format" in str(refused.value)
    whole = tmp_path / "whole.flac"
    sf.write(whole, _click_track(120, 30).astype(np.float32), SR, format="FLAC")
    truncated = tmp_path / "truncated.flac"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with pytest.raises(F.DecodeError, match="truncated"):
        F.decode(truncated)


FFMPEG = shutil.which("ffmpeg")


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (scripts/install.sh installs it)")
def test_an_opus_file_libsndfile_stops_in_is_decoded_whole(tmp_path: Path) -> None:
    """libsndfile 1.2.2 opens Ogg Opus files that ffmpeg wrote from real music and stops 6 s in
    ("malformed"): such a file was reported as truncated and left out of the library. A second
    decoder (audioread) decides; the file decodes whole and its features are the lossless copy's."""
    assert FFMPEG is not None
    music = Path("/usr/share/games/etr/music/race1-jt.ogg")  # Debian's extremetuxracer-data
    excerpt = ["-ss", "10", "-t", "15"]
    lossless, opus = tmp_path / "track.flac", tmp_path / "track.opus"
    for target, codec in ((lossless, "flac"), (opus, "libopus")):
        subprocess.run(
            [FFMPEG, "-loglevel", "error", "-y", *excerpt, "-i", str(music), "-c:a", codec, str(target)],
            check=True,
        )
    decoded = F.decode(opus)
    assert decoded.duration_s == pytest.approx(15.0, abs=0.1)
    reference, lossy = F.analyse(F.decode(lossless)), F.analyse(decoded)
    assert lossy.tempo_bpm == pytest.approx(reference.tempo_bpm, rel=0.02)
    assert lossy.energy == pytest.approx(reference.energy, abs=0.03)


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (scripts/install.sh installs it)")
@pytest.mark.parametrize("container", ["flac", "ogg", "wav"])
def test_a_surround_file_reads_as_loud_as_its_stereo(tmp_path: Path, container: str) -> None:
    """A 5.1 file whose music is in its front pair (the rest silent) read about 9.5 dB quieter than
    the same music in stereo (the mean of six channels) and lower in energy; the BS.775 downmix reads
    it as the stereo, in the WAVE/FLAC channel order and in Ogg Vorbis's (the centre second)."""
    assert FFMPEG is not None
    music = Path("/usr/share/games/etr/music/race1-jt.ogg")  # Debian's extremetuxracer-data
    stereo, surround = tmp_path / "stereo.flac", tmp_path / f"surround.{container}"
    codec = ["-c:a", "libvorbis", "-q:a", "8"] if container == "ogg" else []
    cut = ["-ss", "10", "-t", "15", "-i", str(music)]
    subprocess.run([FFMPEG, "-loglevel", "error", "-y", *cut, str(stereo)], check=True)
    subprocess.run(
        [FFMPEG, "-loglevel", "error", "-y", *cut, "-af", "pan=5.1|FL=c0|FR=c1", *codec, str(surround)],
        check=True,
    )
    reference, heard = F.analyse(F.decode(stereo)), F.analyse(F.decode(surround))
    assert heard.loudness_db == pytest.approx(reference.loudness_db, abs=0.5)
    assert heard.energy == pytest.approx(reference.energy, abs=0.02)


def test_long_file_is_analysed_from_bounded_excerpts(tmp_path: Path) -> None:
    """A 10-minute file is read as EXCERPT_COUNT windows of EXCERPT_S s, yet reports its full duration."""
    path = tmp_path / "long.flac"
    sr = 8000
    with sf.SoundFile(path, "w", samplerate=sr, channels=2, format="FLAC") as f:
        minute = np.tile(_click_track(128, 60.0, sr)[:, None], (1, 2)).astype(np.float32)
        for _ in range(10):
            f.write(minute)
    decoded = F.decode(path)
    assert decoded.excerpted
    assert decoded.duration_s == pytest.approx(600.0, abs=0.01)
    assert len(decoded.samples) == pytest.approx(F.EXCERPT_COUNT * F.EXCERPT_S * SR, rel=0.001)
    result = F.analyse(decoded)
    assert result.duration_s == pytest.approx(600.0, abs=0.01)
    assert abs(result.tempo_bpm - 128.0) / 128.0 < 0.04


def test_warm_up_records_its_duration() -> None:
    """warm_up() runs the analysis once and remembers how long that took."""
    seconds = F.warm_up()
    assert seconds > 0 and F.warm_up_seconds() == seconds


@settings(max_examples=200, deadline=None)
@given(
    loudness_db=st.floats(-120, 10),
    tempo_bpm=st.floats(1, 400),
    onset_rate=st.floats(0, 50),
    beat_strength=st.floats(0, 1),
    pulse_clarity=st.floats(0, 1),
    spectral_centroid_hz=st.floats(0, 20000),
    spectral_flatness=st.floats(0, 1),
    hp_ratio=st.floats(0, 1),
    major=st.booleans(),
    key_clarity=st.floats(-1, 1),
)
def test_descriptors_stay_within_0_1_for_any_inputs(major: bool, **cues: float) -> None:
    """Whatever the low-level values, the four descriptors are finite and within 0–1."""
    out = F.derive_descriptors(**cues, mode="major" if major else "minor")
    assert set(out) == {"energy", "danceability", "acousticness", "valence"}
    assert all(0.0 <= v <= 1.0 and math.isfinite(v) for v in out.values())
