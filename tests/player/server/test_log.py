"""The interaction log: what is stored, what is not, durability and forgetting."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from player.cli import main
from player.core.records import LogEvent
from player.server.log import InteractionLog, numbers_only


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


def test_events_round_trip_in_time_order(tmp_path: Path) -> None:
    """Recorded events come back per listener, oldest first, with all their fields."""
    with InteractionLog(tmp_path / "log.db") as log:
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
        db = sqlite3.connect(tmp_path / "log.db")
        assert db.execute("SELECT track_id, position_s FROM skips").fetchall() == [("t1", 4.5)]
        assert db.execute("SELECT listener_id, device FROM sessions").fetchall() == [("ann", "car")]


def test_evidence_is_reduced_to_numbers(tmp_path: Path) -> None:
    """Evidence keeps numbers and drops any text, so no words reach the log through it."""
    evidence = {
        "text": {"compound": -0.4, "words": ["exhausted"], "note": "ugh"},
        "prosody": {"f0_hz": 180.0},
    }
    with InteractionLog(tmp_path / "log.db") as log:
        log.record(_mood("ann", "s1", 1.0), evidence)
        [(_, stored)] = log.events_with_evidence("ann")
    assert stored == {"text": {"compound": -0.4}, "prosody": {"f0_hz": 180.0}}
    assert numbers_only({"a": "x", "b": [float("nan"), 1]}) == {"b": [1.0]}


def test_a_failed_batch_writes_nothing(tmp_path: Path) -> None:
    """record_many is one transaction: an invalid event in it leaves the log unchanged."""
    with InteractionLog(tmp_path / "log.db") as log:
        bad = LogEvent("exploded", "ann", "s1", 1.0)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="unknown log event kind"):
            log.record_many([(_mood("ann", "s1", 1.0), None), (bad, None)])
        assert log.count() == 0


def test_forget_erases_the_listener_from_the_files(tmp_path: Path) -> None:
    """`forget` deletes every row of a listener and leaves no trace of its transcript in the files."""
    path = tmp_path / "log.db"
    secret = "my-very-private-sentence-4711"
    with InteractionLog(path) as log:
        log.record(LogEvent("session_start", "ann", "s1", 1.0))
        log.record(_mood("ann", "s1", 2.0, transcript=secret))
        log.record(LogEvent("liked", "ann", "s1", 3.0, track_id="t1", position_s=9.0))
        log.record(_mood("bob", "s2", 2.5))
        assert secret.encode() in b"".join(p.read_bytes() for p in tmp_path.iterdir())
        assert log.forget("ann") == 5  # 3 events, 1 session, 1 listener row
        assert log.listeners() == ["bob"] and [e.listener_id for e in log.events()] == ["bob"]
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert secret.encode() not in on_disk


def test_cadence_forget_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cadence forget --listener ID` erases the listener and says how much."""
    with InteractionLog(tmp_path / "log.db") as log:
        log.record(LogEvent("session_start", "ann", "s1", 1.0))
    assert main(["forget", "--home", str(tmp_path), "--listener", "ann"]) == 0
    assert "3 rows erased" in capsys.readouterr().out
    with InteractionLog(tmp_path / "log.db") as log:
        assert log.events() == []


@pytest.mark.slow
def test_recorded_events_survive_kill_9(tmp_path: Path) -> None:
    """Every event whose record() returned is in the log after the writing process is SIGKILLed."""
    path = tmp_path / "log.db"
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from player.core.records import LogEvent
        from player.server.log import InteractionLog
        log = InteractionLog(Path({str(path)!r}))
        i = 0
        while True:
            log.record(LogEvent("started", "ann", "s1", float(i), track_id=f"t{{i}}", position_s=0.0))
            print(i, flush=True)
            i += 1
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[3]
    )
    assert proc.stdout is not None
    acked = [int(proc.stdout.readline()) for _ in range(200)]
    proc.kill()
    proc.wait()
    with InteractionLog(path) as log:
        stored = {e.track_id for e in log.events("ann")}
    assert {f"t{i}" for i in acked} <= stored


def test_speaker_baselines_are_kept_per_listener_and_forgotten(tmp_path: Path) -> None:
    """A listener's speaker baseline is stored as numbers, replaced on save, and erased by forget."""
    with InteractionLog(tmp_path / "log.db") as log:
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
