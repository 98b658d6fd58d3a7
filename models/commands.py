"""`cadence train` and `cadence eval`.

``cadence eval [--home DIR] [--json]`` evaluates the ranker that serving would load
(:func:`player.core.ranking.default_ranker_path`) against the baselines on held-out simulated listeners,
over the library at ``--home`` if it has tracks, else over a synthetic catalog (the output says which).

``cadence train [--home DIR]`` retrains from ``HOME/log.db`` (topped up with simulated sessions while
the log is small), then replaces ``HOME/models/ranker.onnx`` atomically only if the new model
evaluates at least as well as the current one: no higher skip rate on held-out simulated listeners
and, when the log has held-out listeners, no lower NDCG@10 on their logged plays.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from models.evaluate import METRICS, EvalConfig, evaluate
from models.simulate import catalog_matrix, synthetic_catalog
from models.train import (
    NUM_ROUNDS,
    TrainingSet,
    log_queries,
    save_model_atomic,
    simulated_queries,
    train_model,
)
from player.core.ranking import MatrixLike, OnnxRanker, default_ranker_path, shipped_ranker_path
from player.core.track import Track
from player.errors import RankerError
from player.settings import Settings

__all__ = [
    "EvalCatalog",
    "GateResult",
    "cmd_eval",
    "cmd_train",
    "load_catalog",
    "log_ndcg",
    "replace_if_better",
    "retrain",
]

logger = logging.getLogger(__name__)

SYNTHETIC_EVAL_SEED = 21
"""Seed of the synthetic catalog used when the home has no library (never used in training)."""
MIN_TRAINING_ROWS = 60000
"""Below this many logged rows, simulated sessions top the training set up."""
ROWS_PER_SIM_LISTENER = 2200


@dataclass(frozen=True)
class EvalCatalog:
    """The tracks evaluation and training run on, and where they came from."""

    tracks: list[Track]
    matrix: MatrixLike
    source: str
    """"library" (the home's library.db) or "synthetic"."""


def load_catalog(settings: Settings, *, synthetic_tracks: int = 1500) -> EvalCatalog:
    """The library at ``settings.home`` if it has tracks, else a synthetic catalog."""
    if settings.library_db.exists():
        from player.library.store import LibraryStore

        with LibraryStore(settings.library_db) as store:
            if store.count() > 0:
                return EvalCatalog(store.tracks(), store.feature_matrix(), "library")
    tracks = synthetic_catalog(synthetic_tracks, seed=SYNTHETIC_EVAL_SEED)
    return EvalCatalog(tracks, catalog_matrix(tracks), "synthetic")


def _events_by_listener(log_db: Path) -> dict[str, list[Any]]:
    if not log_db.exists():
        return {}
    from player.server.log import InteractionLog

    with InteractionLog(log_db) as log:
        return {lid: log.events(lid) for lid in log.listeners()}


def log_ndcg(ranker: OnnxRanker, holdout: TrainingSet) -> float | None:
    """Mean NDCG@10 of ``ranker``'s order of each held-out logged session (None if none)."""
    if not holdout.groups:
        return None
    out = []
    for x, y in zip(holdout.features, holdout.labels, strict=True):
        order = np.argsort(-ranker.score(x), kind="stable")[:10]
        gains = (2.0**y) - 1.0
        disc = 1.0 / np.log2(np.arange(len(order)) + 2.0)
        ideal = float(np.sum(np.sort(gains)[::-1][: len(order)] * disc))
        out.append(float(np.sum(gains[order] * disc)) / ideal if ideal > 0 else 1.0)
    return float(np.mean(out))


@dataclass(frozen=True)
class GateResult:
    """What the quality gate decided and on which numbers."""

    replaced: bool
    reason: str
    candidate: dict[str, Any]
    current: dict[str, Any] | None


def _quality(
    ranker: OnnxRanker, catalog: EvalCatalog, cfg: EvalConfig, holdout: TrainingSet
) -> dict[str, Any]:
    report = evaluate(catalog.tracks, catalog.matrix, ranker, cfg, baselines=False, reaction=False)["ranker"]
    return {
        "skip_rate": report["skip_rate"],
        "ndcg_at_10": report["ndcg_at_10"],
        "log_ndcg_at_10": log_ndcg(ranker, holdout),
    }


def replace_if_better(
    candidate_bytes: bytes,
    target: Path,
    catalog: EvalCatalog,
    cfg: EvalConfig,
    holdout: TrainingSet | None = None,
) -> GateResult:
    """Install ``candidate_bytes`` at ``target`` (atomically) if it evaluates at least as well as the
    model there now (or, if there is none, the shipped one). Both play the same simulated listeners."""
    holdout = holdout or TrainingSet()
    staging = target.parent / f".candidate-{time.time_ns()}.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.write_bytes(candidate_bytes)
    try:
        candidate = _quality(OnnxRanker.load(staging), catalog, cfg, holdout)
    finally:
        staging.unlink(missing_ok=True)
    current_path = target if target.is_file() else shipped_ranker_path()
    try:
        current_ranker = OnnxRanker.load(current_path)
    except RankerError as exc:
        save_model_atomic(candidate_bytes, target)
        return GateResult(True, f"current model unusable ({exc.code}): replaced", candidate, None)
    current = _quality(current_ranker, catalog, cfg, holdout)
    worse = []
    if candidate["skip_rate"] > current["skip_rate"]:
        worse.append(f"skip_rate {candidate['skip_rate']} > {current['skip_rate']}")
    c_log, k_log = candidate["log_ndcg_at_10"], current["log_ndcg_at_10"]
    if c_log is not None and k_log is not None and c_log < k_log:
        worse.append(f"log ndcg@10 {c_log:.4f} < {k_log:.4f}")
    if worse:
        return GateResult(False, "kept the current model: " + "; ".join(worse), candidate, current)
    save_model_atomic(candidate_bytes, target)
    return GateResult(True, "the new model evaluates at least as well: replaced", candidate, current)


def retrain(
    settings: Settings,
    *,
    seed: int = 0,
    min_rows: int = MIN_TRAINING_ROWS,
    rounds: int = NUM_ROUNDS,
    gate: EvalConfig | None = None,
) -> dict[str, Any]:
    """Retrain from the log (+ simulation) and run the quality gate; returns a JSON-ready report."""
    t0 = time.perf_counter()
    catalog = load_catalog(settings)
    events = _events_by_listener(settings.log_db)
    listeners = sorted(events)
    held = set(listeners[::5]) if len(listeners) >= 5 else set()
    train_log = log_queries(
        {k: v for k, v in events.items() if k not in held}, catalog.tracks, catalog.matrix
    )
    holdout = log_queries({k: v for k, v in events.items() if k in held}, catalog.tracks, catalog.matrix)
    ts = TrainingSet()
    ts.extend(train_log)
    top_up = 0
    if ts.rows < min_rows:
        top_up = max(2, math.ceil((min_rows - ts.rows) / ROWS_PER_SIM_LISTENER))
        ts.extend(simulated_queries(catalog.tracks, listeners=top_up, seed=seed + 7))
    info = {"model_version": "trained-" + time.strftime("%Y%m%d%H%M%S"), "catalog": catalog.source}
    _, model = train_model(ts, seed=seed, info=info, rounds=rounds)
    cfg = gate or EvalConfig(listeners=12, seed=4242, sessions=2)
    result = replace_if_better(
        model.SerializeToString(), settings.models_dir / "ranker.onnx", catalog, cfg, holdout
    )
    return {
        "replaced": result.replaced,
        "reason": result.reason,
        "model_path": str(settings.models_dir / "ranker.onnx"),
        "catalog": {"source": catalog.source, "tracks": len(catalog.tracks)},
        "log": {
            "listeners": len(listeners),
            "training_rows": train_log.rows,
            "held_out_listeners": len(held),
            "held_out_rows": holdout.rows,
        },
        "simulated_top_up_listeners": top_up,
        "training_rows": ts.rows,
        "candidate": result.candidate,
        "current": result.current,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence train`: retrain from the interaction log, replace the model only if not worse."""
    report = retrain(settings, seed=int(getattr(args, "seed", 0) or 0))
    print(json.dumps(report, indent=2))
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence eval`: the ranker vs random, most-played and nearest-to-target on held-out listeners."""
    catalog = load_catalog(settings)
    path = default_ranker_path(settings)
    ranker = OnnxRanker.load(path)
    cfg = replace(EvalConfig(), listeners=int(args.listeners), seed=int(args.seed))
    report = evaluate(catalog.tracks, catalog.matrix, ranker, cfg)
    report["config"]["catalog"] = catalog.source
    report["config"]["model_path"] = str(path)
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
        return 0
    rows = [("ranker", report["ranker"]), *report["baselines"].items()]
    print(f"catalog: {catalog.source} ({len(catalog.tracks)} tracks); model: {path} ({ranker.model_version})")
    print(
        f"held-out simulated listeners: {cfg.listeners} (seed {cfg.seed}), {cfg.sessions}×{cfg.tracks_per_session} plays"
    )
    print(f"{'policy':<10}" + "".join(f"{m:>17}" for m in METRICS))
    for name, m in rows:
        print(f"{name:<10}" + "".join(f"{m[k]:>17}" for k in METRICS))
    r = report["ranker"]
    print(f"skip rate vs heuristic: {r['skip_rate_reduction_vs_heuristic']:+.1%} fewer skips")
    sr = r["skip_reaction"]
    print(
        "after 3 early skips the next picks sit at taste distance "
        f"{sr['distance_after_skips']} from them (before: {sr['distance_before']}, "
        f"had they been completed: {sr['distance_after_completions']})"
    )
    return 0
