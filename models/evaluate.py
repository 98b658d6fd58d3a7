"""Evaluate the ranker against baselines on held-out simulated listeners (`cadence eval`).

Held-out listeners are drawn from :data:`models.simulate.HELDOUT_POPULATION` (shifted parameter
ranges) with seeds the training never used. Each policy plays the same listeners (same seeds) for
the same sessions; a policy returns 10 tracks per decision and the first is played.

Metrics (per policy):

- ``skip_rate`` / ``early_skip_rate``: share of plays skipped / skipped before 30 s.
- ``ndcg_at_10``: of the 10-track list, with the simulator's expected gain of each track (early skip
  0, late skip 1, completed 2, liked 3) as relevance, against the best 10 of the catalog.
- ``valence_error`` / ``energy_error``: mean |played track − the listener's wanted point| (the
  simulator's ground truth: the mood, lifted for lifters, or the step of the walk toward a request).
- ``coverage``: share of the catalog played at least once.
- ``exposure_gini``: Gini coefficient of position-weighted exposure (1/log2(rank+2)) in the lists
  over all catalog tracks: 0 everyone equally exposed, 1 one track gets everything.
- ``skip_reaction``: for some listeners, after a few normal plays the player's top picks are forced
  to three consecutive early skips; ``distance_after_skips`` is the mean taste-vector distance of the
  next 10 picks to the nearest skipped track, ``distance_after_completions`` the same when those
  three tracks were completed instead, ``distance_before`` that of the picks just before.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.simulate import (
    HELDOUT_POPULATION,
    TRAIN_POPULATION,
    Outcome,
    Population,
    SimCatalog,
    draw_listeners,
    run_listener,
)
from models.train import heuristic_rows
from player.core.listener import ListenerState, PlaybackEvent
from player.core.ranking import Catalog, MatrixLike, OnnxRanker, Recommender, build_context
from player.core.track import Track

__all__ = ["METRICS", "EvalConfig", "evaluate", "gini", "policy_metrics", "skip_reaction"]

METRICS: tuple[str, ...] = (
    "skip_rate",
    "early_skip_rate",
    "ndcg_at_10",
    "valence_error",
    "energy_error",
    "coverage",
    "exposure_gini",
)
"""The per-policy figures `cadence eval` reports, in table order (each policy also reports ``plays``)."""

logger = logging.getLogger(__name__)

PolicyFn = Callable[[ListenerState, float, int], list[int]]


@dataclass(frozen=True)
class EvalConfig:
    """How much to simulate."""

    listeners: int = 40
    seed: int = 1000
    sessions: int = 3
    tracks_per_session: int = 20
    reaction_listeners: int = 16
    population: Population = HELDOUT_POPULATION


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative ``values`` (0 equal … 1 concentrated)."""
    v = np.sort(np.asarray(values, np.float64))
    n = len(v)
    if n == 0 or v.sum() <= 0:
        return 0.0
    cum = np.cumsum(v)
    return float((n + 1 - 2 * (cum.sum() / cum[-1])) / n)


def _ranker_policy(rec: Recommender) -> PolicyFn:
    def choose(state: ListenerState, at_s: float, count: int) -> list[int]:
        r = rec.recommend(state, count=count, at_s=at_s)
        return [rec.catalog.row[p.track.id] for p in r.picks]

    return choose


def _random_policy(catalog: Catalog, seed: int) -> PolicyFn:
    rng = np.random.default_rng(seed)

    def choose(state: ListenerState, at_s: float, count: int) -> list[int]:
        ctx = build_context(state, catalog, at_s=at_s)
        allowed = np.flatnonzero(~ctx.excluded)
        if len(allowed) < count:
            allowed = np.arange(catalog.n)
        return [int(r) for r in rng.choice(allowed, min(count, len(allowed)), replace=False)]

    return choose


def _popular_policy(catalog: Catalog, counts: np.ndarray) -> PolicyFn:
    def choose(state: ListenerState, at_s: float, count: int) -> list[int]:
        ctx = build_context(state, catalog, at_s=at_s)
        score = np.where(ctx.excluded, -np.inf, counts + 1e-6 * np.arange(catalog.n)[::-1])
        return [int(r) for r in np.argsort(-score)[:count]]

    return choose


def _heuristic_policy(catalog: Catalog) -> PolicyFn:
    def choose(state: ListenerState, at_s: float, count: int) -> list[int]:
        return heuristic_rows(state, catalog, at_s, count)

    return choose


def policy_metrics(
    policy: PolicyFn,
    sim: SimCatalog,
    cfg: EvalConfig,
    *,
    on_play: Callable[[int, Outcome], None] | None = None,
) -> dict[str, float]:
    """Play the held-out listeners with ``policy`` and compute the metrics of the module docstring."""
    listeners = draw_listeners(cfg.listeners, seed=cfg.seed, cat=sim, population=cfg.population)
    plays = skips = early = 0
    ndcg: list[float] = []
    v_err: list[float] = []
    e_err: list[float] = []
    played = np.zeros(sim.n, bool)
    exposure = np.zeros(sim.n)
    weights = 1.0 / np.log2(np.arange(10) + 2.0)
    last: dict[str, list[int]] = {}

    def recording(state: ListenerState, at_s: float, count: int) -> list[int]:
        rows = policy(state, at_s, count)
        last["rows"] = rows
        return rows

    for i, listener in enumerate(listeners):
        for decision, row, outcome in run_listener(
            listener,
            sim,
            recording,
            seed=cfg.seed * 7919 + i,
            sessions=cfg.sessions,
            tracks_per_session=cfg.tracks_per_session,
        ):
            rows = last["rows"][:10]
            gains = listener.expected_gain(decision.utility)
            dcg = float(np.sum(gains[rows] * weights[: len(rows)]))
            ideal = float(np.sum(np.sort(gains)[::-1][:10] * weights))
            ndcg.append(dcg / ideal if ideal > 0 else 0.0)
            exposure[rows] += weights[: len(rows)]
            plays += 1
            skips += outcome in ("early", "late")
            early += outcome == "early"
            played[row] = True
            v_err.append(abs(float(sim.valence[row]) - decision.wanted.valence))
            e_err.append(abs(float(sim.energy[row]) - decision.wanted.energy))
            if on_play:
                on_play(row, outcome)
    return {
        "plays": plays,
        "skip_rate": round(skips / max(plays, 1), 4),
        "early_skip_rate": round(early / max(plays, 1), 4),
        "ndcg_at_10": round(float(np.mean(ndcg)) if ndcg else 0.0, 4),
        "valence_error": round(float(np.mean(v_err)) if v_err else 0.0, 4),
        "energy_error": round(float(np.mean(e_err)) if e_err else 0.0, 4),
        "coverage": round(float(played.mean()), 4),
        "exposure_gini": round(gini(exposure), 4),
    }


def skip_reaction(
    policy: PolicyFn, sim: SimCatalog, catalog: Catalog, cfg: EvalConfig, *, warmup: int = 8
) -> dict[str, float]:
    """Distances of the picks to three tracks the listener early-skipped in a row (module docstring)."""
    listeners = draw_listeners(cfg.reaction_listeners, seed=cfg.seed + 1, cat=sim, population=cfg.population)
    before: list[float] = []
    after_skip: list[float] = []
    after_done: list[float] = []

    def min_dist(rows: Sequence[int], skipped: list[int]) -> float:
        if not rows:
            return float("nan")
        d = np.linalg.norm(
            catalog.taste[np.array(rows)][:, None, :] - catalog.taste[np.array(skipped)][None, :, :], axis=2
        )
        return float(d.min(axis=1).mean())

    for i, listener in enumerate(listeners):
        state: ListenerState | None = None
        at_s = 0.0
        for decision, _row, _outcome in run_listener(
            listener, sim, policy, seed=cfg.seed * 31 + i, sessions=1, tracks_per_session=warmup
        ):
            state, at_s = decision.state, decision.at_s
        if state is None:
            continue
        at_s += 300.0
        base = copy.deepcopy(state)
        first = policy(base, at_s, 10)
        skipped: list[int] = []
        skip_state = copy.deepcopy(base)
        t = at_s
        for _ in range(3):
            row = policy(skip_state, t, 10)[0]
            skipped.append(row)
            tid = catalog.ids[row]
            skip_state.observe_playback(PlaybackEvent("started", tid, 0.0, t))
            skip_state.observe_playback(PlaybackEvent("skipped", tid, 8.0, t + 8.0))
            t += 10.0
        done_state = copy.deepcopy(base)
        td = at_s
        for row in skipped:
            tid = catalog.ids[row]
            done_state.observe_playback(PlaybackEvent("started", tid, 0.0, td))
            td += float(sim.duration[row])
            done_state.observe_playback(PlaybackEvent("completed", tid, float(sim.duration[row]), td))
            td += 2.0
        before.append(min_dist([r for r in first if r not in skipped], skipped))
        after_skip.append(min_dist(policy(skip_state, t, 10), skipped))
        after_done.append(min_dist(policy(done_state, td, 10), skipped))
    b, s, d = (float(np.nanmean(x)) if x else 0.0 for x in (before, after_skip, after_done))
    return {
        "listeners": len(before),
        "distance_before": round(b, 4),
        "distance_after_skips": round(s, 4),
        "distance_after_completions": round(d, 4),
        "increase_vs_before": round((s - b) / b if b else 0.0, 4),
        "increase_vs_completions": round((s - d) / d if d else 0.0, 4),
    }


def _popularity(sim: SimCatalog, catalog: Catalog, cfg: EvalConfig) -> np.ndarray:
    """Most-played counts for the ``popular`` baseline: completions and likes of a warm-up crowd
    (train-population listeners playing random tracks), then kept counting during its own run."""
    counts = np.zeros(sim.n)
    warm = EvalConfig(
        listeners=max(10, cfg.listeners // 2),
        seed=cfg.seed + 5000,
        sessions=2,
        tracks_per_session=cfg.tracks_per_session,
        population=TRAIN_POPULATION,
    )

    def count(row: int, outcome: Outcome) -> None:
        if outcome in ("completed", "liked"):
            counts[row] += 1

    policy_metrics(_random_policy(catalog, cfg.seed + 5001), sim, warm, on_play=count)
    return counts


def evaluate(
    tracks: list[Track],
    matrix: MatrixLike,
    ranker: OnnxRanker,
    cfg: EvalConfig | None = None,
    *,
    baselines: bool = True,
    reaction: bool = True,
) -> dict[str, Any]:
    """The `cadence eval` report: ``{"ranker": {...}, "baselines": {...}}`` (see the module docstring)."""
    cfg = cfg or EvalConfig()
    t0 = time.perf_counter()
    sim = SimCatalog(list(tracks))
    rec = Recommender(tracks, matrix, ranker)
    if tuple(rec.catalog.ids) != tuple(sim.ids):
        sim = SimCatalog(list(rec.catalog.tracks))
    catalog = rec.catalog
    ranker_policy = _ranker_policy(rec)
    report: dict[str, Any] = {"ranker": policy_metrics(ranker_policy, sim, cfg)}
    if reaction:
        report["ranker"]["skip_reaction"] = skip_reaction(ranker_policy, sim, catalog, cfg)
    if baselines:
        counts = _popularity(sim, catalog, cfg)

        def count(row: int, outcome: Outcome) -> None:
            if outcome in ("completed", "liked"):
                counts[row] += 1

        heuristic = _heuristic_policy(catalog)
        report["baselines"] = {
            "random": policy_metrics(_random_policy(catalog, cfg.seed + 1), sim, cfg),
            "popular": policy_metrics(_popular_policy(catalog, counts), sim, cfg, on_play=count),
            "heuristic": policy_metrics(heuristic, sim, cfg),
        }
        if reaction:
            report["baselines"]["heuristic"]["skip_reaction"] = skip_reaction(heuristic, sim, catalog, cfg)
        h = report["baselines"]["heuristic"]["skip_rate"]
        report["ranker"]["skip_rate_reduction_vs_heuristic"] = (
            round((h - report["ranker"]["skip_rate"]) / h, 4) if h else 0.0
        )
    report["config"] = {
        "listeners": cfg.listeners,
        "seed": cfg.seed,
        "sessions": cfg.sessions,
        "tracks_per_session": cfg.tracks_per_session,
        "population": "heldout" if cfg.population == HELDOUT_POPULATION else "custom",
        "catalog_tracks": sim.n,
        "model_version": ranker.model_version,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    return report
