"""The feature store: one SQLite database (stdlib, WAL) at ``settings.library_db``.

Tables::

    versions(name PRIMARY KEY, version)     "schema" = SCHEMA_VERSION, "extractor" = last scan's extractor
    tracks(id PRIMARY KEY, path UNIQUE, size, mtime_ns, content_hash, extractor_version,
           scanned_at_s, record JSON, features BLOB float32[len(NUMERIC_FEATURES)])
    problems(path PRIMARY KEY, reason, at_s) files the last scans could not use

Every write is its own short transaction, so a scan killed at any instant leaves the last committed
track in place and nothing half-written; WAL lets many processes read while one scans. The library is
rebuildable by a rescan, so an older schema is dropped and recreated rather than migrated.

Damage: opening runs ``PRAGMA quick_check`` (:func:`open_database`, shared with the interaction
log) and refuses a damaged file with :class:`~player.errors.DatabaseCorruptError`, leaving it as it
is; the message says how to restore a backup (:func:`backup_database`, `cadence backup`) or rescan.
A library.db of 0 bytes is reported with a warning and started afresh: its tracks are gone, but a
rescan rebuilds them (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from player.core.track import NUMERIC_FEATURES, Track, TrackId
from player.errors import BackupError, DatabaseCorruptError, LibraryError, StoreError

__all__ = [
    "SCHEMA_VERSION",
    "FeatureMatrix",
    "FileState",
    "LibraryStore",
    "ScanProblem",
    "backup_database",
    "database_error",
    "library_recovery",
    "open_database",
    "quick_check",
    "track_id_for",
]

_log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tracks (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT,
    extractor_version INTEGER NOT NULL,
    scanned_at_s REAL NOT NULL,
    record TEXT NOT NULL,
    features BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS problems (path TEXT PRIMARY KEY, reason TEXT NOT NULL, at_s REAL NOT NULL);
"""


def track_id_for(path: Path | str) -> TrackId:
    """The stable id of the file at ``path``: a hash of its resolved absolute path."""
    resolved = str(Path(path).expanduser().resolve())
    return TrackId(hashlib.blake2b(resolved.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest())


@dataclass(frozen=True, eq=False)
class FeatureMatrix:
    """The whole library's numeric features, the ranker's input."""

    ids: tuple[TrackId, ...]
    columns: tuple[str, ...]
    """== :data:`player.core.track.NUMERIC_FEATURES`."""
    values: np.ndarray
    """float32 [n_tracks, len(columns)]; row i belongs to ``ids[i]``. Read-only."""

    def row(self, track_id: str) -> int:
        """Row index of ``track_id``.

        Raises:
            KeyError: If the track is not in the matrix.
        """
        index = self._index()
        return index[track_id]

    def _index(self) -> dict[str, int]:
        cached: dict[str, int] | None = getattr(self, "_index_cache", None)
        if cached is None:
            cached = {tid: i for i, tid in enumerate(self.ids)}
            object.__setattr__(self, "_index_cache", cached)
        return cached

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class ScanProblem:
    """A file a scan could not use."""

    path: str
    reason: str
    at_s: float
    """Unix time of the scan that found it."""


@dataclass(frozen=True, slots=True)
class FileState:
    """What the store remembers of a file, to decide whether a rescan must re-extract it."""

    track_id: TrackId
    path: str
    size: int
    mtime_ns: int
    content_hash: str | None
    extractor_version: int


class LibraryStore:
    """The library database. Safe to open in many processes at once (WAL); one instance may be
    shared by threads (calls are serialised by a lock).

    ``check``: run ``PRAGMA quick_check`` before anything is written (reads the whole file, about
    0.2 s per 100 MB from the page cache); False only to re-open a file this process has just
    checked. A file of 0 bytes is logged as a warning and becomes a new, empty library.

    Raises:
        DatabaseCorruptError: If the file is not a SQLite database or fails the check; it is left as
            it is, and the message says how to restore a backup or rescan.
        StoreError: If SQLite cannot open the file for another reason (permissions, a full disk).
        LibraryError: If the file was written by a newer Cadence.
    """

    def __init__(self, path: Path, *, check: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        recovery = library_recovery(self.path)
        self._db = open_database(
            self.path,
            check=check,
            recovery=recovery,
            if_empty="the library's tracks and features are gone; starting a new, empty library. "
            f"Rescan your music (`cadence scan --home {self.path.parent} FOLDER...`), or stop Cadence "
            f"and restore {self.path.name} from a backup (docs/operations.md)",
        )
        try:
            self._db.execute("PRAGMA busy_timeout = 30000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._ensure_schema()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise database_error(self.path, exc, recovery=recovery) from exc
        except BaseException:
            self._db.close()
            raise
        self._matrix: FeatureMatrix | None = None
        self._matrix_key: tuple[int, int] | None = None

    # ---------------------------------------------------------------------------------- lifecycle

    def _ensure_schema(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL)"
                )
                row = self._db.execute("SELECT version FROM versions WHERE name = 'schema'").fetchone()
                if row is not None and int(row[0]) > SCHEMA_VERSION:
                    raise LibraryError(
                        f"{self.path} was written by a newer Cadence (schema {row[0]} > {SCHEMA_VERSION})"
                    )
                if row is not None and int(row[0]) < SCHEMA_VERSION:
                    _log.warning(
                        "library schema %s is older than %s: rebuilding (rescan to refill)",
                        row[0],
                        SCHEMA_VERSION,
                    )
                    self._db.execute("DROP TABLE IF EXISTS tracks")
                    self._db.execute("DROP TABLE IF EXISTS problems")
                for statement in _SCHEMA.strip().split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(
                    "INSERT OR REPLACE INTO versions(name, version) VALUES ('schema', ?)", (SCHEMA_VERSION,)
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> LibraryStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -------------------------------------------------------------------------------------- reads

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM tracks").fetchone()[0])

    def tracks(self) -> list[Track]:
        """Every track, ordered by id (the feature matrix's row order)."""
        with self._lock:
            rows = self._db.execute("SELECT record FROM tracks ORDER BY id").fetchall()
        return [Track.from_dict(json.loads(r[0])) for r in rows]

    def track(self, track_id: str) -> Track | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM tracks WHERE id = ?", (track_id,)).fetchone()
        return Track.from_dict(json.loads(row[0])) if row else None

    def get_many(self, ids: Sequence[str]) -> dict[str, Track]:
        """The known tracks among ``ids`` (unknown ids are left out)."""
        found: dict[str, Track] = {}
        wanted = list(dict.fromkeys(ids))
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for tid, record in self._db.execute(
                    f"SELECT id, record FROM tracks WHERE id IN ({marks})", chunk
                ):
                    found[tid] = Track.from_dict(json.loads(record))
        return found

    def feature_matrix(self) -> FeatureMatrix:
        """All numeric features as one float32 matrix (rows ordered by id), cached until the
        store changes (in this process or any other)."""
        with self._lock:
            key = (int(self._db.execute("PRAGMA data_version").fetchone()[0]), self._db.total_changes)
            if self._matrix is not None and self._matrix_key == key:
                return self._matrix
            rows = self._db.execute("SELECT id, features FROM tracks ORDER BY id").fetchall()
        width = len(NUMERIC_FEATURES)
        if rows:
            values = (
                np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), width).copy()
            )
        else:
            values = np.zeros((0, width), dtype=np.float32)
        values.flags.writeable = False
        matrix = FeatureMatrix(
            ids=tuple(TrackId(r[0]) for r in rows), columns=NUMERIC_FEATURES, values=values
        )
        with self._lock:
            self._matrix, self._matrix_key = matrix, key
        return matrix

    def problems(self) -> list[ScanProblem]:
        """Files the scans could not use, by path."""
        with self._lock:
            rows = self._db.execute("SELECT path, reason, at_s FROM problems ORDER BY path").fetchall()
        return [ScanProblem(path=p, reason=r, at_s=float(t)) for p, r, t in rows]

    def file_states(self) -> dict[str, FileState]:
        """What the store knows of each stored file, by path."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, path, size, mtime_ns, content_hash, extractor_version FROM tracks"
            ).fetchall()
        return {r[1]: FileState(TrackId(r[0]), r[1], int(r[2]), int(r[3]), r[4], int(r[5])) for r in rows}

    def extractor_version(self) -> int | None:
        """The extractor version of the last completed scan (None before any)."""
        with self._lock:
            row = self._db.execute("SELECT version FROM versions WHERE name = 'extractor'").fetchone()
        return int(row[0]) if row else None

    # ------------------------------------------------------------------------------------- writes

    def put_track(
        self,
        track: Track,
        *,
        size: int,
        mtime_ns: int,
        content_hash: str | None,
        extractor_version: int,
        at_s: float | None = None,
    ) -> None:
        """Insert or replace one track and clear any problem recorded for its path; committed on return."""
        features = np.asarray(track.numeric(), dtype=np.float32)
        if features.shape != (len(NUMERIC_FEATURES),):
            raise LibraryError(
                f"track {track.id} has {features.size} features, expected {len(NUMERIC_FEATURES)}"
            )
        when = time.time() if at_s is None else at_s
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM tracks WHERE path = ? AND id != ?", (track.path, track.id))
                self._db.execute(
                    "INSERT OR REPLACE INTO tracks(id, path, size, mtime_ns, content_hash, extractor_version,"
                    " scanned_at_s, record, features) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        track.id,
                        track.path,
                        size,
                        mtime_ns,
                        content_hash,
                        extractor_version,
                        when,
                        json.dumps(track.to_dict(), allow_nan=False),
                        features.tobytes(),
                    ),
                )
                self._db.execute("DELETE FROM problems WHERE path = ?", (track.path,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def update_file_state(self, path: str, *, size: int, mtime_ns: int, content_hash: str | None) -> None:
        """Record that a file changed on disk but not in content (its features stay valid)."""
        with self._lock:
            self._db.execute(
                "UPDATE tracks SET size = ?, mtime_ns = ?, content_hash = ? WHERE path = ?",
                (size, mtime_ns, content_hash, path),
            )

    def remove_paths(self, paths: Iterable[str]) -> int:
        """Drop the tracks (and problems) of files that no longer exist; returns tracks removed."""
        removed = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for path in paths:
                    removed += self._db.execute("DELETE FROM tracks WHERE path = ?", (path,)).rowcount
                    self._db.execute("DELETE FROM problems WHERE path = ?", (path,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return removed

    def record_problem(self, path: str, reason: str, *, at_s: float | None = None) -> None:
        """Remember that ``path`` could not be used, and why (replaces an older reason)."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO problems(path, reason, at_s) VALUES (?, ?, ?)",
                (path, reason, time.time() if at_s is None else at_s),
            )

    def remove_problem(self, path: str) -> None:
        """Forget the problem recorded for ``path`` (it is fine now)."""
        with self._lock:
            self._db.execute("DELETE FROM problems WHERE path = ?", (path,))

    def problem_paths(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT path FROM problems")}

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (after a scan, so a copied library.db is complete)."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def set_extractor_version(self, version: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO versions(name, version) VALUES ('extractor', ?)", (version,)
            )


# --------------------------------------------------------------- opening checked, and backups
# Shared by both databases in the home: this library and the interaction log (player/server/log.py).

_DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
"""SQLite primary result codes that mean the file itself is damaged (not locked, unreadable or full)."""

_FAULT_CHARS = 200
"""Longest quick_check fault quoted in an error message."""


def library_recovery(path: Path) -> str:
    """What a listener can do about a damaged library database at ``path`` (for error messages)."""
    return (
        f"stop Cadence, then copy {path.name} from a backup over it (`cadence backup` makes them; "
        f"docs/operations.md), or move it aside together with any {path.name}-wal and {path.name}-shm "
        f"next to it (`mv {path} {path}.damaged`) and rescan your music into a new library: "
        f"`cadence scan --home {path.parent} FOLDER...`"
    )


def quick_check(db: sqlite3.Connection) -> str | None:
    """What ``PRAGMA quick_check`` finds wrong with ``db``'s main database, in one line; None if nothing.

    quick_check reads every page of every table and index (O(file size): about 0.2 s per 100 MB from
    the page cache on the machine this was built on) and checks their structure, not that each index
    agrees with its table (``integrity_check`` does, far slower).

    Raises:
        sqlite3.DatabaseError: If SQLite cannot read the file at all ("file is not a database",
            "database disk image is malformed").
    """
    rows = [str(row[0]) for row in db.execute("PRAGMA quick_check")]
    if rows == ["ok"]:
        return None
    faults = [
        line for row in rows for line in row.splitlines() if line and not line.startswith("*** in database")
    ] or rows
    more = f" and {len(faults) - 1} more faults" if len(faults) > 1 else ""
    return f"PRAGMA quick_check: {faults[0][:_FAULT_CHARS]}{more}"


def _is_damage(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says the file itself is damaged (the primary code is the low byte)."""
    return (getattr(exc, "sqlite_errorcode", -1) & 0xFF) in _DAMAGE_CODES


def _damaged(path: Path, detail: str, recovery: str) -> DatabaseCorruptError:
    return DatabaseCorruptError(
        f"{path} is damaged ({detail}); it was left as it is. To recover, {recovery}."
    )


def database_error(path: Path, exc: sqlite3.DatabaseError, *, recovery: str) -> StoreError:
    """The Cadence error for ``exc``, met opening or checking the database at ``path``.

    Damage (SQLite's ``SQLITE_CORRUPT`` or ``SQLITE_NOTADB``) is a :class:`DatabaseCorruptError` whose
    message ends with ``recovery``; anything else (a lock held too long, no permission, a full disk) a
    :class:`StoreError` that says what to check.
    """
    if _is_damage(exc):
        return _damaged(path, str(exc), recovery)
    return StoreError(
        f"cannot open {path}: {exc}. Check that the disk is not full, that you may read and write the "
        "file and its folder, and that no other program holds it locked."
    )


def open_database(
    path: Path, *, check: bool, recovery: str, if_empty: str, log: logging.Logger = _log
) -> sqlite3.Connection:
    """A connection to the SQLite database at ``path`` (a new database if there is no file), checked
    before anything is written to it.

    The connection is in autocommit mode (``isolation_level=None``: the caller issues BEGIN/COMMIT),
    may be used from any thread (the caller serialises) and waits up to 30 s for a lock. A file of 0
    bytes is logged as a WARNING, ``"<path> is empty (0 bytes): <if_empty>"``, and opened as a new
    database.

    Args:
        check: Run :func:`quick_check` first (it reads the whole file); False for a cheap re-open.
        recovery: What the listener can do about a damaged file, quoted in the error.
        if_empty: What a 0-byte file means (what was lost, what happens now), quoted in the warning.
        log: The logger that warns (the caller's).

    Raises:
        DatabaseCorruptError: If the file is not a SQLite database, fails the check, or is empty while
            its ``-wal`` file is not (SQLite would discard that log). The files are left as they are.
        StoreError: If SQLite cannot open the file for another reason (permissions, a full disk).
    """
    if path.exists() and path.stat().st_size == 0:
        wal = path.with_name(path.name + "-wal")
        wal_bytes = wal.stat().st_size if wal.exists() else 0
        if wal_bytes:
            # A 0-byte file is a new database to SQLite, which then deletes the stale-looking WAL.
            raise _damaged(
                path, f"0 bytes, while {wal.name} holds {wal_bytes} bytes of its changes", recovery
            )
        log.warning("%s is empty (0 bytes): %s", path, if_empty)
    try:
        db = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    except sqlite3.DatabaseError as exc:
        raise database_error(path, exc, recovery=recovery) from exc
    try:
        fault = quick_check(db) if check else None
    except sqlite3.DatabaseError as exc:
        db.close()
        raise database_error(path, exc, recovery=recovery) from exc
    if fault is not None:
        db.close()
        raise _damaged(path, fault, recovery)
    return db


def backup_database(source: Path, target: Path, *, recovery: str) -> int:
    """Copy the database at ``source`` to ``target`` with SQLite's online backup API, and check the copy.

    Safe while other processes read and write ``source`` (WAL): the copy is taken in one step, inside
    one read transaction, so it is a consistent snapshot of the last commit and writers are not held
    up. The copy is written as ``<target>.partial`` and renamed to ``target`` only once it passes
    ``PRAGMA quick_check``, so a file named ``target`` is always whole; it is a single file in rollback
    journal mode (no ``-wal`` to carry along). Returns the copy's size, bytes.

    Args:
        recovery: What the listener can do about a damaged ``source``, quoted in the error.

    Raises:
        DatabaseCorruptError: If ``source`` is damaged: unreadable, or its copy fails the check (no
            copy is kept).
        BackupError: If ``source`` cannot be opened or the copy cannot be written (``target`` exists,
            a full disk, no permission).
    """
    if target.exists():
        raise BackupError(f"{target} already exists; a backup never overwrites one")
    partial = target.with_name(target.name + ".partial")
    try:
        partial.unlink(missing_ok=True)  # a leftover of an interrupted backup, never a database
        with (
            # mode=rw: a missing source is an error, never a new empty database
            closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=30.0)) as src,
            closing(sqlite3.connect(str(partial), timeout=30.0)) as dst,
        ):
            try:
                src.backup(dst)  # pages=-1: all in one step, one read transaction on the source
                fault = quick_check(dst)
            except sqlite3.DatabaseError as exc:
                if not _is_damage(exc):
                    raise
                fault = str(exc)
            if fault is None:
                dst.execute("PRAGMA journal_mode = DELETE")
        if fault is not None:
            partial.unlink(missing_ok=True)
            raise _damaged(source, f"found while backing it up: {fault}", recovery)
        partial.replace(target)
    except (OSError, sqlite3.Error) as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"could not copy {source} to {target}: {exc}") from exc
    return target.stat().st_size
