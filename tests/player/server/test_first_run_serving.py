"""The first run serves early (issue 14): on a fresh home `serve` answers typed text from the demo
catalog while it is still being made, and ends serving all of it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from player.app import serve
from player.library.demo import design_catalog
from player.library.first_run import USABLE_TRACKS, demo_order
from player.library.store import LibraryStore, track_id_for
from player.settings import Settings
from tests.support.http import request
from tests.support.server import MORNING, connect

DEMO_COUNT = 120


def _stored_ids(library_db: Path) -> set[str]:
    with LibraryStore(library_db, check=False) as store:
        return {t.id for t in store.tracks()}


@pytest.mark.slow
def test_a_first_run_answers_text_before_the_catalog_is_complete_and_ends_with_all_of_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Fresh home: the server is ready and a typed mood gets a queue while truth.json is not written
    and the library holds fewer than 120 tracks (the queue from those); the demo catalog goes on in
    the background, and the server ends serving every track of it (the last one made too, over
    HTTP) without a restart; then it stops cleanly with a complete, consistent library."""
    caplog.set_level(logging.INFO)
    home = tmp_path / "home"
    settings = replace(Settings(home=home), port=0)
    demo = home / "demo-library"
    last_made = demo_order(design_catalog(DEMO_COUNT, 7))[-1]

    async def scenario() -> tuple[dict[str, Any], bool, set[str], dict[str, Any]]:
        stop = asyncio.Event()
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(serve(settings, ready=ready.set_result, stop=stop))
        try:
            url = await asyncio.wait_for(ready, timeout=600)
            client = await connect(url)
            await client.start_session(local_time=MORNING)
            await client.send_text("I'm exhausted")
            early = await client.wait_for("queue", timeout=60)
            complete_then = (demo / "truth.json").exists()
            stored_then = _stored_ids(settings.library_db)
            last_id = track_id_for(demo / last_made.file)
            for _ in range(3000):  # the live library picks up the rest as it is stored
                reply = await request(url, f"/tracks/{last_id}/audio", method="HEAD")
                if reply.status == 200 and (demo / "truth.json").exists():
                    break
                await asyncio.sleep(0.2)
            await client.send_text("let's party")
            late = await client.wait_for("queue", timeout=60)
            await client.end_session()
            return early, complete_then, stored_then, late
        finally:
            stop.set()
            await server

    early, complete_then, stored_then, late = asyncio.run(asyncio.wait_for(scenario(), timeout=1200))
    assert not complete_then and USABLE_TRACKS <= len(stored_then) < DEMO_COUNT
    assert early["tracks"] and {t["id"] for t in early["tracks"]} <= stored_then
    assert late["tracks"]
    with LibraryStore(settings.library_db) as store:
        assert store.count() == DEMO_COUNT and store.problems() == []
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("library version ") and f": {DEMO_COUNT} tracks" in m for m in messages)
    assert any(m.startswith("demo catalog complete: 120 tracks") for m in messages)
    ready_at = next(i for i, m in enumerate(messages) if m.startswith("ready on "))
    done_at = next(i for i, m in enumerate(messages) if m.startswith("demo catalog complete"))
    assert ready_at < done_at
    assert any(
        m.startswith("synthesising and scanning the demo catalog: done 120/120") for m in messages[ready_at:]
    )
