"""`cadence backup`: checked copies of log.db and library.db taken while they are being written, the
restore procedure of docs/operations.md, and a damaged database that is not copied."""

from __future__ import annotations

import re
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from player.cli import main
from player.core.records import LogEvent
from player.library.store import LibraryStore
from player.server.log import InteractionLog
from tests.support.damaged_db import digest, scramble_table_page
from tests.support.fakes import make_track

EVENTS = 1500
TRACKS = 150


def _events(first: int, count: int) -> list[tuple[LogEvent, None]]:
    return [
        (LogEvent("started", "ann", f"s{i // 100}", float(i), track_id="t", position_s=0.0), None)
        for i in range(first, first + count)
    ]


def _fill(home: Path) -> None:
    """A home with a library of :data:`TRACKS` tracks and a log of :data:`EVENTS` events, both closed."""
    with LibraryStore(home / "library.db") as store:
        for i in range(TRACKS):
            store.put_track(
                make_track(f"t{i:04d}", energy=0.5), size=1, mtime_ns=1, content_hash="h", extractor_version=1
            )
    with InteractionLog(home / "log.db") as log:
        log.record_many(_events(0, EVENTS))


def _count(path: Path, table: str) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _quick_check(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute("PRAGMA quick_check")]


def _backup_folder(out: str) -> Path:
    """The folder `cadence backup` reported."""
    match = re.search(r"backup complete in (\S+);", out)
    assert match, out
    return Path(match.group(1))


def test_backup_while_writers_are_open_copies_the_last_commit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the server's kind of log open (WAL, never checkpointed, fresh commits only in the WAL) and a
    writer holding an open transaction, `cadence backup` exits 0 and writes HOME/backups/<stamp>/ with
    both files: each passes quick_check, has exactly the committed rows, and comes without -wal/-shm."""
    _fill(tmp_path)
    log = InteractionLog(tmp_path / "log.db", synchronous="normal", autocheckpoint=False)
    log.record_many(_events(EVENTS, 500))  # committed, in the WAL only
    writer = sqlite3.connect(tmp_path / "log.db", isolation_level=None, timeout=30.0)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM events WHERE id <= 100")  # not committed: not in any backup
    try:
        assert main(["backup", "--home", str(tmp_path)]) == 0
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        log.close()
    out = capsys.readouterr().out
    folder = _backup_folder(out)
    assert folder.parent == tmp_path / "backups" and re.fullmatch(r"\d{8}-\d{6}", folder.name)
    assert sorted(p.name for p in folder.iterdir()) == ["library.db", "log.db"]
    assert f"wrote {folder / 'log.db'}" in out and f"wrote {folder / 'library.db'}" in out
    assert _quick_check(folder / "log.db") == ["ok"] and _quick_check(folder / "library.db") == ["ok"]
    assert _count(folder / "log.db", "events") == EVENTS + 500
    assert _count(folder / "library.db", "tracks") == TRACKS


def test_to_dir_and_the_documented_restore_give_back_every_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--to DIR` puts the stamped folder in DIR; restoring as docs/operations.md says (copy the files
    over, remove -wal and -shm) brings back the log as it was at the backup, later events gone."""
    home = tmp_path / "home"
    home.mkdir()
    _fill(home)
    assert main(["backup", "--home", str(home), "--to", str(tmp_path / "elsewhere")]) == 0
    folder = _backup_folder(capsys.readouterr().out)
    assert folder.parent == tmp_path / "elsewhere"
    with InteractionLog(home / "log.db") as log:
        log.record_many(_events(EVENTS, 10))
        before = log.events()[:EVENTS]
    for name in ("log.db", "library.db"):
        shutil.copyfile(folder / name, home / name)
        for suffix in ("-wal", "-shm"):
            (home / (name + suffix)).unlink(missing_ok=True)
    with InteractionLog(home / "log.db") as log:
        assert log.events() == before
    with LibraryStore(home / "library.db") as store:
        assert store.count() == TRACKS


def test_a_damaged_log_is_not_backed_up_but_the_library_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A log.db with a scrambled page: its copy fails quick_check, so no log.db copy is kept and the
    error names the damage; library.db is still copied; the exit status is 2; the log is unchanged."""
    _fill(tmp_path)
    scramble_table_page(tmp_path / "log.db", "events")
    before = digest(tmp_path / "log.db")
    assert main(["backup", "--home", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "error [database_corrupt]:" in captured.err and "Traceback" not in captured.err
    assert str(tmp_path / "log.db") in captured.err
    (folder,) = (tmp_path / "backups").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["library.db"]
    assert f"wrote {folder / 'library.db'}" in captured.out
    assert digest(tmp_path / "log.db") == before


def test_nothing_to_back_up_is_said_and_makes_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A home without databases (or with a 0-byte one) makes no backup folder and exits 1, saying so."""
    (tmp_path / "log.db").write_bytes(b"")
    assert main(["backup", "--home", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "log.db" in err and "empty (0 bytes)" in err and "nothing backed up" in err
    assert not (tmp_path / "backups").exists()
