"""A damaged or emptied library.db: refused at open with a code and a way out, never changed, and
reported by `cadence library` without a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from player.cli import main
from player.errors import DatabaseCorruptError, StoreError
from player.library.store import LibraryStore
from tests.support.damaged_db import damages, digest, scramble_table_page
from tests.support.fakes import make_track

TRACKS = 200
"""Enough tracks for the tracks table to span many pages."""


def _library(path: Path) -> Path:
    """A real library.db of :data:`TRACKS` tracks, closed (its WAL folded into the file)."""
    with LibraryStore(path) as store:
        for i in range(TRACKS):
            store.put_track(
                make_track(f"t{i:04d}", energy=i / TRACKS),
                size=1,
                mtime_ns=1,
                content_hash="h",
                extractor_version=1,
            )
    return path


DAMAGES = damages("tracks")


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_library_is_refused_with_the_way_out_and_left_as_it_is(tmp_path: Path, damage: str) -> None:
    """A scrambled tracks page, a file cut in half or a garbage header raises DatabaseCorruptError
    ("database_corrupt") naming the file, a backup and `cadence scan`; the file's bytes do not change."""
    path = _library(tmp_path / "library.db")
    DAMAGES[damage](path)
    before = digest(path)
    with pytest.raises(DatabaseCorruptError) as caught:
        LibraryStore(path)
    assert caught.value.code == "database_corrupt"
    message = caught.value.message
    assert str(path) in message and "cadence backup" in message
    assert f"cadence scan --home {tmp_path}" in message and "aside" in message
    assert digest(path) == before


def test_a_scrambled_page_is_found_by_quick_check_and_check_false_skips_it(tmp_path: Path) -> None:
    """The scrambled page is not noticed by opening alone (check=False opens it and counts the rows):
    only the quick_check at open finds it, and the error quotes its finding."""
    path = _library(tmp_path / "library.db")
    scramble_table_page(path, "tracks")
    with LibraryStore(path, check=False) as store:
        assert store.count() == TRACKS
    with pytest.raises(DatabaseCorruptError, match=r"quick_check|malformed"):
        LibraryStore(path)


def test_an_empty_library_file_is_reported_then_started_afresh(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 0-byte library.db logs a WARNING that its tracks are gone and how to get them back (rescan or
    backup), then opens as a new, empty library."""
    path = tmp_path / "library.db"
    path.write_bytes(b"")
    with caplog.at_level(logging.WARNING), LibraryStore(path) as store:
        assert store.count() == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "empty (0 bytes)" in warnings[0] and "tracks and features are gone" in warnings[0]
    assert "cadence scan" in warnings[0] and "backup" in warnings[0]


def test_an_empty_library_file_with_a_live_wal_is_refused(tmp_path: Path) -> None:
    """0 bytes next to a non-empty library.db-wal is damage, not a new library: opening would make
    SQLite discard that WAL, so both files are left as they are."""
    path = tmp_path / "library.db"
    path.write_bytes(b"")
    wal = tmp_path / "library.db-wal"
    wal.write_bytes(b"\x37\x7f\x06\x82" + bytes(4092))
    before = digest(wal)
    with pytest.raises(DatabaseCorruptError, match=r"library\.db-wal holds 4096 bytes"):
        LibraryStore(path)
    assert path.stat().st_size == 0 and digest(wal) == before


def test_a_file_sqlite_cannot_open_is_a_store_error_not_damage(tmp_path: Path) -> None:
    """A library.db that cannot be opened for another reason (here a folder in its place) is a
    StoreError ("database") saying what to check, not a claim that the file is damaged."""
    path = tmp_path / "library.db"
    path.mkdir()
    with pytest.raises(StoreError) as caught:
        LibraryStore(path)
    assert type(caught.value) is StoreError and caught.value.code == "database"
    assert "permission" in caught.value.message or "read and write" in caught.value.message


def test_cadence_library_prints_the_damage_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cadence library` on a damaged library.db prints `error [database_corrupt]: ...` with the way out
    on stderr, no traceback, exits 2 and leaves the file as it was."""
    path = _library(tmp_path / "library.db")
    scramble_table_page(path, "tracks")
    before = digest(path)
    assert main(["library", "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error [database_corrupt]: {path} is damaged")
    assert "cadence backup" in err and "Traceback" not in err
    assert digest(path) == before
