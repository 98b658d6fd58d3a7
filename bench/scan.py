"""Benchmark `cadence scan` on the demo catalog and on Debian's extremetuxracer music; prints JSON.

For each corpus a scan runs in a child process (its own session, so every worker is found in /proc):
tracks, audio seconds, wall seconds, x-realtime overall and per worker (audio seconds over the seconds
the workers spent on files), the pool's warm-up, peak RSS per process and of the whole process tree,
and an unchanged rescan. Then the first track's latency in a fresh process three ways: numba cold
(empty NUMBA_CACHE_DIR, everything compiles), numba cached (compiled kernels on disk), and warm (after
``warm_up()``, the state a scan worker starts in).

    .venv/bin/python bench/scan.py [--workers 2] [--demo-count 120] [--skip-cold]

``--engine ray`` measures the Ray engine instead, side by side with the local one in one run: for each
of ``--repeats`` rounds, on the same demo catalog and each into a fresh library, a local scan with 1
and with 2 worker processes, then a Ray scan on a cluster started on this machine (loopback; a head
with no CPU for tasks, so the driver's node only coordinates) with 1 worker node of 1 CPU, and again
after a second worker node joins. It prints each configuration's median wall time, files/s and
x-realtime, and the per-CPU rate (audio seconds over the CPU seconds the workers spent on files) that
docs/scale.md scales to a large catalog:

    .venv/bin/python bench/scan.py --engine ray [--repeats 3] [--demo-count 40]

Timings depend on the machine's load; the JSON records the load average next to them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ETR_MUSIC = Path("/usr/share/games/etr/music")


def _child_scan(folder: str, db: str, workers: int, address: str | None = None) -> None:
    """One scan (local, or on the Ray cluster at ``address``) and an unchanged rescan; prints JSON."""
    sys.path.insert(0, str(REPO))
    from player.library.scan import scan

    if address is None:
        report = scan([Path(folder)], Path(db), workers=workers, progress=False)
        rescan = scan([Path(folder)], Path(db), workers=workers, progress=False)
    else:
        from player.library.ray_scan import scan_on_ray

        report = scan_on_ray([Path(folder)], Path(db), address=address, progress=False)
        rescan = scan_on_ray([Path(folder)], Path(db), address=address, progress=False)
    print(
        json.dumps(
            {
                "tracks": len(report.extracted),
                "problems": len(report.problems),
                "audio_s": report.audio_s,
                "wall_s": report.wall_s,
                "worker_busy_s": sum(report.worker_latencies_s),
                "worker_cpu_s": sum(report.worker_cpu_s),
                "median_track_worker_s": statistics.median(report.worker_latencies_s or [0.0]),
                "pool_warm_up_s": report.warm_up_s,
                "rescan_unchanged_wall_s": rescan.wall_s,
            }
        )
    )


def _child_first_track(path: str) -> None:
    start, cpu_start = time.perf_counter(), time.process_time()
    sys.path.insert(0, str(REPO))
    import librosa  # noqa: F401  (lazy package: the numba kernels load on first use)

    from player.library import features

    imported, cpu_imported = time.perf_counter(), time.process_time()
    features.extract_file(Path(path))
    first, cpu_first = time.perf_counter(), time.process_time()
    features.warm_up()
    warm, warm_cpu = [], []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        features.extract_file(Path(path))
        warm.append(time.perf_counter() - t)
        warm_cpu.append(time.process_time() - c)
    print(
        json.dumps(
            {
                "import_s": imported - start,
                "import_cpu_s": cpu_imported - cpu_start,
                "first_track_s": first - imported,
                "first_track_cpu_s": cpu_first - cpu_imported,
                "warm_track_s": statistics.median(warm),
                "warm_track_cpu_s": statistics.median(warm_cpu),
            }
        )
    )


def _session_rss_kb(sid: int) -> tuple[int, int]:
    """(sum of VmRSS, max of VmHWM) over the processes of session ``sid``, in kB."""
    total = peak = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) != sid:
                continue
            status = Path(f"/proc/{entry}/status").read_text()
        except (OSError, ProcessLookupError):
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        total += int(fields.get("VmRSS", "0 kB").split()[0])
        peak = max(peak, int(fields.get("VmHWM", "0 kB").split()[0]))
    return total, peak


def _run_measured(args: list[str], env: dict[str, str] | None = None) -> tuple[dict[str, Any], int, int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
        text=True,
    )
    peak_total = peak_process = 0
    while proc.poll() is None:
        total, peak = _session_rss_kb(proc.pid)
        peak_total, peak_process = max(peak_total, total), max(peak_process, peak)
        time.sleep(0.1)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed with {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1]), peak_total, peak_process


def _corpus(name: str, folder: Path, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        load = os.getloadavg()[0]
        result, peak_total, peak_process = _run_measured(
            ["--child-scan", str(folder), str(Path(tmp) / "library.db"), str(workers)]
        )
    return {
        "corpus": name,
        "workers": workers,
        **{k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()},
        "x_realtime_total": round(result["audio_s"] / result["wall_s"], 1),
        "x_realtime_per_worker": round(result["audio_s"] / max(result["worker_busy_s"], 1e-9), 1),
        "x_realtime_per_worker_cpu": round(result["audio_s"] / max(result["worker_cpu_s"], 1e-9), 1),
        "peak_rss_mb_per_process": round(peak_process / 1024, 1),
        "peak_rss_mb_tree": round(peak_total / 1024, 1),
        "load_avg_1min_at_start": round(load, 2),
    }


# ------------------------------------------------------------------------------ --engine ray

_RAY = Path(sys.executable).with_name("ray")
_HEAD_IP = "127.0.0.2"
"""Loopback but not 127.0.0.1, which Ray rewrites to the machine's outward address."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Cluster:
    """A Ray cluster on loopback: `ray start --block` per node, each its own session, killed whole."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.nodes: list[subprocess.Popen[bytes]] = []

    @property
    def address(self) -> str:
        return f"{_HEAD_IP}:{self.port}"

    def _start(self, args: list[str]) -> None:
        log = self.root / f"node{len(self.nodes)}.log"
        ports = [f"--{name}-port={_free_port()}" for name in
                 ("node-manager", "object-manager", "dashboard-agent-listen", "dashboard-agent-grpc",
                  "metrics-export", "runtime-env-agent")]  # fmt: skip
        with open(log, "wb") as out:
            node = subprocess.Popen(
                [str(_RAY), "start", "--block", *args, *ports, "--object-store-memory=100000000",
                 "--disable-usage-stats", "--include-log-monitor=false"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.root,
                env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
            )  # fmt: skip
        self.nodes.append(node)
        deadline = time.monotonic() + 180
        while b"Ray runtime started" not in log.read_bytes():
            if node.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"ray node did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)

    def start_head(self) -> None:
        self._start(["--head", f"--node-ip-address={_HEAD_IP}", f"--port={self.port}", "--num-cpus=0",
                     "--include-dashboard=false", f"--dashboard-port={_free_port()}",
                     f"--ray-client-server-port={_free_port()}", f"--temp-dir={self.root / 't'}"])  # fmt: skip

    def add_worker(self) -> None:
        self._start([f"--address={self.address}", f"--node-ip-address=127.0.0.{2 + len(self.nodes)}",
                     "--num-cpus=1"])  # fmt: skip
        want = len(self.nodes) - 1
        for _ in range(120):
            status = subprocess.run([str(_RAY), "status", f"--address={self.address}"],
                                    capture_output=True, text=True, timeout=60).stdout  # fmt: skip
            if f"/{want}.0 CPU" in status:
                return
            time.sleep(1.0)
        raise SystemExit(f"the cluster never reached {want} CPUs")

    def stop(self) -> None:
        for node in self.nodes:
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        if os.getsid(int(entry)) == node.pid:
                            os.kill(int(entry), signal.SIGKILL)
            node.wait(timeout=30)


def _rates(result: dict[str, Any]) -> dict[str, float]:
    return {
        "wall_s": result["wall_s"],
        "files_per_s": result["tracks"] / result["wall_s"],
        "x_realtime_total": result["audio_s"] / result["wall_s"],
        "x_realtime_per_cpu": result["audio_s"] / max(result["worker_cpu_s"], 1e-9),
        "x_realtime_per_worker_busy": result["audio_s"] / max(result["worker_busy_s"], 1e-9),
        "warm_up_s": result["pool_warm_up_s"],
        "rescan_unchanged_wall_s": result["rescan_unchanged_wall_s"],
    }


def _ray_bench(demo_count: int, repeats: int) -> dict[str, Any]:
    """Local (1, 2 workers) and Ray (1, 2 worker nodes) scans of one catalog, round after round."""
    sys.path.insert(0, str(REPO))
    from player.library.demo import build_demo_library

    runs: dict[str, list[dict[str, float]]] = {
        "local_1_worker": [], "local_2_workers": [], "ray_1_worker_node": [], "ray_2_worker_nodes": [],
    }  # fmt: skip
    tracks = audio_s = 0.0
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        demo = build_demo_library(Path(tmp) / "demo", count=demo_count)

        def one(name: str, workers: int, address: str | None) -> None:
            nonlocal tracks, audio_s
            db = Path(tmp) / f"{name}.db"
            args = ["--child-scan", str(demo), str(db), str(workers)]
            loads.append(os.getloadavg()[0])
            result, _, _ = _run_measured(args + (["--address", address] if address else []))
            db.unlink()
            tracks, audio_s = result["tracks"], result["audio_s"]
            runs[name].append(_rates(result))

        for _ in range(repeats):
            one("local_1_worker", 1, None)
            one("local_2_workers", 2, None)
            root = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths
            cluster = _Cluster(root)
            try:
                cluster.start_head()
                cluster.add_worker()
                one("ray_1_worker_node", 1, cluster.address)
                cluster.add_worker()
                one("ray_2_worker_nodes", 2, cluster.address)
            finally:
                cluster.stop()
                shutil.rmtree(root, ignore_errors=True)
    medians = {
        name: {key: round(statistics.median(r[key] for r in results), 3) for key in results[0]}
        for name, results in runs.items()
    }
    return {
        "cpu_count": os.cpu_count(),
        "tracks": tracks,
        "audio_s": round(audio_s, 1),
        "repeats": repeats,
        "load_avg_1min_median": round(statistics.median(loads), 2),
        "median": medians,
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--demo-count", type=int, default=120)
    parser.add_argument("--skip-cold", action="store_true", help="skip the numba cold-compile measurement")
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--repeats", type=int, default=3, help="with --engine ray: rounds (medians reported)")
    parser.add_argument("--child-scan", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--address", help=argparse.SUPPRESS)
    parser.add_argument("--child-first-track", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_scan:
        _child_scan(args.child_scan[0], args.child_scan[1], int(args.child_scan[2]), args.address)
        return
    if args.engine == "ray":
        count = args.demo_count if "--demo-count" in sys.argv else 40
        print(json.dumps(_ray_bench(count, args.repeats), indent=1))
        return
    if args.child_first_track:
        _child_first_track(args.child_first_track)
        return

    sys.path.insert(0, str(REPO))
    from player.library.demo import build_demo_library

    out: dict[str, Any] = {"cpu_count": os.cpu_count(), "corpora": []}
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        demo = build_demo_library(Path(tmp) / "demo", count=args.demo_count)
        out["demo_build_s"] = round(time.perf_counter() - t, 2)
        out["corpora"].append(_corpus("demo", demo, args.workers))
        out["corpora"].append(_corpus("etr-music", ETR_MUSIC, args.workers))
        first = str(sorted(demo.glob("*.flac"))[0])
        latency: dict[str, Any] = {"track": Path(first).name}
        cached, _, rss = _run_measured(["--child-first-track", first])
        latency["numba_cached"] = {k: round(v, 3) for k, v in cached.items()}
        latency["peak_rss_mb_single_process"] = round(rss / 1024, 1)
        if not args.skip_cold:
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "NUMBA_CACHE_DIR": cache}
                cold, _, _ = _run_measured(["--child-first-track", first], env=env)
            latency["numba_cold"] = {k: round(v, 3) for k, v in cold.items()}
        out["first_track_fresh_process"] = latency
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
