"""The interaction log's interleaving tables: round trip, one transaction with events, migration, forget.

Tests that take ``log_backend`` run on SQLite and on a real PostgreSQL server; the migration test
is SQLite's (PostgreSQL's are in test_log_pg.py).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from player.core.interleave import InterleavedPick, QueueRecord
from player.core.records import LogEvent
from player.core.track import TrackId
from player.server.log import InteractionLog
from tests.support.postgres import LogBackend


def _interleaved(
    listener: str, session: str, index: int, at_s: float, challenger: str = "heuristic"
) -> QueueRecord:
    picks = (
        InterleavedPick(TrackId(f"{session}-{index}-x"), "b", 0),
        InterleavedPick(TrackId(f"{session}-{index}-y"), "a", 0),
        InterleavedPick(TrackId(f"{session}-{index}-z"), "a", 2),
    )
    return QueueRecord(session, index, listener, at_s, challenger=challenger, picks=picks)


def _skip(listener: str, session: str, at_s: float) -> LogEvent:
    return LogEvent(
        kind="skipped", listener_id=listener, session_id=session, at_s=at_s, track_id="t", position_s=3.0
    )


def test_queues_round_trip_with_their_picks_in_order(log_backend: LogBackend) -> None:
    """Interleaved and plain queues come back as written, oldest first, per listener or all."""
    written = [
        _interleaved("ann", "s1", 0, 10.0),
        QueueRecord("s1", 1, "ann", 20.0, challenger=None),
        _interleaved("bob", "s2", 0, 15.0, challenger="retrained:0123456789ab"),
        _interleaved("ann", "s1", 2, 30.0),
    ]
    with log_backend.open() as log:
        for queue in written:
            log.record_queue(queue)
        assert log.queues("ann") == [written[0], written[1], written[3]]
        assert log.queues("bob") == [written[2]]
        assert log.queues() == sorted(written, key=lambda q: q.at_s)
        assert log.listeners() == ["ann", "bob"]
    # Only numbers and ids are stored.
    if log_backend.url is None:
        typed = log_backend.query("SELECT typeof(at_s), typeof(queue_index) FROM queues LIMIT 1")
        assert typed == [("real", "integer")]
    else:
        typed = log_backend.query(
            "SELECT pg_typeof(at_s)::text, pg_typeof(queue_index)::text FROM queues LIMIT 1"
        )
        assert typed == [("double precision", "integer")]
    assert log_backend.query("SELECT count(*) FROM interleavings") == [(9,)]


def test_events_and_queues_share_one_transaction(log_backend: LogBackend) -> None:
    """record_many writes events and queues together; an invalid pick leaves the log unchanged."""
    with log_backend.open() as log:
        log.record_many([(_skip("ann", "s1", 9.0), None), _interleaved("ann", "s1", 0, 10.0)])
        assert log.count() == 1 and len(log.queues("ann")) == 1
        bad = QueueRecord(
            "s1",
            1,
            "ann",
            11.0,
            challenger="heuristic",
            picks=(InterleavedPick(TrackId("q"), "c", 0),),  # type: ignore[arg-type]
        )
        with pytest.raises(log_backend.integrity_error):
            log.record_many([(_skip("ann", "s1", 10.5), None), bad])
        assert log.count() == 1 and len(log.queues("ann")) == 1
        with pytest.raises(log_backend.integrity_error):
            log.record_queue(_interleaved("ann", "s1", 0, 12.0))  # the same queue twice


def test_a_version_2_log_gets_the_interleaving_tables_and_keeps_its_rows(tmp_path: Path) -> None:
    """Opening a version 2 log (no queue tables) creates them, keeps every event and stamps version 3."""
    path = tmp_path / "log.db"
    with InteractionLog(path) as log:
        log.record(_skip("ann", "s1", 5.0))
    # Make it what a version 2 log is: the same tables but the two new ones, stamped 2.
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE interleavings; DROP TABLE queues; UPDATE meta SET value = '2' WHERE key = 'schema_version';"
    )
    db.close()
    with InteractionLog(path) as log:
        assert log.events("ann") == [_skip("ann", "s1", 5.0)]
        assert log.queues() == []
        log.record_queue(_interleaved("ann", "s1", 0, 10.0))
        assert len(log.queues("ann")) == 1
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("4",)


def test_forget_erases_the_listeners_queues_and_picks(log_backend: LogBackend) -> None:
    """`forget` deletes a listener's queue and pick rows (counted), leaves others', and no id lingers in
    the files (SQLite) or the tables (PostgreSQL)."""
    with log_backend.open() as log:
        log.record_many(
            [
                (_skip("ann", "s-ann", 1.0), None),
                _interleaved("ann", "s-ann", 0, 2.0),
                QueueRecord("s-ann", 1, "ann", 3.0, challenger=None),
                _interleaved("bob", "s-bob", 0, 2.5),
            ]
        )
        erased = log.forget("ann")
        # 1 event + 2 queues + 3 picks + the listener row
        assert erased == 7
        assert log.queues("ann") == [] and len(log.queues("bob")) == 1
    if log_backend.url is None:
        blob = b"".join(p.read_bytes() for p in log_backend.home.iterdir() if p.name.startswith("log.db"))
        assert b"s-ann" not in blob and b"s-bob" in blob
    for table in ("events", "sessions", "queues", "interleavings"):
        assert log_backend.query(f"SELECT count(*) FROM {table} WHERE session_id = 's-ann'") == [(0,)]
    assert log_backend.query("SELECT count(*) FROM interleavings WHERE session_id = 's-bob'") == [(3,)]
