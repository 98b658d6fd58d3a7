"""The SQLite feature store: records, the float32 matrix fast path, problems and versions."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from player.core.track import MFCC_COUNT, NUMERIC_FEATURES, Track, TrackId
from player.errors import DatabaseCorruptError, LibraryError
from player.library.store import SCHEMA_VERSION, LibraryStore, track_id_for


def _track(path: str, energy: float = 0.5) -> Track:
    return Track(
        id=track_id_for(path),
        path=path,
        title=Path(path).stem,
        artist="Artist",
        album="Album",
        duration_s=42.0,
        tempo_bpm=120.0,
        beat_strength=0.6,
        onset_rate=3.0,
        loudness_db=-14.0,
        dynamic_range_db=8.0,
        spectral_centroid_hz=1800.0,
        spectral_rolloff_hz=4000.0,
        spectral_flatness=0.02,
        spectral_contrast_db=20.0,
        zero_crossing_rate=0.07,
        key=9,
        mode="minor",
        hp_ratio=0.6,
        energy=energy,
        danceability=0.7,
        acousticness=0.3,
        valence=0.4,
        mfcc_mean=tuple(float(i) for i in range(MFCC_COUNT)),
        mfcc_std=tuple(float(-i) for i in range(MFCC_COUNT)),
    )


def _put(store: LibraryStore, track: Track) -> None:
    store.put_track(track, size=100, mtime_ns=1, content_hash="h", extractor_version=1)


def test_track_ids_are_stable_hashes_of_the_resolved_path(tmp_path: Path) -> None:
    """The same file reached by two spellings has one id; different files have different ids."""
    (tmp_path / "a").mkdir()
    assert track_id_for(tmp_path / "a" / ".." / "x.ogg") == track_id_for(tmp_path / "x.ogg")
    assert track_id_for(tmp_path / "x.ogg") != track_id_for(tmp_path / "y.ogg")
    assert len(track_id_for("/m/x.ogg")) == 16


def test_tracks_round_trip_and_lookups(tmp_path: Path) -> None:
    """A stored track comes back equal, by id, in bulk, and in the listing; unknown ids are absent."""
    with LibraryStore(tmp_path / "library.db") as store:
        a, b = _track("/m/a.ogg", 0.2), _track("/m/b.ogg", 0.9)
        _put(store, a)
        _put(store, b)
        assert store.count() == 2
        assert store.track(a.id) == a
        assert store.track("nope") is None
        assert store.get_many([b.id, "nope", a.id]) == {a.id: a, b.id: b}
        assert sorted(store.tracks(), key=lambda t: t.path) == [a, b]


def test_feature_matrix_is_float32_in_column_order(tmp_path: Path) -> None:
    """feature_matrix() has one float32 row per track in NUMERIC_FEATURES order; row() finds ids."""
    with LibraryStore(tmp_path / "library.db") as store:
        tracks = [_track(f"/m/{i}.ogg", i / 10) for i in range(5)]
        for t in tracks:
            _put(store, t)
        matrix = store.feature_matrix()
        assert matrix.columns == NUMERIC_FEATURES
        assert matrix.values.dtype == np.float32 and matrix.values.shape == (5, len(NUMERIC_FEATURES))
        for t in tracks:
            np.testing.assert_allclose(
                matrix.values[matrix.row(t.id)], np.asarray(t.numeric(), dtype=np.float32)
            )
        assert matrix.values[0, NUMERIC_FEATURES.index("mode_major")] == 0.0
        with pytest.raises(KeyError):
            matrix.row("nope")


def test_feature_matrix_is_cached_until_any_connection_writes(tmp_path: Path) -> None:
    """The matrix is reused while nothing changes and rebuilt after a write by this or another connection."""
    path = tmp_path / "library.db"
    with LibraryStore(path) as reader, LibraryStore(path) as writer:
        _put(writer, _track("/m/a.ogg"))
        first = reader.feature_matrix()
        assert reader.feature_matrix() is first
        _put(writer, _track("/m/b.ogg"))
        second = reader.feature_matrix()
        assert second is not first and len(second.ids) == 2
        reader.remove_paths(["/m/a.ogg"])
        assert reader.feature_matrix().ids == (track_id_for("/m/b.ogg"),)


def test_replacing_a_track_keeps_one_row(tmp_path: Path) -> None:
    """Re-extracting a file replaces its row rather than adding a second."""
    with LibraryStore(tmp_path / "library.db") as store:
        t = _track("/m/a.ogg", 0.1)
        _put(store, t)
        _put(store, replace(t, energy=0.8))
        assert store.count() == 1
        stored = store.track(t.id)
        assert stored is not None and stored.energy == 0.8


def test_problems_are_kept_and_cleared_by_a_good_extraction(tmp_path: Path) -> None:
    """A recorded problem is listed with path, reason and time until the file is stored fine or removed."""
    with LibraryStore(tmp_path / "library.db") as store:
        store.record_problem("/m/a.ogg", "truncated", at_s=1000.0)
        store.record_problem("/m/b.ogg", "silent", at_s=1001.0)
        assert [(p.path, p.reason, p.at_s) for p in store.problems()] == [
            ("/m/a.ogg", "truncated", 1000.0),
            ("/m/b.ogg", "silent", 1001.0),
        ]
        _put(store, _track("/m/a.ogg"))
        store.remove_paths(["/m/b.ogg"])
        assert store.problems() == []


def test_newer_schema_is_refused_and_older_is_rebuilt(tmp_path: Path) -> None:
    """A library written by a newer Cadence raises LibraryError; an older schema is dropped and recreated."""
    path = tmp_path / "library.db"
    with LibraryStore(path) as store:
        _put(store, _track("/m/a.ogg"))
    db = sqlite3.connect(path)
    db.execute("UPDATE versions SET version = ? WHERE name = 'schema'", (SCHEMA_VERSION + 1,))
    db.commit()
    with pytest.raises(LibraryError, match="newer"):
        LibraryStore(path)
    db.execute("UPDATE versions SET version = ? WHERE name = 'schema'", (SCHEMA_VERSION - 1,))
    db.commit()
    db.close()
    with LibraryStore(path) as store:
        assert store.count() == 0


def test_a_file_that_is_not_a_database_is_a_damaged_database_error(tmp_path: Path) -> None:
    """Opening garbage as library.db raises DatabaseCorruptError (code "database_corrupt"), not sqlite3's error."""
    path = tmp_path / "library.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseCorruptError) as exc:
        LibraryStore(path)
    assert exc.value.code == "database_corrupt"


def test_empty_store_gives_an_empty_matrix(tmp_path: Path) -> None:
    """A new library has no tracks and a 0-row matrix of the right width."""
    with LibraryStore(tmp_path / "library.db") as store:
        matrix = store.feature_matrix()
        assert store.count() == 0 and matrix.values.shape == (0, len(NUMERIC_FEATURES))
        assert matrix.ids == ()
        assert store.extractor_version() is None
        store.set_extractor_version(3)
        assert store.extractor_version() == 3
        assert TrackId("x") == "x"
