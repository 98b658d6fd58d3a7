"""A running server follows its library: `cadence scan` of new music while it runs makes the tracks
playable without a restart, and files removed and rescanned drop out of the next queue."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from player.app import Engines, build_engines
from player.client import ServerError
from player.library.store import LibraryStore, track_id_for
from player.settings import Settings
from tests.support.http import request
from tests.support.server import MORNING, connect, copy_library, serving

ETR_MUSIC = Path("/usr/share/games/etr/music")
NEW_MUSIC = ("options1-jt.ogg", "race1-jt.ogg")
"""Two real songs (Extreme Tux Racer's, Debian package extremetuxracer-data) to add to the library."""
ROOT = Path(__file__).resolve().parents[3]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=600))


async def cadence_scan(home: Path, folder: Path) -> None:
    """`cadence scan FOLDER --home HOME` in its own process, as a listener would run it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "player",
        "scan",
        str(folder),
        "--home",
        str(home),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")


async def start_on(url: str, queue: Sequence[str], timeout_s: float = 60.0) -> dict[str, Any]:
    """The first queue of a session started on ``queue`` (the session's own queue), retried while the
    server still answers ``unknown_track``: it picks up library changes within a second or two."""
    deadline = time.monotonic() + timeout_s
    while True:
        client = await connect(url)
        try:
            return await client.start_session(local_time=MORNING, queue=list(queue))
        except ServerError as exc:
            assert exc.code == "unknown_track"
            if time.monotonic() > deadline:
                raise
        finally:
            await client.close()
        await asyncio.sleep(0.2)


async def audio_status(url: str, track_id: str) -> int:
    return (await request(url, f"/tracks/{track_id}/audio", method="HEAD")).status


async def in_library(url: str, track_id: str) -> bool:
    """Whether the server's track map holds ``track_id`` (a 404 for a file deleted from disk says
    "file is gone" while the track is still in the map)."""
    reply = await request(url, f"/tracks/{track_id}/audio")
    return not (reply.status == 404 and b"no such track" in reply.body)


@pytest.fixture
def live_home(demo_home: Path, tmp_path: Path) -> tuple[Path, Engines]:
    """A home with its own copy of the demo library, and engines built on it (voice left unloaded)."""
    home = tmp_path / "home"
    copy_library(demo_home, home)
    return home, build_engines(Settings(home=home), defer_voice=True)


@pytest.mark.integration
def test_a_scan_while_the_server_runs_adds_and_removes_tracks(
    live_home: tuple[Path, Engines], tmp_path: Path
) -> None:
    """New songs scanned by `cadence scan` in another process become playable without a restart: a
    session can start on them (before: unknown_track), their audio is served, and a session that was
    already open may play them. After one file is deleted and the folder rescanned, the track is gone:
    the next queue of a session that held it leaves it out, playing it is refused, its audio is 404."""
    home, engines = live_home
    folder = tmp_path / "new-music"
    folder.mkdir()
    for name in NEW_MUSIC:
        shutil.copyfile(ETR_MUSIC / name, folder / name)
    new_ids = [track_id_for(folder / name) for name in NEW_MUSIC]
    with LibraryStore(home / "library.db", check=False) as store:
        library_id = store.tracks()[0].id

    async def scenario() -> dict[str, Any]:
        async with serving(engines, home) as (url, _):
            early = await connect(url)
            await early.start_session(local_time=MORNING)
            with pytest.raises(ServerError) as unknown:
                await start_on(url, new_ids, timeout_s=0)
            assert unknown.value.code == "unknown_track"
            assert await audio_status(url, new_ids[0]) == 404

            await cadence_scan(home, folder)
            first = await start_on(url, new_ids)
            assert {t["id"] for t in first["tracks"]} == set(new_ids)
            assert [await audio_status(url, i) for i in new_ids] == [200, 200]
            await early.playback("started", new_ids[1], 0.0)
            await early.wait_for("ack")
            await early.send_text("something calmer")
            assert (await early.wait_for("queue"))["tracks"]

            holder = await connect(url)
            await holder.start_session(local_time=MORNING, queue=[*new_ids, library_id])
            (folder / NEW_MUSIC[0]).unlink()
            await cadence_scan(home, folder)
            for _ in range(300):
                if not await in_library(url, new_ids[0]):
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("the removed track is still in the server's library after 60 s")
            await holder.next(count=3)
            after = await holder.wait_for("queue")
            await holder.playback("started", new_ids[0], 0.0)
            with pytest.raises(ServerError) as gone:
                await holder.wait_for("ack")
            assert gone.value.code == "unknown_track"
            for client in (early, holder):
                await client.end_session()
            return after

    after = run(scenario())
    assert {t["id"] for t in after["tracks"]} == {new_ids[1], library_id}
