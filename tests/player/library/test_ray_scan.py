"""`cadence scan --engine ray` on a real local Ray cluster (a head and a worker node process on
loopback, :mod:`tests.support.ray_cluster`): the same features and problems as the local scan, the
driver killed mid-scan, and Ray kept out of the local scan. A worker node killed mid-scan is in
test_ray_node_kill.py, on a cluster of its own that never runs beside this module's."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from player.library.demo import build_demo_library
from player.library.store import LibraryStore
from tests.support.ports import free_port
from tests.support.ray_cluster import (
    BAD_FILES,
    HEAD_IP,
    NEEDS_RAY,
    REPO,
    RayCluster,
    assert_same_library,
    committed_tracks,
    driver_report,
    report_counts,
    run_cadence,
    start_driver,
)

pytestmark = NEEDS_RAY


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    """A head (1 CPU) and one worker node (1 CPU), shared by the tests that do not kill a node."""
    root = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    ray_cluster = RayCluster(root)
    try:
        ray_cluster.start_head(num_cpus=1)
        ray_cluster.add_worker(num_cpus=1)
        yield ray_cluster
    finally:
        ray_cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


# -------------------------------------------------------------------------------------------- tests


@pytest.mark.slow
def test_ray_scan_gives_the_local_scans_features_and_problems(
    cluster: RayCluster, ray_catalog: Path, ray_local_reference: Path, tmp_path: Path
) -> None:
    """`cadence scan --engine ray` through Ray Client stores every track bit for bit as the local scan
    does, on both nodes, reports the same problems with the same reasons and prints the same report;
    a rescan skips every stored track."""
    local = run_cadence("scan", str(ray_catalog), "--home", str(tmp_path / "local"))
    on_ray = run_cadence("scan", str(ray_catalog), "--home", str(tmp_path / "ray"), "--engine", "ray",
                      "--address", cluster.client_address)  # fmt: skip
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert report_counts(on_ray.stdout) == report_counts(local.stdout)
    assert f"{len(list(ray_catalog.rglob('*.*'))) - 1} audio files: 41 extracted" in on_ray.stdout
    for name in BAD_FILES:
        assert name in on_ray.stderr
    assert re.search(r"ray: files per node: 127\.0\.0\.2/\w+ \d+, 127\.0\.0\.3/\w+ \d+", on_ray.stderr)
    assert_same_library(tmp_path / "ray" / "library.db", ray_local_reference)

    again = run_cadence("scan", str(ray_catalog), "--home", str(tmp_path / "ray"), "--engine", "ray",
                     "--address", cluster.client_address)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    # Only the files with a problem are tried again, as a local rescan does.
    assert "0 extracted, 41 unchanged" in again.stdout and "3 problems" in again.stdout


@pytest.mark.slow
def test_a_killed_driver_redoes_only_what_was_notcommitted_tracks(
    cluster: RayCluster, ray_catalog: Path, ray_local_reference: Path, tmp_path: Path
) -> None:
    """The driver SIGKILLed mid-scan keeps every committed track; the rerun extracts exactly the rest
    and leaves the committed ones as they were."""
    db = tmp_path / "library.db"
    driver = start_driver(ray_catalog, db, cluster.address)
    deadline = time.monotonic() + 600
    while len(committed_tracks(db)) < 3:
        assert driver.poll() is None, driver.communicate()[1][-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    driver.kill()
    driver.communicate()
    committed = committed_tracks(db)
    assert 3 <= len(committed) < 41

    rerun = driver_report(start_driver(ray_catalog, db, cluster.address))
    assert isinstance(rerun["extracted"], list)
    with LibraryStore(db) as store:
        all_ids = {t.id for t in store.tracks()}
        scanned = store.scanned_at()
    assert set(rerun["extracted"]) == all_ids - set(committed)
    assert len(rerun["extracted"]) == len(set(rerun["extracted"]))
    assert rerun["unchanged"] == len(committed)
    assert {tid: scanned[tid] for tid in committed} == committed
    assert_same_library(db, ray_local_reference)


@pytest.mark.integration
def test_a_local_scan_does_not_import_ray(tmp_path: Path) -> None:
    """`cadence scan` (local engine) on a folder leaves `ray` out of sys.modules."""
    folder = tmp_path / "music"
    folder.mkdir()
    (folder / "letter.mp3").write_text("not audio")
    code = (
        "import sys; from player.cli import main; "
        f"rc = main(['scan', {str(folder)!r}, '--home', {str(tmp_path / 'home')!r}]); "
        "print(rc, 'ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.stdout.split()[-2:] == ["0", "False"], out.stderr[-2000:]


@pytest.mark.integration
def test_engine_ray_without_ray_names_the_extra(tmp_path: Path) -> None:
    """Without Ray importable, `--engine ray` fails with a coded error that names the [cluster] extra."""
    code = (
        "import sys; sys.modules['ray'] = None; from player.cli import main; "  # `import ray` now fails
        f"sys.exit(main(['scan', {str(tmp_path)!r}, '--home', {str(tmp_path / 'home')!r}, '--engine', 'ray']))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 2
    assert "error [engine_unavailable]" in out.stderr
    assert '".[cluster]"' in out.stderr


@pytest.mark.integration
def test_no_cluster_at_the_address_is_a_coded_error(tmp_path: Path) -> None:
    """A scan with a file to extract and no cluster at ``--address`` stops with a coded error naming
    the address (Ray Client's connection timeouts shortened through its own settings)."""
    folder = build_demo_library(tmp_path / "music", count=1, seed=1)
    address = f"ray://{HEAD_IP}:{free_port()}"
    out = run_cadence(
        "scan", str(folder), "--home", str(tmp_path / "home"), "--engine", "ray", "--address", address,
        env={"RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "1", "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": "2"},
    )  # fmt: skip
    assert out.returncode == 2
    assert "error [cluster_unavailable]" in out.stderr
    assert address in out.stderr


@pytest.mark.integration
def test_address_without_engine_ray_is_refused(tmp_path: Path) -> None:
    """``--address`` with the local engine is a usage error, not silently ignored."""
    out = run_cadence("scan", str(tmp_path), "--home", str(tmp_path / "home"), "--address", "auto")
    assert out.returncode == 2
    assert "error [usage]" in out.stderr


class _FlakyRay:
    """Stands in for the ``ray`` module's ``init``/``shutdown``: fails the first ``fail`` joins with
    ``error``, the way Ray Client does when its per-driver server dies while starting."""

    def __init__(self, fail: int, error: Exception) -> None:
        self.fail, self.error = fail, error
        self.inits = self.shutdowns = 0

    def init(self, **_: object) -> None:
        self.inits += 1
        if self.inits <= self.fail:
            raise self.error

    def shutdown(self) -> None:
        self.shutdowns += 1

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 2.0}

    def nodes(self) -> list[dict[str, object]]:
        return [{"Alive": True}]


def test_a_client_server_that_dies_starting_is_joined_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray Client's "Initialization failure from server" (ray-project/ray#63202) is tried again, up to
    three joins in all; the third failure, or any other error at once, is ``cluster_unavailable``
    with the end of the server's message (where its cause is)."""
    from player.library import ray_scan
    from player.library.ray_scan import ClusterUnavailableError, _connect

    monkeypatch.setattr(ray_scan, "CONNECT_RETRY_S", 0.0)
    aborted = ConnectionAbortedError("Initialization failure from server:\n" + "x" * 900 + " THE CAUSE")
    flaky = _FlakyRay(2, aborted)
    _connect(flaky, "ray://127.0.0.2:10001")  # type: ignore[arg-type]
    assert (flaky.inits, flaky.shutdowns) == (3, 2)
    dead = _FlakyRay(3, aborted)
    with pytest.raises(ClusterUnavailableError, match="THE CAUSE") as caught:
        _connect(dead, "ray://127.0.0.2:10001")  # type: ignore[arg-type]
    assert dead.inits == 3 and caught.value.code == "cluster_unavailable"
    refused = _FlakyRay(1, ConnectionError("no cluster"))
    with pytest.raises(ClusterUnavailableError, match="no cluster"):
        _connect(refused, "ray://127.0.0.2:10001")  # type: ignore[arg-type]
    assert refused.inits == 1  # not a start-up failure: answered at once


def test_free_port_never_hands_out_one_port_twice() -> None:
    """The cluster's ports are chosen one ``bind(0)`` at a time; the kernel can give a port freed a
    moment ago to the next call, and a CI run's head node refused to start when its metrics export
    and dashboard agent were both given port 34019. 2 000 choices are all different."""
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)
