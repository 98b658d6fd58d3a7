"""Train the ranker: LightGBM LambdaRank on simulated and logged plays, exported to ONNX.

Training rows are built with :func:`player.core.ranking.assemble_features`, the function serving uses, so
the two cannot drift. Two sources:

- **Simulated decisions** (:func:`simulated_queries`): listeners from :mod:`models.simulate` play
  sessions chosen by an exploring behaviour policy (half nearest-to-target, half a random pick among
  the 40 nearest). At each decision a query of ~40 candidates (near the target, similar to recent
  likes, and uniformly random) is labelled with outcomes drawn from the simulated listener
  (early skip 0, late skip 1, completed 2, liked 3).
- **The interaction log** (:func:`log_queries`): each listener's events are replayed through
  :class:`~player.core.listener.ListenerState` to rebuild the context of every play; the played track is
  labelled by its outcome (early skip < 30 s worst, then late skip, completed, liked best; a dislike
  counts as an early skip). A session's plays form one query.

The pre-selection weights (a linear distillation of the trained model over
:data:`player.core.ranking.PRESELECT_TERMS`) and the schema version travel in the ONNX metadata.
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
from typing import Any

import numpy as np

from models.simulate import (
    GAIN,
    TRAIN_POPULATION,
    Decision,
    Population,
    SimCatalog,
    catalog_matrix,
    draw_listeners,
    run_listener,
    synthetic_catalog,
)
from player.core.listener import EARLY_SKIP_S, ListenerState
from player.core.ranking import (
    FEATURE_NAMES,
    PRESELECT_CONTEXT,
    PRESELECT_TERMS,
    SCHEMA_VERSION,
    Catalog,
    MatrixLike,
    assemble_features,
    build_context,
    preselect_design,
)
from player.core.replay import apply_logged_event
from player.core.track import Track

__all__ = [
    "LGBM_PARAMS",
    "TrainingSet",
    "fit_preselect",
    "float32_thresholds",
    "heuristic_rows",
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


@dataclass
class TrainingSet:
    """Feature rows, graded labels and query sizes for LambdaRank."""

    features: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    """Rows per source ("simulated", "log")."""

    def add(self, x: np.ndarray, y: np.ndarray, source: str) -> None:
        if len(x) < 2:
            return
        self.features.append(np.asarray(x, np.float32))
        self.labels.append(np.asarray(y, np.float32))
        self.groups.append(len(x))
        self.sources[source] = self.sources.get(source, 0) + len(x)

    def extend(self, other: TrainingSet) -> None:
        self.features += other.features
        self.labels += other.labels
        self.groups += other.groups
        for k, v in other.sources.items():
            self.sources[k] = self.sources.get(k, 0) + v

    @property
    def rows(self) -> int:
        return int(sum(self.groups))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.concatenate(self.features) if self.features else np.zeros((0, len(FEATURE_NAMES)), np.float32)
        y = np.concatenate(self.labels) if self.labels else np.zeros(0, np.float32)
        return x, y, np.array(self.groups, np.int64)


def heuristic_rows(state: ListenerState, catalog: Catalog, at_s: float, count: int) -> list[int]:
    """Nearest-to-target rows (per-position targets), skipping recently played tracks."""
    ctx = build_context(state, catalog, at_s=at_s, count=count)
    out: list[int] = []
    blocked = ctx.excluded.copy()
    if blocked.sum() > catalog.n - count:
        blocked[:] = False
    for target in ctx.targets:
        d = np.hypot(catalog.valence - target.valence, catalog.energy - target.energy)
        d = np.where(blocked, np.inf, d)
        r = int(np.argmin(d))
        out.append(r)
        blocked[r] = True
    return out


def simulated_queries(
    tracks: list[Track],
    *,
    listeners: int,
    seed: int,
    population: Population = TRAIN_POPULATION,
    sessions: int = 3,
    tracks_per_session: int = 20,
    candidates: int = 40,
) -> TrainingSet:
    """Labelled queries from simulated listeners on ``tracks`` (see the module docstring)."""
    matrix = catalog_matrix(tracks)
    catalog = Catalog(tracks, matrix)
    sim = SimCatalog(tracks)
    rng = np.random.default_rng(seed)
    ts = TrainingSet()

    def behaviour(state: ListenerState, at_s: float, count: int) -> list[int]:
        rows = heuristic_rows(state, catalog, at_s, count)
        if rng.random() < 0.5:
            ctx = build_context(state, catalog, at_s=at_s)
            t = ctx.targets[0]
            d = np.hypot(catalog.valence - t.valence, catalog.energy - t.energy)
            d = np.where(ctx.excluded, np.inf, d)
            near = np.argsort(d)[:40]
            rows[0] = int(rng.choice(near))
        return rows

    def on_decision(dec: Decision) -> None:
        ctx = build_context(dec.state, catalog, at_s=dec.at_s)
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
        labels = np.array(
            [GAIN[dec.listener.outcome(float(dec.utility[c]), rng)[0]] for c in cand], dtype=np.float32
        )
        ts.add(assemble_features(catalog, ctx, cand, target), labels, "simulated")

    for i, listener in enumerate(draw_listeners(listeners, seed=seed, cat=sim, population=population)):
        for _ in run_listener(
            listener,
            sim,
            behaviour,
            seed=seed * 1000 + i,
            sessions=sessions,
            tracks_per_session=tracks_per_session,
            on_decision=on_decision,
        ):
            pass
    return ts


def log_queries(
    events_by_listener: Mapping[str, Sequence[Any]], tracks: Sequence[Track], matrix: MatrixLike
) -> TrainingSet:
    """Queries from the interaction log: one per session, the played tracks labelled by outcome.

    ``events_by_listener`` maps a listener id to its time-ordered ``LogEvent``s.
    """
    catalog = Catalog(tracks, matrix)
    library = {t.id: t for t in tracks}
    ts = TrainingSet()
    for listener_id, events in events_by_listener.items():
        state: ListenerState | None = None
        rows: list[np.ndarray] = []
        labels: list[float] = []
        # track id -> (feature row at its start, liked while playing)
        playing: dict[str, tuple[np.ndarray, bool]] = {}
        # track id -> index of its label in this session (a dislike may come after the skip)
        finished: dict[str, int] = {}
        for event in events:
            if event.kind == "session_start":
                _add_session(ts, rows, labels)
                rows, labels = [], []
                playing.clear()
                finished.clear()
            tid = event.track_id
            if state is not None and tid in catalog.row:
                if event.kind == "started":
                    ctx = build_context(state, catalog, at_s=event.at_s)
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
        _add_session(ts, rows, labels)
    return ts


def _add_session(ts: TrainingSet, rows: list[np.ndarray], labels: list[float]) -> None:
    """A session's plays are one query, if they are not all labelled alike (nothing to rank then)."""
    if len(rows) >= 2 and len(set(labels)) > 1:
        ts.add(np.concatenate(rows), np.array(labels, np.float32), "log")


def train_booster(ts: TrainingSet, *, seed: int, rounds: int = NUM_ROUNDS) -> Any:
    """Fit LightGBM LambdaRank on ``ts`` (imports lightgbm: training only)."""
    import lightgbm as lgb

    x, y, groups = ts.arrays()
    params = dict(LGBM_PARAMS, seed=seed, deterministic=True, label_gain=[0.0, 1.0, 3.0, 7.0])
    data = lgb.Dataset(
        x, y.astype(np.int32), group=groups, feature_name=list(FEATURE_NAMES), free_raw_data=False
    )
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


def fit_preselect(
    booster: Any, ts: TrainingSet, *, ridge: float = 1.0, max_rows: int = 80000
) -> dict[str, list[float]]:
    """Weights ``W`` [term × context] such that ``terms @ W @ context`` best reproduces the model's
    scores within each query: the linear pre-selection is a distillation of the ranker whose term
    weights shift with the decision's context (:data:`player.core.ranking.PRESELECT_CONTEXT`)."""
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
    weight = np.full(len(score), 0.2)
    for lo, hi in itertools.pairwise(bounds):
        terms[lo:hi] -= terms[lo:hi].mean(axis=0)
        score[lo:hi] -= score[lo:hi].mean()
        weight[lo:hi][score[lo:hi] >= np.median(score[lo:hi])] = 1.0
    # interactions: column (i, j) = term i × context j (context is constant within a query)
    a = (terms[:, :, None] * context[:, None, :]).reshape(len(terms), -1)
    aw = a * weight[:, None]
    w = np.linalg.solve(aw.T @ a + ridge * np.eye(a.shape[1]), aw.T @ score)
    w = w.reshape(len(PRESELECT_TERMS), len(PRESELECT_CONTEXT))
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
    ts: TrainingSet, *, seed: int, info: dict[str, Any] | None = None, rounds: int = NUM_ROUNDS
) -> tuple[Any, Any]:
    """Train on ``ts`` and export: returns ``(booster, onnx_model)``."""
    t0 = time.perf_counter()
    booster = train_booster(ts, seed=seed, rounds=rounds)
    preselect = fit_preselect(booster, ts)
    meta = {
        "rows": ts.rows,
        "queries": len(ts.groups),
        "sources": ts.sources,
        "seed": seed,
        "rounds": rounds,
        "train_seconds": round(time.perf_counter() - t0, 2),
        **(info or {}),
    }
    return booster, to_onnx(booster, preselect=preselect, info=meta)


def shipped_training_set(*, seed: int = 0, listeners: int = 60) -> TrainingSet:
    """The simulated data the shipped model is trained on: two synthetic catalogs, train population."""
    ts = TrainingSet()
    for k, catalog_seed in enumerate((11, 12)):
        tracks = synthetic_catalog(1500, seed=catalog_seed)
        ts.extend(simulated_queries(tracks, listeners=listeners, seed=seed + 100 * (k + 1)))
    return ts


def write_model_card(path: Path, *, onnx_path: Path, info: dict[str, Any], report: dict[str, Any]) -> None:
    """Write ``ranker.md``: features in order, training data, metrics, version."""
    from player.core.ranking import FEATURES

    r, b = report["ranker"], report.get("baselines", {})
    from models.evaluate import METRICS as metrics

    rows = ["| policy | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for name, m in [("ranker", r)] + [(k, v) for k, v in b.items()]:
        rows.append(f"| {name} | " + " | ".join(str(m.get(k, "")) for k in metrics) + " |")
    reaction = r.get("skip_reaction", {})
    lines = [
        "# Cadence ranker — model card",
        "",
        f"- File: `{onnx_path.name}`; model version `{info.get('model_version')}`; feature schema version "
        f"{SCHEMA_VERSION} (ONNX metadata `cadence.schema_version`, checked at load).",
        "- Model: LightGBM LambdaRank (`objective=lambdarank`, label gains 0/1/3/7 for early skip / late "
        f"skip / completed / liked), {info.get('rounds')} trees of up to {LGBM_PARAMS['num_leaves']} leaves, "
        "exported with onnxmltools (opset 15, `ai.onnx.ml` TreeEnsembleRegressor); served with onnxruntime only.",
        "- Output: one score per candidate row; higher is better; only the order within a decision matters.",
        "",
        "## Training data",
        "",
        f"Simulated only (no real interaction log is shipped): {info.get('rows')} candidate rows in "
        f"{info.get('queries')} decisions, from {info.get('listeners_per_catalog')} listeners of the *train* "
        f"population on each of {len(info.get('catalog_seeds', []))} synthetic catalogs of "
        f"{info.get('catalog_tracks')} tracks (seeds {info.get('catalog_seeds')}), 3 sessions of 20 tracks each. "
        "Every decision's ~40 candidates (near the target, similar to recent likes, random) are labelled with "
        "outcomes drawn from the simulated listener. The simulator's assumptions are in `models/simulate.py`.",
        "",
        "## Evaluation (held-out listeners: other seeds, shifted parameter ranges, another catalog)",
        "",
        f"`cadence eval` configuration: {json.dumps(report.get('config', {}))}",
        "",
        *rows,
        "",
        f"Skip-rate reduction vs the nearest-to-target heuristic: {r.get('skip_rate_reduction_vs_heuristic')} "
        "(target ≥ 0.20).",
        "",
        f"Skip reaction (taste-vector distance of the next 10 picks to the nearest of 3 consecutively "
        f"early-skipped tracks): before {reaction.get('distance_before')}, after the skips "
        f"{reaction.get('distance_after_skips')}, had they been completed {reaction.get('distance_after_completions')}.",
        "",
        "## Features, in input order",
        "",
        "Each input is `(raw - offset) / scale`; definitions in docs/ranking.md.",
        "",
        "| # | name | offset | scale | definition |",
        "|---|---|---|---|---|",
        *(f"| {i} | `{f.name}` | {f.offset:g} | {f.scale:g} | {f.doc} |" for i, f in enumerate(FEATURES)),
        "",
        "## Limits",
        "",
        "Trained on simulated listeners: it has learned what the simulator assumes (taste in timbre and tempo, "
        "mood match, skip behaviour), no more. `cadence train` retrains it from a real interaction log and "
        "keeps the new model only if it evaluates at least as well.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def build_shipped(
    out_dir: Path, *, seed: int = 0, listeners: int = 60, rounds: int = NUM_ROUNDS
) -> dict[str, Any]:
    """Train the shipped ``ranker.onnx`` on simulated data, evaluate it, write ``ranker.md``."""
    from models.evaluate import EvalConfig, evaluate
    from player.core.ranking import OnnxRanker

    ts = shipped_training_set(seed=seed, listeners=listeners)
    info = {
        "model_version": "sim-" + time.strftime("%Y%m%d"),
        "catalog_seeds": [11, 12],
        "catalog_tracks": 1500,
        "listeners_per_catalog": listeners,
    }
    _, model = train_model(ts, seed=seed, info=info, rounds=rounds)
    info.update({"rows": ts.rows, "queries": len(ts.groups), "rounds": rounds})
    onnx_path = out_dir / "ranker.onnx"
    save_model_atomic(model, onnx_path)
    ranker = OnnxRanker.load(onnx_path)
    tracks = synthetic_catalog(1500, seed=21)
    report = evaluate(tracks, catalog_matrix(tracks), ranker, EvalConfig())
    write_model_card(out_dir / "ranker.md", onnx_path=onnx_path, info=info, report=report)
    return report


def rewrite_card(out_dir: Path) -> dict[str, Any]:
    """Re-evaluate the ``ranker.onnx`` in ``out_dir`` with the current serving code and rewrite its card."""
    from models.evaluate import EvalConfig, evaluate
    from player.core.ranking import OnnxRanker

    onnx_path = out_dir / "ranker.onnx"
    ranker = OnnxRanker.load(onnx_path)
    info = json.loads(ranker.metadata.get("cadence.training", "{}"))
    tracks = synthetic_catalog(1500, seed=21)
    report = evaluate(tracks, catalog_matrix(tracks), ranker, EvalConfig())
    write_model_card(out_dir / "ranker.md", onnx_path=onnx_path, info=info, report=report)
    return report


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO)
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    target_dir = Path(args[0]) if args else Path(__file__).parent
    if "--card-only" in sys.argv:
        print(json.dumps(rewrite_card(target_dir), indent=2))
    else:
        print(json.dumps(build_shipped(target_dir), indent=2))
