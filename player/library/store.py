"""The feature store: one SQLite database (stdlib, WAL) at ``settings.library_db``.

Tables::

    versions(name PRIMARY KEY, version)     "schema" = SCHEMA_VERSION, "extractor" = last scan's extractor,
                                            "generation" = the tracks' change counter (see below)
    tracks(id PRIMARY KEY, path UNIQUE, size, mtime_ns, content_hash, extractor_version,
           scanned_at_s, record JSON, features BLOB float32[len(NUMERIC_FEATURES)],
           sidecar JSON)                    the lyrics sidecars seen at the last read (None: none)
    problems(path PRIMARY KEY, reason, at_s) files the last scans could not use

Every write is its own short transaction, so a scan killed at any instant leaves the last committed
track in place and nothing half-written; WAL lets many processes read while one scans. The library is
rebuildable by a rescan, so an older schema is dropped and recreated rather than migrated.

Change counter: every write that changes what the tracks are (a track stored, replaced, its lyrics
re-read, removed) adds one to the ``generation`` row in the same transaction, so a reader that keeps
the store open (a running server, :class:`player.app.LiveLibrary`) learns that the library changed,
in this process or any other, from one small read (:meth:`LibraryStore.generation`) and reads the
new library whole and consistent with :meth:`LibraryStore.snapshot`. Writes that leave the tracks
as they were (problems, a touched file's size and mtime, the extractor version, checkpoints) do not
count. A library written before the counter existed starts at 0.

Damage: opening runs ``PRAGMA quick_check`` (:func:`player.storage.open_database`, shared with the
interaction log) and refuses a damaged file with :class:`~player.errors.DatabaseCorruptError`, leaving it as it
is; the message says how to restore a backup (:func:`player.storage.backup_database`, `cadence backup`) or rescan.
A library.db of 0 bytes is reported with a warning and started afresh: its tracks are gone, but a
rescan rebuilds them (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from player.core.track import NUMERIC_FEATURES, Track, TrackId
from player.errors import LibraryError
from player.storage import open_database, setting_up

__all__ = [
    "SCHEMA_VERSION",
    "FeatureMatrix",
    "FileState",
    "LibrarySnapshot",
    "LibraryStore",
    "ScanProblem",
    "SidecarFingerprint",
    "library_recovery",
    "track_id_for",
]

_log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
"""2: ``tracks.sidecar`` (lyrics sidecar fingerprints, :func:`player.library.lyrics.sidecar_state`)."""

_GENERATION = "generation"
"""The ``versions`` row counting the changes to the tracks."""
_BUMP_GENERATION = (
    "INSERT INTO versions(name, version) VALUES ('generation', 1) "
    "ON CONFLICT(name) DO UPDATE SET version = version + 1"
)

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
    features BLOB NOT NULL,
    sidecar TEXT
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


@dataclass(frozen=True, eq=False)
class LibrarySnapshot:
    """The whole library at one instant (read in one transaction: nothing written meanwhile shows)."""

    generation: int
    """The store's change counter when it was read (:meth:`LibraryStore.generation`)."""
    tracks: tuple[Track, ...]
    """Every track, ordered by id (the matrix's row order)."""
    matrix: FeatureMatrix
    scanned_at: dict[str, float]
    """When each track was last extracted (Unix seconds), by id."""


SidecarFingerprint = tuple[tuple[str, int, int], ...]
"""(file name, size, mtime_ns) of each lyrics sidecar (:data:`player.library.lyrics.SidecarState`)."""


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
    sidecar: SidecarFingerprint | None = None
    """The lyrics sidecars present when the track's lyrics were last read (None: there were none)."""


def _sidecar_json(sidecar: SidecarFingerprint | None) -> str | None:
    return json.dumps([list(entry) for entry in sidecar]) if sidecar else None


def _sidecar_from_json(text: str | None) -> SidecarFingerprint | None:
    if not text:
        return None
    return tuple((str(name), int(size), int(mtime)) for name, size, mtime in json.loads(text))


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
        with setting_up(self._db, self.path, recovery=recovery):
            self._db.execute("PRAGMA busy_timeout = 30000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._ensure_schema()
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
                    self._db.execute(_BUMP_GENERATION)
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

    def scanned_at(self) -> dict[str, float]:
        """When each track was last extracted (Unix seconds), by id: when it was added to the library,
        or changed on disk since."""
        with self._lock:
            rows = self._db.execute("SELECT id, scanned_at_s FROM tracks").fetchall()
        return {str(r[0]): float(r[1]) for r in rows}

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

    def generation(self) -> int:
        """The tracks' change counter: it grows with every committed write that changes a track (stored,
        replaced, lyrics re-read, removed), by any process. One small read; 0 for a library that
        never changed since the counter was introduced."""
        with self._lock:
            row = self._db.execute("SELECT version FROM versions WHERE name = ?", (_GENERATION,)).fetchone()
        return int(row[0]) if row else 0

    def snapshot(self) -> LibrarySnapshot:
        """Every track, the feature matrix and the extraction times, as of one instant (one read
        transaction: a scan committing meanwhile shows in the next snapshot, never half in this one)."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                row = self._db.execute(
                    "SELECT version FROM versions WHERE name = ?", (_GENERATION,)
                ).fetchone()
                rows = self._db.execute(
                    "SELECT id, record, features, scanned_at_s FROM tracks ORDER BY id"
                ).fetchall()
            finally:
                self._db.execute("COMMIT")
        return LibrarySnapshot(
            generation=int(row[0]) if row else 0,
            tracks=tuple(Track.from_dict(json.loads(r[1])) for r in rows),
            matrix=_matrix([TrackId(r[0]) for r in rows], [r[2] for r in rows]),
            scanned_at={str(r[0]): float(r[3]) for r in rows},
        )

    def feature_matrix(self) -> FeatureMatrix:
        """All numeric features as one float32 matrix (rows ordered by id), cached until the
        store changes (in this process or any other)."""
        with self._lock:
            key = (int(self._db.execute("PRAGMA data_version").fetchone()[0]), self._db.total_changes)
            if self._matrix is not None and self._matrix_key == key:
                return self._matrix
            rows = self._db.execute("SELECT id, features FROM tracks ORDER BY id").fetchall()
        matrix = _matrix([TrackId(r[0]) for r in rows], [r[1] for r in rows])
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
                "SELECT id, path, size, mtime_ns, content_hash, extractor_version, sidecar FROM tracks"
            ).fetchall()
        return {
            r[1]: FileState(
                TrackId(r[0]), r[1], int(r[2]), int(r[3]), r[4], int(r[5]), _sidecar_from_json(r[6])
            )
            for r in rows
        }

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
        sidecar: SidecarFingerprint | None = None,
    ) -> None:
        """Insert or replace one track and clear any problem recorded for its path; committed on return.
        ``sidecar``: the lyrics sidecars present when its lyrics were read."""
        features = _feature_row(track)
        when = time.time() if at_s is None else at_s
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM tracks WHERE path = ? AND id != ?", (track.path, track.id))
                self._db.execute(
                    "INSERT OR REPLACE INTO tracks(id, path, size, mtime_ns, content_hash, extractor_version,"
                    " scanned_at_s, record, features, sidecar) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        _sidecar_json(sidecar),
                    ),
                )
                self._db.execute("DELETE FROM problems WHERE path = ?", (track.path,))
                self._db.execute(_BUMP_GENERATION)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def update_lyrics(self, track: Track, *, sidecar: SidecarFingerprint | None) -> bool:
        """Replace the stored record and features of ``track`` (already stored at ``track.path``) after
        its lyrics were read again, with the sidecars seen then. Size, mtime, content hash and
        ``scanned_at_s`` stay: the audio did not change. Returns False if the track is not stored."""
        features = _feature_row(track)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                changed = self._db.execute(
                    "UPDATE tracks SET record = ?, features = ?, sidecar = ? WHERE id = ? AND path = ?",
                    (
                        json.dumps(track.to_dict(), allow_nan=False),
                        features.tobytes(),
                        _sidecar_json(sidecar),
                        track.id,
                        track.path,
                    ),
                ).rowcount
                if changed:
                    self._db.execute(_BUMP_GENERATION)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return changed > 0

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
                if removed:
                    self._db.execute(_BUMP_GENERATION)
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


def _matrix(ids: Sequence[TrackId], rows: Sequence[bytes]) -> FeatureMatrix:
    """The read-only feature matrix of the stored feature rows ``rows`` of ``ids``, in that order."""
    width = len(NUMERIC_FEATURES)
    if rows:
        values = np.frombuffer(b"".join(rows), dtype=np.float32).reshape(len(rows), width).copy()
    else:
        values = np.zeros((0, width), dtype=np.float32)
    values.flags.writeable = False
    return FeatureMatrix(ids=tuple(ids), columns=NUMERIC_FEATURES, values=values)


def _feature_row(track: Track) -> np.ndarray:
    """``track``'s numeric features as the float32 row the matrix stores.

    Raises:
        LibraryError: If the track does not have one value per :data:`NUMERIC_FEATURES` column.
    """
    features = np.asarray(track.numeric(), dtype=np.float32)
    if features.shape != (len(NUMERIC_FEATURES),):
        raise LibraryError(f"track {track.id} has {features.size} features, expected {len(NUMERIC_FEATURES)}")
    return features


def library_recovery(path: Path) -> str:
    """What a listener can do about a damaged library database at ``path`` (for error messages)."""
    return (
        f"stop Cadence, then copy {path.name} from a backup over it (`cadence backup` makes them; "
        f"docs/operations.md), or move it aside together with any {path.name}-wal and {path.name}-shm "
        f"next to it (`mv {path} {path}.damaged`) and rescan your music into a new library: "
        f"`cadence scan --home {path.parent} FOLDER...`"
    )
