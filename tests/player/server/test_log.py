"""The interaction log: what is stored, what is not, durability and forgetting.

Tests that take ``log_backend`` run on both stores, SQLite and a real PostgreSQL server
(tests/conftest.py); the others are about SQLite's file (WAL checkpoints, its migrations).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from player.cli import main
from player.core.records import LogEvent
from player.server.log import InteractionLog, numbers_only
from tests.support.postgres import LogBackend


def _mood(listener: str, session: str, at_s: float, transcript: str | None = None) -> LogEvent:
    return LogEvent(
        "mood",
        listener,
        session,
        at_s,
        valence=0.3,
        energy=0.2,
        confidence=0.9,
        intents=("calmer",),
        transcript=transcript,
    )


def test_events_round_trip_in_time_order(log_backend: LogBackend) -> None:
    """Recorded events come back per listener, oldest first, with all their fields."""
    with log_backend.open() as log:
        log.record(
            LogEvent("session_start", "ann", "s1", 10.0, local_time="2026-05-01T07:30:00+02:00", device="car")
        )
        log.record(LogEvent("skipped", "ann", "s1", 12.0, track_id="t1", position_s=4.5))
        log.record(_mood("ann", "s1", 11.0))
        log.record(LogEvent("started", "bob", "s2", 11.5, track_id="t2", position_s=0.0))
        events = log.events("ann")
        assert [e.kind for e in events] == ["session_start", "mood", "skipped"]
        assert events[0].local_time == "2026-05-01T07:30:00+02:00" and events[0].device == "car"
        assert events[1].intents == ("calmer",) and events[1].energy == 0.2
        assert events[2].position_s == 4.5 and events[2].track_id == "t1"
        assert log.listeners() == ["ann", "bob"] and len(log.events()) == 4
        assert log_backend.query("SELECT track_id, position_s FROM skips") == [("t1", 4.5)]
        assert log_backend.query("SELECT listener_id, device FROM sessions") == [("ann", "car")]


def test_recent_history_is_cut_at_the_nth_newest_playback_event_in_sql(log_backend: LogBackend) -> None:
    """`playback_limit` counts playback events only, and the history starts at the session start before
    the cut (so a replay has its session), or at the cut itself if no session start precedes it."""
    with log_backend.open() as log:
        log.record_many(
            [
                (event, None)
                for event in (
                    LogEvent("started", "ann", "s0", 0.5, track_id="t0", position_s=0.0),
                    LogEvent("session_start", "ann", "s1", 1.0),
                    LogEvent("started", "ann", "s1", 2.0, track_id="t1", position_s=0.0),
                    _mood("ann", "s1", 3.0),
                    LogEvent("completed", "ann", "s1", 4.0, track_id="t1", position_s=180.0),
                    LogEvent("started", "bob", "s9", 4.5, track_id="t9", position_s=0.0),
                    LogEvent("session_end", "ann", "s1", 5.0),
                    LogEvent("session_start", "ann", "s2", 10.0),
                    LogEvent("started", "ann", "s2", 11.0, track_id="t2", position_s=0.0),
                    _mood("ann", "s2", 12.0),
                    LogEvent("skipped", "ann", "s2", 13.0, track_id="t2", position_s=5.0),
                    LogEvent("liked", "ann", "s2", 13.0, track_id="t2", position_s=5.0),
                )
            ]
        )

        def recent(limit: int) -> list[tuple[str, float]]:
            return [(e.kind, e.at_s) for e in log.events("ann", playback_limit=limit)]

        everything = [(e.kind, e.at_s) for e in log.events("ann")]
        assert recent(1) == recent(3) == everything[6:]  # the newest plays are all in session s2
        assert recent(1)[0] == ("session_start", 10.0) and len(recent(1)) == 5
        assert recent(4) == recent(5) == everything[1:]  # plays 4 and 5 are in s1: from s1's start on
        assert recent(6) == recent(50) == everything  # the 6th-newest has no session start before it
        with pytest.raises(ValueError):
            log.events(playback_limit=3)
        with pytest.raises(ValueError):
            log.events("ann", playback_limit=0)


def test_evidence_is_reduced_to_numbers(log_backend: LogBackend) -> None:
    """Evidence keeps numbers and drops any text, so no words reach the log through it."""
    evidence = {
        "text": {"compound": -0.4, "words": ["exhausted"], "note": "ugh"},
        "prosody": {"f0_hz": 180.0},
    }
    with log_backend.open() as log:
        log.record(_mood("ann", "s1", 1.0), evidence)
        [(_, stored)] = log.events_with_evidence("ann")
    assert stored == {"text": {"compound": -0.4}, "prosody": {"f0_hz": 180.0}}
    assert numbers_only({"a": "x", "b": [float("nan"), 1]}) == {"b": [1.0]}


def test_a_failed_batch_writes_nothing(log_backend: LogBackend) -> None:
    """record_many is one transaction: an invalid event in it leaves the log unchanged."""
    with log_backend.open() as log:
        bad = LogEvent("exploded", "ann", "s1", 1.0)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="unknown log event kind"):
            log.record_many([(_mood("ann", "s1", 1.0), None), (bad, None)])
        assert log.count() == 0


def _stored_bytes(backend: LogBackend) -> bytes:
    """Everything the store keeps of the events: the SQLite files, or every page of PostgreSQL's
    ``events`` table read raw (pageinspect), dead rows and free space included."""
    if backend.url is None:
        return b"".join(p.read_bytes() for p in backend.home.iterdir() if p.name.startswith("log.db"))
    backend.query("CREATE EXTENSION IF NOT EXISTS pageinspect")
    pages = backend.query(
        "SELECT get_raw_page('events', n::int) FROM generate_series(0, "
        "pg_relation_size('events') / current_setting('block_size')::int - 1) AS n"
    )
    return b"".join(bytes(page) for (page,) in pages)  # type: ignore[call-overload]


def test_forget_erases_the_listener_from_the_files(log_backend: LogBackend) -> None:
    """`forget` deletes every row of a listener and leaves no trace of its transcript in the files
    (PostgreSQL: in the table's pages, which VACUUM prunes and compacts)."""
    secret = "my-very-private-sentence-4711"
    with log_backend.open() as log:
        log.record(LogEvent("session_start", "ann", "s1", 1.0))
        log.record(_mood("ann", "s1", 2.0, transcript=secret))
        log.record(LogEvent("liked", "ann", "s1", 3.0, track_id="t1", position_s=9.0))
        log.record(_mood("bob", "s2", 2.5))
        assert secret.encode() in _stored_bytes(log_backend)
        assert log.forget("ann") == 5  # 3 events, 1 session, 1 listener row
        assert log.listeners() == ["bob"] and [e.listener_id for e in log.events()] == ["bob"]
    assert secret.encode() not in _stored_bytes(log_backend)
    assert log_backend.query("SELECT count(*) FROM events WHERE listener_id = 'ann'") == [(0,)]


def test_cadence_forget_command(log_backend: LogBackend, capsys: pytest.CaptureFixture[str]) -> None:
    """`cadence forget --listener ID` (with ``--log URL`` on PostgreSQL) erases the listener and says how much."""
    with log_backend.open() as log:
        log.record(LogEvent("session_start", "ann", "s1", 1.0))
        log.record(LogEvent("session_start", "bob", "s2", 1.0))
    assert main(["forget", *log_backend.args, "--listener", "ann"]) == 0
    assert "3 rows erased" in capsys.readouterr().out
    with log_backend.open() as log:
        assert [e.listener_id for e in log.events()] == ["bob"]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("log_backend", "synchronous"),
    [("sqlite", "normal"), ("sqlite", "full"), ("postgresql", "normal")],  # synchronous is SQLite's
    indirect=["log_backend"],
)
def test_every_acknowledged_event_survives_kill_9(log_backend: LogBackend, synchronous: str) -> None:
    """SIGKILL of a process writing single events and batches while another thread checkpoints (as the
    server does): each event whose record()/record_many() returned is in the log exactly once, intact,
    and each batch is there whole or not at all."""
    location = str(log_backend.location)
    script = textwrap.dedent(
        f"""
        import threading, time
        from player.core.records import LogEvent
        from player.server.logstore import open_log_at

        def event(i):
            return LogEvent("started", "ann", "s1", float(i), track_id=f"t{{i}}", position_s=i / 8)

        log = open_log_at({location!r}, synchronous={synchronous!r}, autocheckpoint=False)

        def checkpoints():
            while True:
                log.checkpoint()
                time.sleep(0.005)

        threading.Thread(target=checkpoints, daemon=True).start()
        i = 0
        while True:
            if i % 4 == 3:
                log.record(event(i))
                done = [i]
            else:
                log.record_many([(event(j), None) for j in range(i, i + 3)])
                done = [i, i + 1, i + 2]
            print(*done, flush=True)  # acknowledged: the call returned
            i = done[-1] + 1
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[3]
    )
    assert proc.stdout is not None
    acked: list[int] = []
    while len(acked) < 300:
        line = proc.stdout.readline()
        assert line, f"the writer exited with {proc.wait()} before 300 events"
        acked += [int(i) for i in line.split()]
    proc.kill()
    proc.wait()
    # Lines printed before the kill and still in the pipe were acknowledged too.
    acked += [
        int(i)
        for line in proc.stdout.read().splitlines(keepends=True)
        if line.endswith("\n")
        for i in line.split()
    ]
    assert proc.returncode == -9
    if log_backend.url is None:
        assert log_backend.query("PRAGMA integrity_check") == [("ok",)]
    with log_backend.open() as log:
        stored = Counter((e.track_id, e.at_s, e.position_s) for e in log.events("ann"))
    assert [i for i in acked if stored[(f"t{i}", float(i), i / 8)] != 1] == []
    ids = {int(track_id[1:]) for track_id, _, _ in stored}
    batches = [range(b, b + 3) for b in range(0, max(ids) + 1, 4)]
    assert [list(b) for b in batches if len(ids.intersection(b)) not in (0, 3)] == []
    assert sum(stored.values()) == len(ids)


def test_speaker_baselines_are_kept_per_listener_and_forgotten(log_backend: LogBackend) -> None:
    """A listener's speaker baseline is stored as numbers, replaced on save, and erased by forget."""
    with log_backend.open() as log:
        assert log.baseline("ann") is None
        log.save_baseline("ann", {"version": 1, "speech_s": 2.0, "note": "dropped"}, at_s=1.0)
        log.save_baseline("ann", {"version": 1, "speech_s": 5.5}, at_s=2.0)
        log.record(LogEvent("session_start", "ann", "s1", 1.0))
        assert log.baseline("ann") == {"version": 1.0, "speech_s": 5.5}
        assert log.forget("ann") == 4  # event, session, baseline, listener
        assert log.baseline("ann") is None


def test_checkpoints_can_be_left_to_the_owner(tmp_path: Path) -> None:
    """With autocheckpoint off the WAL grows until checkpoint() copies it into the database file."""
    path = tmp_path / "log.db"
    with InteractionLog(path, synchronous="normal", autocheckpoint=False) as log:
        before = path.stat().st_size
        log.record_many(
            [
                (LogEvent("started", "ann", "s1", float(i), track_id=f"t{i}", position_s=0.0), None)
                for i in range(3000)
            ]
        )
        assert path.stat().st_size == before  # everything is still in the WAL
        log.checkpoint()
        assert path.stat().st_size > before
        assert log.count() == 3000


def test_mood_rows_keep_per_axis_confidences_and_intent_strengths(log_backend: LogBackend) -> None:
    """A mood row comes back with each axis's confidence and each intent's strength, so a replay
    moves the listener exactly as the live estimate did."""
    event = LogEvent(
        "mood",
        "ann",
        "s1",
        5.0,
        valence=0.2,
        energy=0.5,
        confidence=0.45,
        valence_confidence=0.9,
        energy_confidence=0.0,
        intents=("calmer", "skip"),
        intent_strengths=(0.6, 1.0),
    )
    with log_backend.open() as log:
        log.record(event)
        assert log.events("ann") == [event]


_VERSION_1_EVENTS = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, listener_id TEXT NOT NULL,
    session_id TEXT NOT NULL, at_s REAL NOT NULL, local_time TEXT, device TEXT, track_id TEXT,
    position_s REAL, valence REAL, energy REAL, confidence REAL, intents TEXT NOT NULL DEFAULT '[]',
    transcript TEXT, evidence TEXT
);
INSERT INTO events (kind, listener_id, session_id, at_s, valence, energy, confidence, intents)
VALUES ('mood', 'ann', 's1', 3.0, 0.3, 0.2, 0.8, '["calmer"]');
"""


def test_a_version_1_log_is_migrated_in_place_and_keeps_its_rows(tmp_path: Path) -> None:
    """Opening a log written before per-axis confidences adds the columns, keeps every row (read with
    no per-axis confidence and default strengths) and stamps the current schema version (4)."""
    path = tmp_path / "log.db"
    old = sqlite3.connect(path)
    old.executescript(_VERSION_1_EVENTS)
    old.close()
    with InteractionLog(path) as log:
        (event,) = log.events("ann")
        assert event.intents == ("calmer",) and event.confidence == 0.8
        assert event.valence_confidence is None and event.intent_strengths == ()
        log.record(_mood("ann", "s1", 4.0))
        assert len(log.events("ann")) == 2
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("4",)
    # Opening it again changes nothing.
    with InteractionLog(path) as log:
        assert len(log.events("ann")) == 2


def test_a_session_open_during_forget_cannot_write_back_through_another_handle(
    log_backend: LogBackend,
) -> None:
    """Two handles on one log (two servers, or a server and `cadence forget`): after one forgets a
    listener, the other's writes from that listener's open sessions are refused (events, queues,
    baselines), the other's erasure watcher sees the sessions, and a new session of theirs is stored."""
    from player.core.interleave import QueueRecord
    from player.errors import ListenerErasedError
    from player.server.log import session_hash

    with log_backend.open() as server, log_backend.open() as other:
        server.record(LogEvent("session_start", "ann", "s1", 1.0))
        server.record(LogEvent("session_start", "bob", "s2", 1.0))
        _, mark = server.erased_since(0)
        assert other.forget("ann") == 3  # an event, a session, the listener row
        refused = server.record_many(
            [
                (LogEvent("started", "ann", "s1", 2.0, track_id="t1", position_s=0.0), None),
                QueueRecord("s1", 0, "ann", 2.0, challenger=None),
                (LogEvent("started", "bob", "s2", 2.0, track_id="t1", position_s=0.0), None),
            ]
        )
        assert refused == {"s1"}
        with pytest.raises(ListenerErasedError):
            server.save_baseline("ann", {"speech_s": 1.0}, at_s=3.0, session_id="s1")
        erased, later = server.erased_since(mark)
        assert erased == [session_hash("s1")] and later > mark
        assert server.erased_since(later) == ([], later)
        assert other.events("ann") == [] and other.queues("ann") == [] and other.baseline("ann") is None
        assert [e.kind for e in other.events("bob")] == ["session_start", "started"]
        server.record(LogEvent("session_start", "ann", "s3", 4.0))
        assert [e.session_id for e in other.events("ann")] == ["s3"]


def test_concurrent_writers_and_a_forget_lose_nothing_and_write_nothing_back(log_backend: LogBackend) -> None:
    """Four writer threads on two handles commit batches that touch the same listeners in different
    orders while a third handle forgets one of them: no write fails (no deadlock), every batch of the
    others is stored whole, and nothing of the erased listener's sessions is left."""
    import random
    import threading

    listeners = ["ann", "bob", "cid", "dee", "eve"]
    failures: list[BaseException] = []
    written: list[list[tuple[str, str, float]]] = [[] for _ in range(4)]
    halfway = threading.Barrier(5)
    forgotten = threading.Event()

    def writer(index: int, log: object) -> None:
        rng = random.Random(index)
        try:
            for n in range(40):
                if n == 20:
                    halfway.wait(timeout=60)  # batches 20-29 race the forget
                if n == 30:
                    forgotten.wait(timeout=60)  # batches 30-39 come after it
                order = rng.sample(listeners, len(listeners))
                batch = [
                    (
                        LogEvent(
                            "started", lid, f"s-{lid}-{index}", float(n), track_id=f"t{n}", position_s=0.0
                        ),
                        None,
                    )
                    for lid in order
                ]
                refused = log.record_many(batch)  # type: ignore[attr-defined]
                written[index] += [
                    (e.listener_id, e.session_id, e.at_s) for e, _ in batch if e.session_id not in refused
                ]
        except BaseException as exc:
            failures.append(exc)

    with log_backend.open() as one, log_backend.open() as two, log_backend.open() as admin:
        threads = [threading.Thread(target=writer, args=(i, one if i % 2 else two)) for i in range(4)]
        for thread in threads:
            thread.start()
        halfway.wait(timeout=60)
        admin.forget("cid")
        forgotten.set()
        for thread in threads:
            thread.join(timeout=120)
        assert failures == []
        stored = Counter((e.listener_id, e.session_id, e.at_s) for e in admin.events())
    assert stored == Counter(key for keys in written for key in keys if key[0] != "cid")
    assert not [key for key in stored if key[0] == "cid"]
    # cid's sessions were written before the forget and refused after it
    assert 0 < sum(1 for keys in written for key in keys if key[0] == "cid") < 4 * 40
    # the others' batches are all there: 4 writers x 40 batches x 4 listeners
    assert sum(1 for key in stored if key[0] != "cid") == 4 * 40 * 4


def test_private_flags_and_listener_rows_through_the_cli(
    log_backend: LogBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cadence listeners --private ID` (with --log on PostgreSQL) marks a listener private in the store,
    `--json` lists every listener with their events, and an unknown id is `unknown_listener`."""
    import json

    with log_backend.open() as log:
        log.record(LogEvent("completed", "ann", "s1", 1.0, track_id="t1", position_s=60.0))
        log.record(LogEvent("completed", "ann", "s1", 2.0, track_id="t2", position_s=60.0))
        log.record(LogEvent("completed", "bob", "s2", 3.0, track_id="t1", position_s=60.0))
    assert main(["listeners", *log_backend.args, "--private", "ann"]) == 0
    assert "ann is private" in capsys.readouterr().out
    assert main(["listeners", *log_backend.args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [
        (r["listener_id"], r["events"], r["first_seen_s"], r["last_seen_s"], r["private"]) for r in rows
    ] == [
        ("ann", 2, 1.0, 2.0, True),
        ("bob", 1, 3.0, 3.0, False),
    ]
    with log_backend.open() as log:
        assert log.private_listeners() == {"ann"}
        log.record(LogEvent("completed", "ann", "s3", 4.0, track_id="t3", position_s=60.0))
        assert log.private_listeners() == {"ann"} and log.set_private("ann", False)
        assert log.private_listeners() == set()
    assert main(["listeners", *log_backend.args, "--private", "carol"]) == 2
    assert "error [unknown_listener]" in capsys.readouterr().err
