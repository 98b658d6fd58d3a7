"""Train the ranker: LightGBM LambdaRank on simulated and logged plays, exported to ONNX.

Training rows are built with :func:`player.core.ranking.assemble_features` from the listener state
the serving code keeps, so the two cannot drift. Two sources:

- **Simulated decisions** (:func:`simulated_queries`): listeners of the *training* families
  (:data:`models.simulate.TRAIN_FAMILIES`; the held-out family never) play sessions in the real
  session core (:class:`models.driver.SessionPlayer`) with an exploring behaviour policy
  (:class:`ExploringRecommender`). At each decision a query of ~40 candidates (near the target,
  similar to recent likes, uniformly random) is labelled from the simulated listener's reactions to
  each candidate's designed truth, in :data:`LABEL_GAINS` (early skip 0, late skip 1, completed 3,
  liked 7): one drawn reaction's gain (``labels="drawn"``, the shipped model), or the expected gain
  over the reaction probabilities (``labels="expected"``: no draw's noise to average out;
  docs/ranking.md, "Expected labels"). Both kinds see the same candidates and sessions.
- **The interaction log** (:func:`log_queries`): each listener's events are replayed through
  :func:`player.core.replay.apply_logged_event` to rebuild the context of every play; the played track
  is labelled by the :data:`LABEL_GAINS` of its outcome (early skip < 30 s worst, then late skip,
  completed, liked best; a dislike counts as an early skip). A session's plays form one query.

The pre-selection weights (a linear distillation of the trained model over
:data:`player.core.ranking.PRESELECT_TERMS`) and the schema version travel in the ONNX metadata.

The shipped model is rebuilt from the repository with ``python -m models.train`` (see
:func:`build_shipped` and models/ranker.md).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from models.baselines import SkipAwareRecommender
from models.catalogs import TruthLibrary
from models.driver import SessionPlayer
from models.simulate import TRAIN_FAMILIES, Decision, Family, draw_listeners, run_listener
from player.core.listener import EARLY_SKIP_S, ListenerState
from player.core.ranking import (
    FEATURE_NAMES,
    PRESELECT_CONTEXT,
    PRESELECT_TERMS,
    SCHEMA_VERSION,
    Catalog,
    CfSource,
    MatrixLike,
    Pick,
    Recommendation,
    assemble_features,
    build_context,
    fit_proxy,
    preselect_design,
    upper_half_weight,
)
from player.core.replay import apply_logged_event
from player.core.session import TextMoodReader
from player.core.track import Track

__all__ = [
    "GRADES_PER_GAIN",
    "LABEL_GAINS",
    "LGBM_PARAMS",
    "NUM_ROUNDS",
    "ExploringRecommender",
    "LabelKind",
    "TrainingSet",
    "average_boosters",
    "fit_preselect",
    "float32_thresholds",
    "household_queries",
    "log_queries",
    "save_model_atomic",
    "simulated_queries",
    "to_onnx",
    "train_booster",
    "train_model",
]

logger = logging.getLogger(__name__)

LGBM_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "ndcg_eval_at": [10],
    "learning_rate": 0.08,
    "num_leaves": 31,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambdarank_truncation_level": 20,
    "num_threads": 2,
    "verbose": -1,
}
NUM_ROUNDS = 250
LABEL_GAINS: tuple[float, float, float, float] = (0.0, 1.0, 3.0, 7.0)
"""What an early skip, a late skip, a completion and a like are worth: the labels' unit (a logged
play is labelled with its outcome's gain, a simulated candidate with its expected gain) and
LambdaRank's gain."""
LabelKind = Literal["drawn", "expected"]
"""How simulated candidates are labelled: one drawn reaction's gain, or the expected gain."""
GRADES_PER_GAIN = 4
"""LightGBM ranks integer grades: a label is rounded to a quarter of a gain, and grade ``g`` gains
``g / GRADES_PER_GAIN`` (so NDCG's gain is the label's gain, expected gains included)."""


@dataclass
class TrainingSet:
    """Feature rows, labels (in :data:`LABEL_GAINS` units) and query sizes for LambdaRank."""

    features: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    """Rows per source ("simulated:<family>", "log")."""
    query_sources: list[str] = field(default_factory=list)
    """The source of each query, in order."""

    def add(self, x: np.ndarray, y: np.ndarray, source: str) -> None:
        if len(x) < 2:
            return
        self.features.append(np.asarray(x, np.float32))
        self.labels.append(np.asarray(y, np.float32))
        self.groups.append(len(x))
        self.query_sources.append(source)
        self.sources[source] = self.sources.get(source, 0) + len(x)

    def extend(self, other: TrainingSet) -> None:
        self.features += other.features
        self.labels += other.labels
        self.groups += other.groups
        self.query_sources += other.query_sources
        for k, v in other.sources.items():
            self.sources[k] = self.sources.get(k, 0) + v

    @property
    def rows(self) -> int:
        return int(sum(self.groups))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.concatenate(self.features) if self.features else np.zeros((0, len(FEATURE_NAMES)), np.float32)
        y = np.concatenate(self.labels) if self.labels else np.zeros(0, np.float32)
        return x, y, np.array(self.groups, np.int64)


class ExploringRecommender(SkipAwareRecommender):
    """The behaviour policy that makes training data: the skip-aware heuristic's queue, but its first
    track is, with probability ``explore``, a random one among the 40 nearest to the target and, with
    probability ``explore / 2``, any allowed track (so the data holds good, near and bad choices)."""

    name = "exploring"

    def __init__(
        self, tracks: Sequence[Track], matrix: MatrixLike, *, seed: int, explore: float = 0.5
    ) -> None:
        super().__init__(tracks, matrix)
        self.rng = np.random.default_rng(seed)
        self.explore = explore

    def recommend(
        self, state: ListenerState, *, count: int, at_s: float, within: Sequence[str] | None = None
    ) -> Recommendation:
        rec = super().recommend(state, count=count, at_s=at_s, within=within)
        u = self.rng.random()
        if u >= 1.5 * self.explore or not rec.picks:
            return rec
        cat = self.catalog
        ctx = build_context(state, cat, at_s=at_s)
        allowed = np.flatnonzero(~ctx.excluded)
        if u < self.explore:
            t = ctx.targets[0]
            d = np.hypot(cat.valence[allowed] - t.valence, cat.energy[allowed] - t.energy)
            allowed = allowed[np.argsort(d)[:40]]
        row = int(self.rng.choice(allowed))
        first = Pick(cat.tracks[row], 0.0, self.name)
        rest = tuple(p for p in rec.picks if p.track.id != first.track.id)
        return Recommendation(picks=(first, *rest)[:count], target=rec.target, targets=rec.targets)


def simulated_queries(
    lib: TruthLibrary,
    *,
    listeners: int,
    seed: int,
    families: Sequence[Family] = TRAIN_FAMILIES,
    reader: TextMoodReader | None = None,
    sessions: int = 3,
    tracks_per_session: int = 20,
    candidates: int = 40,
    labels: LabelKind = "drawn",
) -> TrainingSet:
    """Labelled queries from ``listeners`` simulated listeners of each of ``families`` on ``lib``
    (see the module docstring). ``reader`` reads the ``spoken`` family's sentences. The reactions
    are drawn whatever ``labels`` says, so both kinds of label see the same candidates and sessions."""
    catalog = Catalog(lib.tracks, lib.matrix)
    truth = lib.truth
    if catalog.ids != truth.ids:
        raise ValueError("the truth catalog's rows must follow the feature matrix's")
    rng = np.random.default_rng(seed)
    ts = TrainingSet()
    for f, family in enumerate(families):
        player = SessionPlayer(
            lib.tracks, ExploringRecommender(lib.tracks, lib.matrix, seed=seed + f), reader=reader
        )

        def on_decision(
            dec: Decision, player: SessionPlayer = player, source: str = f"simulated:{family}"
        ) -> None:
            ctx = build_context(player.state, catalog, at_s=dec.at_s)
            target = ctx.targets[0]
            allowed = np.flatnonzero(~ctx.excluded)
            if len(allowed) < 4:
                return
            d = np.hypot(catalog.valence[allowed] - target.valence, catalog.energy[allowed] - target.energy)
            near = allowed[np.argsort(d)[:80]]
            parts = [rng.choice(near, min(len(near), candidates * 3 // 8), replace=False)]
            if ctx.pos_centroid is not None:
                sims = catalog.taste[near] @ ctx.pos_centroid
                parts.append(near[np.argsort(-sims)[: candidates // 4]])
            parts.append(rng.choice(allowed, min(len(allowed), candidates * 3 // 8), replace=False))
            cand = np.unique(np.concatenate(parts))
            reactions = dec.listener.reactions(truth)
            drawn = np.take(LABEL_GAINS, reactions.sample_gains(cand, rng).astype(np.int64))
            y = reactions.expected_gains(cand, LABEL_GAINS) if labels == "expected" else drawn
            ts.add(assemble_features(catalog, ctx, cand, target), y, source)

        for i, listener in enumerate(draw_listeners(family, listeners, seed=seed, cat=truth)):
            for _ in run_listener(
                listener,
                truth,
                player,
                seed=seed * 1000 + 97 * f + i,
                sessions=sessions,
                tracks_per_session=tracks_per_session,
                on_decision=on_decision,
            ):
                pass
    return ts


def log_queries(
    events_by_listener: Mapping[str, Sequence[Any]],
    tracks: Sequence[Track],
    matrix: MatrixLike,
    *,
    cf: CfSource | None = None,
    queries_from_s: Mapping[str, float] | None = None,
    source: str = "log",
) -> TrainingSet:
    """Queries from the interaction log: one per session, the played tracks labelled by outcome
    (its :data:`LABEL_GAINS`).

    ``events_by_listener`` maps a listener id to its time-ordered ``LogEvent``s. With ``cf`` the
    ``cf_score`` feature is the model's score for the listener folded in from the state at each
    start, as in serving. With ``queries_from_s`` a listener's sessions that start before their time
    there are replayed (they build the state) but give no query: the part of the log a CF model was
    trained on, whose outcomes its factors already know.
    """
    catalog = Catalog(tracks, matrix)
    library: dict[str, Track] = {str(t.id): t for t in tracks}
    ts = TrainingSet()
    for listener_id, events in events_by_listener.items():
        state: ListenerState | None = None
        rows: list[np.ndarray] = []
        labels: list[float] = []
        query_from = -np.inf if queries_from_s is None else queries_from_s.get(listener_id, -np.inf)
        asking = True
        # track id -> (feature row at its start, liked while playing)
        playing: dict[str, tuple[np.ndarray, bool]] = {}
        # track id -> index of its label in this session (a dislike may come after the skip)
        finished: dict[str, int] = {}
        for event in events:
            if event.kind == "session_start":
                _add_session(ts, rows, labels, source)
                rows, labels = [], []
                playing.clear()
                finished.clear()
                asking = event.at_s >= query_from
            tid = event.track_id
            if state is not None and asking and tid in catalog.row:
                if event.kind == "started":
                    ctx = build_context(state, catalog, at_s=event.at_s, cf=cf)
                    x = assemble_features(catalog, ctx, np.array([catalog.row[tid]]), ctx.targets[0])
                    playing[tid] = (x, False)
                    finished.pop(tid, None)
                elif event.kind == "liked" and tid in playing:
                    playing[tid] = (playing[tid][0], True)
                elif event.kind == "disliked" and tid in finished:
                    labels[finished[tid]] = 0.0
                elif event.kind in ("skipped", "completed", "disliked") and tid in playing:
                    x, liked = playing.pop(tid)
                    if event.kind == "disliked":
                        label = 0.0
                    elif event.kind == "skipped":
                        label = 0.0 if (event.position_s or 0.0) < EARLY_SKIP_S else 1.0
                    else:
                        label = 3.0 if liked else 2.0
                    finished[tid] = len(labels)
                    rows.append(x)
                    labels.append(label)
            # As the session does: tracks no longer in the library are passed over.
            state = apply_logged_event(state, listener_id, event, tracks=library)
        _add_session(ts, rows, labels, source)
    return ts


def _add_session(ts: TrainingSet, rows: list[np.ndarray], labels: list[float], source: str) -> None:
    """A session's plays are one query, if they are not all labelled alike (nothing to rank then).
    ``labels`` are outcomes (0 early skip … 3 liked); the query holds their gains."""
    if len(rows) >= 2 and len(set(labels)) > 1:
        ts.add(np.concatenate(rows), np.take(LABEL_GAINS, np.array(labels, np.int64)), source)


HOUSEHOLD_SEEDS: tuple[int, ...] = tuple(range(1001, 1009))
"""Households the shipped model learns ``cf_score`` from (the CF evaluation's seeds are 1–5)."""
HOUSEHOLD_CF_SESSIONS = 0.5
"""Share of each household member's sessions the CF model is trained on; the rest give the queries."""


def household_queries(
    seeds: Sequence[int] = HOUSEHOLD_SEEDS, cfg: Any = None
) -> tuple[TrainingSet, dict[str, Any]]:
    """Queries that teach the ranker what ``cf_score`` is worth: simulated households with planted
    taste groups (:func:`models.cf_eval.simulate_household`; the listeners choose what they play, so
    the log is what a shared server would hold). Per household a CF model is trained on the first
    :data:`HOUSEHOLD_CF_SESSIONS` of every member's sessions (:func:`models.cf.train_cf`, as
    ``cadence train`` does); the later sessions are replayed as log queries with ``cf_score`` folded
    in from the state at each start. Returns the queries and a description."""
    from models.cf import train_cf
    from models.cf_eval import HouseholdConfig, simulate_household
    from models.simulate import catalog_matrix

    cfg = HouseholdConfig() if cfg is None else cfg
    ts = TrainingSet()
    listeners = 0
    for seed in seeds:
        house = simulate_household(cfg, seed)
        by_listener: dict[str, list[Any]] = {}
        for event in house.events:
            by_listener.setdefault(event.listener_id, []).append(event)
        cut: dict[str, float] = {}
        for listener_id, events in by_listener.items():
            starts = [e.at_s for e in events if e.kind == "session_start"]
            cut[listener_id] = starts[min(len(starts) - 1, round(HOUSEHOLD_CF_SESSIONS * len(starts)))]
        model = train_cf(e for e in house.events if e.at_s < cut[e.listener_id]).model
        if model is None:
            continue
        listeners += len(by_listener)
        ts.extend(
            log_queries(
                by_listener,
                house.tracks,
                catalog_matrix(house.tracks),
                cf=model,
                queries_from_s=cut,
                source="household",
            )
        )
    info = {
        "household_seeds": list(seeds),
        "household_listeners": listeners,
        "household_tracks": cfg.tracks,
        "household_cf_sessions": HOUSEHOLD_CF_SESSIONS,
    }
    return ts, info


def train_booster(ts: TrainingSet, *, seed: int, rounds: int = NUM_ROUNDS) -> Any:
    """Fit LightGBM LambdaRank on ``ts`` (imports lightgbm: training only)."""
    import lightgbm as lgb

    x, y, groups = ts.arrays()
    top = round(max(LABEL_GAINS) * GRADES_PER_GAIN)
    grades = np.clip(np.rint(y * GRADES_PER_GAIN), 0, top).astype(np.int32)
    params = dict(
        LGBM_PARAMS,
        seed=seed,
        deterministic=True,
        label_gain=[g / GRADES_PER_GAIN for g in range(top + 1)],
    )
    data = lgb.Dataset(x, grades, group=groups, feature_name=list(FEATURE_NAMES), free_raw_data=False)
    return float32_thresholds(lgb.train(params, data, num_boost_round=rounds))


def float32_thresholds(booster: Any) -> Any:
    """The same trees with every split threshold rounded down to a float32.

    LightGBM keeps thresholds as doubles; ONNX's TreeEnsemble stores float32. A float32 input equal
    to ``float32(t) > t`` would go right in LightGBM and left in ONNX. With ``t'`` the largest
    float32 ≤ ``t`` no float32 lies in ``(t', t]``, so on float32 inputs (all Cadence features are
    float32) the rounded trees decide exactly as the original ones, and ONNX stores ``t'`` exactly.
    """
    import lightgbm as lgb

    # tree_sizes (byte lengths of each tree) would no longer match; without it LightGBM parses in order
    lines = [line for line in booster.model_to_string().split("\n") if not line.startswith("tree_sizes=")]
    for i, line in enumerate(lines):
        if line.startswith("threshold="):
            t = np.array([float(v) for v in line[len("threshold=") :].split()], dtype=np.float64)
            f = t.astype(np.float32)
            f = np.where(f.astype(np.float64) > t, np.nextafter(f, np.float32(-np.inf)), f)
            lines[i] = "threshold=" + " ".join(repr(float(v)) for v in f)
    return lgb.Booster(model_str="\n".join(lines))


def average_boosters(boosters: Sequence[Any]) -> Any:
    """One booster whose score is the mean of ``boosters``' scores: their trees side by side, every
    leaf value divided by their number. An ensemble of models trained on independent simulated draws
    (``build_shipped(ensemble=k)``; docs/ranking.md, "Session 20: an ensemble of training draws") served as one
    model: one ONNX tree ensemble, one pre-selection distilled from it, no change to serving."""
    import lightgbm as lgb

    if not boosters:
        raise ValueError("average_boosters needs at least one booster")
    k = len(boosters)
    heads: list[list[str]] = []
    trees: list[list[str]] = []
    for booster in boosters:
        text = booster.model_to_string()
        body, _tail = text.split("\nend of trees", 1)
        head, *blocks = body.split("\nTree=")
        heads.append([line for line in head.split("\n") if not line.startswith("tree_sizes=")])
        trees += [("Tree=" + block).strip("\n").split("\n") for block in blocks]
    keys = [line.split("=", 1)[0] for line in heads[0]]
    if any([line.split("=", 1)[0] for line in h] != keys for h in heads):
        raise ValueError("boosters with different headers cannot be averaged")
    head = [_merged_header_line(lines) for lines in zip(*heads, strict=True)]
    out = list(head)
    for i, tree in enumerate(trees):
        out.append("")
        for line in tree:
            key, _, value = line.partition("=")
            if key == "Tree":
                line = f"Tree={i}"
            elif key in ("leaf_value", "internal_value"):
                line = key + "=" + " ".join(repr(float(v) / k) for v in value.split())
            out.append(line)
        out.append("")
    out += ["", "end of trees", ""]
    return lgb.Booster(model_str="\n".join(out))


def _merged_header_line(lines: Sequence[str]) -> str:
    """One header line of :func:`average_boosters`: the same in every booster, or ``feature_infos``
    (each feature's ``[min:max]`` seen in training, or ``none``) widened to cover all of them."""
    key = lines[0].partition("=")[0]
    if key != "feature_infos":
        if any(line != lines[0] for line in lines):
            raise ValueError(f"boosters differ in {key!r}; cannot average them")
        return lines[0]
    merged = []
    for infos in zip(*(line.partition("=")[2].split(" ") for line in lines), strict=True):
        ranges = [tuple(float(v) for v in info.strip("[]").split(":")) for info in infos if info != "none"]
        if not ranges:
            merged.append("none")
        elif any(not info.startswith("[") for info in infos if info != "none"):
            raise ValueError("categorical features cannot be averaged")
        else:
            merged.append(f"[{min(r[0] for r in ranges)!r}:{max(r[1] for r in ranges)!r}]")
    return key + "=" + " ".join(merged)


def fit_preselect(
    booster: Any, ts: TrainingSet, *, ridge: float = 1.0, max_rows: int = 80000
) -> dict[str, list[float]]:
    """Weights ``W`` [term × context] such that ``terms @ W @ context`` best reproduces the model's
    scores within each query: the linear pre-selection is a distillation of the ranker whose term
    weights shift with the decision's context (:data:`player.core.ranking.PRESELECT_CONTEXT`). Serving
    starts each decision from these weights and fits them again to the ranker's scores of a sample of
    that decision's tracks (``Recommender._calibrate``), with the same row weighting."""
    x, _, groups = ts.arrays()
    if len(x) > max_rows:
        keep = max_rows // max(1, int(groups.mean()))
        sel = np.sort(np.random.default_rng(0).choice(len(groups), keep, replace=False))
        starts = np.concatenate([[0], np.cumsum(groups)[:-1]])
        x = np.concatenate([x[starts[g] : starts[g] + groups[g]] for g in sel])
        groups = groups[sel]
    score = booster.predict(x)
    terms, context = preselect_design(x)
    terms = terms.astype(np.float64)
    # centre per query: only differences within a decision matter; weight the upper half of each
    # query most, since the proxy must order the good candidates, not just separate them from bad
    bounds = np.concatenate([[0], np.cumsum(groups)])
    weight = np.empty(len(score))
    for lo, hi in itertools.pairwise(bounds):
        terms[lo:hi] -= terms[lo:hi].mean(axis=0)
        score[lo:hi] -= score[lo:hi].mean()
        weight[lo:hi] = upper_half_weight(score[lo:hi])
    # interactions: column (i, j) = term i × context j (context is constant within a query)
    a = (terms[:, :, None] * context[:, None, :]).reshape(len(terms), -1)
    w = fit_proxy(a, score, weight, ridge=ridge).reshape(len(PRESELECT_TERMS), len(PRESELECT_CONTEXT))
    return {name: [float(v) for v in row] for name, row in zip(PRESELECT_TERMS, w, strict=True)}


def to_onnx(booster: Any, *, preselect: dict[str, list[float]], info: dict[str, Any]) -> Any:
    """Convert to ONNX (onnxmltools) and attach the schema metadata. Returns an ``onnx.ModelProto``."""
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = onnxmltools.convert_lightgbm(
        booster,
        initial_types=[("features", FloatTensorType([None, len(FEATURE_NAMES)]))],
        target_opset=15,
        zipmap=False,
    )
    meta = {
        "cadence.schema_version": str(SCHEMA_VERSION),
        "cadence.features": ",".join(FEATURE_NAMES),
        "cadence.preselect": json.dumps(preselect),
        "cadence.model_version": str(info.get("model_version", time.strftime("%Y%m%d%H%M%S"))),
        "cadence.training": json.dumps(info),
    }
    for key, value in meta.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    model.doc_string = "Cadence next-track ranker (LightGBM LambdaRank)"
    return model


def save_model_atomic(model: Any, path: Path) -> None:
    """Write ``model`` to ``path`` atomically: a temporary file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = model.SerializeToString() if hasattr(model, "SerializeToString") else bytes(model)
    fd, tmp = tempfile.mkstemp(prefix=".ranker-", suffix=".onnx.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the model is not a secret
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def train_model(
    ts: TrainingSet | Sequence[TrainingSet],
    *,
    seed: int,
    info: dict[str, Any] | None = None,
    rounds: int = NUM_ROUNDS,
) -> tuple[Any, Any]:
    """Train on ``ts`` and export: returns ``(booster, onnx_model)``. Given several training sets,
    one member is trained on each (LightGBM seeds ``seed``, ``seed + 1`` …) and their average is
    exported (:func:`average_boosters`), its pre-selection distilled from the average over all sets."""
    t0 = time.perf_counter()
    sets = [ts] if isinstance(ts, TrainingSet) else list(ts)
    if not sets:
        raise ValueError("train_model needs a training set")
    members = [train_booster(member, seed=seed + i, rounds=rounds) for i, member in enumerate(sets)]
    booster = members[0] if len(members) == 1 else average_boosters(members)
    pooled = sets[0]
    if len(sets) > 1:
        pooled = TrainingSet()
        for member in sets:
            pooled.extend(member)
    preselect = fit_preselect(booster, pooled)
    meta = {
        "rows": pooled.rows,
        "queries": len(pooled.groups),
        "sources": pooled.sources,
        "seed": seed,
        "rounds": rounds,
        "ensemble": len(sets),
        "train_seconds": round(time.perf_counter() - t0, 2),
        **(info or {}),
    }
    return booster, to_onnx(booster, preselect=preselect, info=meta)


SHIPPED_LISTENERS = 40
"""Listeners per training family in the shipped model's training data."""
SHIPPED_ENSEMBLE = 1
"""Members of the shipped model (:func:`build_shipped`'s ``ensemble``)."""
ABLATIONS: dict[str, tuple[str, ...]] = {
    "without_similarity": (
        "sim_liked_max",
        "sim_liked_mean",
        "sim_skipped_max",
        "sim_skipped_mean",
    ),
    "without_properties": (
        "skip_lean_max",
        "skip_lean_mean",
        "outside_liked_max",
        "outside_liked_mean",
        "stump_skip_max",
        "stump_skip_mean",
    ),
    "without_context": (
        "tod_sin",
        "tod_cos",
        "weekend",
        "session_position",
        "minutes_since_heard",
        "heard_this_session",
    ),
}
"""Feature groups blanked (set to their offset, so the trees cannot split on them) for the ablations."""


def blank_features(ts: TrainingSet, names: Sequence[str]) -> TrainingSet:
    """A copy of ``ts`` with the columns ``names`` set to 0 (their scaled offset): a model trained on
    it cannot use them, whatever serving assembles."""
    cols = [FEATURE_NAMES.index(n) for n in names]
    out = TrainingSet()
    for x, y, source in zip(ts.features, ts.labels, ts.query_sources, strict=True):
        x = x.copy()
        x[:, cols] = 0.0
        out.add(x, y, source)
    return out


def without_source(ts: TrainingSet, source: str) -> TrainingSet:
    """A copy of ``ts`` without the queries of ``source`` (a training-data ablation)."""
    out = TrainingSet()
    for x, y, src in zip(ts.features, ts.labels, ts.query_sources, strict=True):
        if src != source:
            out.add(x, y, src)
    return out


def shipped_training_set(
    cache_dir: Path,
    *,
    seed: int = 0,
    listeners: int = SHIPPED_LISTENERS,
    reader: TextMoodReader | None = None,
    labels: LabelKind = "drawn",
) -> tuple[TrainingSet, dict[str, Any]]:
    """The simulated data the shipped model is trained on, and a description of it: listeners of the
    training families on the scanned training demo catalog (extracted features, designed truth)."""
    from models.catalogs import TRAIN_COUNT, TRAIN_SEED, demo_truth_library

    lib = demo_truth_library(cache_dir, seed=TRAIN_SEED, count=TRAIN_COUNT)
    ts = simulated_queries(lib, listeners=listeners, seed=seed + 1, reader=reader, labels=labels)
    households, household_info = household_queries()
    ts.extend(households)
    info = {
        "catalogs": [lib.name],
        "families": list(TRAIN_FAMILIES),
        "listeners_per_family": listeners,
        "sessions": 3,
        "tracks_per_session": 20,
        "labels": labels,
        "household_queries": len(households.groups),
        "household_rows": households.rows,
        **household_info,
    }
    return ts, info


def write_model_card(
    path: Path,
    *,
    onnx_path: Path,
    info: dict[str, Any],
    report: dict[str, Any],
    ablations: dict[str, dict[str, Any]] | None = None,
    ablations_note: str = "",
) -> None:
    """Write ``ranker.md``: what the model is, its training data, the evaluation per family, the
    mood-following figures, the targets, the ablations and what the simulator assumes."""
    from models.card import model_card

    path.write_text(
        model_card(
            onnx_path=onnx_path, info=info, report=report, ablations=ablations, ablations_note=ablations_note
        ),
        "utf-8",
    )


def build_shipped(
    out_dir: Path,
    cache_dir: Path,
    *,
    seed: int = 0,
    listeners: int = SHIPPED_LISTENERS,
    rounds: int = NUM_ROUNDS,
    ablations: bool = True,
    version: str | None = None,
    labels: LabelKind = "drawn",
    ensemble: int = SHIPPED_ENSEMBLE,
) -> dict[str, Any]:
    """Train the shipped ``ranker.onnx`` on simulated data, evaluate it (and the ablations), write
    ``ranker.md``. ``version`` names the model (default ``sim-`` and today's date). With ``ensemble``
    k > 1 the model is the average of k members, member i trained on the simulated draw of seed
    ``seed + i`` (each draw what ``ensemble=1`` would train on with that seed). Returns the
    evaluation report."""
    from models.catalogs import EVAL_COUNT, EVAL_SEED, demo_truth_library
    from models.cf_lift import evaluate_lift
    from models.evaluate import EvalConfig, evaluate
    from mood.analyzer import MoodAnalyzer
    from player.core.ranking import OnnxRanker

    if ensemble < 1:
        raise ValueError(f"ensemble must be at least 1, got {ensemble}")
    reader = MoodAnalyzer()
    sets: list[TrainingSet] = []
    for member in range(ensemble):
        ts, data = shipped_training_set(
            cache_dir, seed=seed + member, listeners=listeners, reader=reader, labels=labels
        )
        sets.append(ts)
    info = {"model_version": version or "sim-" + time.strftime("%Y%m%d"), **data}
    info.update({"ensemble": ensemble, "seeds": list(range(seed, seed + ensemble))})
    _, model = train_model(sets, seed=seed, info=info, rounds=rounds)
    info.update(
        {"rows": sum(t.rows for t in sets), "queries": sum(len(t.groups) for t in sets), "rounds": rounds}
    )
    onnx_path = out_dir / "ranker.onnx"
    save_model_atomic(model, onnx_path)
    lib = demo_truth_library(cache_dir, seed=EVAL_SEED, count=EVAL_COUNT)
    report = evaluate(lib, OnnxRanker.load(onnx_path), EvalConfig(), reader=reader)
    report["cf_lift"] = evaluate_lift(OnnxRanker.load(onnx_path))
    results: dict[str, dict[str, Any]] = {}
    if ablations:
        variants: dict[str, tuple[str, list[TrainingSet]]] = {
            name: (f"blanked: {', '.join(f'`{n}`' for n in names)}", [blank_features(t, names) for t in sets])
            for name, names in ABLATIONS.items()
        }
        variants["without_aversions"] = (
            "no `aversions` listeners in the training data",
            [without_source(t, "simulated:aversions") for t in sets],
        )
        variants["without_households"] = (
            "no household queries in the training data (`cf_score` never varies: what learning it costs)",
            [without_source(t, "household") for t in sets],
        )
        quick = EvalConfig(mood_following=False, extra_seeds=())
        for name, (what, variant_ts) in variants.items():
            _, variant = train_model(variant_ts, seed=seed, info={"model_version": name}, rounds=rounds)
            tmp = out_dir / f".ablation-{name}.onnx"
            save_model_atomic(variant, tmp)
            try:
                results[name] = {
                    "what": what,
                    "report": evaluate(
                        lib, OnnxRanker.load(tmp), quick, reader=reader, baselines=("skip_aware",)
                    ),
                }
            finally:
                tmp.unlink(missing_ok=True)
            logger.info("ablation %s evaluated", name)
    write_model_card(out_dir / "ranker.md", onnx_path=onnx_path, info=info, report=report, ablations=results)
    (out_dir / "evaluation.json").write_text(
        json.dumps({"report": report, "ablations": results}, indent=1) + "\n", encoding="utf-8"
    )
    return report


def republish(out_dir: Path, report: dict[str, Any]) -> None:
    """Rewrite ``evaluation.json`` and ``ranker.md`` in ``out_dir`` with a new evaluation ``report`` of
    the model there. Its ablations are not retrained (their training data would be this machine's, not
    the model's): the published ones are kept, with a note of when and how they were measured."""
    import onnx

    onnx_path = out_dir / "ranker.onnx"
    published = json.loads((out_dir / "evaluation.json").read_text("utf-8"))
    metadata = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    before = published["report"]
    note = published.get("ablations_note") or (
        "The variants were measured when the model was trained, with the serving code and on the machine "
        "of then (the scan of the evaluation catalog differs by machine: docs/ranking.md); the shipped "
        "model measured beside them then: "
        + ", ".join(f"{f} {e['ranker']['skip_rate']}" for f, e in before["families"].items())
        + "."
    )
    ablations = published.get("ablations", {})
    write_model_card(
        out_dir / "ranker.md",
        onnx_path=onnx_path,
        info=json.loads(metadata["cadence.training"]),
        report=report,
        ablations=ablations,
        ablations_note=note,
    )
    out = {"report": report, "ablations": ablations, "ablations_note": note}
    (out_dir / "evaluation.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


def reevaluate_shipped(out_dir: Path, cache_dir: Path) -> dict[str, Any]:
    """Evaluate the model in ``out_dir`` again as it is served now (the serving code changed, not the
    model) and :func:`republish` it. Returns the evaluation report."""
    from models.catalogs import EVAL_COUNT, EVAL_SEED, demo_truth_library
    from models.cf_lift import evaluate_lift
    from models.evaluate import EvalConfig, evaluate
    from mood.analyzer import MoodAnalyzer
    from player.core.ranking import OnnxRanker

    onnx_path = out_dir / "ranker.onnx"
    lib = demo_truth_library(cache_dir, seed=EVAL_SEED, count=EVAL_COUNT)
    report = evaluate(lib, OnnxRanker.load(onnx_path), EvalConfig(), reader=MoodAnalyzer())
    report["cf_lift"] = evaluate_lift(OnnxRanker.load(onnx_path))
    republish(out_dir, report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m models.train [OUT_DIR] [--cache DIR] [--no-ablations] [--seed S] [--listeners N]
    [--labels drawn|expected] [--ensemble K] [--version V] [--reevaluate]``: rebuild the shipped model
    and its card (default OUT_DIR: this package's folder; ``--listeners`` per training family, default
    :data:`SHIPPED_LISTENERS`; ``--labels`` of the simulated candidates, default drawn as shipped;
    ``--ensemble`` members trained on seeds S, S+1 … and averaged, default :data:`SHIPPED_ENSEMBLE`;
    ``--version`` names the model, default ``sim-`` and today's date); with ``--reevaluate``, only
    evaluate the model there again (:func:`reevaluate_shipped`)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m models.train", description=main.__doc__)
    parser.add_argument("out_dir", nargs="?", type=Path, default=Path(__file__).parent)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "cadence" / "eval-catalogs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--listeners", type=int, default=SHIPPED_LISTENERS)
    parser.add_argument("--labels", choices=get_args(LabelKind), default="drawn")
    parser.add_argument("--version", default=None)
    parser.add_argument("--ensemble", type=int, default=SHIPPED_ENSEMBLE)
    parser.add_argument("--reevaluate", action="store_true")
    args = parser.parse_args(argv)
    if args.listeners < 1:
        parser.error(f"--listeners must be at least 1, got {args.listeners}")
    if args.ensemble < 1:
        parser.error(f"--ensemble must be at least 1, got {args.ensemble}")
    logging.basicConfig(level=logging.INFO)
    if args.reevaluate:
        report = reevaluate_shipped(args.out_dir, args.cache)
    else:
        report = build_shipped(
            args.out_dir,
            args.cache,
            seed=args.seed,
            listeners=args.listeners,
            ablations=not args.no_ablations,
            version=args.version,
            labels=args.labels,
            ensemble=args.ensemble,
        )
    print(json.dumps(report["targets"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
