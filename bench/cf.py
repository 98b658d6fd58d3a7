"""Benchmark collaborative filtering: serving latency, training time, and the household evaluation.

Prints one JSON object (and writes it with ``--out FILE``):

- ``serving``: on a household of 10k synthetic tracks (``models.cf_eval.simulate_household``,
  5 groups × 6 listeners, 300 plays each), for every listener's whole log (events as logged,
  session rows included):
  ``fold_in_ms`` — :meth:`CfModel.user_vector` (evidence from the events + the 32×32 solve);
  ``scores_700_ms`` — :meth:`CfModel.scores` for 700 candidate ids (the ranker's pre-selection);
  ``scores_all_ms`` — the same for all 10k library ids (one tuple, mapped once);
  ``also_played_ms`` — :meth:`CfModel.also_played` (n = 20).
  Measured twice: on the model trained from that household (``trained``: only tracks two listeners
  played are in it) and on a model with factors for all 10 000 tracks (``10k_items``: random factors
  of the same shape; the cost does not depend on their values). Median and p90 over listeners ×
  repeats, wall time.
- ``training``: :func:`models.cf.train_cf` on that household's log (seconds), and ``load_ms``
  (:meth:`CfModel.load` of the saved file).
- ``evaluation``: :func:`models.cf_eval.evaluate_households` with the default configuration over
  ``--seeds`` (recall@20 and NDCG@20, mean ± sd over households, and each household's figures).

Usage: ``python bench/cf.py [--seeds 1 2 3 4 5] [--repeats 20] [--out FILE]``. Timing on a shared
machine is noisy: the load average is reported alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.cf import train_cf
from models.cf_eval import HouseholdConfig, evaluate_households, simulate_household
from player.cf import CfModel
from player.core.records import LogEvent


def _ms(samples: list[float]) -> dict[str, float]:
    return {
        "median": round(1000 * statistics.median(samples), 3),
        "p90": round(1000 * float(np.percentile(samples, 90)), 3),
    }


def _serving(model: CfModel, logs: dict[str, list[LogEvent]], ids: tuple[str, ...], repeats: int) -> dict:
    rng = np.random.default_rng(0)
    candidates = [ids[int(i)] for i in rng.choice(len(ids), 700, replace=False)]
    some_track = next(t for t in ids if model.knows(t))
    timings: dict[str, list[float]] = {
        "fold_in_ms": [],
        "scores_700_ms": [],
        "scores_all_ms": [],
        "also_played_ms": [],
    }
    for listener, events in logs.items():
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.user_vector(events, listener)
            t1 = time.perf_counter()
            model.scores(listener, events, candidates)
            t2 = time.perf_counter()
            model.scores(listener, events, ids)
            t3 = time.perf_counter()
            model.also_played(some_track, 20)
            t4 = time.perf_counter()
            timings["fold_in_ms"].append(t1 - t0)
            timings["scores_700_ms"].append(t2 - t1)
            timings["scores_all_ms"].append(t3 - t2)
            timings["also_played_ms"].append(t4 - t3)
    return {"items": len(model.item_ids), **{k: _ms(v) for k, v in timings.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    house = simulate_household(HouseholdConfig(tracks=10000, groups=5, listeners_per_group=6), seed=11)
    logs: dict[str, list[LogEvent]] = {}
    for e in house.events:
        logs.setdefault(e.listener_id, []).append(e)
    t0 = time.perf_counter()
    training = train_cf(house.events)
    train_s = time.perf_counter() - t0
    assert training.model is not None, training.reason
    trained = training.model
    ids = tuple(house.cat.ids)
    wide = CfModel(
        item_ids=ids,
        item_factors=np.random.default_rng(1).normal(0, 0.1, (len(ids), trained.factors)).astype(np.float32),
        user_ids=(),
        user_factors=np.zeros((0, trained.factors), np.float32),
        factors=trained.factors,
        regularization=trained.regularization,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cf.npz"
        wide.save(path)
        loads = []
        for _ in range(10):
            t0 = time.perf_counter()
            CfModel.load(path)
            loads.append(time.perf_counter() - t0)
        size = path.stat().st_size
    events_per_listener = statistics.median(len(v) for v in logs.values())
    report = {
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "serving": {
            "household": {
                "tracks": len(ids),
                "listeners": len(logs),
                "events_per_listener_median": events_per_listener,
                "playback_events_per_listener_median": statistics.median(
                    sum(1 for e in v if e.track_id) for v in logs.values()
                ),
            },
            "trained": _serving(trained, logs, ids, args.repeats),
            "10k_items": _serving(wide, logs, ids, args.repeats),
        },
        "training": {
            "seconds": round(train_s, 3),
            "listeners": training.listeners,
            "tracks": training.items,
            "load_ms_10k_items": _ms(loads),
            "file_bytes_10k_items": size,
        },
    }
    t0 = time.perf_counter()
    evaluation = evaluate_households(
        HouseholdConfig(),
        args.seeds,
        progress=lambda run: print(
            f"household seed {run['seed']}: {json.dumps(run['methods'])}", file=sys.stderr
        ),
    )
    evaluation["seconds"] = round(time.perf_counter() - t0, 1)
    report["evaluation"] = evaluation
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
