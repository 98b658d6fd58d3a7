"""Lyrics: every source read from real tagged files and sidecars, LRC stamps stripped, refrains once,
sidecar precedence, the affect and the blend, odd files, and incremental scans that re-read only the
lyrics when a sidecar changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mood.text import TextAffect, text_affect
from player.cli import main
from player.core.track import MFCC_COUNT, NUMERIC_FEATURES, Track
from player.library.lyrics import (
    AUDIO_VALENCE_CONFIDENCE,
    MAX_LYRICS_CHARS,
    Lyrics,
    LyricsAffect,
    apply_lyrics,
    blend_valence,
    clean_lrc,
    distinct_lines,
    lyrics_affect,
    read_lyrics,
    sidecar_state,
)
from player.library.scan import scan
from player.library.store import LibraryStore, track_id_for

FFMPEG = shutil.which("ffmpeg") or ("/usr/bin/ffmpeg" if os.path.exists("/usr/bin/ffmpeg") else None)
needs_ffmpeg = pytest.mark.skipif(
    FFMPEG is None, reason="ffmpeg is not installed (makes the MP3 and M4A files)"
)

SAD = """[Verse 1]
I cry alone in the dark every night
My heart is broken and the tears won't stop
I'm tired of hurting, I'm tired of grief

[Chorus]
I miss you, I'm lost and so sad
So sad, so lonely, I'm miserable without you
I miss you, I'm lost and so sad (x2)

[Verse 2]
I hate this empty room, I'm hopeless and afraid

[Chorus]
I miss you, I'm lost and so sad
So sad, so lonely, I'm miserable without you
"""
"""Lyrics of clearly negative valence: seven distinct lines, the chorus sung three times."""

HAPPY = """Sunshine on my face, I'm dancing in the light
I love the way you smile, everything feels right
We laugh together, happy and free
What a wonderful, beautiful day for you and me
"""
"""Lyrics of clearly positive valence."""

RATE = 22050


# ------------------------------------------------------------------------------------------ helpers


def _tone(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


def _bright_major(seconds: float = 10.0) -> np.ndarray:
    """A bright, fast (160 BPM), loud arrangement in C major: I–IV–V–I triads with harmonics and a
    noise hit on every beat."""
    t = np.arange(int(seconds * RATE)) / RATE
    y = np.zeros_like(t)
    beat_s = 60.0 / 160.0
    chords = ((261.63, 329.63, 392.00), (349.23, 440.00, 523.25), (392.00, 493.88, 587.33))
    for i, start in enumerate(np.arange(0.0, seconds, 4 * beat_s)):
        inside = (t >= start) & (t < start + 4 * beat_s)
        for f0 in chords[(0, 1, 2, 0)[i % 4]]:
            for h in range(1, 6):
                y[inside] += (0.5 / h) * np.sin(2 * np.pi * f0 * h * t[inside])
    hit_n = int(0.05 * RATE)
    hit = np.random.default_rng(0).standard_normal(hit_n) * np.exp(-np.arange(hit_n) / (0.01 * RATE))
    for start_i in range(0, len(y), int(beat_s * RATE)):
        end = min(len(y), start_i + hit_n)
        y[start_i:end] += 2.0 * hit[: end - start_i]
    return (0.9 * y / np.abs(y).max()).astype(np.float32)


def _ffmpeg(source: Path, target: Path, *codec: str) -> Path:
    assert FFMPEG is not None
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source), *codec, str(target)],
        check=True,
        timeout=60,
    )
    return target


def _wav(path: Path, audio: np.ndarray | None = None) -> Path:
    sf.write(path, _tone() if audio is None else audio, RATE, subtype="PCM_16")
    return path


def _id3_uslt(text: str, lang: str = "eng", desc: str = "") -> object:
    from mutagen.id3 import USLT

    return USLT(encoding=3, lang=lang, desc=desc, text=text)


def _mp3_with_uslt(folder: Path, text: str) -> Path:
    from mutagen.mp3 import MP3

    path = _ffmpeg(_wav(folder / "src.wav"), folder / "song.mp3", "-c:a", "libmp3lame", "-b:a", "64k")
    (folder / "src.wav").unlink()
    audio = MP3(path)
    if audio.tags is None:
        audio.add_tags()
    assert audio.tags is not None
    audio.tags.add(_id3_uslt("Ceci n'est pas la bonne langue", lang="fra", desc="fr"))
    audio.tags.add(_id3_uslt(text))
    audio.save()
    return path


def _flac_with(
    folder: Path, key: str, text: str, name: str = "song.flac", audio: np.ndarray | None = None
) -> Path:
    from mutagen.flac import FLAC

    path = folder / name
    sf.write(path, _tone() if audio is None else audio, RATE, format="FLAC")
    tagged = FLAC(path)
    tagged[key] = text
    tagged.save()
    return path


def _ogg_with(folder: Path, key: str, text: str) -> Path:
    from mutagen.oggvorbis import OggVorbis

    path = folder / "song.ogg"
    sf.write(path, _tone(), RATE, format="OGG", subtype="VORBIS")
    tagged = OggVorbis(path)
    tagged[key] = text
    tagged.save()
    return path


def _m4a_with(folder: Path, text: str) -> Path:
    from mutagen.mp4 import MP4

    path = _ffmpeg(_wav(folder / "src.wav"), folder / "song.m4a", "-c:a", "aac", "-b:a", "64k")
    (folder / "src.wav").unlink()
    tagged = MP4(path)
    tagged["\xa9lyr"] = [text]
    tagged.save()
    return path


def _wav_with_uslt(folder: Path, text: str) -> Path:
    from mutagen.wave import WAVE

    path = _wav(folder / "song.wav")
    tagged = WAVE(path)
    tagged.add_tags()
    assert tagged.tags is not None
    tagged.tags.add(_id3_uslt(text))
    tagged.save()
    return path


def _aiff_with_uslt(folder: Path, text: str) -> Path:
    from mutagen.aiff import AIFF

    path = folder / "song.aiff"
    sf.write(path, _tone(), RATE, format="AIFF", subtype="PCM_16")
    tagged = AIFF(path)
    tagged.add_tags()
    assert tagged.tags is not None
    tagged.tags.add(_id3_uslt(text))
    tagged.save()
    return path


def _track(path: str, valence: float = 0.8) -> Track:
    return Track(
        id=track_id_for(path),
        path=path,
        title="t",
        artist="a",
        album="b",
        duration_s=60.0,
        tempo_bpm=150.0,
        beat_strength=0.6,
        onset_rate=3.0,
        loudness_db=-10.0,
        dynamic_range_db=8.0,
        spectral_centroid_hz=2500.0,
        spectral_rolloff_hz=5000.0,
        spectral_flatness=0.02,
        spectral_contrast_db=20.0,
        zero_crossing_rate=0.07,
        key=0,
        mode="major",
        hp_ratio=0.6,
        energy=0.7,
        danceability=0.7,
        acousticness=0.3,
        valence=valence,
        mfcc_mean=tuple(0.0 for _ in range(MFCC_COUNT)),
        mfcc_std=tuple(1.0 for _ in range(MFCC_COUNT)),
    )


def _later(path: Path, seconds: float = 5.0) -> None:
    """Move ``path``'s mtime forward, so a rewrite within the file system's time resolution shows."""
    when = time.time_ns() + int(seconds * 1e9)
    os.utime(path, ns=(when, when))


# ------------------------------------------------------------------------------------ each source


@needs_ffmpeg
@pytest.mark.parametrize(
    ("make", "source"),
    [
        (_mp3_with_uslt, "tag:USLT"),
        (lambda folder, text: _flac_with(folder, "LYRICS", text), "tag:LYRICS"),
        (lambda folder, text: _flac_with(folder, "unsyncedlyrics", text), "tag:UNSYNCEDLYRICS"),
        (lambda folder, text: _ogg_with(folder, "UnsyncedLyrics", text), "tag:UNSYNCEDLYRICS"),
        (_m4a_with, "tag:\xa9lyr"),
        (_wav_with_uslt, "tag:USLT"),
        (_aiff_with_uslt, "tag:USLT"),
    ],
    ids=[
        "mp3-uslt",
        "flac-lyrics",
        "flac-unsyncedlyrics",
        "ogg-unsyncedlyrics",
        "m4a-lyr",
        "wav-id3",
        "aiff-id3",
    ],
)
def test_each_embedded_source_is_read(make: Callable[[Path, str], Path], source: str, tmp_path: Path) -> None:
    """USLT (MP3, ID3 in WAV and AIFF; the English frame before a French one), FLAC LYRICS and
    UNSYNCEDLYRICS, Ogg UNSYNCEDLYRICS in any case, and MP4 ©lyr come back as written, line by line."""
    path = make(tmp_path, SAD)
    lyrics = read_lyrics(path)
    assert lyrics is not None and lyrics.source == source
    assert lyrics.text.splitlines()[:3] == [
        "[Verse 1]",
        "I cry alone in the dark every night",
        SAD.splitlines()[2],
    ]
    assert lyrics.text == SAD.strip()
    assert path.suffix == ".m4a" or sf.info(str(path)).frames > 0  # still audio after tagging


def test_no_lyrics_anywhere_is_none(tmp_path: Path) -> None:
    """A tagged file without lyrics and an untagged WAV have none."""
    assert read_lyrics(_flac_with(tmp_path, "TITLE", "Only a title")) is None
    assert read_lyrics(_wav(tmp_path / "plain.wav")) is None


# ----------------------------------------------------------------------------------- LRC and sidecars

LRC = """\ufeff[ar:Somebody]
[ti:Grey Rain]
[al:Weather]
[by:lrc maker]
[offset:+250]
[length: 03:12]
[00:12.00][01:40.50][02:30.10]I cry alone in the dark every night
[00:17.20]<00:17.20>My <00:17.60>heart <00:18.00>is <00:18.40>broken
[00:21:30]
[00:24]And the tears won't stop
"""


def test_lrc_sidecar_is_read_without_stamps_or_metadata(tmp_path: Path) -> None:
    """Line stamps (several per line, three spellings), metadata lines, enhanced word stamps and a UTF-8
    BOM are gone; empty stamped lines are dropped."""
    audio = _wav(tmp_path / "song.wav")
    (tmp_path / "song.lrc").write_text(LRC, encoding="utf-8")
    lyrics = read_lyrics(audio)
    assert lyrics == Lyrics(
        "I cry alone in the dark every night\nMy heart is broken\nAnd the tears won't stop", "sidecar:lrc"
    )
    assert clean_lrc("[00:01.00]a [00:02.00] b") == "a b"


def test_txt_sidecar_encodings(tmp_path: Path) -> None:
    """A .txt sidecar: UTF-8 with or without BOM, UTF-16 with BOM, latin-1 as the fallback; CRLF lines."""
    audio = _wav(tmp_path / "song.wav")
    sidecar = tmp_path / "song.txt"
    text = "Café triste\r\nje pleure encore\r\n"
    for raw in (
        text.encode("utf-8"),
        b"\xef\xbb\xbf" + text.encode("utf-8"),
        text.encode("utf-16"),
        text.encode("latin-1"),
    ):
        sidecar.write_bytes(raw)
        assert read_lyrics(audio) == Lyrics("Café triste\nje pleure encore", "sidecar:txt")


def test_a_txt_sidecar_in_lrc_format_is_cleaned(tmp_path: Path) -> None:
    """LRC text is recognised by its stamps wherever it comes from (a .txt, a tag)."""
    audio = _flac_with(tmp_path, "LYRICS", "[00:01.00]Sad and alone\n[00:03.00]crying")
    assert read_lyrics(audio) == Lyrics("Sad and alone\ncrying", "tag:LYRICS")
    (tmp_path / "song.txt").write_text("[ti:x]\n[00:01.00]Happy at last")
    assert read_lyrics(audio) == Lyrics("Happy at last", "sidecar:txt")


def test_sidecars_win_over_tags_and_lrc_over_txt(tmp_path: Path) -> None:
    """Precedence: song.lrc, then song.txt, then the embedded tags; an empty sidecar is skipped."""
    audio = _flac_with(tmp_path, "LYRICS", "from the tag")
    assert read_lyrics(audio) == Lyrics("from the tag", "tag:LYRICS")
    (tmp_path / "song.txt").write_text("from the txt\n")
    assert read_lyrics(audio) == Lyrics("from the txt", "sidecar:txt")
    (tmp_path / "song.lrc").write_text("[00:01.00]from the lrc\n")
    assert read_lyrics(audio) == Lyrics("from the lrc", "sidecar:lrc")
    (tmp_path / "song.lrc").write_text("[ar:nobody]\n[00:01.00]\n")  # stamps only: no text
    assert read_lyrics(audio) == Lyrics("from the txt", "sidecar:txt")
    (tmp_path / "other.lrc").write_text("another song's lyrics")  # another stem: not ours
    (tmp_path / "song.txt").unlink()
    (tmp_path / "song.lrc").unlink()
    assert read_lyrics(audio) == Lyrics("from the tag", "tag:LYRICS")


def test_long_lyrics_are_cut(tmp_path: Path) -> None:
    """Sidecars and tags longer than MAX_LYRICS_CHARS are cut there; a huge sidecar is read in part."""
    audio = _wav(tmp_path / "song.wav")
    (tmp_path / "song.txt").write_text("é la la la\n" * 200_000, encoding="utf-8")  # 2.4 MB
    lyrics = read_lyrics(audio)
    assert lyrics is not None and len(lyrics.text) <= MAX_LYRICS_CHARS and lyrics.text.startswith("é la")
    tagged = _flac_with(tmp_path, "LYRICS", "sad " * 50_000, name="long.flac")
    lyrics = read_lyrics(tagged)
    assert lyrics is not None and len(lyrics.text) <= MAX_LYRICS_CHARS


def test_sidecar_state_tracks_appear_change_vanish(tmp_path: Path) -> None:
    """The fingerprint is None without sidecars and changes when one appears, changes or vanishes."""
    audio = _wav(tmp_path / "song.wav")
    assert sidecar_state(audio) is None
    (tmp_path / "song.txt").write_text("hello")
    first = sidecar_state(audio)
    assert first is not None and [name for name, _, _ in first] == ["song.txt"]
    (tmp_path / "song.txt").write_text("hello, again")
    _later(tmp_path / "song.txt")
    second = sidecar_state(audio)
    assert second is not None and second != first
    (tmp_path / "song.lrc").write_text("[00:01.00]hi")
    both = sidecar_state(audio)
    assert both is not None and [name for name, _, _ in both] == ["song.lrc", "song.txt"]
    (tmp_path / "song.lrc").unlink()
    (tmp_path / "song.txt").unlink()
    assert sidecar_state(audio) is None


# -------------------------------------------------------------------------------------- odd files


@needs_ffmpeg
def test_odd_and_corrupt_files_give_none(tmp_path: Path) -> None:
    """Garbage with an audio name, empty files, truncated containers, binary sidecars, a folder named
    like a sidecar and a missing file: None (or the tags that survive), never an exception."""
    (tmp_path / "garbage.mp3").write_bytes(np.random.default_rng(1).bytes(20_000))
    (tmp_path / "empty.flac").write_bytes(b"")
    (tmp_path / "letter.m4a").write_text("Dear listener,\n" * 100)
    (tmp_path / "id3-only.mp3").write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x7f" + b"\xff" * 50)
    for name in ("garbage.mp3", "empty.flac", "letter.m4a", "id3-only.mp3", "missing.ogg"):
        assert read_lyrics(tmp_path / name) is None, name

    m4a = _m4a_with(tmp_path, SAD)
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(m4a.read_bytes()[: m4a.stat().st_size // 3])
    assert read_lyrics(cut) is None  # ffmpeg writes the moov atom (and its tags) at the end

    flac = _flac_with(tmp_path, "LYRICS", SAD)
    cut_flac = tmp_path / "cut.flac"
    cut_flac.write_bytes(flac.read_bytes()[:200])  # inside the metadata blocks
    assert read_lyrics(cut_flac) is None

    audio = _wav(tmp_path / "binary.wav")
    (tmp_path / "binary.lrc").write_bytes(np.random.default_rng(2).bytes(5000))
    (tmp_path / "binary.txt").write_bytes(bytes(range(1, 32)) * 100)
    assert read_lyrics(audio) is None
    folder = _wav(tmp_path / "folder.wav")
    (tmp_path / "folder.lrc").mkdir()
    assert read_lyrics(folder) is None and sidecar_state(folder) is None


# ------------------------------------------------------------------------------------- the affect


def test_refrains_count_once_and_section_markers_are_dropped() -> None:
    """A chorus repeated (with other punctuation, case, apostrophes or a repeat mark) is one line of
    evidence: the affect of the song equals that of its distinct lines; markers are not read."""
    assert distinct_lines(SAD) == [
        "I cry alone in the dark every night",
        "My heart is broken and the tears won't stop",
        "I'm tired of hurting, I'm tired of grief",
        "I miss you, I'm lost and so sad",
        "So sad, so lonely, I'm miserable without you",
        "I hate this empty room, I'm hopeless and afraid",
    ]
    read: list[str] = []

    def counting(line: str) -> TextAffect:
        read.append(line)
        return text_affect(line)

    chorus = "Oh I'm so sad and lonely\n"
    once = lyrics_affect("Verse: I cry every night\n" + chorus, counting)
    many = lyrics_affect(
        "[Intro]\nVerse: I cry every night\n"
        + chorus * 5
        + "(Chorus)\nOH, I'M SO SAD AND LONELY!!\nOh Im so sad and lonely (x4)\nChorus:\n"
    )
    assert read == ["Verse: I cry every night", "Oh I'm so sad and lonely"]
    assert many == once and once.lines == 2


def test_section_markers_but_not_lyrics_in_brackets_are_dropped() -> None:
    """Bracketed and bare section names go; a sung line in parentheses or starting with a section word stays."""
    text = (
        "[Verse 1: Ana]\n{Bridge}\n(Chorus: Ana & Bo)\nPre-Chorus 2:\n(x2)\n"
        "(I love you)\nBridge over troubled water\nIntro music is loud"
    )
    assert distinct_lines(text) == ["(I love you)", "Bridge over troubled water", "Intro music is loud"]


def test_confidence_grows_with_evidence_and_agreement() -> None:
    """No text or no affective words: confidence 0 and neutral values. More sad lines: more confidence.
    Happy and sad lines that cancel: much less confidence than either alone."""
    assert lyrics_affect("") == LyricsAffect(0.5, 0.5, 0.0, 0.0, 0)
    neutral = lyrics_affect("The car is on the road\nWe walk to the store\n[Chorus]")
    assert (neutral.valence, neutral.confidence, neutral.lines) == (0.5, 0.0, 2)

    one = lyrics_affect("I miss you, I'm lost and so sad")
    sad = lyrics_affect(SAD)
    happy = lyrics_affect(HAPPY)
    assert sad.valence < 0.3 and happy.valence > 0.7
    assert 0.0 < one.confidence < sad.confidence <= 1.0
    assert sad.energy < 0.4 and sad.energy_confidence > 0.3  # crying, lonely, tired: low arousal
    mixed = lyrics_affect(SAD + "\n" + HAPPY)
    assert mixed.confidence < 0.5 * min(sad.confidence, happy.confidence)


def test_blend_is_confidence_weighted() -> None:
    """The blend is the confidence-weighted mean with the audio at AUDIO_VALENCE_CONFIDENCE; lyrics
    without confidence (or none) leave the audio valence alone."""
    assert blend_valence(0.8, None) == 0.8
    assert blend_valence(0.8, LyricsAffect(0.1, 0.5, 0.0)) == 0.8
    confident = LyricsAffect(0.2, 0.5, 1.0)
    expected = (AUDIO_VALENCE_CONFIDENCE * 0.8 + 1.0 * 0.2) / (AUDIO_VALENCE_CONFIDENCE + 1.0)
    assert blend_valence(0.8, confident) == pytest.approx(expected)
    assert blend_valence(0.8, LyricsAffect(0.2, 0.5, 0.3)) > blend_valence(0.8, confident)


def test_apply_lyrics_keeps_the_audio_valence_and_reverts() -> None:
    """Lyrics set the lyrics fields and blend the valence from the audio valence; applying them again
    does not blend twice; no lyrics restore the audio valence. The ranker's columns are unchanged."""
    plain = _track("/m/song.flac", valence=0.8)
    assert not plain.has_lyrics and plain.audio_valence is None
    sad = apply_lyrics(plain, Lyrics(SAD, "sidecar:txt"))
    assert sad.has_lyrics and sad.lyrics_source == "sidecar:txt" and sad.audio_valence == 0.8
    assert sad.lyrics_valence is not None and sad.lyrics_valence < 0.3 and sad.lyrics_energy is not None
    assert sad.valence == pytest.approx(blend_valence(0.8, lyrics_affect(SAD))) and sad.valence < 0.6
    assert apply_lyrics(sad, Lyrics(SAD, "sidecar:txt")) == sad
    reverted = apply_lyrics(sad, None)
    assert reverted.valence == 0.8 and not reverted.has_lyrics and reverted.lyrics_confidence == 0.0
    assert len(sad.numeric()) == len(NUMERIC_FEATURES)
    assert sad.numeric()[NUMERIC_FEATURES.index("valence")] == pytest.approx(sad.valence)


def test_track_records_round_trip_and_old_records_load() -> None:
    """to_dict/from_dict keep the lyrics fields; a record written before them loads with defaults."""
    sad = apply_lyrics(_track("/m/song.flac"), Lyrics(SAD, "tag:USLT"))
    assert Track.from_dict(json.loads(json.dumps(sad.to_dict()))) == sad
    old = _track("/m/old.flac").to_dict()
    for name in ("audio_valence", "lyrics_valence", "lyrics_energy", "lyrics_confidence", "lyrics_source"):
        del old[name]
    loaded = Track.from_dict(old)
    assert loaded == _track("/m/old.flac") and not loaded.has_lyrics and loaded.audio_valence is None


def test_store_keeps_the_sidecar_fingerprint(tmp_path: Path) -> None:
    """put_track stores the fingerprint, update_lyrics replaces record and fingerprint but not the file
    state or the scan time."""
    track = _track(str(tmp_path / "song.flac"))
    with LibraryStore(tmp_path / "library.db") as store:
        store.put_track(
            track,
            size=10,
            mtime_ns=5,
            content_hash="h",
            extractor_version=1,
            at_s=100.0,
            sidecar=(("song.lrc", 3, 7),),
        )
        state = store.file_states()[track.path]
        assert state.sidecar == (("song.lrc", 3, 7),)
        sad = apply_lyrics(track, Lyrics(SAD, "sidecar:lrc"))
        assert store.update_lyrics(sad, sidecar=None)
        after = store.file_states()[track.path]
        assert after == replace(state, sidecar=None)
        assert store.track(track.id) == sad and store.scanned_at()[track.id] == 100.0
        row = store.feature_matrix().row(track.id)
        assert store.feature_matrix().values[row, NUMERIC_FEATURES.index("valence")] == pytest.approx(
            sad.valence
        )
        assert not store.update_lyrics(_track(str(tmp_path / "unknown.flac")), sidecar=None)


# ------------------------------------------------------------------------------------ real scans


@pytest.fixture(scope="module")
def bright_major(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """10 s of a bright, fast, major-key arrangement (the same samples for every file of a test)."""
    return _bright_major()


@pytest.mark.integration
def test_sad_lyrics_make_a_bright_major_track_less_positive(
    bright_major: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same bright major-key audio three times: without lyrics, with sad lyrics in a FLAC tag, with
    sad lyrics in an .lrc sidecar. After a real scan both lyric tracks have a lower valence than the
    plain one, their audio valence is the plain one's, and `cadence library` shows both valences."""
    music = tmp_path / "music"
    music.mkdir()
    plain = _flac_with(music, "TITLE", "Plain", name="plain.flac", audio=bright_major)
    tagged = _flac_with(music, "LYRICS", SAD, name="tagged.flac", audio=bright_major)
    sidecar = _flac_with(music, "TITLE", "Sidecar", name="sidecar.flac", audio=bright_major)
    (music / "sidecar.lrc").write_text(
        "[ti:Grey]\n" + "".join(f"[00:{i:02d}.00]{line}\n" for i, line in enumerate(SAD.splitlines()))
    )
    home = tmp_path / "home"
    assert main(["scan", str(music), "--home", str(home), "--workers", "2"]) == 0
    assert "3 extracted" in capsys.readouterr().out

    with LibraryStore(home / "library.db") as store:
        p, t, s = (store.track(track_id_for(f)) for f in (plain, tagged, sidecar))
    assert p is not None and t is not None and s is not None
    assert p.mode == "major" and p.valence > 0.7, p  # the arrangement is bright and happy
    assert not p.has_lyrics and p.audio_valence == p.valence and p.lyrics_valence is None
    for track, source in ((t, "tag:LYRICS"), (s, "sidecar:lrc")):
        assert track.lyrics_source == source
        assert track.audio_valence == pytest.approx(p.valence, abs=1e-6)
        assert track.lyrics_valence is not None and track.lyrics_valence < 0.3
        assert track.lyrics_confidence > 0.5
        assert track.valence < p.valence - 0.15
    assert t.valence == pytest.approx(s.valence, abs=1e-6)  # the same words from either source

    assert main(["library", "--home", str(home)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["Plain"].split()[-3:] == [f"{p.valence:.2f}", f"{p.valence:.2f}", "—"]
    assert rows["Sidecar"].split()[-4:] == [
        f"{s.valence:.2f}",
        f"{p.valence:.2f}",
        f"{s.lyrics_valence:.2f}",
        f"({s.lyrics_confidence:.2f})",
    ]
    assert main(["library", "--home", str(home), "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(list(r) == [f.name for f in fields(Track)] for r in records)
    assert {r["lyrics_source"] for r in records} == {None, "tag:LYRICS", "sidecar:lrc"}


@pytest.mark.integration
def test_a_changed_sidecar_rescans_only_the_lyrics(
    bright_major: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sidecar that appears, changes or vanishes next to unchanged audio: the lyrics are read again and
    the stored valence follows, with nothing re-extracted (ScanReport counts) and the scan time kept;
    an edited embedded tag changes the file, so it is re-extracted."""
    music = tmp_path / "music"
    music.mkdir()
    song = _flac_with(music, "TITLE", "Song", name="song.flac", audio=bright_major)
    other = _wav(music / "other.wav")
    db = tmp_path / "library.db"
    first = scan([music], db, workers=1, progress=False)
    assert len(first.extracted) == 2 and first.lyrics_updated == 0
    song_id = track_id_for(song)
    with LibraryStore(db) as store:
        audio_only = store.track(song_id)
        scanned_at = store.scanned_at()[song_id]
    assert audio_only is not None and not audio_only.has_lyrics

    def stored() -> Track:
        with LibraryStore(db) as store:
            track = store.track(song_id)
            assert store.scanned_at()[song_id] == scanned_at  # never re-extracted
            assert track is not None
            return track

    (music / "song.lrc").write_text("[00:01.00]" + "\n[00:02.00]".join(HAPPY.splitlines()))
    appeared = scan([music], db, workers=1, progress=False)
    assert (appeared.extracted, appeared.unchanged, appeared.lyrics_updated) == ((), 2, 1)
    happy = stored()
    assert (
        happy.lyrics_source == "sidecar:lrc"
        and happy.lyrics_valence is not None
        and happy.lyrics_valence > 0.7
    )
    assert happy.audio_valence == audio_only.valence

    (music / "song.lrc").write_text(SAD)
    _later(music / "song.lrc")
    changed = scan([music], db, workers=1, progress=False)
    assert (changed.extracted, changed.unchanged, changed.lyrics_updated) == ((), 2, 1)
    sad = stored()
    assert sad.lyrics_valence is not None and sad.lyrics_valence < 0.3
    assert sad.valence < audio_only.valence - 0.15

    again = scan([music], db, workers=1, progress=False)
    assert (again.extracted, again.unchanged, again.lyrics_updated) == ((), 2, 0)

    # Touched audio (same bytes, new mtime) and a vanished sidecar: rehashed, lyrics read again.
    (music / "song.lrc").unlink()
    _later(song, 9.0)
    gone = scan([music], db, workers=1, progress=False)
    assert (gone.extracted, gone.rehashed, gone.unchanged, gone.lyrics_updated) == ((), 1, 1, 1)
    reverted = stored()
    assert not reverted.has_lyrics and reverted.valence == audio_only.valence
    assert reverted == replace(audio_only, audio_valence=audio_only.valence)

    # The printed summary names the lyrics updates.
    (music / "other.txt").write_text(HAPPY)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(db, home / "library.db")
    assert main(["scan", str(music), "--home", str(home), "--workers", "1"]) == 0
    assert "0 extracted, 2 unchanged, 0 touched but unchanged, 1 lyrics updated" in capsys.readouterr().out
    with LibraryStore(home / "library.db") as store:
        tone = store.track(track_id_for(other))
    assert tone is not None and tone.lyrics_source == "sidecar:txt"

    # An edited embedded tag changes the file's bytes: a full re-extraction, with the new lyrics.
    from mutagen.flac import FLAC

    tagged = FLAC(song)
    tagged["LYRICS"] = SAD
    tagged.save()
    _later(song, 20.0)
    retagged = scan([music], db, workers=1, progress=False)
    # (other.txt is new to this library too: other.wav's lyrics are read, its audio is not)
    assert (retagged.extracted, retagged.unchanged, retagged.lyrics_updated) == ((song_id,), 1, 1)
    with LibraryStore(db) as store:
        track = store.track(song_id)
    assert (
        track is not None
        and track.lyrics_source == "tag:LYRICS"
        and track.valence < audio_only.valence - 0.15
    )
