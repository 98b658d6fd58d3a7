"""The interaction log in PostgreSQL: one log that several `cadence serve` processes share.

:class:`PgInteractionLog` is the PostgreSQL implementation of the log store interface
(:class:`player.server.logstore.LogStore`): the same tables, views and answers as the SQLite
:class:`player.server.log.InteractionLog`, in a database at a ``postgresql://`` URL (``--log``),
through a psycopg 3 connection pool (psycopg-pool; the ``[postgres]`` extra).

Schema: versioned like the SQLite log (:data:`player.server.log.SCHEMA_VERSION`), in a
``schema_version`` table with one row per migration applied. :data:`_MIGRATIONS` lists them; a
PostgreSQL log starts at version 4 (the whole schema of SQLite's version 4), and a later version adds
one entry. Opening a log applies the missing ones in one transaction under an advisory lock, so
servers starting together against a new database do not race; a log newer than this Cadence is
refused (``StoreError``) rather than written to.

Durability: a write returns only after PostgreSQL has committed it; with the server's default
``synchronous_commit = on`` that commit is flushed to PostgreSQL's WAL on disk, so an acknowledged
event survives ``kill -9`` of any Cadence server (the process holds nothing that is not committed)
and a crash of PostgreSQL or its machine. ``--log-sync`` is SQLite's and does not apply here.

Several writers: each server's log writer commits its group of events in one transaction. Writers
take a shared advisory lock (:data:`_ERASE_LOCK`) and :meth:`PgInteractionLog.forget` the exclusive
one, so an erase waits for the commits in flight and every write after it sees the erased sessions
(``erased_sessions``): a server that still holds a session of an erased listener cannot write them
back, and finds the erase through :meth:`PgInteractionLog.erased_since` (the ids of
``erased_sessions`` only grow, in commit order, because erases are serialized by that lock).
Listener rows are upserted in id order, so two servers' batches never deadlock on them; a deadlock
or serialization failure all the same is retried (:data:`_RETRIES`).

Erasing: ``forget`` deletes the listener's rows in one transaction, then runs ``VACUUM`` on the
tables so the dead rows are removed from the table and index pages. PostgreSQL gives no
``secure_delete``: the bytes can remain in free space of those pages and in old WAL segments until
they are reused or removed (docs/operations.md; ``VACUUM FULL`` rewrites the files whole).

Text is ordered by code point (``COLLATE "C"``), as SQLite orders it, whatever the database's locale.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool, PoolTimeout

from player.core.interleave import TEAMS, QueueRecord
from player.core.records import LOG_KINDS, PLAYBACK_KINDS, LogEvent
from player.errors import ListenerErasedError, StoreError
from player.server.log import (
    EVENT_COLUMNS,
    SCHEMA_VERSION,
    ListenerRow,
    LogItem,
    check_kind,
    event_from_row,
    event_values,
    events_query,
    interleaving_rows,
    numbers_only,
    queue_records,
    session_hash,
    session_of,
)

__all__ = ["PgInteractionLog"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

_ERASE_LOCK = 0x0CADE7CE_E4A5E
"""Advisory lock key (per database): shared by every write that checks ``erased_sessions``,
exclusive for :meth:`PgInteractionLog.forget`."""
_MIGRATION_LOCK = 0x0CADE7CE_5C4E
"""Advisory lock key held while the schema is brought up to date."""
_RETRIES = 3
"""Attempts of a transaction that PostgreSQL aborted as a deadlock or serialization failure."""
_TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
"""Aborts PostgreSQL asks the client to retry: nothing of the transaction was written."""
_CONNECT_TIMEOUT_S = 10
_POOL_MAX = 10
"""Connections per process: the writer thread, history loads and baseline saves on the default
executor's threads, the erasure watcher, a command."""

_SCHEMA_4 = f"""
CREATE TABLE erased_sessions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_hash TEXT NOT NULL UNIQUE,
    erased_s DOUBLE PRECISION NOT NULL
);
CREATE TABLE listeners (
    listener_id TEXT PRIMARY KEY,
    first_seen_s DOUBLE PRECISION NOT NULL,
    last_seen_s DOUBLE PRECISION NOT NULL,
    private BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    listener_id TEXT NOT NULL,
    started_s DOUBLE PRECISION,
    ended_s DOUBLE PRECISION,
    local_time TEXT,
    device TEXT
);
CREATE INDEX sessions_listener ON sessions (listener_id);
CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in LOG_KINDS)})),
    listener_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    at_s DOUBLE PRECISION NOT NULL,
    local_time TEXT,
    device TEXT,
    track_id TEXT,
    position_s DOUBLE PRECISION,
    valence DOUBLE PRECISION,
    energy DOUBLE PRECISION,
    confidence DOUBLE PRECISION,
    intents TEXT NOT NULL DEFAULT '[]',
    transcript TEXT,
    valence_confidence DOUBLE PRECISION,
    energy_confidence DOUBLE PRECISION,
    intent_strengths TEXT NOT NULL DEFAULT '[]',
    evidence TEXT
);
CREATE INDEX events_listener ON events (listener_id, at_s, id);
CREATE INDEX events_session ON events (session_id);
CREATE TABLE baselines (
    listener_id TEXT PRIMARY KEY,
    updated_s DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE queues (
    session_id TEXT NOT NULL,
    queue_index INTEGER NOT NULL,
    listener_id TEXT NOT NULL,
    at_s DOUBLE PRECISION NOT NULL,
    challenger TEXT,
    PRIMARY KEY (session_id, queue_index)
);
CREATE INDEX queues_listener ON queues (listener_id, at_s);
CREATE TABLE interleavings (
    session_id TEXT NOT NULL,
    queue_index INTEGER NOT NULL,
    listener_id TEXT NOT NULL,
    position INTEGER NOT NULL CHECK (position >= 0),
    track_id TEXT NOT NULL,
    team TEXT NOT NULL CHECK (team IN ({", ".join(repr(t) for t in TEAMS)})),
    rank INTEGER NOT NULL CHECK (rank >= 0),
    PRIMARY KEY (session_id, queue_index, position)
);
CREATE INDEX interleavings_listener ON interleavings (listener_id);
CREATE VIEW plays AS
    SELECT id, listener_id, session_id, at_s, track_id, position_s, kind FROM events
    WHERE kind IN ('started', 'completed');
CREATE VIEW skips AS
    SELECT id, listener_id, session_id, at_s, track_id, position_s FROM events WHERE kind = 'skipped';
CREATE VIEW likes AS
    SELECT id, listener_id, session_id, at_s, track_id, position_s, kind = 'liked' AS liked FROM events
    WHERE kind IN ('liked', 'disliked');
CREATE VIEW moods AS
    SELECT id, listener_id, session_id, at_s, valence, energy, confidence, intents, transcript, evidence
    FROM events WHERE kind = 'mood';
"""

_MIGRATIONS: tuple[tuple[int, str], ...] = ((4, _SCHEMA_4),)
"""(schema version, SQL that brings the previous version to it), oldest first; the last version is
:data:`player.server.log.SCHEMA_VERSION`. A PostgreSQL log begins at 4: SQLite's versions 1–3 never
existed here."""

assert _MIGRATIONS[-1][0] == SCHEMA_VERSION, "a schema version without its PostgreSQL migration"

# As player.server.log's recent-history query (parameters: listener, playback limit - 1, listener,
# listener), with PostgreSQL's row comparisons.
_RECENT_HISTORY = f"""
WITH cut AS (
    SELECT at_s, id FROM events
    WHERE listener_id = %s AND kind IN ({", ".join(repr(k) for k in PLAYBACK_KINDS)})
    ORDER BY at_s DESC, id DESC LIMIT 1 OFFSET %s
), opening AS (
    SELECT e.at_s, e.id FROM events AS e, cut
    WHERE e.listener_id = %s AND e.kind = 'session_start' AND (e.at_s, e.id) <= (cut.at_s, cut.id)
    ORDER BY e.at_s DESC, e.id DESC LIMIT 1
), origin AS (
    SELECT at_s, id FROM opening
    UNION ALL SELECT at_s, id FROM cut WHERE NOT EXISTS (SELECT 1 FROM opening)
)
SELECT {EVENT_COLUMNS}, evidence FROM events
WHERE listener_id = %s
  AND (NOT EXISTS (SELECT 1 FROM origin) OR (at_s, id) >= (SELECT at_s, id FROM origin))
"""

_UPSERT_LISTENER = (
    "INSERT INTO listeners (listener_id, first_seen_s, last_seen_s) VALUES (%s, %s, %s) "
    "ON CONFLICT (listener_id) DO UPDATE SET last_seen_s = GREATEST(listeners.last_seen_s, excluded.last_seen_s)"
)
_INSERT_EVENT = f"INSERT INTO events ({EVENT_COLUMNS}, evidence) VALUES ({', '.join(['%s'] * 17)})"
_TABLES_OF_A_LISTENER = ("events", "sessions", "baselines", "interleavings", "queues", "listeners")


class PgInteractionLog:
    """The log in the PostgreSQL database at ``url`` (tables created if absent). Thread-safe; any
    number of processes may open the same database.

    Raises:
        StoreError: If PostgreSQL cannot be reached or refuses the login (the message names the URL
            without its password), or the log's schema is newer than this Cadence.
    """

    def __init__(self, url: str, *, pool_max: int = _POOL_MAX) -> None:
        from player.server.logstore import display_location

        self.url = url
        self._location = display_location(url)
        self._closed = threading.Event()
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S) as conn:
                self._migrate(conn)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot open the interaction log at {self._location}: {str(exc).strip()}. Check that "
                "PostgreSQL is running there, and that the URL's user (who must be able to create tables "
                "in the database), password and database are right (docs/operations.md)"
            ) from exc
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_max,
            kwargs={"autocommit": True, "connect_timeout": _CONNECT_TIMEOUT_S, "application_name": "cadence"},
            open=False,
            name="cadence-log",
        )
        try:
            self._pool.open(wait=True, timeout=_CONNECT_TIMEOUT_S * 2)
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreError(f"cannot connect to the interaction log at {self._location}: {exc}") from exc

    @property
    def location(self) -> str:
        """Where the log is, for messages: the URL without its password."""
        return self._location

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        """Apply the missing :data:`_MIGRATIONS` in one transaction (under :data:`_MIGRATION_LOCK`)."""
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_s DOUBLE PRECISION NOT NULL)"
            )
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            current = int(row[0]) if row else 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the interaction log at {self._location} has schema version {current}, newer than "
                    f"this Cadence's {SCHEMA_VERSION}: upgrade Cadence on this machine before it opens the "
                    "shared log",
                    code="log_schema_newer",
                )
            for version, sql in _MIGRATIONS:
                if version > current:
                    conn.execute(sql.encode())  # no parameters: several statements in one go
                    conn.execute(
                        "INSERT INTO schema_version (version, applied_s) VALUES (%s, %s)",
                        (version, time.time()),
                    )
                    logger.info("interaction log %s: schema version %d", self._location, version)

    def close(self) -> None:
        """Close the pool's connections (idempotent)."""
        if not self._closed.is_set():
            self._closed.set()
            self._pool.close()

    def checkpoint(self) -> None:
        """Nothing to do: PostgreSQL checkpoints its WAL itself, off the commit path."""

    def __enter__(self) -> PgInteractionLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; a lost connection or an unreachable server becomes a ``StoreError``.

        A connection that failed is dropped by the pool and replaced, so the next call works again
        once PostgreSQL is back. The error is raised only after the transaction was rolled back (or
        never committed), so nothing it was writing is acknowledged.
        """
        try:
            with self._pool.connection() as conn:
                yield conn
        except _TRANSIENT:
            raise  # an OperationalError too, but one to retry (see _retrying)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StoreError(
                f"the interaction log at {self._location} failed: {str(exc).strip() or type(exc).__name__}"
            ) from exc

    def _retrying(self, work: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        """Run ``work`` on a pooled connection, again if PostgreSQL aborted it as a deadlock or a
        serialization failure (nothing of an aborted transaction was written)."""
        for attempt in range(1, _RETRIES + 1):
            try:
                with self._connection() as conn:
                    return work(conn)
            except _TRANSIENT:
                if attempt == _RETRIES:
                    raise
                logger.warning("interaction log transaction aborted by PostgreSQL; retrying (%d)", attempt)
                time.sleep(0.01 * attempt)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ writing

    def record(self, event: LogEvent, evidence: dict[str, Any] | None = None) -> None:
        """Append ``event`` (and a mood's ``evidence``, numbers only); committed when this returns."""
        self.record_many([(event, evidence)])

    def record_queue(self, queue: QueueRecord) -> None:
        """Append a logged queue (an interleaved one with its picks, or the plain one that ended one)."""
        self.record_many([queue])

    def record_many(self, items: Sequence[LogItem]) -> set[str]:
        """Append events and queues in one transaction; all committed when this returns.

        Items of sessions whose listener was erased while they were open are not written; returns
        those session ids (empty when everything was written).

        Raises:
            ValueError: If an event is of an unknown kind (nothing is written).
            psycopg.Error: If PostgreSQL refused the transaction (nothing is written).
            StoreError: If the connection to PostgreSQL failed (nothing is acknowledged as written).
        """
        if not items:
            return set()
        for item in items:
            if not isinstance(item, QueueRecord):
                check_kind(item[0])

        def work(conn: psycopg.Connection[Any]) -> set[str]:
            # Pipelined: BEGIN, the lock and the erased look-up make one round trip, the writes and
            # COMMIT another; the commit's answer is read before this returns.
            with conn.pipeline(), conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_ERASE_LOCK,))
                refused = _erased(conn, {session_of(item) for item in items})
                kept = [item for item in items if session_of(item) not in refused]
                if kept:
                    _write(conn, kept)
            return refused

        refused = self._retrying(work)
        if refused:
            logger.warning("refused writes of %d session(s) whose listener was erased", len(refused))
        return refused

    def save_baseline(
        self, listener_id: str, data: dict[str, Any], *, at_s: float, session_id: str | None = None
    ) -> None:
        """Keep a listener's prosodic speaker baseline (numbers only), replacing the stored one.

        Raises:
            ListenerErasedError: If ``session_id`` was open when the listener was erased.
        """
        cleaned = json.dumps(numbers_only(data) or {}, allow_nan=False)

        def work(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                if session_id is not None:
                    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (_ERASE_LOCK,))
                    if _erased(conn, {session_id}):
                        raise ListenerErasedError(
                            f"listener {listener_id} was erased while session {session_id} was open"
                        )
                conn.execute(
                    "INSERT INTO baselines (listener_id, updated_s, data) VALUES (%s, %s, %s) "
                    "ON CONFLICT (listener_id) DO UPDATE SET updated_s = excluded.updated_s, data = excluded.data",
                    (listener_id, float(at_s), cleaned),
                )

        self._retrying(work)

    def set_private(self, listener_id: str, private: bool) -> bool:
        """Mark ``listener_id`` private or public again; False (nothing changed) if there is no such listener."""

        def work(conn: psycopg.Connection[Any]) -> bool:
            cur = conn.execute(
                "UPDATE listeners SET private = %s WHERE listener_id = %s", (bool(private), listener_id)
            )
            return cur.rowcount > 0

        return self._retrying(work)

    def forget(self, listener_id: str) -> int:
        """Erase everything about ``listener_id`` (events, sessions, baseline, queues and picks, the
        listener row) in one transaction, keeping one-way hashes of their sessions in
        ``erased_sessions``; then ``VACUUM`` the tables. Returns the number of rows erased."""

        def work(conn: psycopg.Connection[Any]) -> int:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ERASE_LOCK,))
                sessions = conn.execute(
                    "SELECT session_id FROM sessions WHERE listener_id = %(l)s "
                    "UNION SELECT session_id FROM events WHERE listener_id = %(l)s "
                    "UNION SELECT session_id FROM queues WHERE listener_id = %(l)s",
                    {"l": listener_id},
                ).fetchall()
                now = time.time()
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO erased_sessions (session_hash, erased_s) VALUES (%s, %s) "
                        "ON CONFLICT (session_hash) DO NOTHING",
                        [(session_hash(row[0]), now) for row in sessions],
                    )
                erased = 0
                for table in _TABLES_OF_A_LISTENER:
                    erased += conn.execute(
                        f"DELETE FROM {table} WHERE listener_id = %s", (listener_id,)
                    ).rowcount
            return erased

        erased = self._retrying(work)
        try:
            with self._connection() as conn:
                conn.execute(f"VACUUM {', '.join(_TABLES_OF_A_LISTENER)}")
        except (psycopg.Error, StoreError) as exc:
            logger.warning("VACUUM after forgetting a listener failed (%s); the rows are erased", exc)
        logger.info("forgot listener %s: %d rows erased", listener_id, erased)
        return erased

    # ------------------------------------------------------------ reading

    def _query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    def erased_since(self, after: int = 0) -> tuple[list[str], int]:
        """Hashes (:func:`session_hash`) of the sessions erased after the mark ``after`` (0: all), and
        the new mark to pass next time."""
        rows = self._query("SELECT id, session_hash FROM erased_sessions WHERE id > %s ORDER BY id", (after,))
        return [r[1] for r in rows], (int(rows[-1][0]) if rows else after)

    def listeners(self) -> list[str]:
        """Every listener id with at least one event, sorted by code point."""
        return [
            r[0] for r in self._query('SELECT listener_id FROM listeners ORDER BY listener_id COLLATE "C"')
        ]

    def events(self, listener_id: str | None = None, *, playback_limit: int | None = None) -> list[LogEvent]:
        """Events, oldest first (all listeners' if ``listener_id`` is None); ``playback_limit`` as in
        :meth:`player.server.log.InteractionLog.events`.

        Raises:
            ValueError: If ``playback_limit`` is given without a ``listener_id``, or is below 1.
        """
        return [event for event, _ in self.events_with_evidence(listener_id, playback_limit=playback_limit)]

    def events_with_evidence(
        self, listener_id: str | None = None, *, playback_limit: int | None = None
    ) -> list[tuple[LogEvent, dict[str, Any] | None]]:
        """Like :meth:`events`, each with the evidence stored with it (moods) or None."""
        query, params = events_query(listener_id, playback_limit, recent_history=_RECENT_HISTORY, mark="%s")
        rows = self._query(query + " ORDER BY at_s, id", params)
        return [(event_from_row(row), json.loads(row[-1]) if row[-1] else None) for row in rows]

    def queues(self, listener_id: str | None = None) -> list[QueueRecord]:
        """Logged queues (all listeners' if ``listener_id`` is None) with their picks, oldest first."""
        where, params = ("WHERE listener_id = %s", (listener_id,)) if listener_id is not None else ("", ())
        with self._connection() as conn, conn.transaction():
            # One snapshot for both reads, so a queue is never read without its picks.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            heads = conn.execute(
                "SELECT session_id, queue_index, listener_id, at_s, challenger FROM queues "
                f'{where} ORDER BY at_s, session_id COLLATE "C", queue_index',
                params,
            ).fetchall()
            picks = conn.execute(
                "SELECT session_id, queue_index, track_id, team, rank FROM interleavings "
                f"{where} ORDER BY session_id, queue_index, position",
                params,
            ).fetchall()
        return queue_records(heads, picks)

    def listener_rows(self) -> list[ListenerRow]:
        """Every listener with their number of events, first and last seen and private flag, by id."""
        rows = self._query(
            "SELECT l.listener_id, (SELECT count(*) FROM events AS e WHERE e.listener_id = l.listener_id), "
            'l.first_seen_s, l.last_seen_s, l.private FROM listeners AS l ORDER BY l.listener_id COLLATE "C"'
        )
        return [ListenerRow(r[0], int(r[1]), float(r[2]), float(r[3]), bool(r[4])) for r in rows]

    def private_listeners(self) -> set[str]:
        """The ids of the listeners marked private."""
        return {r[0] for r in self._query("SELECT listener_id FROM listeners WHERE private")}

    def count(self) -> int:
        """Number of events."""
        return int(self._query("SELECT count(*) FROM events")[0][0])

    def baseline(self, listener_id: str) -> dict[str, Any] | None:
        """The listener's stored speaker baseline, or None."""
        rows = self._query("SELECT data FROM baselines WHERE listener_id = %s", (listener_id,))
        return json.loads(rows[0][0]) if rows else None


def _erased(conn: psycopg.Connection[Any], session_ids: Iterable[str]) -> set[str]:
    """Those of ``session_ids`` whose listener was erased while they were open."""
    by_hash = {session_hash(i): i for i in session_ids}
    rows = conn.execute(
        "SELECT session_hash FROM erased_sessions WHERE session_hash = ANY(%s)", (list(by_hash),)
    ).fetchall()
    return {by_hash[r[0]] for r in rows}


def _write(conn: psycopg.Connection[Any], items: Sequence[LogItem]) -> None:
    """Write ``items`` in the open transaction, as SQLite's log writes them one by one.

    Listener rows first, one upsert per listener in id order (first seen: the first item's time;
    last seen: the latest), so concurrent batches lock them in one order and cannot deadlock; then
    every statement in order. In the caller's pipeline, nothing here waits for an answer.
    """
    seen: dict[str, tuple[float, float]] = {}
    for item in items:
        head = item if isinstance(item, QueueRecord) else item[0]
        listener_id, at_s = head.listener_id, head.at_s
        first, last = seen.get(listener_id, (float(at_s), float(at_s)))
        seen[listener_id] = (first, max(last, float(at_s)))
    with conn.cursor() as cur:
        cur.executemany(_UPSERT_LISTENER, [(lid, first, last) for lid, (first, last) in sorted(seen.items())])
        for item in items:
            if isinstance(item, QueueRecord):
                _insert_queue(cur, item)
                continue
            event, evidence = item
            if event.kind == "session_start":
                cur.execute(
                    "INSERT INTO sessions (session_id, listener_id, started_s, local_time, device) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (session_id) DO NOTHING",
                    (event.session_id, event.listener_id, event.at_s, event.local_time, event.device),
                )
            elif event.kind == "session_end":
                cur.execute(
                    "UPDATE sessions SET ended_s = %s WHERE session_id = %s", (event.at_s, event.session_id)
                )
            cur.execute(_INSERT_EVENT, event_values(event, evidence))


def _insert_queue(cur: psycopg.Cursor[Any], queue: QueueRecord) -> None:
    cur.execute(
        "INSERT INTO queues (session_id, queue_index, listener_id, at_s, challenger) VALUES (%s, %s, %s, %s, %s)",
        (queue.session_id, int(queue.queue_index), queue.listener_id, float(queue.at_s), queue.challenger),
    )
    if queue.picks:
        cur.executemany(
            "INSERT INTO interleavings (session_id, queue_index, listener_id, position, track_id, team, rank) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            interleaving_rows(queue),
        )
