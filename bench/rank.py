"""Benchmark the next-track decision: latency at 1k/10k/100k tracks, two-stage recall, model load.

Prints one JSON object. Libraries are synthetic (``models.simulate.synthetic_catalog``); listener
states come from simulated listeners of every family (but ``spoken``, whose sentences need the mood
reader) part-way through a session in the real session core (history, likes, skips, some with an
active intent).

Each library is measured twice, as ``without_cf`` (``Recommender(tracks, matrix, ranker)``) and as
``with_cf`` (``Recommender(..., cf=model)``, as served: ``player.app`` always passes the home's
``cf.npz``, so every decision folds the listener in and scores its candidates). The CF model is a real
:class:`player.cf.CfModel` trained with the project's own code over the bench's catalog:

- the log: a simulated household over that catalog (``models.cf_eval.simulate_household`` with its
  default configuration, 4 taste groups × 4 listeners × 300 plays, on the same seed and so the same
  catalog) plus the logs of the bench's own simulated listeners (the listeners served are members of
  the home, as in a real one);
- evidence and confidences: ``models.cf.evidence_by_listener`` and ``player.cf.confidence``;
  factors: ``models.cf.fit_als`` (``implicit``'s ALS, the shipped hyper-parameters);
- but the model's tracks are *every* track of the library, not only those two listeners played
  (``models.cf.build_matrix``'s rule), so that the fold-in scores a library-sized item matrix: a
  household of a few listeners plays a few per cent of 100k tracks, and a track nobody played gets
  the ALS item solve without observations, a zero factor (its score is the neutral 0.5, as for a
  track outside a trained model). The cost of a decision does not depend on the factors' values.

For each library size, variant and state:

- ``latency_ms``: ``Recommender.recommend(state, count=10)`` wall time (median, p99 over states ×
  repeats), the full decision: context (and the CF fold-in), pre-selection, ONNX scoring,
  re-ranking, reasons. The two variants' calls alternate, so a change of load hits both alike.
- ``cpu_ms``: the calling thread's CPU time for the same calls, which a busy machine inflates less
  than wall time. The decision runs on the calling thread (numpy element-wise work, no BLAS call
  large enough for OpenBLAS to wake its threads) but for the ONNX scoring of 256 rows or more,
  whose rows the served ranker splits with a helper thread (``player.ranker_threads``, two threads
  on two or more CPUs): ``process_cpu_ms`` (every thread of the process) counts the helper's part,
  ``cpu_ms`` does not.
- ``iso_walk`` / ``one_target``: the same figures for the decisions whose queue walks toward a
  request (several targets: a shortlist, features and ranker scores per target) and for the others,
  over the bench's states and ``--walks`` more (copies of states without a request, each with a
  request just made: which states walk depends on the library size, and at 100k none of the 24
  does); the walks are the slowest decisions. The headline ``latency_ms``/``cpu_ms`` are over the
  bench's states alone, as before the walks were added.
- ``gc``: garbage collections during the timed calls (the garbage the setup leaves is collected
  before them), their number and longest pause: a full collection traverses every object of the
  process, the library's 100k track records included.
- ``recall_at_10``: overlap of the ranker's top 10 after pre-selection with its top 10 when every
  allowed track is scored (``exhaustive=True``).
- ``cf_scored_states`` (``with_cf``): the share of states the model had something to say for (a
  positive pair with a track it has a non-zero factor for); the others decide as without CF.

``--scanned 2000`` adds ``scanned``: ``recall_at_10`` (without CF) on a demo library of that size
synthesized and scanned by the real extractor (``models.catalogs.demo_truth_library``, seed 77, built
once into ``--cache``: about 6 minutes for 2000 tracks and 28 for 10 000 on 2 cores). The synthetic libraries'
descriptors are drawn by ``synthetic_catalog``, not measured from audio; the pre-selection's shipped
weights are distilled on scanned tracks, and the two distributions differ: each decision fits them
again to the ranker's scores of 256 of its tracks (docs/ranking.md, "Two-stage recall").

Usage: ``python bench/rank.py [--sizes 1000 10000 100000] [--states 24] [--walks 8] [--repeats 3]
[--scanned 2000] [--cache DIR]``.
Timing on a shared machine is noisy: the load average is reported alongside.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.baselines import NearestRecommender
from models.catalogs import demo_truth_library
from models.cf import FACTORS, REGULARIZATION, evidence_by_listener, fit_als
from models.cf_eval import HouseholdConfig, simulate_household
from models.driver import SessionPlayer
from models.simulate import (
    FAMILIES,
    catalog_matrix,
    draw_listeners,
    run_listener,
    synthetic_catalog,
    truth_from_tracks,
)
from mood.types import Intent
from player.cf import CfModel, confidence
from player.core.listener import ListenerState
from player.core.ranking import Recommender, shipped_ranker_path
from player.core.records import LogEvent
from player.core.track import Track
from player.ranker_threads import load_served_ranker

CATALOG_SEED = 5
"""Seed of the synthetic libraries (and of the CF household, which draws the same catalog from it)."""
SCANNED_SEED = 77
"""Seed of the ``--scanned`` demo libraries (neither the training catalog's nor the evaluation's)."""


def _states(tracks: list, count: int, seed: int) -> tuple[list[tuple[ListenerState, float]], list[LogEvent]]:
    """Listener states part-way through sessions of simulated listeners of every family (played in
    the real session core by the nearest-to-target baseline), every fourth decision; and those
    listeners' logs."""
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
    return out[:count], [e for events in player.log.values() for e in events]


def _cf_model(tracks: list[Track], listeners_log: list[LogEvent]) -> tuple[CfModel, dict[str, object]]:
    """A CF model with factors for every track of ``tracks`` (module docstring): trained on a
    simulated household over the same catalog and on ``listeners_log``."""
    t0 = time.perf_counter()
    house = simulate_household(HouseholdConfig(tracks=len(tracks)), seed=CATALOG_SEED)
    if [t.id for t in house.tracks] != [t.id for t in tracks]:
        raise RuntimeError("the CF household was simulated over another catalog than the bench's")
    simulate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    evidence = evidence_by_listener([*house.events, *listeners_log])
    item_ids = tuple(sorted(t.id for t in tracks))
    column = {t: j for j, t in enumerate(item_ids)}
    listener_ids = tuple(sorted(evidence))
    rows, cols, data = [], [], []
    for i, listener in enumerate(listener_ids):
        for track, w in evidence[listener].items():
            rows.append(i)
            cols.append(column[track])
            data.append(confidence(w))
    confidences = sp.csr_matrix(
        (np.array(data, np.float32), (np.array(rows, np.int64), np.array(cols, np.int64))),
        shape=(len(listener_ids), len(item_ids)),
        dtype=np.float32,
    )
    users, items = fit_als(confidences)
    model = CfModel(
        item_ids=item_ids,
        item_factors=items,
        user_ids=listener_ids,
        user_factors=users,
        factors=FACTORS,
        regularization=REGULARIZATION,
    )
    info: dict[str, object] = {
        "listeners": len(listener_ids),
        "household_listeners": len(house.listeners),
        "items": len(item_ids),
        "items_with_evidence": int((np.abs(items).sum(axis=1) > 0).sum()),
        "simulate_s": round(simulate_s, 1),
        "train_s": round(time.perf_counter() - t0, 1),
    }
    return model, info


REQUESTS = ("calmer", "energize", "sleep", "party")
"""Requests added to copies of some states for :func:`_walk_states`."""


def _targets_of(state: ListenerState, at_s: float) -> int:
    """Distinct targets of a 10-track queue (more than one: an iso walk toward a request)."""
    return len({(round(t.valence, 6), round(t.energy, 6)) for t in state.targets(10, at_s=at_s)})


def _walk_states(states: list[tuple[ListenerState, float]], count: int) -> list[tuple[ListenerState, float]]:
    """Copies of the first ``count`` states without a request, each with one just made (the requests of
    :data:`REQUESTS` in turn): decisions that walk the queue toward it (several targets)."""
    out: list[tuple[ListenerState, float]] = []
    for state, at_s in states:
        if len(out) >= count:
            break
        if _targets_of(state, at_s) > 1:
            continue
        walk = copy.deepcopy(state)
        walk.add_intent(Intent(REQUESTS[len(out) % len(REQUESTS)]), at_s=at_s)  # type: ignore[arg-type]
        if _targets_of(walk, at_s) > 1:
            out.append((walk, at_s))
    return out


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def _figures(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "p99": round(_percentile(values, 99), 2)}


def _summary(
    latencies: list[float], cpu: list[float], process_cpu: list[float], walks: list[bool], added: list[bool]
) -> dict[str, object]:
    """Headline figures over the bench's states (not the added walks); then every timed decision split
    by whether its queue walks toward a request."""

    def pick(values: list[float], keep: list[bool]) -> list[float]:
        return [x for x, k in zip(values, keep, strict=True) if k]

    def part(walk: bool) -> dict[str, object]:
        keep = [w == walk for w in walks]
        if not any(keep):
            return {"samples": 0}
        return {
            "latency_ms": _figures(pick(latencies, keep)),
            "cpu_ms": _figures(pick(cpu, keep)),
            "samples": sum(keep),
        }

    own = [not a for a in added]
    return {
        "latency_ms": {**_figures(pick(latencies, own)), "samples": sum(own)},
        "cpu_ms": _figures(pick(cpu, own)),
        "process_cpu_ms": _figures(pick(process_cpu, own)),
        "one_target": part(False),
        "iso_walk": part(True),
    }


class _GcWatch:
    """Garbage collections between :meth:`start` and :meth:`stop`: how many, the longest pause."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._began = 0.0
        self._on = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if not self._on:
            return
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.pauses.append((time.perf_counter() - self._began) * 1000)

    def start(self) -> None:
        gc.collect()  # what the setup left behind is not the decisions' garbage
        self.pauses.clear()
        self._on = True

    def stop(self) -> dict[str, float]:
        self._on = False
        return {"collections": len(self.pauses), "longest_ms": round(max(self.pauses, default=0.0), 2)}


def _recall(rec: Recommender, states: list[tuple[ListenerState, float]]) -> dict[str, float]:
    recalls = []
    exhaustive_ms = []
    for state, at_s in states:
        two_stage = set(rec.top_scored(state, at_s=at_s, k=10))
        t0 = time.perf_counter()
        full = set(rec.top_scored(state, at_s=at_s, k=10, exhaustive=True))
        exhaustive_ms.append((time.perf_counter() - t0) * 1000)
        recalls.append(len(two_stage & full) / 10.0)
    return {
        "exhaustive_top10_ms_median": round(statistics.median(exhaustive_ms), 2),
        "recall_at_10": round(float(np.mean(recalls)), 4),
        "recall_at_10_min": round(float(np.min(recalls)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--states", type=int, default=24)
    parser.add_argument("--walks", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, default=shipped_ranker_path())
    parser.add_argument(
        "--scanned",
        type=int,
        nargs="*",
        default=[],
        help="also measure recall_at_10 on scanned demo libraries of these sizes (built once into --cache)",
    )
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "cadence" / "eval-catalogs")
    args = parser.parse_args()

    loads = []
    for _ in range(5):
        t0 = time.perf_counter()
        ranker = load_served_ranker(args.model)
        loads.append((time.perf_counter() - t0) * 1000)
    result: dict[str, object] = {
        "model": str(args.model),
        "model_version": ranker.model_version,
        "model_load_ms": {"median": round(statistics.median(loads), 2), "max": round(max(loads), 2)},
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "libraries": {},
        "scanned": {},
    }
    for n in args.sizes:
        tracks = synthetic_catalog(n, seed=CATALOG_SEED)
        states, listeners_log = _states(tracks, args.states, seed=900)
        cf, cf_info = _cf_model(tracks, listeners_log)
        matrix = catalog_matrix(tracks)
        variants: dict[str, Recommender] = {}
        build_ms: dict[str, float] = {}
        for name, source in (("without_cf", None), ("with_cf", cf)):
            t0 = time.perf_counter()
            variants[name] = Recommender(tracks, matrix, ranker, cf=source)
            build_ms[name] = (time.perf_counter() - t0) * 1000
            variants[name].recommend(states[0][0], count=10, at_s=states[0][1])  # warm caches
        walk_states = _walk_states(states, args.walks)
        # timed: the bench's states (the headline figures), then the added walks (their own figures)
        timed = [(state, at_s, False) for state, at_s in states] + [(s, t, True) for s, t in walk_states]
        latencies: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        process_cpu: dict[str, list[float]] = {name: [] for name in variants}
        added: list[bool] = []
        walks: list[bool] = []
        order = list(variants)
        gc_watch = _GcWatch()
        gc.callbacks.append(gc_watch)
        gc_watch.start()
        for _ in range(args.repeats):
            for state, at_s, is_added in timed:
                order.reverse()  # alternate which variant goes first
                for name in order:
                    rec = variants[name]
                    t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
                    rec.recommend(state, count=10, at_s=at_s)
                    latencies[name].append((time.perf_counter() - t0) * 1000)
                    cpu[name].append((time.thread_time() - c0) * 1000)
                    process_cpu[name].append((time.process_time() - p0) * 1000)
                added.append(is_added)
                walks.append(_targets_of(state, at_s) > 1)
        gc_figures = gc_watch.stop()
        gc.callbacks.remove(gc_watch)
        library: dict[str, object] = {
            "tracks": n,
            "states": len(states),
            "walk_states_added": len(walk_states),
            "gc": gc_figures,
        }
        for name, rec in variants.items():
            library[name] = {
                **_summary(latencies[name], cpu[name], process_cpu[name], walks, added),
                **_recall(rec, states),
                "recommender_build_ms": round(build_ms[name], 1),
            }
        scored = [cf.stats_scores(state.track_stats, rec.catalog.ids) is not None for state, _ in states]
        library["with_cf"]["cf_scored_states"] = round(float(np.mean(scored)), 3)  # type: ignore[index]
        library["cf_model"] = cf_info
        result["libraries"][str(n)] = library  # type: ignore[index]
        print(f"{n} tracks done", file=sys.stderr)
    for n in args.scanned:
        lib = demo_truth_library(args.cache, seed=SCANNED_SEED, count=n)
        states, _ = _states(lib.tracks, args.states, seed=900)
        result["scanned"][str(n)] = {  # type: ignore[index]
            "tracks": len(lib.tracks),
            "states": len(states),
            **_recall(Recommender(lib.tracks, lib.matrix, ranker), states),
        }
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
