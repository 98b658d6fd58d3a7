"""`cadence scan --engine ray` with a worker node SIGKILLed mid-scan, on a real local Ray cluster of
its own (:mod:`tests.support.ray_cluster`). In a module of its own so that its cluster never runs
beside test_ray_scan.py's shared one: pytest keeps a module-scoped cluster until its module ends."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ray_cluster import (
    BAD_FILES,
    NEEDS_RAY,
    RayCluster,
    assert_same_library,
    committed_tracks,
    driver_report,
    start_driver,
)

pytestmark = NEEDS_RAY


@pytest.fixture
def ray_root() -> Iterator[Path]:
    """A short temporary folder for a cluster (Ray's Unix socket paths must stay under 108 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_a_killed_worker_node_loses_and_duplicates_nothing(
    ray_root: Path, ray_catalog: Path, ray_local_reference: Path, tmp_path: Path
) -> None:
    """A worker node SIGKILLed mid-scan while it runs a file's task: Ray runs its files again on the
    head, and the scan completes with every file extracted exactly once and the local scan's features."""
    ray_cluster = RayCluster(ray_root)
    try:
        ray_cluster.start_head(num_cpus=1)
        worker = ray_cluster.add_worker(num_cpus=1)
        db = tmp_path / "library.db"
        driver = start_driver(ray_catalog, db, ray_cluster.address)
        deadline = time.monotonic() + 600
        while not (worker.busy() and len(committed_tracks(db)) >= 4):
            assert driver.poll() is None, "the scan ended before the worker node was killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        committed_before_kill = len(committed_tracks(db))
        worker.kill()
        report = driver_report(driver)
    finally:
        ray_cluster.stop()
    assert committed_before_kill < 41
    extracted = report["extracted"]
    assert isinstance(extracted, list)
    assert len(extracted) == len(set(extracted)) == 41
    assert report["problems"] == sorted(BAD_FILES)
    nodes = report["nodes"]
    # Every file came back once, from whichever node finished it (the one in flight on the killed
    # node was run again on the head).
    assert isinstance(nodes, dict) and sum(nodes.values()) == 44
    assert_same_library(db, ray_local_reference)
