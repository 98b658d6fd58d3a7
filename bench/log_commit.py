"""Benchmark the interaction log's commit: one event per transaction, from one thread. Prints JSON.

What one acknowledgement waits for in the log alone, without a server: ``record_many`` of one
playback event, as the server's writer commits a group of one when traffic is light. SQLite in a
temporary directory with ``synchronous`` "normal" (the server's default: no fsync per commit) and
"full" (an fsync per commit), and with ``--log postgresql://…`` the PostgreSQL store on that
database (its tables are created there if missing; the events go to listener ``bench-commit``,
erased at the end). The first 10 % of commits are a warm-up and not measured.

Usage: ``python -m bench.log_commit [--log postgresql://…] [--events 2000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from player.core.records import LogEvent  # noqa: E402
from player.server.logstore import LogStore, open_log_at  # noqa: E402

LISTENER = "bench-commit"


def _commits(log: LogStore, events: int) -> dict[str, Any]:
    latencies_ms = []
    for i in range(events):
        event = LogEvent(
            "started", LISTENER, "bench-session", float(i), track_id=f"t{i % 50}", position_s=0.0
        )
        began = time.perf_counter()
        log.record_many([(event, None)])
        latencies_ms.append((time.perf_counter() - began) * 1000)
    measured = np.array(latencies_ms[events // 10 :])
    return {
        "n": int(measured.size),
        "p50_ms": round(float(np.percentile(measured, 50)), 3),
        "p99_ms": round(float(np.percentile(measured, 99)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--log", default=None, metavar="URL", help="also a postgresql:// log")
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)}}
    for synchronous in ("normal", "full"):
        with (
            tempfile.TemporaryDirectory(prefix="cadence-bench-log-") as tmp,
            open_log_at(Path(tmp) / "log.db", synchronous=synchronous, autocheckpoint=False) as log,
        ):
            result[f"sqlite_{synchronous}"] = _commits(log, args.events)
    if args.log:
        with open_log_at(args.log) as log:
            try:
                result["postgresql"] = _commits(log, args.events)
            finally:
                log.forget(LISTENER)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
