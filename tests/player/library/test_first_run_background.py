"""The first run in the background (FirstRun): stopped at any moment it leaves a consistent library
that the next run carries on; a complete catalog whose library is gone is scanned, not made again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from player.library.first_run import FirstRun
from player.library.store import LibraryStore

COUNT = 30
SEED = 11


def _consistent(out_dir: Path, store_path: Path) -> dict[str, int]:
    """Every stored track's file exists with the size and mtime the store has (nothing half done);
    returns each stored file's mtime by name."""
    with LibraryStore(store_path, check=False) as store:
        states = store.file_states()
        assert store.count() == len(states)
    mtimes = {}
    for path, state in states.items():
        st = Path(path).stat()
        assert (st.st_size, st.st_mtime_ns) == (state.size, state.mtime_ns), path
        mtimes[Path(path).name] = st.st_mtime_ns
    assert all(Path(p).parent == out_dir.resolve() for p in states)
    return mtimes


@pytest.mark.integration
def test_a_stopped_first_run_is_consistent_and_the_next_one_carries_on(tmp_path: Path) -> None:
    """Stopped after a few tracks: no truth.json, every stored track's file as stored; the next run
    keeps those files as they are, makes the rest and completes the catalog."""
    out_dir, store_path = tmp_path / "demo-library", tmp_path / "library.db"
    first = FirstRun(out_dir, store_path, count=COUNT, seed=SEED, workers=2).start()
    deadline = time.monotonic() + 300
    while first.stored < 6 and not first.done and time.monotonic() < deadline:
        time.sleep(0.05)
    first.stop()
    first.join(timeout=120)
    assert first.done and not first.complete and first.error is None
    assert 6 <= first.stored < COUNT and not (out_dir / "truth.json").exists()
    kept = _consistent(out_dir, store_path)
    assert len(kept) == first.stored

    second = FirstRun(out_dir, store_path, count=COUNT, seed=SEED, workers=2).start()
    assert second.wait_usable(timeout=300)
    second.join(timeout=300)
    assert second.complete and second.error is None and second.stored == COUNT
    assert second.report is not None and second.report.extracted == () and second.report.problems == ()
    assert (out_dir / "truth.json").exists()
    after = _consistent(out_dir, store_path)
    assert len(after) == COUNT and {name: after[name] for name in kept} == kept


@pytest.mark.integration
def test_a_complete_catalog_whose_library_is_gone_is_scanned_not_made(tmp_path: Path) -> None:
    """With truth.json there (its own count and seed), an empty library gets the catalog's files
    scanned as they are: nothing is written again, every track is stored."""
    out_dir, store_path = tmp_path / "demo-library", tmp_path / "library.db"
    made = FirstRun(out_dir, store_path, count=COUNT, seed=SEED, workers=2).start()
    made.join(timeout=300)
    assert made.complete
    files = {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir()}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    rescan = FirstRun(out_dir, store_path, workers=2)  # default count and seed: truth.json's win
    assert (rescan.count, rescan.seed, rescan.writes) == (COUNT, SEED, False)
    rescan.start().join(timeout=300)
    assert rescan.complete and rescan.stored == COUNT
    assert {p.name: p.stat().st_mtime_ns for p in out_dir.iterdir() if p.name != "truth.json"} == {
        name: mtime for name, mtime in files.items() if name != "truth.json"
    }
