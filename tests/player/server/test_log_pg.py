"""What only the PostgreSQL log store has: its versioned migrations, its errors, choosing it by URL.

Everything both stores do is tested on both in test_log.py and test_log_interleaving.py (the
``log_backend`` fixture); these run against the same real PostgreSQL server (tests/conftest.py).
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from player.cli import main
from player.core.records import LogEvent
from player.errors import StoreError
from player.server.log import SCHEMA_VERSION, InteractionLog
from player.server.log_pg import PgInteractionLog
from player.server.logstore import LogBackendMissingError, display_location, log_present, open_log_at
from player.settings import Settings

pytestmark = pytest.mark.integration  # a real PostgreSQL server


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql.encode()).fetchall()


def test_a_new_database_gets_the_schema_and_its_version_once(postgres_url: str) -> None:
    """Opening an empty database creates the log's tables and views and records schema version 4 in
    ``schema_version``; opening it again applies nothing and keeps every row."""
    with PgInteractionLog(postgres_url) as log:
        log.record(LogEvent("session_start", "ann", "s1", 1.0))
    tables = {
        r[0]
        for r in _query(
            postgres_url,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        )
    }
    assert tables >= {
        "schema_version", "erased_sessions", "listeners", "sessions", "events", "baselines", "queues",
        "interleavings", "plays", "skips", "likes", "moods",
    }  # fmt: skip
    with PgInteractionLog(postgres_url) as log:
        assert [e.listener_id for e in log.events()] == ["ann"]
    assert [r[0] for r in _query(postgres_url, "SELECT version FROM schema_version")] == [SCHEMA_VERSION]


def test_servers_opening_a_new_database_together_do_not_race(postgres_url: str) -> None:
    """Six processes' worth of opens at once on an empty database: every one succeeds and the schema
    is applied once (the migration runs under an advisory lock)."""
    errors: list[BaseException] = []
    opened: list[PgInteractionLog] = []
    start = threading.Barrier(6)

    def open_it() -> None:
        try:
            start.wait(timeout=30)
            opened.append(PgInteractionLog(postgres_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for log in opened:
        log.close()
    assert errors == [] and len(opened) == 6
    assert _query(postgres_url, "SELECT count(*) FROM schema_version") == [(1,)]


def test_a_log_newer_than_this_cadence_is_refused(postgres_url: str) -> None:
    """A shared log already migrated by a newer Cadence is not written to: a coded error says to upgrade."""
    PgInteractionLog(postgres_url).close()
    _query(postgres_url, f"INSERT INTO schema_version VALUES ({SCHEMA_VERSION + 1}, 0) RETURNING version")
    with pytest.raises(StoreError) as refused:
        PgInteractionLog(postgres_url)
    assert refused.value.code == "log_schema_newer" and "upgrade Cadence" in refused.value.message


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    """A URL where no PostgreSQL listens: `database` error naming the URL, its password masked."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://cadence:s3cret-pw@127.0.0.1:{port}/log"
    with pytest.raises(StoreError) as failed:
        open_log_at(url)
    assert failed.value.code == "database"
    assert (
        "s3cret-pw" not in failed.value.message
        and f"cadence:***@127.0.0.1:{port}/log" in failed.value.message
    )


def test_the_cli_says_so_when_the_log_cannot_be_reached(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`cadence listeners --log URL` with nothing listening exits 2 with `error [database]`, no traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["listeners", "--home", str(tmp_path), "--log", f"postgresql://u:pw@127.0.0.1:{port}/x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error [database]: cannot open the interaction log") and ":pw@" not in err


def test_a_postgresql_url_without_the_extra_is_a_coded_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without psycopg installed, a postgresql:// log is refused with `log_backend_missing` and the
    pip line that installs the extra."""
    monkeypatch.setitem(sys.modules, "psycopg_pool", None)  # what an install without the extra has
    with pytest.raises(LogBackendMissingError) as missing:
        open_log_at("postgresql://u:pw@127.0.0.1:1/x")
    assert missing.value.code == "log_backend_missing"
    assert '".[postgres]"' in missing.value.message and "psycopg_pool" in missing.value.message
    assert ":pw@" not in missing.value.message


def test_the_location_picks_the_store(postgres_url: str, tmp_path: Path) -> None:
    """A postgresql:// URL opens PostgreSQL, a path SQLite; Settings carries either; passwords are masked."""
    with open_log_at(postgres_url) as pg, open_log_at(tmp_path / "log.db") as lite:
        assert isinstance(pg, PgInteractionLog) and isinstance(lite, InteractionLog)
        assert pg.location == postgres_url
    assert Settings(home=tmp_path).log_location == tmp_path / "log.db"
    assert Settings(home=tmp_path, log_url=postgres_url).log_location == postgres_url
    with pytest.raises(ValueError, match="postgresql://"):
        Settings(home=tmp_path, log_url="mysql://x/y")
    assert log_present(postgres_url) and not log_present(tmp_path / "nothing.db")
    assert display_location("postgresql://me:pw@[::1]:5432/log?sslmode=require") == (
        "postgresql://me:***@[::1]:5432/log?sslmode=require"
    )
    assert display_location("postgresql://me@db/log") == "postgresql://me@db/log"


def test_a_lost_connection_is_a_store_error_and_the_next_call_reconnects(postgres_url: str) -> None:
    """PostgreSQL closing the log's connections (a restart, a failover): the next call fails with a
    `database` StoreError, nothing half-written stays, and the call after it works on a new connection."""
    with PgInteractionLog(postgres_url) as log:
        log.record(LogEvent("session_start", "ann", "s1", 1.0))
        killed = _query(
            postgres_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'cadence' AND datname = current_database()",
        )
        assert killed and all(row[0] for row in killed)
        with pytest.raises(StoreError) as lost:
            log.record(LogEvent("started", "ann", "s1", 2.0, track_id="t1", position_s=0.0))
        assert lost.value.code == "database"
        log.record(LogEvent("started", "ann", "s1", 3.0, track_id="t1", position_s=0.0))
        assert [e.at_s for e in log.events("ann")] == [1.0, 3.0]


def test_a_transaction_postgresql_aborts_as_a_deadlock_is_retried(postgres_url: str) -> None:
    """Two servers' transactions lock two rows in opposite orders: PostgreSQL aborts one of them as a
    deadlock, and the store runs that one again, so both complete and each commits exactly once."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE deadlock_probe (id int PRIMARY KEY, n int NOT NULL)")
        conn.execute("INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)")
    both_hold_one = threading.Barrier(2, timeout=30)
    attempts = {"a": 0, "b": 0}
    errors: list[BaseException] = []

    def transfer(name: str, first: int, second: int) -> Any:
        def work(conn: psycopg.Connection[Any]) -> None:
            attempts[name] += 1
            with conn.transaction():
                conn.execute("UPDATE deadlock_probe SET n = n + 1 WHERE id = %s", (first,))
                if attempts[name] == 1:
                    both_hold_one.wait()
                conn.execute("UPDATE deadlock_probe SET n = n + 1 WHERE id = %s", (second,))

        return work

    def run(log: PgInteractionLog, name: str, first: int, second: int) -> None:
        try:
            log._retrying(transfer(name, first, second))
        except BaseException as exc:  # reported below, by the test's thread
            errors.append(exc)

    with PgInteractionLog(postgres_url) as a, PgInteractionLog(postgres_url) as b:
        threads = [
            threading.Thread(target=run, args=(a, "a", 1, 2)),
            threading.Thread(target=run, args=(b, "b", 2, 1)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors
    assert sorted(attempts.values()) == [1, 2]  # one was the deadlock's victim and ran again
    assert _query(postgres_url, "SELECT id, n FROM deadlock_probe ORDER BY id") == [(1, 2), (2, 2)]
