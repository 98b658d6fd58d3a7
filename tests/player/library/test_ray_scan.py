"""`cadence scan --engine ray` on a real local Ray cluster (a head and worker node processes on loopback):
the same features and problems as the local scan, a worker node or the driver killed mid-scan, and Ray
kept out of the local scan."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from player.library.demo import build_demo_library
from player.library.scan import scan
from player.library.store import LibraryStore

REPO = Path(__file__).resolve().parents[3]
RAY = Path(sys.executable).with_name("ray")
HEAD_IP = "127.0.0.2"
"""Loopback, but not 127.0.0.1: Ray rewrites "127.0.0.1"/"localhost" in addresses to the machine's
outward address, and this cluster stays on loopback. Worker node N is 127.0.0.(2 + N)."""

pytestmark = pytest.mark.skipif(
    not RAY.exists(), reason='needs the [cluster] extra (pip install -e ".[cluster]")'
)


# ----------------------------------------------------------------------------------- a local cluster


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _session_pids(sid: int) -> list[int]:
    """Processes of session ``sid``: a node's `ray start --block` and everything it runs (Ray puts
    each worker process in a process group of its own, but they stay in the node's session). Zombies,
    dead and waiting for their new parent to reap them, are not counted."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state not in ("Z", "X"):
                        pids.append(int(entry))
            except (ProcessLookupError, FileNotFoundError):
                continue
    return pids


def _titles(pids: list[int]) -> list[str]:
    titles = []
    for pid in pids:
        try:
            titles.append(
                Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
    return titles


@dataclass
class RayNode:
    """One `ray start --block` process, the leader of its own session."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def sid(self) -> int:
        return self.process.pid

    def busy(self) -> bool:
        """Whether a worker process of this node is running a scan task now (Ray titles it)."""
        return any(t.startswith("ray::_extract_on_node") for t in _titles(_session_pids(self.sid)))

    def kill(self) -> None:
        """SIGKILL every process of the node (its raylet, object store, agents and workers) and reap it."""
        for pid in _session_pids(self.sid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _session_pids(self.sid) and time.monotonic() < deadline:
            time.sleep(0.1)


@dataclass
class RayCluster:
    """A Ray cluster on this machine, loopback only: a head node and worker nodes, each its own
    session, with small object stores, no dashboard and no usage stats."""

    root: Path
    port: int = field(default_factory=_free_port)
    client_port: int = field(default_factory=_free_port)
    nodes: list[RayNode] = field(default_factory=list)

    @property
    def address(self) -> str:
        """The head's GCS address (drivers on this machine)."""
        return f"{HEAD_IP}:{self.port}"

    @property
    def client_address(self) -> str:
        """The head's Ray Client address."""
        return f"ray://{HEAD_IP}:{self.client_port}"

    def _start(self, args: list[str], name: str) -> RayNode:
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        ports = [
            f"--node-manager-port={_free_port()}",
            f"--object-manager-port={_free_port()}",
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--dashboard-agent-grpc-port={_free_port()}",
            f"--metrics-export-port={_free_port()}",
            f"--runtime-env-agent-port={_free_port()}",
        ]
        log = self.root / f"{name}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(RAY), "start", "--block", *args, *ports, "--object-store-memory=100000000",
                 "--disable-usage-stats", "--include-log-monitor=false"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=self.root,
            )  # fmt: skip
        node = RayNode(process, log)
        self.nodes.append(node)
        deadline = time.monotonic() + 180
        while b"Ray runtime started" not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"ray node {name} did not start:\n{log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.2)
        return node

    def start_head(self, num_cpus: int = 1) -> RayNode:
        return self._start(
            [
                "--head",
                f"--node-ip-address={HEAD_IP}",
                f"--port={self.port}",
                f"--ray-client-server-port={self.client_port}",
                f"--num-cpus={num_cpus}",
                "--include-dashboard=false",
                f"--dashboard-port={_free_port()}",
                f"--temp-dir={self.root / 't'}",
            ],
            "head",
        )

    def add_worker(self, num_cpus: int = 1) -> RayNode:
        """A worker node process; returns once it has joined."""
        node = self._start(
            [
                f"--address={self.address}",
                f"--node-ip-address=127.0.0.{2 + len(self.nodes)}",
                f"--num-cpus={num_cpus}",
            ],
            f"worker{len(self.nodes)}",
        )
        self.wait_for_cpus(sum(1 for n in self.nodes if n.process.poll() is None) * num_cpus)
        return node

    def wait_for_cpus(self, cpus: int) -> None:
        """Until the head reports ``cpus`` CPUs alive (a node registers a moment after it starts)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            out = subprocess.run(
                [str(RAY), "status", f"--address={self.address}"],
                capture_output=True,
                text=True,
                env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
                timeout=60,
            ).stdout
            match = re.search(r"/(\d+(?:\.\d+)?) CPU", out)
            if match and float(match.group(1)) >= cpus:
                return
            time.sleep(1.0)
        raise RuntimeError(f"the cluster never reached {cpus} CPUs")

    def stop(self) -> None:
        """Kill every node's processes and check that nothing of the cluster is left running."""
        for node in reversed(self.nodes):
            node.kill()
        left = [pid for node in self.nodes for pid in _session_pids(node.sid)]
        assert not left, f"ray processes left running: {_titles(left)}"


@pytest.fixture
def ray_root() -> Iterator[Path]:
    """A short temporary folder for a cluster (Ray's Unix socket paths must stay under 108 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


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


# ---------------------------------------------------------------------------------------- the music


BAD_FILES = ("empty.ogg", "letter.mp3", "truncated.flac")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 demo tracks, one real Debian tune (several minutes: analysed from excerpts) and three bad
    files (read-only for every test: track ids are their paths)."""
    folder = build_demo_library(tmp_path_factory.mktemp("ray-catalog"), count=40, seed=11)
    etr = Path("/usr/share/games/etr/music/calmrace-ks.ogg")
    if etr.exists():
        shutil.copy(etr, folder / etr.name)
    bad = folder / "bad"
    bad.mkdir()
    (bad / "empty.ogg").write_bytes(b"")
    (bad / "letter.mp3").write_text("Dear listener,\n" * 200)
    flac = sorted(folder.glob("*.flac"))[0]
    (bad / "truncated.flac").write_bytes(flac.read_bytes()[: flac.stat().st_size // 3])
    return folder


@pytest.fixture(scope="module")
def local_reference(catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalog scanned by the local engine: the features every Ray scan must reproduce."""
    db = tmp_path_factory.mktemp("local-ref") / "library.db"
    report = scan([catalog], db, workers=2, progress=False)
    assert {Path(p.path).name for p in report.problems} == set(BAD_FILES)
    return db


def _library(db: Path) -> tuple[dict[str, dict[str, object]], np.ndarray, list[str], dict[str, str]]:
    """(records by id, the feature matrix, its row ids, problem reasons by file name)."""
    with LibraryStore(db) as store:
        records: dict[str, dict[str, object]] = {str(t.id): t.to_dict() for t in store.tracks()}
        matrix = store.feature_matrix()
        problems = {Path(p.path).name: p.reason for p in store.problems()}
    return records, np.array(matrix.values), list(matrix.ids), problems


def _assert_same_library(db: Path, reference: Path) -> None:
    """Every record, feature and problem of ``db`` equals ``reference``'s, exactly (bit for bit)."""
    records, values, ids, problems = _library(db)
    ref_records, ref_values, ref_ids, ref_problems = _library(reference)
    assert ids == ref_ids
    assert records == ref_records
    assert values.tobytes() == ref_values.tobytes()
    assert problems == ref_problems


_DRIVER = """
import json, sys
from pathlib import Path
from player.library.ray_scan import RayRunner, scan_on_ray
runner = RayRunner(sys.argv[3])
report = scan_on_ray([Path(sys.argv[1])], Path(sys.argv[2]), progress=False, runner=runner)
print(json.dumps({
    "files": report.files, "extracted": list(report.extracted), "unchanged": report.unchanged,
    "problems": sorted(Path(p.path).name for p in report.problems), "warm_up_s": report.warm_up_s,
    "nodes": dict(runner.files_per_node),
}))
"""


def _driver(catalog: Path, db: Path, address: str) -> subprocess.Popen[str]:
    """A scan driver in its own process (so a test can kill it), printing its ScanReport as JSON."""
    return subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(catalog), str(db), address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )


def _report(process: subprocess.Popen[str], timeout_s: float = 600) -> dict[str, object]:
    out, err = process.communicate(timeout=timeout_s)
    assert process.returncode == 0, err[-3000:]
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def _committed(db: Path) -> dict[str, float]:
    """Track id → scanned_at_s of every committed track, read as another process would."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return {r[0]: r[1] for r in conn.execute("SELECT id, scanned_at_s FROM tracks")}
    except sqlite3.OperationalError:  # the scan has not created the table yet
        return {}


def _cadence(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "player", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **(env or {})},
        timeout=900,
    )


def _counts(report_line: str) -> str:
    """The scan report line without its timings (those differ between runs)."""
    return re.sub(r"\(\d+ s of audio in [\d.]+ s\)", "", report_line).strip()


# -------------------------------------------------------------------------------------------- tests


@pytest.mark.slow
def test_ray_scan_gives_the_local_scans_features_and_problems(
    cluster: RayCluster, catalog: Path, local_reference: Path, tmp_path: Path
) -> None:
    """`cadence scan --engine ray` through Ray Client stores every track bit for bit as the local scan
    does, on both nodes, reports the same problems with the same reasons and prints the same report;
    a rescan skips every stored track."""
    local = _cadence("scan", str(catalog), "--home", str(tmp_path / "local"))
    on_ray = _cadence("scan", str(catalog), "--home", str(tmp_path / "ray"), "--engine", "ray",
                      "--address", cluster.client_address)  # fmt: skip
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert _counts(on_ray.stdout) == _counts(local.stdout)
    assert f"{len(list(catalog.rglob('*.*'))) - 1} audio files: 41 extracted" in on_ray.stdout
    for name in BAD_FILES:
        assert name in on_ray.stderr
    assert re.search(r"ray: files per node: 127\.0\.0\.2/\w+ \d+, 127\.0\.0\.3/\w+ \d+", on_ray.stderr)
    _assert_same_library(tmp_path / "ray" / "library.db", local_reference)

    again = _cadence("scan", str(catalog), "--home", str(tmp_path / "ray"), "--engine", "ray",
                     "--address", cluster.client_address)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    # Only the files with a problem are tried again, as a local rescan does.
    assert "0 extracted, 41 unchanged" in again.stdout and "3 problems" in again.stdout


@pytest.mark.slow
def test_a_killed_worker_node_loses_and_duplicates_nothing(
    ray_root: Path, catalog: Path, local_reference: Path, tmp_path: Path
) -> None:
    """A worker node SIGKILLed mid-scan while it runs a file's task: Ray runs its files again on the
    head, and the scan completes with every file extracted exactly once and the local scan's features."""
    ray_cluster = RayCluster(ray_root)
    try:
        ray_cluster.start_head(num_cpus=1)
        worker = ray_cluster.add_worker(num_cpus=1)
        db = tmp_path / "library.db"
        driver = _driver(catalog, db, ray_cluster.address)
        deadline = time.monotonic() + 600
        while not (worker.busy() and len(_committed(db)) >= 4):
            assert driver.poll() is None, "the scan ended before the worker node was killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        committed_before_kill = len(_committed(db))
        worker.kill()
        report = _report(driver)
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
    _assert_same_library(db, local_reference)


@pytest.mark.slow
def test_a_killed_driver_redoes_only_what_was_not_committed(
    cluster: RayCluster, catalog: Path, local_reference: Path, tmp_path: Path
) -> None:
    """The driver SIGKILLed mid-scan keeps every committed track; the rerun extracts exactly the rest
    and leaves the committed ones as they were."""
    db = tmp_path / "library.db"
    driver = _driver(catalog, db, cluster.address)
    deadline = time.monotonic() + 600
    while len(_committed(db)) < 3:
        assert driver.poll() is None, driver.communicate()[1][-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    driver.kill()
    driver.communicate()
    committed = _committed(db)
    assert 3 <= len(committed) < 41

    rerun = _report(_driver(catalog, db, cluster.address))
    assert isinstance(rerun["extracted"], list)
    with LibraryStore(db) as store:
        all_ids = {t.id for t in store.tracks()}
        scanned = store.scanned_at()
    assert set(rerun["extracted"]) == all_ids - set(committed)
    assert len(rerun["extracted"]) == len(set(rerun["extracted"]))
    assert rerun["unchanged"] == len(committed)
    assert {tid: scanned[tid] for tid in committed} == committed
    _assert_same_library(db, local_reference)


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
    address = f"ray://{HEAD_IP}:{_free_port()}"
    out = _cadence(
        "scan", str(folder), "--home", str(tmp_path / "home"), "--engine", "ray", "--address", address,
        env={"RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": "1", "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": "2"},
    )  # fmt: skip
    assert out.returncode == 2
    assert "error [cluster_unavailable]" in out.stderr
    assert address in out.stderr


@pytest.mark.integration
def test_address_without_engine_ray_is_refused(tmp_path: Path) -> None:
    """``--address`` with the local engine is a usage error, not silently ignored."""
    out = _cadence("scan", str(tmp_path), "--home", str(tmp_path / "home"), "--address", "auto")
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
