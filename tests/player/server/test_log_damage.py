"""A damaged or emptied log.db: refused at open (by `cadence forget` and the server alike) with a code and
a way out, never changed or written to; an empty one is said out loud."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from player.cli import main
from player.core.records import LogEvent
from player.errors import DatabaseCorruptError
from player.server.log import InteractionLog
from player.server.shell import run_server
from player.settings import Settings
from tests.support.damaged_db import damages, digest, garble_header, scramble_table_page
from tests.support.fakes import fake_deps

EVENTS = 2000
"""Enough events for the events table to span many pages."""

ROOT = Path(__file__).resolve().parents[3]


def _log(path: Path) -> Path:
    """A real log.db of :data:`EVENTS` playback events, closed (its WAL folded into the file)."""
    with InteractionLog(path) as log:
        log.record_many(
            [
                (
                    LogEvent(
                        "started", f"listener-{i % 7}", f"s{i // 50}", float(i), track_id="t", position_s=0.0
                    ),
                    None,
                )
                for i in range(EVENTS)
            ]
        )
    return path


DAMAGES = damages("events")


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_log_is_refused_with_the_way_out_and_left_as_it_is(tmp_path: Path, damage: str) -> None:
    """A scrambled events page, a file cut in half or a garbage header raises DatabaseCorruptError
    ("database_corrupt") naming the file, a backup and moving it aside; the file's bytes do not change."""
    path = _log(tmp_path / "log.db")
    DAMAGES[damage](path)
    before = digest(path)
    with pytest.raises(DatabaseCorruptError) as caught:
        InteractionLog(path)
    assert caught.value.code == "database_corrupt"
    message = caught.value.message
    assert str(path) in message and "cadence backup" in message and "aside" in message
    assert digest(path) == before


def test_a_scrambled_events_page_is_found_before_anything_is_written(tmp_path: Path) -> None:
    """Opened without the check, the log with a scrambled page accepts a write (the failure the check
    prevents); with it, the open is refused."""
    path = _log(tmp_path / "log.db")
    scramble_table_page(path, "events")
    before = digest(path)
    with pytest.raises(DatabaseCorruptError, match=r"quick_check|malformed"):
        InteractionLog(path)
    assert digest(path) == before
    with InteractionLog(path, check=False) as log:
        log.record(LogEvent("liked", "ann", "s-new", 1e9, track_id="t", position_s=1.0))


def test_an_empty_log_file_is_reported_loudly_and_a_new_one_is_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 0-byte log.db logs one WARNING that every listener's history is gone and a backup can be
    restored, then opens as a new, empty log; a first run (no file) and a re-open warn about nothing."""
    with caplog.at_level(logging.WARNING):
        InteractionLog(tmp_path / "new.db").close()
        InteractionLog(tmp_path / "new.db").close()
        path = tmp_path / "log.db"
        path.write_bytes(b"")
        with InteractionLog(path) as log:
            assert log.count() == 0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].name == "player.server.log"
    message = warnings[0].getMessage()
    assert message.startswith(f"{path} is empty (0 bytes)")
    assert "every listener's history" in message and "backup" in message


def test_cadence_forget_prints_the_damage_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cadence forget` on a log with a scrambled page prints `error [database_corrupt]: ...` and the way
    out on stderr, no traceback, exits 2 and erases nothing (the file is unchanged)."""
    path = _log(tmp_path / "log.db")
    scramble_table_page(path, "events")
    before = digest(path)
    assert main(["forget", "--home", str(tmp_path), "--listener", "listener-1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error [database_corrupt]: {path} is damaged")
    assert "cadence backup" in err and "Traceback" not in err
    assert digest(path) == before


def test_python_m_player_reports_a_garbage_log_without_a_traceback(tmp_path: Path) -> None:
    """The real process: `python -m player forget` on a log.db with a garbage header exits 2 with one
    error line on stderr and no traceback."""
    path = _log(tmp_path / "log.db")
    garble_header(path)
    proc = subprocess.run(
        [sys.executable, "-m", "player", "forget", "--home", str(tmp_path), "--listener", "x"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error [database_corrupt]:") and "Traceback" not in proc.stderr
    assert "file is not a database" in proc.stderr


def test_the_server_refuses_to_start_on_a_damaged_log(tmp_path: Path) -> None:
    """run_server (`cadence serve`, `cadence listen`) opens the log checked: a scrambled page stops it
    with DatabaseCorruptError before it listens, instead of acknowledging events into the damage."""
    path = _log(tmp_path / "log.db")
    scramble_table_page(path, "events")
    before = digest(path)
    settings = Settings(home=tmp_path, port=0)

    async def start() -> None:
        stop = asyncio.Event()
        stop.set()  # without the check the server would start and stop at once, raising nothing
        await run_server(settings, deps=fake_deps(), analyzer=None, stop=stop)  # type: ignore[arg-type]

    with pytest.raises(DatabaseCorruptError):
        asyncio.run(start())
    assert digest(path) == before
