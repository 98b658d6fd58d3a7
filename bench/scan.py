"""Benchmark `cadence scan` on the demo catalog and on Debian's extremetuxracer music; prints JSON.

For each corpus a scan runs in a child process (its own session, so every worker is found in /proc):
tracks, audio seconds, wall seconds, x-realtime overall and per worker (audio seconds over the seconds
the workers spent on files), the pool's warm-up, peak RSS per process and of the whole process tree,
and an unchanged rescan. Then the first track's latency in a fresh process three ways: numba cold
(empty NUMBA_CACHE_DIR, everything compiles), numba cached (compiled kernels on disk), and warm (after
``warm_up()``, the state a scan worker starts in).

    .venv/bin/python bench/scan.py [--workers 2] [--demo-count 120] [--skip-cold]

Timings depend on the machine's load; the JSON records the load average next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ETR_MUSIC = Path("/usr/share/games/etr/music")


def _child_scan(folder: str, db: str, workers: int) -> None:
    sys.path.insert(0, str(REPO))
    from player.library.scan import scan

    report = scan([Path(folder)], Path(db), workers=workers, progress=False)
    rescan = scan([Path(folder)], Path(db), workers=workers, progress=False)
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--demo-count", type=int, default=120)
    parser.add_argument("--skip-cold", action="store_true", help="skip the numba cold-compile measurement")
    parser.add_argument("--child-scan", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-first-track", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_scan:
        _child_scan(args.child_scan[0], args.child_scan[1], int(args.child_scan[2]))
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
