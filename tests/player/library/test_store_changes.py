"""The store's change counter and snapshots: what a running server watches to follow the library."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np

from models.simulate import synthetic_catalog
from player.core.track import Track
from player.library.store import LibraryStore


def _put(store: LibraryStore, track: Track) -> None:
    store.put_track(track, size=100, mtime_ns=1, content_hash="h", extractor_version=1, at_s=1000.0)


def test_the_generation_counts_changes_to_tracks_and_nothing_else(tmp_path: Path) -> None:
    """Storing, replacing, re-reading lyrics and removing tracks each move the counter (seen by another
    connection too); problems, a touched file, the extractor version and a checkpoint do not."""
    a, b = synthetic_catalog(2, seed=5)
    writer = LibraryStore(tmp_path / "library.db")
    reader = LibraryStore(tmp_path / "library.db", check=False)
    try:
        seen = [reader.generation()]

        def moved() -> bool:
            seen.append(reader.generation())
            return seen[-1] > seen[-2]

        assert seen == [0]
        _put(writer, a)
        assert moved()
        _put(writer, replace(a, energy=0.9))
        assert moved()
        assert writer.update_lyrics(replace(a, energy=0.8), sidecar=None)
        assert moved()
        assert not writer.update_lyrics(b, sidecar=None)  # not stored: nothing changed
        assert not moved()
        writer.record_problem("/x.ogg", "unreadable")
        writer.update_file_state(a.path, size=5, mtime_ns=2, content_hash="h")
        writer.set_extractor_version(9)
        writer.checkpoint()
        assert not moved()
        assert writer.remove_paths(["/not/stored.ogg"]) == 0
        assert not moved()
        assert writer.remove_paths([a.path]) == 1
        assert moved()
    finally:
        writer.close()
        reader.close()


def test_a_snapshot_is_one_consistent_library(tmp_path: Path) -> None:
    """Tracks, matrix rows and extraction times of a snapshot are the same tracks in the same order,
    with the generation they were read at; the matrix equals feature_matrix()."""
    tracks = synthetic_catalog(30, seed=5)
    with LibraryStore(tmp_path / "library.db") as store:
        for track in tracks:
            _put(store, track)
        snap = store.snapshot()
        assert snap.generation == store.generation() == 30
        assert [t.id for t in snap.tracks] == list(snap.matrix.ids) == sorted(t.id for t in tracks)
        assert set(snap.scanned_at) == set(snap.matrix.ids) and set(snap.scanned_at.values()) == {1000.0}
        np.testing.assert_array_equal(snap.matrix.values, store.feature_matrix().values)
        assert not snap.matrix.values.flags.writeable


def test_a_snapshot_never_shows_half_of_a_concurrent_write(tmp_path: Path) -> None:
    """While another process's transaction is open, a snapshot shows the library before it; once it
    commits, the next snapshot shows all of it, with a new generation."""
    tracks = synthetic_catalog(6, seed=5)
    with LibraryStore(tmp_path / "library.db") as store:
        for track in tracks[:3]:
            _put(store, track)
        before = store.snapshot()
        other = sqlite3.connect(tmp_path / "library.db", isolation_level=None, check_same_thread=False)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("DELETE FROM tracks WHERE id = ?", (tracks[0].id,))
            other.execute("UPDATE versions SET version = version + 1 WHERE name = 'generation'")
            during = store.snapshot()
            other.execute("COMMIT")
        finally:
            other.close()
        after = store.snapshot()
    assert [t.id for t in during.tracks] == [t.id for t in before.tracks] and during.generation == 3
    assert tracks[0].id not in after.matrix.ids and len(after.tracks) == 2 and after.generation == 4


def test_snapshots_taken_while_a_scan_writes_are_each_whole(tmp_path: Path) -> None:
    """Snapshots read in one thread while another stores tracks one by one always pair each track with
    its own matrix row, and never go back in generation."""
    tracks = synthetic_catalog(200, seed=5)
    path = tmp_path / "library.db"
    LibraryStore(path).close()
    done = threading.Event()

    def scan() -> None:
        with LibraryStore(path, check=False) as writer:
            for track in tracks:
                _put(writer, track)
        done.set()

    by_id = {t.id: np.asarray(t.numeric(), dtype=np.float32) for t in tracks}
    thread = threading.Thread(target=scan)
    thread.start()
    generations: list[int] = []
    with LibraryStore(path, check=False) as reader:
        while not done.is_set() or not generations or generations[-1] < len(tracks):
            snap = reader.snapshot()
            generations.append(snap.generation)
            assert len(snap.tracks) == snap.generation  # one put per generation, none half-read
            for row, track in enumerate(snap.tracks):
                assert snap.matrix.ids[row] == track.id
                np.testing.assert_array_equal(snap.matrix.values[row], by_id[track.id])
    thread.join()
    assert generations == sorted(generations) and generations[-1] == len(tracks)
