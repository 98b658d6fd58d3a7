"""`cadence train` and `cadence eval`.

``cadence eval [--home DIR] [--json] [--listeners N] [--seed S] [--catalog-tracks N]`` evaluates the
ranker that serving would load (:func:`player.core.ranking.default_ranker_path`) against the baselines,
per listener family, on the evaluation demo catalog (built and scanned once into
``HOME/eval-catalogs/``, judged by its designed truth), plus the mood-following scripts; it prints a
table, or with ``--json`` the whole report (:func:`models.evaluate.evaluate`).

``cadence train [--home DIR] [--min-impressions N]`` retrains from ``HOME/log.db`` (topped up with
simulated sessions of the training families on the home's library while the log is small). The new
model becomes the challenger (``HOME/models/challenger.onnx``), interleaved with the shipped ranker by
the server, and a challenger is promoted to ``HOME/models/ranker.onnx`` (atomically) only when the
interleaving on the log says it wins with enough impressions (:func:`models.live.interleave_or_promote`)
and it evaluates at least as well as the current one: no higher skip rate for simulated listeners of
the training families on the home's library (judged by :func:`models.simulate.truth_from_tracks`, the
library's own features: a real library has no designed truth) and, when the log has held-out
listeners, no lower NDCG@10 on their logged plays. First it retrains the collaborative-filtering factors
``HOME/cf.npz`` from the whole log (:func:`models.cf.retrain_cf`; with too little data it says that
collaborative filtering stays out of the way and removes a stale ``cf.npz``); the report's ``cf`` says
what it did.

``cadence eval --live [--listener ID] [--json]`` reports the interleaving on the log instead
(:mod:`models.live`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.catalogs import EVAL_COUNT, EVAL_SEED, TruthLibrary, demo_truth_library
from models.evaluate import BASELINES, METRICS, EvalConfig, evaluate, family_metrics, ndcg_at_k
from models.moodfollow import POLICIES
from models.simulate import TRAIN_FAMILIES, catalog_matrix, synthetic_catalog, truth_from_tracks
from models.train import (
    HOUSEHOLD_SEEDS,
    NUM_ROUNDS,
    TrainingSet,
    household_queries,
    log_queries,
    save_model_atomic,
    simulated_queries,
    train_model,
)
from player.core.ranking import OnnxRanker, Recommender, default_ranker_path, shipped_ranker_path
from player.core.session import TextMoodReader
from player.errors import RankerError
from player.settings import Settings

__all__ = [
    "GateResult",
    "cmd_eval",
    "cmd_train",
    "eval_cache_dir",
    "home_library",
    "log_ndcg",
    "replace_if_better",
    "retrain",
]

logger = logging.getLogger(__name__)

SYNTHETIC_SEED = 21
"""Seed of the synthetic catalog `cadence train` uses when the home has no library."""
MIN_TRAINING_ROWS = 60000
"""Below this many logged rows, simulated sessions top the training set up."""
RETRAIN_HOUSEHOLDS = 3
"""Simulated households (of the shipped model's) that teach a retrained model ``cf_score``."""
ROWS_PER_SIM_LISTENER = 2200


def eval_cache_dir(settings: Settings) -> Path:
    """Where `cadence eval` keeps its scanned evaluation catalogs: ``HOME/eval-catalogs``."""
    return settings.home / "eval-catalogs"


def home_library(settings: Settings, *, synthetic_tracks: int = 1500) -> TruthLibrary:
    """The library at ``settings.home`` (else a synthetic catalog), judged by its own features."""
    if settings.library_db.exists():
        from player.library.store import LibraryStore

        with LibraryStore(settings.library_db) as store:
            if store.count() > 0:
                tracks, matrix = store.tracks(), store.feature_matrix()
                by_id = {str(t.id): t for t in tracks}
                ordered = [by_id[i] for i in matrix.ids]
                return TruthLibrary(tracks, matrix, truth_from_tracks(ordered), "library")
    tracks = synthetic_catalog(synthetic_tracks, seed=SYNTHETIC_SEED)
    return TruthLibrary(tracks, catalog_matrix(tracks), truth_from_tracks(tracks), "synthetic")


def _events_by_listener(log: Path | str) -> dict[str, list[Any]]:
    """Every listener's logged events in the log at ``log`` (log.db, or a shared PostgreSQL log's URL)."""
    from player.server.logstore import log_present, open_log_at

    if not log_present(log):
        return {}
    with open_log_at(log) as store:
        return {lid: store.events(lid) for lid in store.listeners()}


def log_ndcg(ranker: OnnxRanker, holdout: TrainingSet) -> float | None:
    """Mean NDCG@10 of ``ranker``'s order of each held-out logged session (None if none); a play's
    gain is its label (:data:`models.train.LABEL_GAINS`: 0, 1, 3, 7 from early skip to liked)."""
    if not holdout.groups:
        return None
    out = []
    for x, gains in zip(holdout.features, holdout.labels, strict=True):
        order = np.argsort(-ranker.score(x), kind="stable")
        out.append(ndcg_at_k(gains[order], gains, 10) if gains.max() > 0 else 1.0)
    return float(np.mean(out))


@dataclass(frozen=True)
class GateResult:
    """What the quality gate decided and on which numbers."""

    replaced: bool
    reason: str
    candidate: dict[str, Any]
    current: dict[str, Any] | None


def _quality(
    ranker: OnnxRanker,
    lib: TruthLibrary,
    cfg: EvalConfig,
    holdout: TrainingSet,
    reader: TextMoodReader | None,
) -> dict[str, Any]:
    rec = Recommender(lib.tracks, lib.matrix, ranker)
    plays = skips = 0.0
    for family in TRAIN_FAMILIES:
        if family == "spoken" and reader is None:
            continue
        m = family_metrics(family, rec, lib, cfg, reader=reader)
        plays += m["plays"]
        skips += m["skip_rate"] * m["plays"]
    return {"skip_rate": round(skips / max(plays, 1.0), 4), "log_ndcg_at_10": log_ndcg(ranker, holdout)}


def replace_if_better(
    candidate_bytes: bytes,
    target: Path,
    lib: TruthLibrary,
    cfg: EvalConfig,
    holdout: TrainingSet | None = None,
    *,
    reader: TextMoodReader | None = None,
) -> GateResult:
    """Install ``candidate_bytes`` at ``target`` (atomically) if it evaluates at least as well as the
    model there now (or, if there is none, the shipped one). Both play the same simulated listeners."""
    holdout = holdout or TrainingSet()
    staging = target.parent / f".candidate-{time.time_ns()}.onnx"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.write_bytes(candidate_bytes)
    try:
        candidate = _quality(OnnxRanker.load(staging), lib, cfg, holdout, reader)
    finally:
        staging.unlink(missing_ok=True)
    current_path = target if target.is_file() else shipped_ranker_path()
    try:
        current_ranker = OnnxRanker.load(current_path)
    except RankerError as exc:
        save_model_atomic(candidate_bytes, target)
        return GateResult(True, f"current model unusable ({exc.code}): replaced", candidate, None)
    current = _quality(current_ranker, lib, cfg, holdout, reader)
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
    reader: TextMoodReader | None = None,
) -> dict[str, Any]:
    """Retrain from the log (+ simulation) and run the quality gate; returns a JSON-ready report.

    ``reader`` (the real text mood reader) lets the ``spoken`` family take part in the top-up and the
    gate; without it that family is left out of both.
    """
    t0 = time.perf_counter()
    lib = home_library(settings)
    events = _events_by_listener(settings.log_location)
    listeners = sorted(events)
    held = set(listeners[::5]) if len(listeners) >= 5 else set()
    train_log = log_queries({k: v for k, v in events.items() if k not in held}, lib.tracks, lib.matrix)
    holdout = log_queries({k: v for k, v in events.items() if k in held}, lib.tracks, lib.matrix)
    ts = TrainingSet()
    ts.extend(train_log)
    top_up = 0
    families = [f for f in TRAIN_FAMILIES if f != "spoken" or reader is not None]
    if ts.rows < min_rows:
        top_up = max(1, math.ceil((min_rows - ts.rows) / ROWS_PER_SIM_LISTENER / len(families)))
        ts.extend(simulated_queries(lib, listeners=top_up, seed=seed + 7, families=families, reader=reader))
    # A log rarely holds co-listening enough to learn `cf_score` from: simulated households teach it
    # (and keep a retrained model from forgetting it), as for the shipped model.
    households, _ = household_queries(HOUSEHOLD_SEEDS[:RETRAIN_HOUSEHOLDS])
    ts.extend(households)
    info = {"model_version": "trained-" + time.strftime("%Y%m%d%H%M%S"), "catalog": lib.name}
    _, model = train_model(ts, seed=seed, info=info, rounds=rounds)
    cfg = gate or EvalConfig(listeners=6, seed=4242, sessions=2, extra_seeds=())
    # The listener's log decides by interleaving (models/live.py): the candidate becomes the
    # challenger, and a challenger that won is promoted only if the offline gate agrees.
    from models.live import interleave_or_promote

    promotion = interleave_or_promote(
        settings,
        model.SerializeToString(),
        gate=lambda challenger: replace_if_better(
            challenger, settings.models_dir / "ranker.onnx", lib, cfg, holdout, reader=reader
        ),
    )
    result = promotion.gate or GateResult(False, promotion.message, {}, None)
    return {
        "replaced": promotion.promoted,
        "reason": promotion.message,
        "interleaving": promotion.to_dict(),
        "model_path": str(settings.models_dir / "ranker.onnx"),
        "catalog": {"source": lib.name, "tracks": len(lib.tracks)},
        "log": {
            "listeners": len(listeners),
            "training_rows": train_log.rows,
            "held_out_listeners": len(held),
            "held_out_rows": holdout.rows,
        },
        "simulated_top_up_listeners_per_family": top_up,
        "training_rows": ts.rows,
        "candidate": result.candidate,
        "current": result.current,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _reader(settings: Settings) -> TextMoodReader:
    from player.app import build_analyzer

    return build_analyzer(settings)


def cmd_train(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence train`: retrain the collaborative-filtering factors and the ranker from the interaction
    log; the new ranker is interleaved as the challenger before it can be promoted (the JSON report on
    stdout, what happened in words on stderr)."""
    from models.cf import retrain_cf

    cf = retrain_cf(settings)
    print(f"cadence train: collaborative filtering: {cf.message}", file=sys.stderr)
    report = retrain(settings, seed=int(getattr(args, "seed", 0) or 0), reader=_reader(settings))
    report["cf"] = cf.to_dict()
    print(json.dumps(report, indent=2))
    print(f"cadence train: {report['interleaving']['message']}", file=sys.stderr)
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence eval`: the ranker vs the baselines per listener family, and the mood-following scripts.

    With ``--live``: the interleaving outcome on the home's log instead (:func:`models.live.cmd_eval_live`).
    """
    if getattr(args, "live", False):
        from models.live import cmd_eval_live

        return cmd_eval_live(settings, args)
    count = int(getattr(args, "catalog_tracks", None) or EVAL_COUNT)
    lib = demo_truth_library(eval_cache_dir(settings), seed=EVAL_SEED, count=count, workers=settings.workers)
    path = default_ranker_path(settings)
    ranker = OnnxRanker.load(path)
    seed, seeds = int(args.seed), max(1, int(getattr(args, "seeds", 1)))
    cfg = EvalConfig(
        listeners=int(args.listeners), seed=seed, extra_seeds=tuple(seed + 1000 * k for k in range(1, seeds))
    )
    report = evaluate(lib, ranker, cfg, reader=_reader(settings))
    report["config"]["model_path"] = str(path)
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
        return 0
    print(_table(report))
    return 0


def _table(report: dict[str, Any]) -> str:
    """The report as a readable table: one block per family, the mood-following summary, the targets."""
    c = report["config"]
    lines = [
        f"catalog: {c['catalog']} ({c['catalog_tracks']} tracks, judged by {c['truth']}); "
        f"model: {c.get('model_path', '')} ({c['model_version']})",
        f"simulated listeners: {c['listeners_per_family']} per family (seed {c['seed']}), "
        f"{c['sessions']}×{c['tracks_per_session']} plays; trained on {', '.join(c['trained_families'])}",
    ]
    header = f"  {'policy':<11}" + "".join(f"{m:>16}" for m in METRICS)
    for family, entry in report["families"].items():
        held = " (held out: never seen in training)" if entry["held_out"] else ""
        lines += ["", f"family {family}{held}", header]
        rows = [("ranker", entry["ranker"])] + [
            (b, entry["baselines"][b]) for b in BASELINES if b in entry["baselines"]
        ]
        for name, m in rows:
            lines.append(f"  {name:<11}" + "".join(f"{m[k]:>16}" for k in METRICS))
        if "best_baseline" in entry:
            lines.append(
                f"  skip rate vs best baseline ({entry['best_baseline']}): "
                f"{entry['skip_rate_reduction_vs_best_baseline']:+.1%} fewer skips"
            )
    spread = report.get("seed_spread")
    if spread:
        lines += [
            "",
            f"skip rate over {len(spread['seeds'])} draws of listeners (seeds {spread['seeds']}): mean, then per seed",
        ]
        for family, e in spread["families"].items():
            m = e["mean"]
            line = f"  {family:<11} ranker {m['ranker']:.4f}"
            if "skip_aware" in m:
                line += f"  skip_aware {m['skip_aware']:.4f}"
            if "reduction_vs_best_baseline" in m:
                line += f"  vs best baseline {m['reduction_vs_best_baseline']:+.1%} fewer skips"
                line += " (" + ", ".join(f"{r:+.1%}" for r in e["reduction_vs_best_baseline"]) + ")"
            lines.append(line)
    for key, title in (
        (
            "mood_following",
            "mood following (scripted sentences through the real mood reader and session core)",
        ),
        (
            "mood_following_held_out",
            "mood following, held-out scripts (written after the queue's rules were chosen)",
        ),
    ):
        mf = report.get(key)
        if mf is None:
            continue
        lines += ["", title]
        lines.append(
            f"  {'policy':<18}{'top5_distance':>16}{'top5_in_band':>16}{'direction_agree':>16}{'direction_change':>17}"
        )
        for name in POLICIES:
            if name not in mf:
                continue
            m = mf[name]
            lines.append(
                f"  {name:<18}{m['top5_distance']:>16}{m['top5_in_band']:>16}"
                f"{m['direction_agreement']:>16}{m['direction_change']:>17}"
            )
    lines += ["", "targets"]
    for target in report["targets"].values():
        met = {True: "met", False: "NOT met", None: "not measured"}[target["met"]]
        lines.append(f"  [{met}] {target['what']}: {json.dumps(target['value'])}")
    return "\n".join(lines)
