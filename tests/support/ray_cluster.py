"""A real Ray cluster on this machine for the tests of `cadence scan --engine ray`, and the catalog
they scan.

:class:`RayCluster` runs the ``ray`` command of the ``[cluster]`` extra: a head node and worker node
processes, each `ray start --block` in a session of its own, on loopback addresses other than
127.0.0.1 (Ray rewrites "127.0.0.1"/"localhost" to the machine's outward address), with small object
stores, no dashboard and no usage stats. :meth:`RayCluster.stop` kills every process of every node
and checks none is left. :func:`build_ray_catalog` writes the catalog every Ray test scans (demo
tracks, a real Debian tune and three bad files); :func:`assert_same_library` compares two scans bit for
bit. The cluster tests live in two modules so that no two clusters ever run at once (pytest keeps a
module-scoped cluster until its module ends; a second head beside it on two cores was once too slow
for Ray's own 30 s start-up limit).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from player.library.demo import build_demo_library
from player.library.store import LibraryStore
from tests.support.ports import free_port

__all__ = [
    "BAD_FILES",
    "HEAD_IP",
    "NEEDS_RAY",
    "RAY",
    "REPO",
    "RayCluster",
    "RayNode",
    "assert_same_library",
    "build_ray_catalog",
    "committed_tracks",
    "driver_report",
    "report_counts",
    "run_cadence",
    "start_driver",
]

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")
HEAD_IP = "127.0.0.2"
"""Loopback, but not 127.0.0.1: Ray rewrites "127.0.0.1"/"localhost" in addresses to the machine's
outward address, and this cluster stays on loopback. Worker node N is 127.0.0.(2 + N)."""

NEEDS_RAY = pytest.mark.skipif(
    not RAY.exists(), reason='needs the [cluster] extra (pip install -e ".[cluster]")'
)
"""The mark of every test module that starts a cluster."""

STARTUP_TIMEOUT = b"timed out during startup"
"""What `ray start` prints when its raylet has not registered with the GCS within Ray's own 30 s (not
configurable): a slow start on a loaded machine, tried again with fresh ports."""

PORT_TAKEN = (b"is trying to use a port number", b"Address already in use")
"""What `ray start` prints when a port chosen for it was taken by another process between the choice
and the start: tried again with fresh ports."""

START_ATTEMPTS = 3


# ----------------------------------------------------------------------------------- a local cluster


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


class NodeDidNotStart(Exception):
    """A node's `ray start` exited, or did not say it started within 180 s; ``log`` is its output."""

    def __init__(self, name: str, log: bytes) -> None:
        super().__init__(f"ray node {name} did not start:\n{log.decode(errors='replace')[-3000:]}")
        self.log = log


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
    port: int = field(default_factory=free_port)
    client_port: int = field(default_factory=free_port)
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
            f"--node-manager-port={free_port()}",
            f"--object-manager-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
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
                raise NodeDidNotStart(name, log.read_bytes())
            time.sleep(0.2)
        return node

    def _start_retrying(self, args: Callable[[], list[str]], name: str) -> RayNode:
        """:meth:`_start`, tried again (its processes killed, fresh ports) when Ray's own start-up
        limit ran out or a port was taken, up to :data:`START_ATTEMPTS` times; any other failure at
        once."""
        attempt = 1
        while True:
            try:
                return self._start(args(), name)
            except NodeDidNotStart as exc:
                failed = self.nodes.pop()
                failed.kill()
                retry = STARTUP_TIMEOUT in exc.log or any(m in exc.log for m in PORT_TAKEN)
                if not retry or attempt == START_ATTEMPTS:
                    raise RuntimeError(str(exc)) from None
                failed.log.rename(failed.log.with_suffix(f".attempt{attempt}.log"))
                attempt += 1

    def start_head(self, num_cpus: int = 1) -> RayNode:
        def args() -> list[str]:
            self.port, self.client_port = free_port(), free_port()
            return [
                "--head",
                f"--node-ip-address={HEAD_IP}",
                f"--port={self.port}",
                f"--ray-client-server-port={self.client_port}",
                f"--num-cpus={num_cpus}",
                "--include-dashboard=false",
                f"--dashboard-port={free_port()}",
                f"--temp-dir={self.root / 't'}",
            ]

        return self._start_retrying(args, "head")

    def add_worker(self, num_cpus: int = 1) -> RayNode:
        """A worker node process; returns once it has joined."""
        ip = f"127.0.0.{2 + len(self.nodes)}"
        node = self._start_retrying(
            lambda: [f"--address={self.address}", f"--node-ip-address={ip}", f"--num-cpus={num_cpus}"],
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


# ---------------------------------------------------------------------------------------- the music


BAD_FILES = ("empty.ogg", "letter.mp3", "truncated.flac")


def build_ray_catalog(root: Path) -> Path:
    """40 demo tracks, one real Debian tune (several minutes: analysed from excerpts) and three bad
    files, written under ``root`` (read-only for every test: track ids are their paths)."""
    folder = build_demo_library(root, count=40, seed=11)
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


def _library(db: Path) -> tuple[dict[str, dict[str, object]], np.ndarray, list[str], dict[str, str]]:
    """(records by id, the feature matrix, its row ids, problem reasons by file name)."""
    with LibraryStore(db) as store:
        records: dict[str, dict[str, object]] = {str(t.id): t.to_dict() for t in store.tracks()}
        matrix = store.feature_matrix()
        problems = {Path(p.path).name: p.reason for p in store.problems()}
    return records, np.array(matrix.values), list(matrix.ids), problems


def assert_same_library(db: Path, reference: Path) -> None:
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


def start_driver(catalog: Path, db: Path, address: str) -> subprocess.Popen[str]:
    """A scan driver in its own process (so a test can kill it), printing its ScanReport as JSON."""
    return subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(catalog), str(db), address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )


def driver_report(process: subprocess.Popen[str], timeout_s: float = 600) -> dict[str, object]:
    out, err = process.communicate(timeout=timeout_s)
    assert process.returncode == 0, err[-3000:]
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def committed_tracks(db: Path) -> dict[str, float]:
    """Track id → scanned_at_s of every committed track, read as another process would."""
    if not db.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
            return {r[0]: r[1] for r in conn.execute("SELECT id, scanned_at_s FROM tracks")}
    except sqlite3.OperationalError:  # the scan has not created the table yet
        return {}


def run_cadence(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "player", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **(env or {})},
        timeout=900,
    )


def report_counts(report_line: str) -> str:
    """The scan report line without its timings (those differ between runs)."""
    return re.sub(r"\(\d+ s of audio in [\d.]+ s\)", "", report_line).strip()
