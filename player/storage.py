"""Opening the home's SQLite databases checked, and copying them: shared by the library
(:mod:`player.library.store`) and the interaction log (:mod:`player.server.log`).

Errors: :class:`~player.errors.DatabaseCorruptError` (a damaged file, left as it is),
:class:`~player.errors.StoreError` (cannot open it for another reason),
:class:`~player.errors.BackupError` (a copy could not be written).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from player.errors import BackupError, DatabaseCorruptError, StoreError

__all__ = ["backup_database", "database_error", "open_database", "quick_check", "setting_up"]

_log = logging.getLogger(__name__)


_DAMAGE_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
"""SQLite primary result codes that mean the file itself is damaged (not locked, unreadable or full)."""

_FAULT_CHARS = 200
"""Longest quick_check fault quoted in an error message."""


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


@contextmanager
def setting_up(db: sqlite3.Connection, path: Path, *, recovery: str) -> Iterator[None]:
    """Set up a just-opened database (pragmas, schema) inside this block: on any failure the
    connection is closed, and a SQLite error becomes the Cadence error :func:`database_error` gives."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        db.close()
        raise database_error(path, exc, recovery=recovery) from exc
    except BaseException:
        db.close()
        raise
