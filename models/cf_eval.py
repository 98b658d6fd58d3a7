"""Evaluating collaborative filtering on simulated households with planted taste groups.

The judge is :mod:`models.simulate` (its listener loop, :func:`~models.simulate.run_listener`, and
its synthetic catalogs); the system under test is the training of :mod:`models.cf` (the shipped
evidence weights, confidences and ALS). Nothing else of the serving code is used: the split, the
baselines and the metrics are defined here, on record types only.

Everything here is an assumption, stated so it can be argued with.

**The household.** A catalog of :attr:`HouseholdConfig.tracks` synthetic tracks
(:func:`~models.simulate.synthetic_catalog`, about 12 tracks per artist, judged by
:func:`~models.simulate.truth_from_tracks`). :attr:`~HouseholdConfig.groups` taste groups of
:attr:`~HouseholdConfig.listeners_per_group` listeners each. A group's hidden utility of a track is

    u_g = 1·[artist among the group's artists] + 1·[track in the group's subset] + 0.5·(d_g · p)

with the group's artists a random :attr:`~HouseholdConfig.artist_share` (10 %) of the artists, its
subset a random :attr:`~HouseholdConfig.subset_share` (10 %) of the tracks drawn without regard to
content, and ``d_g`` a random unit direction over the designed properties ``p`` (valence, energy,
brightness, density, drums; z-scored). Content features reveal the artists partly (an artist's
tracks share a timbre), the direction mostly, and the subset not at all. Each listener adds their own
noise: ``u = u_g + 0.5·ε``, ε ~ N(0, 1) per track.

**Reactions** (:class:`GroupListener`): TimbreListener's logistic thresholds on ``z = u − 1 − 1.2 ·
[played in the last 40]``: early skip ``σ((−1 − z)/0.45)``, late skip ``σ((−0.3 − z)/0.45)`` minus
that, like ``0.6·σ((z − 0.9)/0.45)`` of completions; disliked with a quarter of early skips. Mood plays
no part (the ranker handles mood; this measures taste).

**Exposure** (:class:`BrowsingPlayer`): listeners choose what they play: each queue of 10 is drawn
without replacement, 70 % from ``softmax(2·u)`` (they look for what they like) and 30 % uniformly
(shuffle, discovery), never among their last 25 plays. :attr:`~HouseholdConfig.sessions` sessions of
:attr:`~HouseholdConfig.tracks_per_session` tracks each (15 × 20 = 300 plays per listener).

**The split.** A listener's *positive* tracks are those they completed or liked and never early-skipped
or disliked. A random :attr:`~HouseholdConfig.holdout` (25 %) of them is held out: every event of those
tracks leaves the listener's training log. Every method then ranks the catalog tracks the listener has
no training event for; the held-out tracks are the relevant ones.

**Methods.** ``cf``: the listener's ALS factors (trained on every listener's training log by
:func:`models.cf.train_cf`) dotted with the item factors (0 for a track not in the model).
``popularity``: listeners with a completion or like of the track in training (ties: more such events).
``content``: mean cosine of the track's :data:`~player.core.track.NUMERIC_FEATURES` (z-scored over
the catalog) to the listener's positive training tracks. ``hybrid``: the sum of ``cf`` and
``content`` each z-scored over the listener's candidates.

**Metrics.** recall@k = hits in the top k / min(k, held-out tracks); NDCG@k with binary relevance.
Per seed the mean over listeners; reported as mean ± sd over seeds.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from models.cf import train_cf
from models.simulate import (
    EARLY_SKIP_S,
    Reactions,
    SimListener,
    TruthCatalog,
    Utterance,
    run_listener,
    synthetic_catalog,
    truth_from_tracks,
)
from player.core.records import LogEvent
from player.core.track import Track

__all__ = [
    "METHODS",
    "BrowsingPlayer",
    "GroupListener",
    "Household",
    "HouseholdConfig",
    "content_vectors",
    "evaluate_households",
    "evaluate_seed",
    "ndcg_at_k",
    "recall_at_k",
    "simulate_household",
    "split_heldout",
]

METHODS = ("cf", "popularity", "content", "hybrid")


@dataclass(frozen=True)
class HouseholdConfig:
    """A simulated household and its evaluation (module docstring)."""

    tracks: int = 1500
    groups: int = 4
    listeners_per_group: int = 4
    sessions: int = 15
    tracks_per_session: int = 20
    artist_share: float = 0.1
    subset_share: float = 0.1
    property_weight: float = 0.5
    listener_noise: float = 0.5
    uniform_exposure: float = 0.3
    exposure_beta: float = 2.0
    holdout: float = 0.25
    k: int = 20


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


@dataclass
class GroupListener(SimListener):
    """A household member: a planted utility per catalog track (their group's plus their own noise)."""

    utility: np.ndarray = field(default_factory=lambda: np.zeros(1))
    group: int = 0

    def reactions(self, cat: TruthCatalog) -> Reactions:
        z = self.utility - 1.0 - 1.2 * self.recent_mask(cat)
        early = _sigmoid((-1.0 - z) / 0.45)
        late = _sigmoid((-0.3 - z) / 0.45) - early
        return Reactions(early, late, 0.6 * _sigmoid((z - 0.9) / 0.45))


class BrowsingPlayer:
    """Listeners choosing their own tracks (module docstring, "Exposure"); logs what a server would."""

    def __init__(
        self,
        cat: TruthCatalog,
        utilities: Mapping[str, np.ndarray],
        cfg: HouseholdConfig,
        rng: np.random.Generator,
        events: list[LogEvent],
    ) -> None:
        self.cat, self.utilities, self.cfg, self.rng, self.events = cat, utilities, cfg, rng, events
        self.listener_id = self.session_id = ""
        self.played: dict[str, list[int]] = {}

    def _queue(self) -> list[str]:
        u = self.utilities[self.listener_id]
        allowed = np.ones(self.cat.n, bool)
        recent = self.played.get(self.listener_id, [])[-25:]
        if recent:
            allowed[np.array(recent, np.int64)] = False
        w = np.exp(self.cfg.exposure_beta * (u - u.max())) * allowed
        share = self.cfg.uniform_exposure
        p = (1.0 - share) * w / w.sum() + share * allowed / allowed.sum()
        rows = self.rng.choice(self.cat.n, size=10, replace=False, p=p / p.sum())
        return [self.cat.ids[int(r)] for r in rows]

    def _log(self, kind: Any, at_s: float, **fields: Any) -> None:
        self.events.append(LogEvent(kind, self.listener_id, self.session_id, at_s, **fields))

    def start(self, listener_id: str, session_id: str, local_time: datetime, at_s: float) -> list[str]:
        self.listener_id, self.session_id = listener_id, session_id
        self._log("session_start", at_s, local_time=local_time.isoformat(), device="sim")
        return self._queue()

    def say(self, utterance: Utterance, at_s: float) -> list[str]:
        return self._queue()

    def playback(self, kind: str, track_id: str, position_s: float, at_s: float) -> list[str] | None:
        if kind == "started":
            self.played.setdefault(self.listener_id, []).append(self.cat.row[track_id])
        self._log(kind, at_s, track_id=track_id, position_s=position_s)
        return self._queue() if kind == "skipped" else None

    def next(self, at_s: float) -> list[str]:
        return self._queue()

    def end(self, at_s: float) -> None:
        self._log("session_end", at_s)


@dataclass(frozen=True, eq=False)
class Household:
    """A simulated household: its catalog, members (with their group) and log."""

    tracks: list[Track]
    cat: TruthCatalog
    listeners: list[GroupListener]
    events: list[LogEvent]


def _designed_properties(cat: TruthCatalog) -> np.ndarray:
    """Valence, energy, brightness, density, drums, z-scored over the catalog [n, 5]."""
    p = np.stack([cat.valence, cat.energy, cat.brightness, cat.density, cat.drums.astype(np.float64)], 1)
    return np.asarray((p - p.mean(0)) / np.maximum(p.std(0), 1e-9))


def simulate_household(cfg: HouseholdConfig, seed: int) -> Household:
    """Plant the taste groups, draw the members and play their sessions (module docstring)."""
    rng = np.random.default_rng([seed, 13])
    tracks = synthetic_catalog(cfg.tracks, seed=seed)
    cat = truth_from_tracks(tracks)
    props = _designed_properties(cat)
    listeners: list[GroupListener] = []
    for g in range(cfg.groups):
        artists = rng.choice(cat.n_artists, max(1, round(cfg.artist_share * cat.n_artists)), replace=False)
        subset = rng.choice(cat.n, max(1, round(cfg.subset_share * cat.n)), replace=False)
        d = rng.normal(0, 1, props.shape[1])
        group_u = np.isin(cat.artist, artists).astype(np.float64)
        group_u[subset] += 1.0
        group_u += cfg.property_weight * props @ (d / np.linalg.norm(d))
        for m in range(cfg.listeners_per_group):
            listeners.append(
                GroupListener(
                    listener_id=f"g{g}-m{m}",
                    family="timbre",  # no part here: talk_rate 0, and reactions are the group's
                    base_valence=0.5,
                    base_energy=0.5,
                    energy_amplitude=0.15,
                    peak_hour=15.0,
                    habit_hours=(9.0, 20.0),
                    tz_hours=0,
                    talk_rate=0.0,
                    request_rate=0.0,
                    hearing_noise=0.1,
                    confidence=(0.4, 0.9),
                    utility=group_u + cfg.listener_noise * rng.normal(0, 1, cat.n),
                    group=g,
                )
            )
    events: list[LogEvent] = []
    player = BrowsingPlayer(cat, {x.listener_id: x.utility for x in listeners}, cfg, rng, events)
    for i, listener in enumerate(listeners):
        for _ in run_listener(
            listener,
            cat,
            player,
            seed=seed * 1009 + i,
            sessions=cfg.sessions,
            tracks_per_session=cfg.tracks_per_session,
        ):
            pass
    return Household(tracks, cat, listeners, events)


def _positives(events: Sequence[LogEvent]) -> set[str]:
    """Tracks completed or liked and never early-skipped or disliked (the judge's definition)."""
    good: set[str] = set()
    bad: set[str] = set()
    for e in events:
        if e.track_id is None:
            continue
        if e.kind in ("completed", "liked"):
            good.add(e.track_id)
        elif e.kind == "disliked" or (e.kind == "skipped" and (e.position_s or 0.0) < EARLY_SKIP_S):
            bad.add(e.track_id)
    return good - bad


def split_heldout(
    events: Sequence[LogEvent], share: float, rng: np.random.Generator
) -> tuple[list[LogEvent], dict[str, set[str]]]:
    """(training events, held-out tracks per listener): ``share`` of each listener's positive tracks,
    with all their events removed from training."""
    by_listener: dict[str, list[LogEvent]] = {}
    for e in events:
        by_listener.setdefault(e.listener_id, []).append(e)
    held: dict[str, set[str]] = {}
    for listener in sorted(by_listener):
        positives = sorted(_positives(by_listener[listener]))
        count = round(share * len(positives))
        held[listener] = set(rng.choice(positives, count, replace=False).tolist()) if count else set()
    train = [e for e in events if e.track_id is None or e.track_id not in held[e.listener_id]]
    return train, held


def content_vectors(tracks: Sequence[Track]) -> np.ndarray:
    """Unit rows of the tracks' NUMERIC_FEATURES, each column z-scored over the catalog [n, d]."""
    x = np.array([t.numeric() for t in tracks], np.float64)
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-9)
    return np.asarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))


def recall_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Hits among the first ``k`` of ``ranked`` / min(k, |relevant|)."""
    if not relevant:
        return 0.0
    return sum(1 for t in ranked[:k] if t in relevant) / min(k, len(relevant))


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """NDCG@k with binary relevance."""
    if not relevant:
        return 0.0
    dcg = sum(1.0 / np.log2(r + 2.0) for r, t in enumerate(ranked[:k]) if t in relevant)
    ideal = sum(1.0 / np.log2(r + 2.0) for r in range(min(k, len(relevant))))
    return float(dcg / ideal)


def _z(x: np.ndarray) -> np.ndarray:
    return np.asarray((x - x.mean()) / max(float(x.std()), 1e-12))


def evaluate_seed(cfg: HouseholdConfig, seed: int) -> dict[str, Any]:
    """One household: every method's mean recall@k and NDCG@k over its listeners, and its figures."""
    house = simulate_household(cfg, seed)
    train, held = split_heldout(house.events, cfg.holdout, np.random.default_rng([seed, 17]))
    ids = house.cat.ids
    row = house.cat.row
    training = train_cf(train)
    if training.model is None:
        raise RuntimeError(f"household seed {seed}: no CF model ({training.reason})")
    model = training.model
    item_rows = np.array([row[t] for t in model.item_ids], np.int64)
    user_row = {u: i for i, u in enumerate(model.user_ids)}

    by_listener: dict[str, list[LogEvent]] = {}
    for e in train:
        by_listener.setdefault(e.listener_id, []).append(e)
    liked = {listener: _positives(evs) for listener, evs in by_listener.items()}
    popularity = np.zeros(house.cat.n)
    tiebreak = np.zeros(house.cat.n)
    for evs in by_listener.values():
        for t in {e.track_id for e in evs if e.kind in ("completed", "liked") and e.track_id}:
            popularity[row[t]] += 1.0
        for e in evs:
            if e.kind in ("completed", "liked") and e.track_id:
                tiebreak[row[e.track_id]] += 1.0
    popularity += tiebreak / (tiebreak.max() + 1.0)
    vectors = content_vectors(house.tracks)

    per_method: dict[str, dict[str, list[float]]] = {m: {"recall": [], "ndcg": []} for m in METHODS}
    for listener in sorted(held):
        relevant = held[listener]
        if not relevant:
            continue
        seen = {e.track_id for e in by_listener.get(listener, []) if e.track_id}
        candidates = np.array([i for i in range(house.cat.n) if ids[i] not in seen], np.int64)
        cf = np.zeros(house.cat.n)
        if listener in user_row:
            cf[item_rows] = model.item_factors @ model.user_factors[user_row[listener]]
        liked_rows = np.array(sorted(row[t] for t in liked.get(listener, set())), np.int64)
        content = vectors @ vectors[liked_rows].mean(0) if len(liked_rows) else np.zeros(house.cat.n)
        scores: dict[str, np.ndarray] = {
            "cf": cf[candidates],
            "popularity": popularity[candidates],
            "content": content[candidates],
        }
        scores["hybrid"] = _z(scores["cf"]) + _z(scores["content"])
        for method in METHODS:
            order = candidates[np.argsort(-scores[method], kind="stable")]
            ranked = [ids[int(i)] for i in order[: cfg.k]]
            per_method[method]["recall"].append(recall_at_k(ranked, relevant, cfg.k))
            per_method[method]["ndcg"].append(ndcg_at_k(ranked, relevant, cfg.k))
    plays = sum(1 for e in house.events if e.kind == "started")
    return {
        "seed": seed,
        "listeners": len(house.listeners),
        "plays_per_listener": plays / len(house.listeners),
        "held_out_per_listener": statistics.fmean(len(h) for h in held.values()),
        "model_listeners": training.listeners,
        "model_tracks": training.items,
        "methods": {
            m: {
                f"recall_at_{cfg.k}": statistics.fmean(v["recall"]),
                f"ndcg_at_{cfg.k}": statistics.fmean(v["ndcg"]),
            }
            for m, v in per_method.items()
        },
    }


def _mean_sd(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 4),
        "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
    }


def evaluate_households(
    cfg: HouseholdConfig,
    seeds: Sequence[int],
    *,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Every method's recall@k and NDCG@k, mean ± sd over the households of ``seeds``."""
    runs = []
    for seed in seeds:
        run = evaluate_seed(cfg, seed)
        runs.append(run)
        if progress is not None:
            progress(run)
    metrics = (f"recall_at_{cfg.k}", f"ndcg_at_{cfg.k}")
    summary = {
        m: {metric: _mean_sd([r["methods"][m][metric] for r in runs]) for metric in metrics} for m in METHODS
    }
    return {"config": asdict(cfg), "seeds": list(seeds), "summary": summary, "runs": runs}
