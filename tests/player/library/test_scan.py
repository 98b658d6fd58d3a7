"""`scan`: bad input, incremental rescans, folders kept apart, SIGKILL and resume, progress output."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from player.cli import main
from player.library import features
from player.library.demo import build_demo_library
from player.library.scan import scan
from player.library.store import LibraryStore, track_id_for

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight demo tracks plus one WAV (a format whose bytes we can edit in place)."""
    folder = build_demo_library(tmp_path_factory.mktemp("small-catalog"), count=8, seed=3)
    t = np.arange(12 * 22050) / 22050
    sf.write(
        folder / "tone.wav", (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 22050, subtype="PCM_16"
    )
    return folder


@pytest.fixture
def catalog(small_catalog: Path, tmp_path: Path) -> Path:
    """A private copy of the small catalog that a test may change."""
    return Path(shutil.copytree(small_catalog, tmp_path / "music"))


def _jingle(path: Path, seconds: float) -> None:
    sr = 22050
    t = np.arange(int(seconds * sr)) / sr
    y = 0.2 * (np.sin(2 * np.pi * 523.25 * t) + np.sin(2 * np.pi * 659.25 * t)) * np.exp(-t)
    sf.write(path, y.astype(np.float32), sr)


@pytest.mark.integration
def test_bad_files_become_problems_and_good_ones_are_stored(catalog: Path, tmp_path: Path) -> None:
    """Empty, non-audio, random, truncated, silent and too-short files are problems with reasons; a 2 s
    jingle and the good tracks are stored; cover art and text files are ignored."""
    bad = catalog / "bad"
    bad.mkdir()
    (bad / "empty.ogg").write_bytes(b"")
    (bad / "letter.mp3").write_text("Dear listener,\n" * 200)
    (bad / "noise.wav").write_bytes(np.random.default_rng(1).bytes(50_000))
    good_flac = next(catalog.glob("*.flac"))
    (bad / "truncated.flac").write_bytes(good_flac.read_bytes()[: good_flac.stat().st_size // 3])
    sf.write(bad / "silent.wav", np.zeros(5 * 22050, dtype=np.float32), 22050)
    sf.write(bad / "blip.wav", np.full(2000, 0.5, dtype=np.float32), 22050)
    _jingle(bad / "jingle.wav", 2.0)
    (bad / "cover.jpg").write_bytes(b"\xff\xd8\xff" + b"0" * 100)
    (bad / "notes.txt").write_text("not music")

    report = scan([catalog], tmp_path / "library.db", workers=2, progress=False)
    reasons = {Path(p.path).name: p.reason for p in report.problems}
    assert set(reasons) == {
        "empty.ogg",
        "letter.mp3",
        "noise.wav",
        "truncated.flac",
        "silent.wav",
        "blip.wav",
    }
    assert "empty" in reasons["empty.ogg"]
    assert "not decodable" in reasons["letter.mp3"]
    assert "truncated" in reasons["truncated.flac"]
    assert "silent" in reasons["silent.wav"]
    assert "too short" in reasons["blip.wav"]
    assert report.files == 9 + 7
    with LibraryStore(tmp_path / "library.db") as store:
        assert store.count() == 10
        jingle = store.track(track_id_for(bad / "jingle.wav"))
        assert jingle is not None and jingle.duration_s == pytest.approx(2.0, abs=0.01)
        assert 40 <= jingle.tempo_bpm <= 240 and 0 <= jingle.energy <= 1
        assert {Path(p.path).name for p in store.problems()} == set(reasons)


@pytest.mark.integration
def test_errors_listing_shows_each_problem(
    catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cadence library --errors` prints each problem's path and reason."""
    (catalog / "broken.ogg").write_text("garbage")
    assert main(["scan", str(catalog), "--home", str(tmp_path), "--workers", "1"]) == 0
    out = capsys.readouterr()
    assert "1 problems" in out.out and "broken.ogg" in out.err
    assert main(["library", "--home", str(tmp_path), "--errors"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(str((catalog / "broken.ogg").resolve()))
    assert "not decodable" in lines[0]


@pytest.mark.integration
def test_rescans_are_incremental(catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unchanged → nothing re-extracted; touched → hashed, kept; edited in place → exactly that one;
    deleted → removed; extractor version bumped → all re-extracted."""
    db = tmp_path / "library.db"
    first = scan([catalog], db, workers=2, progress=False)
    assert len(first.extracted) == 9 and not first.problems

    again = scan([catalog], db, workers=2, progress=False)
    assert (again.extracted, again.unchanged, again.removed) == ((), 9, 0)

    touched = next(catalog.glob("*.flac"))
    os.utime(touched, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    after_touch = scan([catalog], db, workers=2, progress=False)
    assert (after_touch.extracted, after_touch.rehashed, after_touch.unchanged) == ((), 1, 8)

    wav = catalog / "tone.wav"
    with LibraryStore(db) as store:
        before = store.track(track_id_for(wav))
    data, sr = sf.read(wav, dtype="int16")
    size = wav.stat().st_size
    sf.write(wav, (data // 4).astype(np.int16), sr, subtype="PCM_16")  # same size, 12 dB quieter
    assert wav.stat().st_size == size
    os.utime(wav, ns=(time.time_ns(), time.time_ns() + 9_000_000_000))
    after_edit = scan([catalog], db, workers=2, progress=False)
    assert after_edit.extracted == (track_id_for(wav),)
    with LibraryStore(db) as store:
        after = store.track(track_id_for(wav))
    assert before is not None and after is not None
    assert after.loudness_db == pytest.approx(before.loudness_db - 12.0, abs=0.5)

    gone = sorted(catalog.glob("*.ogg"))[0]
    gone.unlink()
    after_delete = scan([catalog], db, workers=2, progress=False)
    assert (after_delete.removed, after_delete.extracted) == (1, ())
    with LibraryStore(db) as store:
        assert store.count() == 8 and store.track(track_id_for(gone)) is None

    monkeypatch.setattr(features, "EXTRACTOR_VERSION", features.EXTRACTOR_VERSION + 1)
    bumped = scan([catalog], db, workers=2, progress=False)
    assert len(bumped.extracted) == 8 and bumped.unchanged == 0
    assert set(bumped.extracted) == set(first.extracted) - {track_id_for(gone)}  # ids stable across rescans
    with LibraryStore(db) as store:
        assert store.extractor_version() == features.EXTRACTOR_VERSION


@pytest.mark.integration
def test_a_file_that_goes_bad_keeps_its_stored_track(catalog: Path, tmp_path: Path) -> None:
    """Overwriting a stored track with garbage records a problem but loses nothing; repairing it clears it."""
    db = tmp_path / "library.db"
    scan([catalog], db, workers=1, progress=False)
    victim = next(catalog.glob("*.flac"))
    original = victim.read_bytes()
    victim.write_bytes(b"\x00garbage" * 1000)
    report = scan([catalog], db, workers=1, progress=False)
    assert [Path(p.path).name for p in report.problems] == [victim.name]
    with LibraryStore(db) as store:
        assert store.count() == 9 and store.track(track_id_for(victim)) is not None
    victim.write_bytes(original)
    repaired = scan([catalog], db, workers=1, progress=False)
    assert repaired.extracted == (track_id_for(victim),)
    with LibraryStore(db) as store:
        assert store.problems() == []


@pytest.mark.integration
def test_rescanning_one_folder_leaves_another_alone(small_catalog: Path, tmp_path: Path) -> None:
    """Deleted-file pruning only touches the scanned folders: tracks from other folders stay."""
    a = Path(shutil.copytree(small_catalog, tmp_path / "a"))
    b = tmp_path / "b"
    b.mkdir()
    _jingle(b / "other.wav", 4.0)
    db = tmp_path / "library.db"
    scan([a, b], db, workers=1, progress=False)
    (a / "tone.wav").unlink()
    report = scan([a], db, workers=1, progress=False)
    assert report.removed == 1
    with LibraryStore(db) as store:
        assert store.count() == 9 and store.track(track_id_for(b / "other.wav")) is not None


@pytest.mark.integration
def test_missing_folder_is_a_problem_and_keeps_its_tracks(tmp_path: Path) -> None:
    """A scanned folder that disappears (an unmounted disk) is reported, its stored tracks are kept, and
    the problem clears when it is back."""
    music = tmp_path / "music"
    music.mkdir()
    _jingle(music / "a.wav", 3.0)
    db = tmp_path / "library.db"
    scan([music], db, workers=1, progress=False)
    music.rename(tmp_path / "unmounted")
    report = scan([music], db, workers=1, progress=False)
    assert [(p.path, p.reason) for p in report.problems] == [(str(music), "no such file or folder")]
    with LibraryStore(db) as store:
        assert store.count() == 1 and len(store.problems()) == 1
    (tmp_path / "unmounted").rename(music)
    back = scan([music], db, workers=1, progress=False)
    assert (back.unchanged, back.problems) == (1, ())
    with LibraryStore(db) as store:
        assert store.problems() == []


@pytest.mark.integration
def test_progress_plain_log_lines_and_rich_bar(
    catalog: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a terminal the scan logs done/total and ETA; with progress=True it draws the rich bar."""
    with caplog.at_level(logging.INFO, logger="player.library.scan"):
        scan([catalog], tmp_path / "one.db", workers=2, progress=False)
    assert any("9/9 done" in r.getMessage() and "ETA" in r.getMessage() for r in caplog.records)
    scan([catalog], tmp_path / "two.db", workers=2, progress=True)
    assert "9/9" in capsys.readouterr().err


@pytest.mark.integration
def test_sigkilled_scan_leaves_a_consistent_library_and_resumes(tmp_path: Path) -> None:
    """`python -m player scan` killed with SIGKILL mid-scan leaves a valid database of whole tracks;
    the next scan extracts exactly the rest."""
    music = build_demo_library(tmp_path / "music", count=14, seed=11)
    home = tmp_path / "home"
    db = home / "library.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "player", "scan", str(music), "--home", str(home), "--workers", "1"],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stored = 0
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as probe:
                        stored = probe.execute("SELECT COUNT(*) FROM tracks").fetchone()[0]
                except sqlite3.OperationalError:
                    stored = 0
            if stored >= 3:
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the scan finished before it could be killed"
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with LibraryStore(db) as store:
        survived = store.count()
        assert 3 <= survived < 14
        assert np.all(np.isfinite(store.feature_matrix().values))
    resumed = scan([music], db, workers=1, progress=False)
    assert len(resumed.extracted) == 14 - survived and resumed.unchanged == survived
    with LibraryStore(db) as store:
        assert store.count() == 14


@pytest.mark.slow
def test_a_three_hour_mix_is_scanned_from_excerpts(tmp_path: Path) -> None:
    """A 3-hour file is decoded in bounded memory (excerpts only) and gets one record with its full duration."""
    sr = 8000
    mix = tmp_path / "mix" / "three-hours.flac"
    mix.parent.mkdir()
    beat = np.zeros(sr // 2, dtype=np.float32)
    beat[:200] = np.hanning(400)[200:].astype(np.float32) * 0.8
    minute = np.tile(beat, 120)[:, None]
    with sf.SoundFile(mix, "w", samplerate=sr, channels=1, format="FLAC") as f:
        for _ in range(180):
            f.write(minute)
    tracemalloc.start()
    try:
        decoded = features.decode(mix)
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Decoding all of it would take 3 h × 8000 Hz × 4 B = 346 MB of float32; excerpts take ~13 MB.
    assert decoded.excerpted and peak_bytes < 60e6, peak_bytes
    report = scan([mix.parent], tmp_path / "library.db", workers=1, progress=False)
    assert len(report.extracted) == 1 and not report.problems
    with LibraryStore(tmp_path / "library.db") as store:
        track = store.track(report.extracted[0])
    assert track is not None and track.duration_s == pytest.approx(3 * 3600, abs=1)
    assert abs(track.tempo_bpm - 120) / 120 < 0.04
