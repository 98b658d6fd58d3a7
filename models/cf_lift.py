"""The lift collaborative filtering gives the ranker, on simulated households it never trained on.

The households, the held-out split and the metrics are :mod:`models.cf_eval`'s (planted taste groups;
a quarter of each listener's positive tracks held out with all their events). The system under test
is the serving path: the listener's state is rebuilt from their training log by
:func:`player.core.replay.replay`, a :class:`~player.core.ranking.DecisionContext` is built as for a
decision right after it, and the ranker scores every track the listener has no training event for.

Methods, each ranking the same candidates:

- ``ranker``: the ranker without a CF model (``cf_known`` 0), as on a server with one listener;
- ``ranker_cf``: the same ranker with the household's CF model (trained on every member's training
  log by :func:`models.cf.train_cf`, the listener folded in from their state, as in serving);
- ``cf``: the CF fold-in score alone (:meth:`player.cf.CfModel.stats_scores`);
- ``content``: :mod:`models.cf_eval`'s content-only baseline.

The lift is ``ranker_cf − ranker`` on recall@k and NDCG@k, mean ± sd over households. The shipped
model learns ``cf_score`` from other households (:data:`models.train.HOUSEHOLD_SEEDS`); the seeds here
are :mod:`models.cf_eval`'s, which training never uses.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from models.cf import train_cf
from models.cf_eval import (
    HouseholdConfig,
    _mean_sd,
    _positives,
    content_vectors,
    ndcg_at_k,
    recall_at_k,
    simulate_household,
    split_heldout,
)
from models.simulate import catalog_matrix
from player.core.ranking import Catalog, OnnxRanker, assemble_features, build_context
from player.core.records import LogEvent
from player.core.replay import replay

__all__ = ["LIFT_METHODS", "LIFT_SEEDS", "evaluate_lift", "lift_seed"]

LIFT_METHODS = ("ranker", "ranker_cf", "cf", "content")
LIFT_SEEDS: tuple[int, ...] = (1, 2, 3, 4, 5)
"""The CF evaluation's households (bench/cf.py), disjoint from the training households."""


def lift_seed(ranker: OnnxRanker, cfg: HouseholdConfig, seed: int) -> dict[str, Any]:
    """One household: each method's mean recall@k and NDCG@k over its listeners."""
    house = simulate_household(cfg, seed)
    train, held = split_heldout(house.events, cfg.holdout, np.random.default_rng([seed, 17]))
    training = train_cf(train)
    if training.model is None:
        raise RuntimeError(f"household seed {seed}: no CF model ({training.reason})")
    model = training.model
    catalog = Catalog(house.tracks, catalog_matrix(house.tracks))
    library = {str(t.id): t for t in house.tracks}
    vectors = content_vectors(list(catalog.tracks))
    by_listener: dict[str, list[LogEvent]] = {}
    for e in train:
        by_listener.setdefault(e.listener_id, []).append(e)
    per: dict[str, dict[str, list[float]]] = {m: {"recall": [], "ndcg": []} for m in LIFT_METHODS}
    for listener in sorted(held):
        relevant = held[listener]
        events = by_listener.get(listener, [])
        state = replay(listener, events, tracks=library)
        if not relevant or state is None:
            continue
        at_s = max(e.at_s for e in events) + 3600.0
        seen = {e.track_id for e in events if e.track_id}
        candidates = np.array([i for i, t in enumerate(catalog.ids) if t not in seen], np.int64)
        scores: dict[str, np.ndarray] = {}
        for name, cf in (("ranker", None), ("ranker_cf", model)):
            ctx = build_context(state, catalog, at_s=at_s, cf=cf)
            scores[name] = ranker.score(assemble_features(catalog, ctx, candidates, ctx.targets[0]))
        cf_scores = model.stats_scores(state.track_stats, catalog.ids)
        scores["cf"] = (np.full(catalog.n, 0.5) if cf_scores is None else cf_scores)[candidates]
        liked = np.array(sorted(catalog.row[t] for t in _positives(events) if t in catalog.row), np.int64)
        content = vectors @ vectors[liked].mean(0) if len(liked) else np.zeros(catalog.n)
        scores["content"] = content[candidates]
        for method in LIFT_METHODS:
            order = candidates[np.argsort(-scores[method], kind="stable")]
            ranked = [catalog.ids[int(i)] for i in order[: cfg.k]]
            per[method]["recall"].append(recall_at_k(ranked, relevant, cfg.k))
            per[method]["ndcg"].append(ndcg_at_k(ranked, relevant, cfg.k))
    return {
        "seed": seed,
        "listeners": len(per["ranker"]["recall"]),
        "methods": {
            m: {
                f"recall_at_{cfg.k}": statistics.fmean(v["recall"]),
                f"ndcg_at_{cfg.k}": statistics.fmean(v["ndcg"]),
            }
            for m, v in per.items()
        },
    }


def evaluate_lift(
    ranker: OnnxRanker, cfg: HouseholdConfig | None = None, seeds: Sequence[int] = LIFT_SEEDS
) -> dict[str, Any]:
    """Every method's recall@k and NDCG@k (mean ± sd over households) and the ranker's CF lift."""
    cfg = HouseholdConfig() if cfg is None else cfg
    runs = [lift_seed(ranker, cfg, seed) for seed in seeds]
    metrics = (f"recall_at_{cfg.k}", f"ndcg_at_{cfg.k}")
    summary = {
        m: {metric: _mean_sd([r["methods"][m][metric] for r in runs]) for metric in metrics}
        for m in LIFT_METHODS
    }
    lift = {
        metric: _mean_sd([r["methods"]["ranker_cf"][metric] - r["methods"]["ranker"][metric] for r in runs])
        for metric in metrics
    }
    wins = sum(r["methods"]["ranker_cf"][metrics[0]] > r["methods"]["ranker"][metrics[0]] for r in runs)
    return {"seeds": list(seeds), "summary": summary, "lift": lift, "households_improved": wins, "runs": runs}
