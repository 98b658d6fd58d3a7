"""The interaction log: what each listener did and felt, in SQLite (WAL) at ``settings.log_db``.

:class:`InteractionLog` is the SQLite implementation of the log store interface
(:class:`player.server.logstore.LogStore`), the default: embedded, one server. The PostgreSQL one,
for several servers sharing one log, is :class:`player.server.log_pg.PgInteractionLog`; both store
the same tables and give the same answers, and :func:`player.server.logstore.open_log_at` picks one
by the log's location. The helpers both share (the row of an event, :func:`numbers_only`,
:func:`session_hash`) are defined here, once.

Tables: ``listeners``, ``sessions``, ``events`` (one row per session start/end, mood estimate with
its evidence numbers, play start, skip with its position, completion, like and dislike),
``baselines`` (each named listener's prosodic speaker baseline, carried across sessions), the
views ``plays``, ``skips``, ``likes`` and ``moods`` over it, and for interleaving (docs/ranking.md)
``queues`` (each interleaved queue, with its challenger's name, and each plain queue that replaced
one: where the interleaved queue's time on the player ended) and ``interleavings`` (each pick of an
interleaved queue: its track, team and rank). ``cadence train`` learns from it and ``cadence eval
--live`` credits the interleaved queues from it (:meth:`InteractionLog.queues`). A listener's row
carries ``private``: when set (:meth:`InteractionLog.set_private`, `cadence listeners --private ID`),
their events are never used to learn anything for other listeners (the collaborative-filtering
factors, ``models.cf``).

Durability: :meth:`InteractionLog.record` returns only after its transaction is committed, in WAL
mode. With ``synchronous="normal"`` (the server's default) the commit is in the WAL file, in the
OS page cache: it survives a crash or ``kill -9`` of the server — the failure the server has to
live with — but the last commits may be lost (never corrupted) on a power cut or kernel crash.
With ``synchronous="full"`` every commit also fsyncs the WAL and survives those too. On the shared
machine this was built on one fsync took 4 ms at the median and 47 ms at p99 (143 ms at p99.9),
so "full" puts the disk's tail straight into every acknowledgement's latency; "normal" is the
default and ``cadence serve --log-sync full`` the choice for a machine that may lose power.
:meth:`InteractionLog.record_many` writes everything waiting in one transaction; the server's log
writer batches concurrent sessions' events that way (group commit), which shares one fsync among
them under "full".

Privacy: raw audio never reaches this module; a transcript is stored only if the session asked for
it (the session core leaves :attr:`LogEvent.transcript` empty otherwise); evidence is reduced to
numbers before it is written; :meth:`InteractionLog.forget` erases a listener with
``secure_delete`` on and truncates the WAL, so the rows do not linger in free pages.

Erasing during a live session: ``forget`` keeps one-way hashes of the erased listener's session ids
(nothing readable about the listener) in ``erased_sessions``. Any later write from one of those sessions
is refused (:class:`~player.errors.ListenerErasedError`; the rest of a group commit goes through),
so a session that was open during the erase cannot write the listener back, and the server, which
watches the table (:meth:`InteractionLog.erased_since`), closes such sessions. A session the
listener starts afterwards is a new one and is stored as usual.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeAlias

from player.core.interleave import TEAMS, InterleavedPick, QueueRecord
from player.core.records import LOG_KINDS, PLAYBACK_KINDS, LogEvent
from player.core.track import TrackId
from player.errors import ListenerErasedError
from player.settings import LOG_SYNCS, LogSync
from player.storage import open_database, setting_up

__all__ = [
    "EVENT_COLUMNS",
    "SCHEMA_VERSION",
    "InteractionLog",
    "ListenerRow",
    "LogItem",
    "check_kind",
    "event_from_row",
    "event_values",
    "events_query",
    "interleaving_rows",
    "log_recovery",
    "numbers_only",
    "queue_records",
    "session_hash",
    "session_of",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 4
"""The log's schema version, the same for both stores (SQLite's ``meta``, PostgreSQL's ``schema_version``).
2: mood rows keep per-axis confidences and intent strengths (columns added to a version 1 log).
3: the ``queues`` and ``interleavings`` tables (created in a version 2 log).
4: ``listeners.private`` (added, 0 for every listener, to an older log's ``listeners`` table)."""

LogItem: TypeAlias = tuple[LogEvent, dict[str, Any] | None] | QueueRecord
"""What :meth:`InteractionLog.record_many` takes: an event and its evidence (moods) or None, or a
logged queue (interleaving)."""


def numbers_only(value: Any) -> Any:
    """``value`` with everything but finite numbers, booleans and their containers removed.

    Evidence is documented as numbers only; this makes sure no text (a transcript fragment, a word
    list) slips into the log through it. Returns None for a value with nothing numeric left.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value) if math.isfinite(float(value)) else None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        try:
            return numbers_only(value.item())
        except (TypeError, ValueError):
            return None
    if isinstance(value, dict):
        out = {str(k): numbers_only(v) for k, v in value.items()}
        out = {k: v for k, v in out.items() if v is not None}
        return out or None
    if isinstance(value, list | tuple):
        items = [numbers_only(v) for v in value]
        items = [v for v in items if v is not None]
        return items or None
    return None


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS erased_sessions (
    session_hash TEXT PRIMARY KEY,
    erased_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS listeners (
    listener_id TEXT PRIMARY KEY,
    first_seen_s REAL NOT NULL,
    last_seen_s REAL NOT NULL,
    private INTEGER NOT NULL DEFAULT 0 CHECK (private IN (0, 1))
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    listener_id TEXT NOT NULL,
    started_s REAL,
    ended_s REAL,
    local_time TEXT,
    device TEXT
);
CREATE INDEX IF NOT EXISTS sessions_listener ON sessions (listener_id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in LOG_KINDS)})),
    listener_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    at_s REAL NOT NULL,
    local_time TEXT,
    device TEXT,
    track_id TEXT,
    position_s REAL,
    valence REAL,
    energy REAL,
    confidence REAL,
    intents TEXT NOT NULL DEFAULT '[]',
    transcript TEXT,
    valence_confidence REAL,
    energy_confidence REAL,
    intent_strengths TEXT NOT NULL DEFAULT '[]',
    evidence TEXT
);
CREATE INDEX IF NOT EXISTS events_listener ON events (listener_id, at_s);
CREATE TABLE IF NOT EXISTS baselines (
    listener_id TEXT PRIMARY KEY,
    updated_s REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS queues (
    session_id TEXT NOT NULL,
    queue_index INTEGER NOT NULL,
    listener_id TEXT NOT NULL,
    at_s REAL NOT NULL,
    challenger TEXT,
    PRIMARY KEY (session_id, queue_index)
);
CREATE INDEX IF NOT EXISTS queues_listener ON queues (listener_id, at_s);
CREATE TABLE IF NOT EXISTS interleavings (
    session_id TEXT NOT NULL,
    queue_index INTEGER NOT NULL,
    listener_id TEXT NOT NULL,
    position INTEGER NOT NULL CHECK (position >= 0),
    track_id TEXT NOT NULL,
    team TEXT NOT NULL CHECK (team IN ({", ".join(repr(t) for t in TEAMS)})),
    rank INTEGER NOT NULL CHECK (rank >= 0),
    PRIMARY KEY (session_id, queue_index, position)
);
CREATE INDEX IF NOT EXISTS interleavings_listener ON interleavings (listener_id);
CREATE VIEW IF NOT EXISTS plays AS
    SELECT id, listener_id, session_id, at_s, track_id, position_s, kind FROM events
    WHERE kind IN ('started', 'completed');
CREATE VIEW IF NOT EXISTS skips AS
    SELECT id, listener_id, session_id, at_s, track_id, position_s FROM events WHERE kind = 'skipped';
CREATE VIEW IF NOT EXISTS likes AS
    SELECT id, listener_id, session_id, at_s, track_id, position_s, kind = 'liked' AS liked FROM events
    WHERE kind IN ('liked', 'disliked');
CREATE VIEW IF NOT EXISTS moods AS
    SELECT id, listener_id, session_id, at_s, valence, energy, confidence, intents, transcript, evidence
    FROM events WHERE kind = 'mood';
"""

EVENT_COLUMNS = (
    "kind, listener_id, session_id, at_s, local_time, device, track_id, position_s, "
    "valence, energy, confidence, intents, transcript, valence_confidence, energy_confidence, intent_strengths"
)
"""The ``events`` columns an event is written to and read from (then ``evidence``), in the order of
:func:`event_values` and :func:`event_from_row`."""
_COLUMNS = EVENT_COLUMNS

# A listener's recent history (parameters: listener, playback limit - 1, listener, listener): the
# cut is the N-th newest playback event; the history starts at the session_start before it (so a
# replay has its session to start from), or at the cut itself when no session start precedes it.
_RECENT_HISTORY = f"""
WITH cut AS (
    SELECT at_s, id FROM events
    WHERE listener_id = ? AND kind IN ({", ".join(repr(k) for k in PLAYBACK_KINDS)})
    ORDER BY at_s DESC, id DESC LIMIT 1 OFFSET ?
), opening AS (
    SELECT e.at_s, e.id FROM events AS e, cut
    WHERE e.listener_id = ? AND e.kind = 'session_start' AND (e.at_s, e.id) <= (cut.at_s, cut.id)
    ORDER BY e.at_s DESC, e.id DESC LIMIT 1
), origin AS (
    SELECT at_s, id FROM opening
    UNION ALL SELECT at_s, id FROM cut WHERE NOT EXISTS (SELECT 1 FROM opening)
)
SELECT {_COLUMNS}, evidence FROM events
WHERE listener_id = ?
  AND (NOT EXISTS (SELECT 1 FROM origin) OR (at_s, id) >= (SELECT at_s, id FROM origin))
"""


_PLACEHOLDERS = ", ".join("?" * (_COLUMNS.count(",") + 2))

_ADDED_IN_2 = (
    ("valence_confidence", "REAL"),
    ("energy_confidence", "REAL"),
    ("intent_strengths", "TEXT NOT NULL DEFAULT '[]'"),
)
_ADDED_IN_4 = (("private", "INTEGER NOT NULL DEFAULT 0 CHECK (private IN (0, 1))"),)
_STAMP = (
    f"INSERT INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}') "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value;"
)


def _migrations(db: sqlite3.Connection) -> str:
    """SQL that brings existing older ``events`` and ``listeners`` tables up to this schema ("" for a
    new log; a table that does not exist yet is made whole by the schema script).

    Version 2 → 3 only adds tables, which the schema script creates when they are missing
    (``CREATE TABLE IF NOT EXISTS``): nothing to alter, and the stamp says 3 afterwards. Version 3 → 4
    adds ``listeners.private`` (every existing listener public).
    """
    sql = ""
    for table, added in (("events", _ADDED_IN_2), ("listeners", _ADDED_IN_4)):
        columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if columns:
            sql += "".join(
                f"ALTER TABLE {table} ADD COLUMN {name} {kind};"
                for name, kind in added
                if name not in columns
            )
    return sql


def log_recovery(path: Path) -> str:
    """What a listener can do about a damaged interaction log at ``path`` (for error messages)."""
    return (
        f"stop Cadence, then copy {path.name} from a backup over it (`cadence backup` makes them; "
        f"docs/operations.md). Nothing rebuilds the listeners' history: without a backup, move it aside "
        f"together with any {path.name}-wal and {path.name}-shm next to it (`mv {path} {path}.damaged`) "
        "and Cadence starts a new, empty log"
    )


@dataclass(frozen=True, slots=True)
class ListenerRow:
    """One listener of the log, as `cadence listeners` shows them."""

    listener_id: str
    events: int
    """Rows in ``events``."""
    first_seen_s: float
    """Server time of their first logged row, Unix seconds."""
    last_seen_s: float
    """… and of their last."""
    private: bool
    """Never used to learn anything for other listeners."""


class InteractionLog:
    """The log at ``path`` (created if absent). Thread-safe; several processes may open it.

    ``synchronous``: "full" (the default here: every commit fsync'd) or "normal" (a commit survives
    the process, not a power cut); the server passes ``settings.log_sync``. ``autocheckpoint=False``
    leaves WAL checkpoints to the owner's calls of :meth:`checkpoint`. ``check``: run ``PRAGMA
    quick_check`` before anything is written (reads the whole file, about 0.2 s per 100 MB from the
    page cache), so a damaged log is refused rather than written to; False only to re-open a file
    this process has just checked. A file of 0 bytes is logged as a WARNING (every listener's history
    is gone) and becomes a new, empty log.

    Raises:
        DatabaseCorruptError: If the file is not a SQLite database or fails the check; it is left as it
            is, and the message says how to restore a backup or start a new log.
        StoreError: If SQLite cannot open the file for another reason (permissions, a full disk).
    """

    def __init__(
        self, path: Path, *, synchronous: LogSync = "full", autocheckpoint: bool = True, check: bool = True
    ) -> None:
        if synchronous not in LOG_SYNCS:
            raise ValueError(f"synchronous must be one of {', '.join(LOG_SYNCS)}, not {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        recovery = log_recovery(self.path)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a commit is exactly where we say.
        self._db = open_database(
            self.path,
            check=check,
            recovery=recovery,
            if_empty="the interaction log, every listener's history, is gone; starting a new, empty log. "
            f"If you have a backup, stop Cadence and restore {self.path.name} from it (docs/operations.md)",
            log=logger,
        )
        self._checkpointer: sqlite3.Connection | None = None
        with setting_up(self._db, self.path, recovery=recovery):
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.execute("PRAGMA busy_timeout=30000")
            if not autocheckpoint:
                # The owner calls checkpoint() from another thread, so no commit waits for one.
                self._db.execute("PRAGMA wal_autocheckpoint=0")
            with self._lock:
                # One script, one transaction: two processes opening a new log at once do not race.
                self._db.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}{_migrations(self._db)}{_STAMP}COMMIT;")

    @property
    def location(self) -> str:
        """Where the log is, for messages: the file's path."""
        return str(self.path)

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._db.close()
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None

    def checkpoint(self) -> None:
        """Copy committed WAL content into the database file (a PASSIVE checkpoint).

        Runs on its own connection and does not block writers: with ``autocheckpoint=False`` a
        background thread calls this, so the checkpoint's fsyncs never delay a commit (SQLite's
        automatic checkpoint runs inside the commit that crosses the WAL size threshold).
        """
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def __enter__(self) -> InteractionLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------ writing

    def record(self, event: LogEvent, evidence: dict[str, Any] | None = None) -> None:
        """Append ``event`` (and a mood's ``evidence``, numbers only); durable when this returns."""
        self.record_many([(event, evidence)])

    def record_queue(self, queue: QueueRecord) -> None:
        """Append a logged queue (an interleaved one with its picks, or the plain one that ended one)."""
        self.record_many([queue])

    def record_many(self, items: Sequence[LogItem]) -> set[str]:
        """Append several events and queues in one transaction (one fsync); all durable when this returns.

        Items of sessions whose listener was erased while they were open (:meth:`forget`) are not
        written; returns those session ids (empty when everything was written).
        """
        if not items:
            return set()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                refused = self._erased({session_of(item) for item in items})
                for item in items:
                    if session_of(item) in refused:
                        continue
                    if isinstance(item, QueueRecord):
                        self._insert_queue(item)
                    else:
                        self._insert(*item)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if refused:
            logger.warning("refused writes of %d session(s) whose listener was erased", len(refused))
        return refused

    def _erased(self, session_ids: Iterable[str]) -> set[str]:
        """Those of ``session_ids`` whose listener was erased while they were open (lock held)."""
        by_hash = {session_hash(i): i for i in session_ids}
        hashes = list(by_hash)
        found: set[str] = set()
        for lo in range(0, len(hashes), 500):
            chunk = hashes[lo : lo + 500]
            rows = self._db.execute(
                f"SELECT session_hash FROM erased_sessions WHERE session_hash IN ({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            found.update(by_hash[r[0]] for r in rows)
        return found

    def erased_since(self, after: int = 0) -> tuple[list[str], int]:
        """Hashes (:func:`session_hash`) of the sessions erased after the mark ``after`` (0: all), and
        the new mark to pass next time."""
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, session_hash FROM erased_sessions WHERE rowid > ? ORDER BY rowid", (after,)
            ).fetchall()
        return [r[1] for r in rows], (int(rows[-1][0]) if rows else after)

    def _insert(self, event: LogEvent, evidence: dict[str, Any] | None) -> None:
        check_kind(event)
        db = self._db
        db.execute(
            "INSERT INTO listeners (listener_id, first_seen_s, last_seen_s) VALUES (?, ?, ?) "
            "ON CONFLICT (listener_id) DO UPDATE SET last_seen_s = max(last_seen_s, excluded.last_seen_s)",
            (event.listener_id, event.at_s, event.at_s),
        )
        if event.kind == "session_start":
            db.execute(
                "INSERT INTO sessions (session_id, listener_id, started_s, local_time, device) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id) DO NOTHING",
                (event.session_id, event.listener_id, event.at_s, event.local_time, event.device),
            )
        elif event.kind == "session_end":
            db.execute("UPDATE sessions SET ended_s = ? WHERE session_id = ?", (event.at_s, event.session_id))
        db.execute(
            f"INSERT INTO events ({_COLUMNS}, evidence) VALUES ({', '.join('?' * 17)})",
            event_values(event, evidence),
        )

    def _insert_queue(self, queue: QueueRecord) -> None:
        db = self._db
        db.execute(
            "INSERT INTO listeners (listener_id, first_seen_s, last_seen_s) VALUES (?, ?, ?) "
            "ON CONFLICT (listener_id) DO UPDATE SET last_seen_s = max(last_seen_s, excluded.last_seen_s)",
            (queue.listener_id, queue.at_s, queue.at_s),
        )
        db.execute(
            "INSERT INTO queues (session_id, queue_index, listener_id, at_s, challenger) VALUES (?, ?, ?, ?, ?)",
            (
                queue.session_id,
                int(queue.queue_index),
                queue.listener_id,
                float(queue.at_s),
                queue.challenger,
            ),
        )
        db.executemany(
            "INSERT INTO interleavings (session_id, queue_index, listener_id, position, track_id, team, rank) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            interleaving_rows(queue),
        )

    # ------------------------------------------------------------ reading

    def listeners(self) -> list[str]:
        """Every listener id with at least one event, sorted."""
        with self._lock:
            rows = self._db.execute("SELECT listener_id FROM listeners ORDER BY listener_id").fetchall()
        return [r[0] for r in rows]

    def events(self, listener_id: str | None = None, *, playback_limit: int | None = None) -> list[LogEvent]:
        """Events, oldest first (all listeners' if ``listener_id`` is None).

        Args:
            playback_limit: Only a listener's recent history: every event from the ``session_start``
                that opened the session of their ``playback_limit``-th newest playback event on (from
                that event itself if no session start precedes it). None: everything. The cut is made
                in SQL, so a long history is never read whole.

        Raises:
            ValueError: If ``playback_limit`` is given without a ``listener_id``, or is below 1.
        """
        return [event for event, _ in self.events_with_evidence(listener_id, playback_limit=playback_limit)]

    def events_with_evidence(
        self, listener_id: str | None = None, *, playback_limit: int | None = None
    ) -> list[tuple[LogEvent, dict[str, Any] | None]]:
        """Like :meth:`events`, each with the evidence stored with it (moods) or None."""
        query, params = events_query(listener_id, playback_limit, recent_history=_RECENT_HISTORY, mark="?")
        with self._lock:
            rows = self._db.execute(query + " ORDER BY at_s, id", params).fetchall()
        return [(event_from_row(row), json.loads(row[-1]) if row[-1] else None) for row in rows]

    def queues(self, listener_id: str | None = None) -> list[QueueRecord]:
        """Logged queues (all listeners' if ``listener_id`` is None) with their picks, oldest first."""
        where, params = ("WHERE listener_id = ?", (listener_id,)) if listener_id is not None else ("", ())
        with self._lock:
            heads = self._db.execute(
                "SELECT session_id, queue_index, listener_id, at_s, challenger FROM queues "
                f"{where} ORDER BY at_s, session_id, queue_index",
                params,
            ).fetchall()
            picks = self._db.execute(
                "SELECT session_id, queue_index, track_id, team, rank FROM interleavings "
                f"{where} ORDER BY session_id, queue_index, position",
                params,
            ).fetchall()
        return queue_records(heads, picks)

    def listener_rows(self) -> list[ListenerRow]:
        """Every listener with their number of events, first and last seen and private flag, by id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT l.listener_id, (SELECT count(*) FROM events AS e WHERE e.listener_id = l.listener_id), "
                "l.first_seen_s, l.last_seen_s, l.private FROM listeners AS l ORDER BY l.listener_id"
            ).fetchall()
        return [ListenerRow(r[0], int(r[1]), float(r[2]), float(r[3]), bool(r[4])) for r in rows]

    # ------------------------------------------------------------ privacy

    def set_private(self, listener_id: str, private: bool) -> bool:
        """Mark ``listener_id`` private (never used to learn anything for others) or public again.

        Durable when this returns. Returns False (and changes nothing) if the log has no such listener.
        """
        with self._lock:
            cur = self._db.execute(
                "UPDATE listeners SET private = ? WHERE listener_id = ?", (int(bool(private)), listener_id)
            )
        return cur.rowcount > 0

    def private_listeners(self) -> set[str]:
        """The ids of the listeners marked private."""
        with self._lock:
            rows = self._db.execute("SELECT listener_id FROM listeners WHERE private = 1").fetchall()
        return {r[0] for r in rows}

    def count(self) -> int:
        """Number of events."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    # ------------------------------------------------------------ speaker baselines

    def save_baseline(
        self, listener_id: str, data: dict[str, Any], *, at_s: float, session_id: str | None = None
    ) -> None:
        """Keep a listener's prosodic speaker baseline (``SpeakerBaseline.to_dict()``, numbers only).

        Raises:
            ListenerErasedError: If ``session_id`` (the session that updated it) was open when the
                listener was erased: the baseline is not written back.
        """
        cleaned = numbers_only(data) or {}
        with self._lock:
            if session_id is not None and self._erased([session_id]):
                raise ListenerErasedError(
                    f"listener {listener_id} was erased while session {session_id} was open"
                )
            self._db.execute(
                "INSERT INTO baselines (listener_id, updated_s, data) VALUES (?, ?, ?) "
                "ON CONFLICT (listener_id) DO UPDATE SET updated_s = excluded.updated_s, data = excluded.data",
                (listener_id, float(at_s), json.dumps(cleaned, allow_nan=False)),
            )

    def baseline(self, listener_id: str) -> dict[str, Any] | None:
        """The listener's stored speaker baseline, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM baselines WHERE listener_id = ?", (listener_id,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    # ------------------------------------------------------------ erasing

    def forget(self, listener_id: str) -> int:
        """Erase everything about ``listener_id``: events, sessions, speaker baseline, logged queues and
        their picks, the listener row.

        Deleted pages are overwritten (``secure_delete``) and the WAL is checkpointed and truncated,
        so nothing of the listener stays readable in the files. Returns the number of rows erased.

        One-way hashes of the listener's session ids are kept in ``erased_sessions`` (in the same
        transaction): a session open during the erase can write nothing more, and a running server
        closes it. No id of the listener or their sessions stays in the files.
        """
        with self._lock:
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                sessions = self._db.execute(
                    "SELECT session_id FROM sessions WHERE listener_id = ?1 "
                    "UNION SELECT session_id FROM events WHERE listener_id = ?1 "
                    "UNION SELECT session_id FROM queues WHERE listener_id = ?1",
                    (listener_id,),
                ).fetchall()
                now = time.time()
                self._db.executemany(
                    "INSERT INTO erased_sessions (session_hash, erased_s) VALUES (?, ?) "
                    "ON CONFLICT (session_hash) DO NOTHING",
                    [(session_hash(row[0]), now) for row in sessions],
                )
                erased = 0
                for table in ("events", "sessions", "baselines", "interleavings", "queues", "listeners"):
                    cur = self._db.execute(f"DELETE FROM {table} WHERE listener_id = ?", (listener_id,))
                    erased += cur.rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        logger.info("forgot listener %s: %d rows erased", listener_id, erased)
        return erased


def session_of(item: LogItem) -> str:
    """The session an event or a queue record belongs to."""
    return item.session_id if isinstance(item, QueueRecord) else item[0].session_id


def session_hash(session_id: str) -> str:
    """The one-way hash under which an erased session is remembered (SHA-256, hex)."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def check_kind(event: LogEvent) -> None:
    """Raises ValueError if ``event`` is of no known kind (checked before anything is written)."""
    if event.kind not in LOG_KINDS:
        raise ValueError(f"unknown log event kind {event.kind!r}")


def event_values(event: LogEvent, evidence: dict[str, Any] | None) -> tuple[Any, ...]:
    """The values of :data:`EVENT_COLUMNS` and ``evidence`` for ``event``: lists as JSON text, the
    evidence reduced to numbers (:func:`numbers_only`) or None."""
    cleaned = numbers_only(evidence) if evidence else None
    return (
        event.kind,
        event.listener_id,
        event.session_id,
        float(event.at_s),
        event.local_time,
        event.device,
        event.track_id,
        event.position_s,
        event.valence,
        event.energy,
        event.confidence,
        json.dumps(list(event.intents)),
        event.transcript,
        event.valence_confidence,
        event.energy_confidence,
        json.dumps([float(s) for s in event.intent_strengths]),
        json.dumps(cleaned, allow_nan=False) if cleaned else None,
    )


def interleaving_rows(queue: QueueRecord) -> list[tuple[Any, ...]]:
    """The ``interleavings`` rows of ``queue`` (session_id, queue_index, listener_id, position, track_id,
    team, rank), as both stores insert them."""
    return [
        (
            queue.session_id,
            int(queue.queue_index),
            queue.listener_id,
            position,
            str(pick.track_id),
            pick.team,
            int(pick.rank),
        )
        for position, pick in enumerate(queue.picks)
    ]


def events_query(
    listener_id: str | None, playback_limit: int | None, *, recent_history: str, mark: str
) -> tuple[str, tuple[Any, ...]]:
    """The query (without its ORDER BY) and parameters of ``events_with_evidence`` in either store:
    ``recent_history`` is the store's recent-history query, ``mark`` its parameter placeholder.

    Raises:
        ValueError: If ``playback_limit`` is given without a ``listener_id``, or is below 1.
    """
    if playback_limit is not None:
        if listener_id is None or playback_limit < 1:
            raise ValueError("playback_limit needs a listener_id and must be at least 1")
        return recent_history, (listener_id, playback_limit - 1, listener_id, listener_id)
    query = f"SELECT {_COLUMNS}, evidence FROM events"
    if listener_id is not None:
        return f"{query} WHERE listener_id = {mark}", (listener_id,)
    return query, ()


def queue_records(heads: Iterable[Sequence[Any]], picks: Iterable[Sequence[Any]]) -> list[QueueRecord]:
    """Queue records from the rows of ``queues`` (session_id, queue_index, listener_id, at_s,
    challenger) and of ``interleavings`` (session_id, queue_index, track_id, team, rank; in position
    order), as both stores select them."""
    by_queue: dict[tuple[str, int], list[InterleavedPick]] = {}
    for session_id, queue_index, track_id, team, rank in picks:
        by_queue.setdefault((session_id, queue_index), []).append(
            InterleavedPick(TrackId(track_id), team, int(rank))
        )
    return [
        QueueRecord(
            session_id=session_id,
            queue_index=int(queue_index),
            listener_id=listener_id,
            at_s=float(at_s),
            challenger=challenger,
            picks=tuple(by_queue.get((session_id, queue_index), ())),
        )
        for session_id, queue_index, listener_id, at_s, challenger in heads
    ]


def event_from_row(row: Iterable[Any]) -> LogEvent:
    """The event of a row of :data:`EVENT_COLUMNS` and ``evidence`` (the evidence is not part of it)."""
    (kind, listener_id, session_id, at_s, local_time, device, track_id, position_s, valence, energy,
     confidence, intents, transcript, valence_confidence, energy_confidence, intent_strengths,
     _evidence) = row  # fmt: skip
    return LogEvent(
        kind=kind,
        listener_id=listener_id,
        session_id=session_id,
        at_s=at_s,
        local_time=local_time,
        device=device,
        track_id=track_id,
        position_s=position_s,
        valence=valence,
        energy=energy,
        confidence=confidence,
        intents=tuple(json.loads(intents or "[]")),
        transcript=transcript,
        valence_confidence=valence_confidence,
        energy_confidence=energy_confidence,
        intent_strengths=tuple(float(s) for s in json.loads(intent_strengths or "[]")),
    )
