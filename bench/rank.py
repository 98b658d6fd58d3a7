"""Benchmark the next-track decision: latency at 1k/10k/100k tracks, two-stage recall, model load.

Prints one JSON object. Libraries are synthetic (``models.simulate.synthetic_catalog``); listener
states come from simulated listeners of every family (but ``spoken``, whose sentences need the mood
reader) part-way through a session in the real session core (history, likes, skips, some with an
active intent). For each library size and state:

- ``latency_ms``: ``Recommender.recommend(state, count=10)`` wall time (median, p99 over states ×
  repeats), the full decision: context, pre-selection, ONNX scoring, re-ranking, reasons.
- ``cpu_ms``: the calling thread's CPU time for the same calls (the decision is single-threaded:
  numpy element-wise work and onnxruntime with one intra-op thread), which a busy machine inflates
  less than wall time.
- ``recall_at_10``: overlap of the ranker's top 10 after pre-selection with its top 10 when every
  allowed track is scored (``exhaustive=True``).

Usage: ``python bench/rank.py [--sizes 1000 10000 100000] [--states 24] [--repeats 3]``.
Timing on a shared machine is noisy: the load average is reported alongside.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.baselines import NearestRecommender
from models.driver import SessionPlayer
from models.simulate import (
    FAMILIES,
    catalog_matrix,
    draw_listeners,
    run_listener,
    synthetic_catalog,
    truth_from_tracks,
)
from player.core.listener import ListenerState
from player.core.ranking import OnnxRanker, Recommender, shipped_ranker_path


def _states(tracks: list, count: int, seed: int) -> list[tuple[ListenerState, float]]:
    """Listener states part-way through sessions of simulated listeners of every family (played in
    the real session core by the nearest-to-target baseline), every fourth decision."""
    matrix = catalog_matrix(tracks)
    cat = truth_from_tracks(tracks)
    player = SessionPlayer(tracks, NearestRecommender(tracks, matrix))
    out: list[tuple[ListenerState, float]] = []
    per_family = max(1, count // (4 * len(FAMILIES)) + 1)
    for f, family in enumerate(f for f in FAMILIES if f != "spoken"):
        for i, listener in enumerate(draw_listeners(family, per_family, seed=seed, cat=cat)):
            for k, play in enumerate(
                run_listener(
                    listener, cat, player, seed=seed + 31 * f + i, sessions=1, tracks_per_session=16
                ),
                start=1,
            ):
                if k % 4 == 0:
                    out.append((copy.deepcopy(player.state), play.decision.at_s))
    return out[:count]


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--states", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, default=shipped_ranker_path())
    args = parser.parse_args()

    loads = []
    for _ in range(5):
        t0 = time.perf_counter()
        ranker = OnnxRanker.load(args.model)
        loads.append((time.perf_counter() - t0) * 1000)
    result: dict[str, object] = {
        "model": str(args.model),
        "model_version": ranker.model_version,
        "model_load_ms": {"median": round(statistics.median(loads), 2), "max": round(max(loads), 2)},
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "libraries": {},
    }
    for n in args.sizes:
        tracks = synthetic_catalog(n, seed=5)
        t0 = time.perf_counter()
        rec = Recommender(tracks, catalog_matrix(tracks), ranker)
        build_ms = (time.perf_counter() - t0) * 1000
        states = _states(tracks, args.states, seed=900)
        rec.recommend(states[0][0], count=10, at_s=states[0][1])  # warm caches
        latencies: list[float] = []
        cpu: list[float] = []
        for _ in range(args.repeats):
            for state, at_s in states:
                t0, c0 = time.perf_counter(), time.thread_time()
                rec.recommend(state, count=10, at_s=at_s)
                latencies.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
        recalls = []
        exhaustive_ms = []
        for state, at_s in states:
            two_stage = set(rec.top_scored(state, at_s=at_s, k=10))
            t0 = time.perf_counter()
            full = set(rec.top_scored(state, at_s=at_s, k=10, exhaustive=True))
            exhaustive_ms.append((time.perf_counter() - t0) * 1000)
            recalls.append(len(two_stage & full) / 10.0)
        result["libraries"][str(n)] = {  # type: ignore[index]
            "tracks": n,
            "states": len(states),
            "latency_ms": {
                "median": round(statistics.median(latencies), 2),
                "p99": round(_percentile(latencies, 99), 2),
                "samples": len(latencies),
            },
            "cpu_ms": {"median": round(statistics.median(cpu), 2), "p99": round(_percentile(cpu, 99), 2)},
            "exhaustive_top10_ms_median": round(statistics.median(exhaustive_ms), 2),
            "recall_at_10": round(float(np.mean(recalls)), 4),
            "recall_at_10_min": round(float(np.min(recalls)), 4),
            "recommender_build_ms": round(build_ms, 1),
        }
        print(f"{n} tracks done", file=sys.stderr)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
