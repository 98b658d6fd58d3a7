"""The first run's demo catalog, synthesised and scanned in one pass: the same files, truth and features
as `cadence demo-library` followed by `cadence scan`, and an interrupted first run carried on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from player.library.commands import demo_dir, ensure_library
from player.library.demo import build_demo_library
from player.library.first_run import build_and_scan_demo
from player.library.scan import scan
from player.library.store import LibraryStore
from player.settings import Settings
from player.startup import StartupProgress

COUNT = 6
SEED = 11


def _records_by_file(store_path: Path) -> dict[str, dict[str, object]]:
    """Each stored track's record (tags, every feature, lyrics) by file name, without its path and id."""
    with LibraryStore(store_path) as store:
        assert store.problems() == []
        return {
            Path(t.path).name: {k: v for k, v in t.to_dict().items() if k not in ("id", "path")}
            for t in store.tracks()
        }


@pytest.mark.integration
def test_the_pipeline_makes_the_catalog_and_library_a_build_and_a_scan_make(tmp_path: Path) -> None:
    """Files, truth.json and every stored feature are those of build_demo_library + scan of the same
    count and seed: the features come from the real extractor on the files written."""
    fast = build_and_scan_demo(tmp_path / "fast", tmp_path / "fast.db", count=COUNT, seed=SEED, workers=2)
    slow_dir = build_demo_library(tmp_path / "slow", count=COUNT, seed=SEED)
    scan([slow_dir], tmp_path / "slow.db", workers=2, progress=False)

    # The closing scan found every track stored and unchanged: the pipeline stored them all.
    assert fast.files == COUNT and fast.extracted == () and fast.unchanged == COUNT
    truth = json.loads((tmp_path / "fast" / "truth.json").read_text())
    assert truth == json.loads((slow_dir / "truth.json").read_text())
    mine, theirs = _records_by_file(tmp_path / "fast.db"), _records_by_file(tmp_path / "slow.db")
    assert sorted(mine) == sorted(e["file"] for e in truth["tracks"])
    assert mine == theirs
    for entry in truth["tracks"]:
        a, rate = sf.read(tmp_path / "fast" / entry["file"], dtype="float32")
        b, _ = sf.read(slow_dir / entry["file"], dtype="float32")
        assert rate == truth["sample_rate_hz"]
        np.testing.assert_array_equal(a, b)


@pytest.mark.integration
def test_an_interrupted_first_run_is_carried_on(tmp_path: Path) -> None:
    """A demo folder without truth.json (a first run killed half way) is finished by the next start:
    tracks already stored with unchanged files are kept as they are, the rest are made and scanned."""
    settings = Settings(home=tmp_path / "home", workers=2)
    target = demo_dir(settings)
    build_and_scan_demo(target, settings.library_db, count=COUNT, seed=7, workers=2)
    # As if the run had been killed before the last track and truth.json were written.
    (target / "truth.json").unlink()
    files = sorted(p for p in target.iterdir() if p.suffix in {".flac", ".ogg"})
    lost = files[-1]
    lost.unlink()
    with LibraryStore(settings.library_db) as store:
        store.remove_paths([str(lost.resolve())])
        assert store.count() == COUNT - 1
    kept = {p.name: p.stat().st_mtime_ns for p in files[:-1]}

    with ensure_library(settings, demo_count=COUNT) as store:
        assert store.count() == COUNT and store.problems() == []
    assert (target / "truth.json").exists() and lost.exists()
    assert {p.name: p.stat().st_mtime_ns for p in files[:-1]} == kept


@pytest.mark.integration
def test_ensure_library_reports_its_step_and_leaves_a_full_library_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On an empty home the step is shown with its n/N (plain lines off a terminal) and ends at N/N;
    a second call finds the library full and makes nothing."""
    settings = Settings(home=tmp_path / "home", workers=2)
    caplog.set_level("INFO", logger="player.startup")
    progress = StartupProgress(interactive=False)
    with ensure_library(settings, demo_count=COUNT, progress=progress) as store:
        assert store.count() == COUNT
    progress.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "player.startup"]
    assert lines[0] == f"synthesising and scanning the demo catalog ({COUNT})"
    assert lines[-1].startswith(f"synthesising and scanning the demo catalog: done {COUNT}/{COUNT} in ")

    before = {p.name: p.stat().st_mtime_ns for p in demo_dir(settings).iterdir()}
    caplog.clear()
    with ensure_library(settings, demo_count=COUNT, progress=StartupProgress(interactive=False)) as store:
        assert store.count() == COUNT
    assert [r for r in caplog.records if r.name == "player.startup"] == []
    assert {p.name: p.stat().st_mtime_ns for p in demo_dir(settings).iterdir()} == before
    assert not os.path.exists(demo_dir(settings) / "truth.json.tmp")


def test_a_build_in_worker_processes_writes_the_same_catalog(tmp_path: Path) -> None:
    """`cadence demo-library` spreads the tracks over processes: the same truth.json and the same audio
    as a build in one process."""
    one = build_demo_library(tmp_path / "one", count=4, seed=SEED)
    two = build_demo_library(tmp_path / "two", count=4, seed=SEED, workers=2)
    truth = json.loads((one / "truth.json").read_text())
    assert truth == json.loads((two / "truth.json").read_text())
    for entry in truth["tracks"]:
        a, _ = sf.read(one / entry["file"], dtype="float32")
        b, _ = sf.read(two / entry["file"], dtype="float32")
        np.testing.assert_array_equal(a, b)
