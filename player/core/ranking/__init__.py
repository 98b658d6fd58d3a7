"""Pick the next tracks: candidate features, two-stage selection, the ONNX ranker, re-ranking.

The feature schema (:data:`FEATURES`: names, order, scaling, :data:`SCHEMA_VERSION`) is defined here
once and imported by ``models/`` for training, so serving and training cannot drift. docs/ranking.md
gives each feature's definition.

A decision (:meth:`Recommender.recommend`):

1. **Context** — from the :class:`~player.core.listener.ListenerState` at ``at_s``: the per-position
   targets (the iso walk), the last track, recently enjoyed and rejected tracks, play/skip counts.
2. **Pre-selection** — a vectorised linear score over the whole float32 feature matrix (library
   descriptors, distance to the target, similarity to recent likes and skips) keeps
   :data:`PRESELECT_K` candidates plus the :data:`NEAREST_K` nearest to the target. The linear
   weights are a distillation of the ranker fitted at training time and shipped in the model's
   metadata (``cadence.preselect``).
3. **Scoring** — the full feature rows of the candidates go through the ONNX ranker (LightGBM
   LambdaRank exported with onnxmltools); only onnxruntime is imported here.
4. **Re-ranking** — greedily fills the queue: nothing played recently, never the same artist twice in
   a row, maximal marginal relevance on the timbre vector (Carbonell & Goldstein, 1998) and a cost for
   abrupt tempo/key changes between neighbours. Each pick gets a reason a listener can read.

Errors: :class:`~player.errors.ModelMissingError`, :class:`~player.errors.ModelCorruptError`,
:class:`~player.errors.SchemaMismatchError` at load; :class:`~player.errors.NoLibraryError` for an
empty library.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from player.core.listener import ListenerState, Target
from player.core.track import MFCC_COUNT, Track
from player.errors import ModelCorruptError, ModelMissingError, NoLibraryError, SchemaMismatchError

if TYPE_CHECKING:
    from player.settings import Settings

__all__ = [
    "DESCRIPTOR_COLUMNS",
    "FEATURES",
    "FEATURE_NAMES",
    "MMR_LAMBDA",
    "NEAREST_K",
    "PRESELECT_CONTEXT",
    "PRESELECT_K",
    "PRESELECT_TERMS",
    "SCHEMA_VERSION",
    "Catalog",
    "DecisionContext",
    "FeatureSpec",
    "MatrixLike",
    "OnnxRanker",
    "Pick",
    "Recommendation",
    "Recommender",
    "assemble_features",
    "build_context",
    "default_ranker_path",
    "key_step",
    "preselect_design",
    "tempo_step",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""Bump when a feature's name, order, definition or scaling changes; checked when a model loads."""

PRESELECT_K = 600
"""Candidates kept by the linear pre-selection."""
NEAREST_K = 100
"""Candidates nearest to the target on the valence/energy plane, always kept as well."""
LATER_STEP_SHARE = 1 / 3
"""Share of those shortlists kept for the later targets of an iso walk (one queue slot each)."""
MMR_LAMBDA = 0.25
"""Weight of the timbre redundancy penalty in maximal marginal relevance."""
TRANSITION_WEIGHT = 0.1
"""Weight of the tempo/key transition cost between neighbouring picks."""
REPEAT_WINDOW_TRACKS = 25
REPEAT_WINDOW_S = 3 * 3600.0


class MatrixLike(Protocol):
    """The library's :class:`player.library.store.FeatureMatrix` (structurally)."""

    @property
    def ids(self) -> tuple[str, ...]: ...
    @property
    def columns(self) -> tuple[str, ...]: ...
    @property
    def values(self) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One ranker input: its name, how the raw value is scaled ((raw - offset) / scale), what it is."""

    name: str
    offset: float
    scale: float
    doc: str


# Library descriptors given to the ranker as they are (scaled), in this order.
_DESCRIPTORS: tuple[tuple[str, float, float, str], ...] = (
    ("tempo_bpm", 120.0, 40.0, "beats per minute"),
    ("energy", 0.5, 0.25, "0–1 intensity"),
    ("valence", 0.5, 0.25, "0–1 positiveness"),
    ("danceability", 0.5, 0.25, "0–1"),
    ("acousticness", 0.5, 0.25, "0–1"),
    ("loudness_db", -14.0, 6.0, "integrated loudness, LUFS"),
    ("beat_strength", 0.5, 0.25, "0–1"),
    ("onset_rate", 3.0, 2.0, "onsets per second"),
    ("hp_ratio", 0.5, 0.25, "harmonic share of energy, 0–1"),
    ("mode_major", 0.5, 0.5, "1 major, 0 minor"),
    ("duration_s", 240.0, 90.0, "seconds"),
    ("spectral_centroid_hz", 2000.0, 1000.0, "Hz"),
)
DESCRIPTOR_COLUMNS: tuple[str, ...] = tuple(d[0] for d in _DESCRIPTORS)

FEATURES: tuple[FeatureSpec, ...] = (
    *(
        FeatureSpec(f"track_{name}", off, sc, f"the track's {name} ({doc})")
        for name, off, sc, doc in _DESCRIPTORS
    ),
    FeatureSpec("target_valence", 0.5, 0.25, "valence of the target for this queue position"),
    FeatureSpec("target_energy", 0.5, 0.25, "energy of the target for this queue position"),
    FeatureSpec("delta_valence", 0.0, 0.25, "track valence minus target valence (signed)"),
    FeatureSpec("delta_energy", 0.0, 0.25, "track energy minus target energy (signed)"),
    FeatureSpec("target_distance", 0.2, 0.15, "Euclidean distance to the target on the valence/energy plane"),
    FeatureSpec("intent_active", 0.0, 1.0, "1 while an explicit intent steers the target"),
    FeatureSpec("has_last_track", 0.0, 1.0, "1 if a track was started before in this state"),
    FeatureSpec(
        "tempo_step", 0.0, 0.3, "abs(log2 tempo ratio) to the last track, folded over half/double time"
    ),
    FeatureSpec(
        "key_step", 0.0, 1.0, "circle-of-fifths distance to the last track's key (relative keys equal) / 6"
    ),
    FeatureSpec("same_artist_as_last", 0.0, 1.0, "1 if by the artist of the last track"),
    FeatureSpec(
        "sim_liked_max", 0.0, 0.5, "max weighted cosine similarity (taste vector) to recent likes/completions"
    ),
    FeatureSpec(
        "sim_liked_mean", 0.0, 0.5, "cosine similarity to the weighted centroid of recent likes/completions"
    ),
    FeatureSpec("sim_skipped_max", 0.0, 0.5, "max weighted cosine similarity to recent skips/dislikes"),
    FeatureSpec(
        "sim_skipped_mean", 0.0, 0.5, "cosine similarity to the weighted centroid of recent skips/dislikes"
    ),
    FeatureSpec("n_liked", 0.0, 1.0, "log1p(number of recent likes/completions)"),
    FeatureSpec("n_skipped", 0.0, 1.0, "log1p(number of recent skips/dislikes)"),
    FeatureSpec("never_played", 0.0, 1.0, "1 if this listener never started the track"),
    FeatureSpec(
        "hours_since_played", 0.0, 3.0, "log1p(hours since the listener last started it); 0 if never"
    ),
    FeatureSpec("track_plays", 0.0, 1.0, "log1p(starts of the track by this listener)"),
    FeatureSpec("track_skip_share", 0.0, 1.0, "skips / (starts + 1) for the track"),
    FeatureSpec("track_early_skips", 0.0, 1.0, "log1p(early skips, < 30 s, of the track)"),
    FeatureSpec("track_like_balance", 0.0, 1.0, "likes minus dislikes of the track, clipped to ±3"),
    FeatureSpec("artist_plays", 0.0, 1.0, "log1p(starts of the artist's tracks)"),
    FeatureSpec("artist_skip_share", 0.0, 1.0, "skips / (starts + 1) over the artist's tracks"),
    FeatureSpec("tod_sin", 0.0, 1.0, "sin(2π · local hour / 24)"),
    FeatureSpec("tod_cos", 0.0, 1.0, "cos(2π · local hour / 24)"),
    FeatureSpec("weekend", 0.0, 1.0, "1 on Saturday and Sunday (client-local)"),
    FeatureSpec("recent_skip_rate", 0.25, 0.25, "share of the last 10 finished plays skipped (prior 0.25)"),
    FeatureSpec("session_position", 0.0, 1.0, "log1p(tracks started in this session)"),
    FeatureSpec("consecutive_early_skips", 0.0, 2.0, "early skips in a row, capped at 5"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
_OFFSET = np.array([f.offset for f in FEATURES], dtype=np.float32)
_SCALE = np.array([f.scale for f in FEATURES], dtype=np.float32)
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}

PRESELECT_TERMS: tuple[str, ...] = (
    *(f"track_{d}" for d in DESCRIPTOR_COLUMNS),
    "delta_valence",
    "delta_energy",
    "target_distance",
    "delta_valence_sq",
    "delta_energy_sq",
    "sim_liked_mean",
    "sim_skipped_mean",
)
"""Terms of the linear pre-selection score: scaled features cheap to compute for every track."""
PRESELECT_CONTEXT: tuple[str, ...] = (
    "bias",
    "n_liked",
    "n_skipped",
    "recent_skip_rate",
    "consecutive_early_skips",
    "intent_active",
)
"""Decision-level features that modulate the pre-selection weights: the weight of a term is
``W[term] @ context``, so the proxy leans on skip similarity after skips, on distance with an intent."""

# Taste vector: z-scored timbre (MFCC means 1..12; 0 is loudness) and a few descriptors, weighted so
# timbre carries 60 % of the squared norm, then unit-normalised (cosine similarity = dot product).
_TIMBRE_COLUMNS = tuple(f"mfcc_mean_{i}" for i in range(1, MFCC_COUNT))
_TASTE_DESCRIPTORS = ("energy", "valence", "danceability", "acousticness", "hp_ratio")
_TIMBRE_SHARE = 0.6


def tempo_step(tempo_bpm: np.ndarray, last_bpm: float) -> np.ndarray:
    """|log2(tempo / last)| folded over half and double time (a 70 → 140 bpm step is seamless)."""
    r = np.log2(np.maximum(tempo_bpm, 1.0) / max(last_bpm, 1.0))
    return np.minimum(np.abs(r), np.minimum(np.abs(r - 1.0), np.abs(r + 1.0))).astype(np.float32)


def key_step(key: np.ndarray, major: np.ndarray, last_key: int, last_major: bool) -> np.ndarray:
    """Circle-of-fifths distance (0–6) / 6; a minor key is placed on its relative major."""
    tonic = (key.astype(np.int64) + np.where(major > 0.5, 0, 3)) % 12
    last = (int(last_key) + (0 if last_major else 3)) % 12
    fifths = (tonic * 7) % 12  # position on the circle of fifths
    last_f = (last * 7) % 12
    d = np.abs(fifths - last_f)
    return (np.minimum(d, 12 - d) / 6.0).astype(np.float32)


class Catalog:
    """Per-library arrays the decisions need, computed once from the feature matrix."""

    def __init__(self, tracks: Sequence[Track], matrix: MatrixLike) -> None:
        if len(matrix.ids) == 0:
            raise NoLibraryError("the library has no tracks to rank; scan a folder first")
        by_id: dict[str, Track] = {str(t.id): t for t in tracks}
        missing = [i for i in matrix.ids if i not in by_id]
        if missing:
            raise ValueError(f"{len(missing)} matrix rows have no track record (e.g. {missing[0]!r})")
        self.ids: tuple[str, ...] = tuple(matrix.ids)
        self.tracks: tuple[Track, ...] = tuple(by_id[i] for i in self.ids)
        self.row: dict[str, int] = {tid: i for i, tid in enumerate(self.ids)}
        values = np.asarray(matrix.values, dtype=np.float32)
        col = {name: values[:, j] for j, name in enumerate(matrix.columns)}
        self.n = len(self.ids)
        self.valence = col["valence"].astype(np.float32)
        self.energy = col["energy"].astype(np.float32)
        self.tempo_bpm = col["tempo_bpm"].astype(np.float32)
        self.key = col["key"].astype(np.int64)
        self.major = col["mode_major"].astype(np.float32)
        artists: dict[str, int] = {}
        self.artist = np.array(
            [artists.setdefault(t.artist, len(artists)) for t in self.tracks], dtype=np.int64
        )
        self.artist_names = tuple(artists)
        self.n_artists = len(artists)
        desc = np.stack([col[name] for name in DESCRIPTOR_COLUMNS], axis=1)
        self.descriptors = (
            (desc - _OFFSET[: len(DESCRIPTOR_COLUMNS)]) / _SCALE[: len(DESCRIPTOR_COLUMNS)]
        ).astype(np.float32)
        self.taste = _taste_vectors(col)

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Euclidean distance between taste vectors of rows ``a`` and ``b`` (0–2)."""
        return np.asarray(np.linalg.norm(self.taste[a] - self.taste[b], axis=-1))


def _taste_vectors(col: dict[str, np.ndarray]) -> np.ndarray:
    def z(block: np.ndarray) -> np.ndarray:
        mu = block.mean(axis=0)
        sd = np.maximum(block.std(axis=0), 1e-6)
        return np.asarray((block - mu) / sd)

    timbre = z(np.stack([col[c] for c in _TIMBRE_COLUMNS], axis=1).astype(np.float64))
    desc = z(np.stack([col[c] for c in _TASTE_DESCRIPTORS], axis=1).astype(np.float64))
    taste = np.concatenate(
        [
            timbre * math.sqrt(_TIMBRE_SHARE / timbre.shape[1]),
            desc * math.sqrt((1.0 - _TIMBRE_SHARE) / desc.shape[1]),
        ],
        axis=1,
    )
    norm = np.maximum(np.linalg.norm(taste, axis=1, keepdims=True), 1e-6)
    return (taste / norm).astype(np.float32)


@dataclass
class DecisionContext:
    """What the state says at one decision, as arrays over the catalog (dense, built per decision)."""

    targets: list[Target]
    intent_active: bool
    last_row: int | None
    pos_rows: np.ndarray
    pos_weights: np.ndarray
    neg_rows: np.ndarray
    neg_weights: np.ndarray
    track_plays: np.ndarray
    track_skips: np.ndarray
    track_early_skips: np.ndarray
    track_like_balance: np.ndarray
    last_played_s: np.ndarray
    """Server time of the last start per row, NaN if never."""
    artist_plays: np.ndarray
    artist_skips: np.ndarray
    excluded: np.ndarray
    """Rows not to play now (recently played), bool [n]."""
    scalars: dict[str, float] = field(default_factory=dict)
    at_s: float = 0.0
    pos_centroid: np.ndarray | None = None
    neg_centroid: np.ndarray | None = None


def build_context(state: ListenerState, catalog: Catalog, *, at_s: float, count: int = 1) -> DecisionContext:
    """Read ``state`` at ``at_s`` into arrays over ``catalog`` (unknown track ids are ignored)."""
    n = catalog.n
    row = catalog.row
    targets = state.targets(count, at_s=at_s)
    last_id = state.last_track_id
    last_row = row.get(last_id) if last_id is not None else None

    def rows_weights(pairs: list[tuple[str, float]]) -> tuple[np.ndarray, np.ndarray]:
        kept = [(row[t], w) for t, w in pairs if t in row]
        return (
            np.array([r for r, _ in kept], dtype=np.int64),
            np.array([w for _, w in kept], dtype=np.float32),
        )

    pos_rows, pos_w = rows_weights(state.positives())
    neg_rows, neg_w = rows_weights(state.negatives())
    plays = np.zeros(n, np.float32)
    skips = np.zeros(n, np.float32)
    early = np.zeros(n, np.float32)
    balance = np.zeros(n, np.float32)
    last_played = np.full(n, np.nan, np.float64)
    for tid, st in state.track_stats.items():
        r = row.get(tid)
        if r is None:
            continue
        plays[r] = st.plays
        skips[r] = st.skips
        early[r] = st.early_skips
        balance[r] = st.likes - st.dislikes
        if st.last_played_s is not None:
            last_played[r] = st.last_played_s
    artist_plays = np.bincount(catalog.artist, weights=plays, minlength=catalog.n_artists).astype(np.float32)
    artist_skips = np.bincount(catalog.artist, weights=skips, minlength=catalog.n_artists).astype(np.float32)
    excluded = np.zeros(n, bool)
    recent = [
        row[t]
        for t in state.recently_played(at_s=at_s, tracks=REPEAT_WINDOW_TRACKS, window_s=REPEAT_WINDOW_S)
        if t in row
    ]
    if recent:
        excluded[np.array(recent, dtype=np.int64)] = True
    local = state.local_time(at_s)
    hour = local.hour + local.minute / 60.0
    scalars = {
        "tod_sin": math.sin(2 * math.pi * hour / 24.0),
        "tod_cos": math.cos(2 * math.pi * hour / 24.0),
        "weekend": 1.0 if local.weekday() >= 5 else 0.0,
        "recent_skip_rate": state.recent_skip_rate(),
        "session_position": math.log1p(state.session_position),
        "consecutive_early_skips": float(min(5, state.consecutive_early_skips())),
    }
    ctx = DecisionContext(
        targets=targets,
        intent_active=state.active_intent(at_s) is not None,
        last_row=last_row,
        pos_rows=pos_rows,
        pos_weights=pos_w,
        neg_rows=neg_rows,
        neg_weights=neg_w,
        track_plays=plays,
        track_skips=skips,
        track_early_skips=early,
        track_like_balance=balance,
        last_played_s=last_played,
        artist_plays=artist_plays,
        artist_skips=artist_skips,
        excluded=excluded,
        scalars=scalars,
        at_s=at_s,
    )
    ctx.pos_centroid = _centroid(catalog, pos_rows, pos_w)
    ctx.neg_centroid = _centroid(catalog, neg_rows, neg_w)
    return ctx


def _centroid(catalog: Catalog, rows: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    if len(rows) == 0:
        return None
    c = (catalog.taste[rows] * weights[:, None]).sum(axis=0)
    return np.asarray(c / max(float(np.linalg.norm(c)), 1e-6), dtype=np.float32)


def _similarities(
    catalog: Catalog, idx: np.ndarray, rows: np.ndarray, weights: np.ndarray, centroid: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if len(rows) == 0 or centroid is None:
        z = np.zeros(len(idx), np.float32)
        return z, z
    sims = catalog.taste[idx] @ catalog.taste[rows].T  # [m, k]
    return (sims * weights[None, :]).max(axis=1), catalog.taste[idx] @ centroid


def assemble_features(catalog: Catalog, ctx: DecisionContext, idx: np.ndarray, target: Target) -> np.ndarray:
    """The scaled ranker inputs of catalog rows ``idx`` for ``target``.

    Returns:
        np.ndarray [shape=(len(idx), len(FEATURES)), dtype=float32], columns in :data:`FEATURE_NAMES` order.
    """
    idx = np.asarray(idx, dtype=np.int64)
    m = len(idx)
    raw = np.empty((m, len(FEATURES)), dtype=np.float32)
    nd = len(DESCRIPTOR_COLUMNS)
    # descriptors are stored scaled; undo so that one scaling step below applies to every column
    raw[:, :nd] = catalog.descriptors[idx] * _SCALE[:nd] + _OFFSET[:nd]
    dv = catalog.valence[idx] - target.valence
    de = catalog.energy[idx] - target.energy
    cols: dict[str, Any] = {
        "target_valence": target.valence,
        "target_energy": target.energy,
        "delta_valence": dv,
        "delta_energy": de,
        "target_distance": np.sqrt(dv * dv + de * de),
        "intent_active": 1.0 if ctx.intent_active else 0.0,
    }
    if ctx.last_row is not None:
        lr = ctx.last_row
        cols["has_last_track"] = 1.0
        cols["tempo_step"] = tempo_step(catalog.tempo_bpm[idx], float(catalog.tempo_bpm[lr]))
        cols["key_step"] = key_step(
            catalog.key[idx], catalog.major[idx], int(catalog.key[lr]), bool(catalog.major[lr] > 0.5)
        )
        cols["same_artist_as_last"] = (catalog.artist[idx] == catalog.artist[lr]).astype(np.float32)
    else:
        cols["has_last_track"] = cols["tempo_step"] = cols["key_step"] = cols["same_artist_as_last"] = 0.0
    cols["sim_liked_max"], cols["sim_liked_mean"] = _similarities(
        catalog, idx, ctx.pos_rows, ctx.pos_weights, ctx.pos_centroid
    )
    cols["sim_skipped_max"], cols["sim_skipped_mean"] = _similarities(
        catalog, idx, ctx.neg_rows, ctx.neg_weights, ctx.neg_centroid
    )
    cols["n_liked"] = math.log1p(len(ctx.pos_rows))
    cols["n_skipped"] = math.log1p(len(ctx.neg_rows))
    last = ctx.last_played_s[idx]
    never = np.isnan(last)
    cols["never_played"] = never.astype(np.float32)
    hours = np.where(never, 0.0, np.maximum(ctx.at_s - np.nan_to_num(last), 0.0) / 3600.0)
    cols["hours_since_played"] = np.log1p(hours)
    plays = ctx.track_plays[idx]
    cols["track_plays"] = np.log1p(plays)
    cols["track_skip_share"] = ctx.track_skips[idx] / (plays + 1.0)
    cols["track_early_skips"] = np.log1p(ctx.track_early_skips[idx])
    cols["track_like_balance"] = np.clip(ctx.track_like_balance[idx], -3.0, 3.0)
    art = catalog.artist[idx]
    a_plays = ctx.artist_plays[art]
    cols["artist_plays"] = np.log1p(a_plays)
    cols["artist_skip_share"] = ctx.artist_skips[art] / (a_plays + 1.0)
    cols.update(ctx.scalars)
    for name, value in cols.items():
        raw[:, _INDEX[name]] = value
    return (raw - _OFFSET) / _SCALE


def preselect_design(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pre-selection terms and decision context of assembled feature rows (for fitting).

    Args:
        features: np.ndarray [shape=(m, len(FEATURES))], scaled rows from :func:`assemble_features`.

    Returns:
        ``(terms [m, len(PRESELECT_TERMS)], context [m, len(PRESELECT_CONTEXT)])``; the proxy score
        of a row is ``terms @ W @ context`` for the weight matrix ``W`` in the model's metadata.
    """
    cols = []
    for term in PRESELECT_TERMS:
        v = features[:, _INDEX[term.removesuffix("_sq")]]
        cols.append(v * v if term.endswith("_sq") else v)
    context = [np.ones(len(features), np.float32)]
    context += [features[:, _INDEX[name]] for name in PRESELECT_CONTEXT[1:]]
    return np.column_stack(cols).astype(np.float32), np.column_stack(context).astype(np.float32)


def _decision_context_vector(ctx: DecisionContext) -> np.ndarray:
    """The :data:`PRESELECT_CONTEXT` values of a decision, scaled like the ranker inputs."""
    raw = {
        "n_liked": math.log1p(len(ctx.pos_rows)),
        "n_skipped": math.log1p(len(ctx.neg_rows)),
        "intent_active": 1.0 if ctx.intent_active else 0.0,
        **ctx.scalars,
    }
    values = [1.0] + [
        (raw[n] - float(_OFFSET[_INDEX[n]])) / float(_SCALE[_INDEX[n]]) for n in PRESELECT_CONTEXT[1:]
    ]
    return np.array(values, np.float64)


_DEFAULT_PRESELECT: dict[str, float] = {
    "target_distance": -1.0,
    "delta_valence_sq": -0.1,
    "delta_energy_sq": -0.1,
    "sim_liked_mean": 0.3,
    "sim_skipped_mean": -0.3,
}


class OnnxRanker:
    """The learned scorer, served with onnxruntime alone.

    The ONNX file carries metadata: ``cadence.schema_version`` (must equal :data:`SCHEMA_VERSION`),
    ``cadence.features`` (comma-separated, must equal :data:`FEATURE_NAMES`), ``cadence.preselect``
    (JSON: per :data:`PRESELECT_TERMS` a weight, or a list of weights over :data:`PRESELECT_CONTEXT`)
    and ``cadence.model_version``.
    """

    def __init__(self, session: Any, metadata: dict[str, str], path: Path | None = None) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self.metadata = dict(metadata)
        self.path = path
        self.model_version = metadata.get("cadence.model_version", "unknown")
        weights: dict[str, Any] = dict(_DEFAULT_PRESELECT)
        if "cadence.preselect" in metadata:
            try:
                weights = dict(json.loads(metadata["cadence.preselect"]))
            except (ValueError, TypeError) as exc:
                raise ModelCorruptError(
                    f"ranker metadata cadence.preselect is not valid JSON: {exc}"
                ) from exc
        matrix = np.zeros((len(PRESELECT_TERMS), len(PRESELECT_CONTEXT)), np.float64)
        for i, term in enumerate(PRESELECT_TERMS):
            value = weights.get(term, 0.0)
            if isinstance(value, list):
                matrix[i, : len(value)] = [float(v) for v in value[: len(PRESELECT_CONTEXT)]]
            else:  # a plain number: a weight that does not depend on the decision context
                matrix[i, 0] = float(value)
        self.preselect_weights = matrix
        """[len(PRESELECT_TERMS), len(PRESELECT_CONTEXT)]: term weight = row @ decision context."""

    @classmethod
    def load(cls, path: Path, *, threads: int = 1) -> OnnxRanker:
        """Load and check a ranker file.

        Raises:
            ModelMissingError: If ``path`` does not exist.
            ModelCorruptError: If it is not a readable ONNX model.
            SchemaMismatchError: If it was trained for another feature schema than this code serves.
        """
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelMissingError(f"no ranker model at {path} (run `cadence train`, or reinstall Cadence)")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own (non-exported) exception types
            raise ModelCorruptError(f"ranker model {path} is not a readable ONNX model: {exc}") from exc
        meta = dict(session.get_modelmeta().custom_metadata_map)
        _check_schema(meta, session, path)
        ranker = cls(session, meta, path)
        logger.info("loaded ranker %s (version %s)", path, ranker.model_version)
        return ranker

    def score(self, features: np.ndarray) -> np.ndarray:
        """Scores of feature rows [n, len(FEATURES)] (higher is better), float32 [n]."""
        if len(features) == 0:
            return np.zeros(0, np.float32)
        out = self._session.run(None, {self._input: np.ascontiguousarray(features, dtype=np.float32)})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)


def _check_schema(meta: dict[str, str], session: Any, path: Path) -> None:
    version = meta.get("cadence.schema_version")
    if version is None:
        raise SchemaMismatchError(
            f"ranker {path} has no cadence.schema_version; this Cadence serves {SCHEMA_VERSION}"
        )
    if version != str(SCHEMA_VERSION):
        raise SchemaMismatchError(
            f"ranker {path} was trained on feature schema {version}; this Cadence serves {SCHEMA_VERSION} "
            "(retrain with `cadence train`)"
        )
    names = tuple(meta.get("cadence.features", "").split(","))
    if names != FEATURE_NAMES:
        raise SchemaMismatchError(f"ranker {path} lists other features than schema {SCHEMA_VERSION} defines")
    shape = session.get_inputs()[0].shape
    if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != len(FEATURE_NAMES)):
        raise SchemaMismatchError(
            f"ranker {path} takes input of shape {shape}, expected [n, {len(FEATURE_NAMES)}]"
        )


def default_ranker_path(settings: Settings) -> Path:
    """``settings.models_dir/ranker.onnx`` if `cadence train` made one, else the shipped model."""
    trained = settings.models_dir / "ranker.onnx"
    if trained.is_file():
        return trained
    return shipped_ranker_path()


def shipped_ranker_path() -> Path:
    """The model file shipped with Cadence: ``ranker.onnx`` package data of the ``models`` package."""
    resource = importlib.resources.files("models").joinpath("ranker.onnx")
    # setuptools installs package data as plain files (editable or not), so this is a real path.
    return Path(str(resource))


@dataclass(frozen=True, slots=True)
class Pick:
    """One queued track with its ranker score and a reason a listener can read."""

    track: Track
    score: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        t = self.track
        return {
            "id": t.id,
            "title": t.title,
            "artist": t.artist,
            "album": t.album,
            "duration_s": round(float(t.duration_s), 3),
            "energy": round(float(t.energy), 4),
            "valence": round(float(t.valence), 4),
            "tempo_bpm": round(float(t.tempo_bpm), 2),
            "score": round(float(self.score), 5),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The next tracks, best first, and the target of the first one."""

    picks: tuple[Pick, ...]
    target: Target
    targets: tuple[Target, ...] = ()
    """Per-pick targets (the iso walk), same length as ``picks``."""


_PARTS_OF_DAY = ((5, "morning"), (12, "afternoon"), (17, "evening"), (22, "night"))
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _part_of_day(hour: int) -> str:
    part = "night"
    for start, name in _PARTS_OF_DAY:
        if hour >= start:
            part = name
    return part


class Recommender:
    """Turns a listener state into the next tracks over one library.

    Args:
        tracks: the library's track records (any order).
        matrix: the library's float32 feature matrix (``LibraryStore.feature_matrix()``).
        ranker: a loaded :class:`OnnxRanker`.
    """

    def __init__(self, tracks: Sequence[Track], matrix: MatrixLike, ranker: OnnxRanker) -> None:
        self.catalog = Catalog(tracks, matrix)
        self.ranker = ranker
        nd = len(DESCRIPTOR_COLUMNS)
        cat = self.catalog
        weights = ranker.preselect_weights
        # the descriptor part of the proxy for each context component: [n, len(PRESELECT_CONTEXT)]
        static = cat.descriptors.astype(np.float64) @ weights[:nd]
        self._n_static = static.shape[1]
        # rows [static per context..., v, e, v², e², taste...]: each decision's proxy is a weighted sum
        self._proxy_basis = np.ascontiguousarray(
            np.vstack([static.T, cat.valence, cat.energy, cat.valence**2, cat.energy**2, cat.taste.T]),
            dtype=np.float32,
        )

    def _combine(self, coef: np.ndarray, rows: Sequence[int] | None = None) -> np.ndarray:
        """``sum_j coef[j] * basis[j]`` as a loop of float32 AXPYs over contiguous rows.

        Deliberately not a BLAS matrix-vector product: a threaded OpenBLAS GEMV on a busy 2-core
        machine measured 20-50x slower than this loop (threads spin while descheduled).
        """
        basis = self._proxy_basis
        idx = list(range(basis.shape[0])) if rows is None else list(rows)
        out = basis[idx[0]] * np.float32(coef[idx[0]])
        for j in idx[1:]:
            c = np.float32(coef[j])
            if c != 0.0:
                out += basis[j] * c
        return out

    # ------------------------------------------------------------------ stage 1
    def _preselect(
        self, ctx: DecisionContext, target: Target, allowed: np.ndarray, *, share: float = 1.0
    ) -> np.ndarray:
        """Rows worth scoring: the best :data:`PRESELECT_K` by the linear proxy plus the
        :data:`NEAREST_K` nearest to ``target``, among ``allowed``.

        The proxy's term weights depend on the decision's context (``W @ context``); its squared
        deltas expand to terms linear in (v, e, v², e²) and its two similarity terms fold into one
        taste vector, so the whole catalog is scored as a weighted sum of precomputed rows.
        """
        n_allowed = int(allowed.sum())
        k_proxy, k_near = max(10, int(PRESELECT_K * share)), max(10, int(NEAREST_K * share))
        if n_allowed <= k_proxy + k_near:
            return np.flatnonzero(allowed)
        proxy, dist2 = self.proxy_scores(ctx, target)
        if n_allowed < self.catalog.n:
            proxy = np.where(allowed, proxy, -np.inf)
            dist2 = np.where(allowed, dist2, np.inf)
        top = np.argpartition(-proxy, k_proxy)[:k_proxy]
        near = np.argpartition(dist2, k_near)[:k_near]
        return np.union1d(top, near)

    def proxy_scores(self, ctx: DecisionContext, target: Target) -> tuple[np.ndarray, np.ndarray]:
        """The pre-selection score of every catalog track (up to a per-decision constant) and its
        squared valence/energy distance to ``target``; both float32 [n]."""
        c = _decision_context_vector(ctx)
        nd = len(DESCRIPTOR_COLUMNS)
        w = self.ranker.preselect_weights[nd:] @ c  # dv, de, dist, dv², de², sim_liked, sim_skipped
        tv, te = target.valence, target.energy
        s2 = 0.25 * 0.25
        taste_w = np.zeros(self.catalog.taste.shape[1], np.float64)
        if ctx.pos_centroid is not None:
            taste_w += (w[5] / 0.5) * ctx.pos_centroid
        if ctx.neg_centroid is not None:
            taste_w += (w[6] / 0.5) * ctx.neg_centroid
        k = self._n_static
        coef = np.zeros((self._proxy_basis.shape[0], 2), np.float64)
        # column 0: the proxy without its distance term; column 1: squared distance to the target
        coef[:k, 0] = c
        coef[k : k + 4, 0] = (
            w[0] / 0.25 - 2.0 * w[3] * tv / s2,
            w[1] / 0.25 - 2.0 * w[4] * te / s2,
            w[3] / s2,
            w[4] / s2,
        )
        coef[k + 4 :, 0] = taste_w
        coef[k : k + 4, 1] = (-2.0 * tv, -2.0 * te, 1.0, 1.0)
        proxy = self._combine(coef[:, 0])
        dist2 = self._combine(coef[:, 1], rows=range(k, k + 4))
        dist2 += np.float32(tv * tv + te * te)
        proxy += np.float32(w[2] / 0.15) * np.sqrt(np.maximum(dist2, np.float32(0.0)))
        return proxy, dist2

    def _allowed(self, ctx: DecisionContext, within: Sequence[str] | None, count: int) -> np.ndarray:
        cat = self.catalog
        if within is not None:
            allowed = np.zeros(cat.n, bool)
            rows = [cat.row[t] for t in within if t in cat.row]
            allowed[np.array(rows, dtype=np.int64)] = True
        else:
            allowed = np.ones(cat.n, bool)
        fresh = allowed & ~ctx.excluded
        if fresh.sum() >= count:
            return fresh
        # a small library or a long session: allow the least recently played back in
        stale = np.flatnonzero(allowed & ctx.excluded)
        order = stale[np.argsort(np.nan_to_num(ctx.last_played_s[stale], nan=-np.inf))]
        fresh[order[: count - int(fresh.sum())]] = True
        return fresh

    # ------------------------------------------------------------------ the decision
    def recommend(
        self,
        state: ListenerState,
        *,
        count: int,
        at_s: float,
        within: Sequence[str] | None = None,
        exhaustive: bool = False,
    ) -> Recommendation:
        """The next ``count`` tracks for ``state`` at server time ``at_s``.

        Args:
            within: restrict the picks to these track ids (unknown ids are ignored).
            exhaustive: score every allowed track with the ranker instead of pre-selecting (for
                measuring the two-stage path's recall; slower).
        """
        count = max(1, int(count))
        ctx = build_context(state, self.catalog, at_s=at_s, count=count)
        allowed = self._allowed(ctx, within, count)
        if not allowed.any():
            return Recommendation(picks=(), target=ctx.targets[0], targets=())
        distinct: dict[tuple[float, float], int] = {}
        position_target: list[int] = []
        for t in ctx.targets:
            key = (round(t.valence, 6), round(t.energy, 6))
            position_target.append(distinct.setdefault(key, len(distinct)))
        unique_targets = [ctx.targets[position_target.index(j)] for j in range(len(distinct))]
        scored: list[tuple[np.ndarray, np.ndarray]] = []
        for j, target in enumerate(unique_targets):
            # later steps of an iso walk fill one queue slot each: a smaller shortlist does
            cand = (
                np.flatnonzero(allowed)
                if exhaustive
                else self._preselect(ctx, target, allowed, share=1.0 if j == 0 else LATER_STEP_SHARE)
            )
            scores = self.ranker.score(assemble_features(self.catalog, ctx, cand, target))
            scored.append((cand, scores))
        picks_rows, pick_scores = self._rerank(ctx, scored, position_target, count)
        picks = tuple(
            Pick(self.catalog.tracks[r], float(s), self._reason(state, ctx, r, k, at_s))
            for k, (r, s) in enumerate(zip(picks_rows, pick_scores, strict=True))
        )
        targets = tuple(ctx.targets[k] for k in range(len(picks)))
        return Recommendation(picks=picks, target=ctx.targets[0], targets=targets)

    def top_scored(
        self, state: ListenerState, *, at_s: float, k: int = 10, exhaustive: bool = False
    ) -> list[str]:
        """The ``k`` best track ids by ranker score for the next position, before re-ranking."""
        ctx = build_context(state, self.catalog, at_s=at_s, count=1)
        allowed = self._allowed(ctx, None, k)
        target = ctx.targets[0]
        cand = np.flatnonzero(allowed) if exhaustive else self._preselect(ctx, target, allowed)
        scores = self.ranker.score(assemble_features(self.catalog, ctx, cand, target))
        order = np.argsort(-scores, kind="stable")[:k]
        return [self.catalog.ids[int(cand[i])] for i in order]

    # ------------------------------------------------------------------ stage 3
    def _rerank(
        self,
        ctx: DecisionContext,
        scored: list[tuple[np.ndarray, np.ndarray]],
        position_target: list[int],
        count: int,
    ) -> tuple[list[int], list[float]]:
        cat = self.catalog
        pruned: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for cand, scores in scored:
            lo, hi = (float(scores.min()), float(scores.max())) if len(scores) else (0.0, 1.0)
            rel = (scores - lo) / max(hi - lo, 1e-6)
            # The penalties below total at most MMR_LAMBDA + TRANSITION_WEIGHT, and with fewer than
            # `count` picks made at least `count` of the best 2·count are still free, so a candidate
            # more than that below the 2·count-th relevance can never be chosen: drop it early.
            ref = min(len(rel), 2 * count) - 1
            if ref >= 0:
                cutoff = np.partition(rel, len(rel) - 1 - ref)[len(rel) - 1 - ref] - (
                    MMR_LAMBDA + TRANSITION_WEIGHT
                )
                keep = rel >= cutoff
                cand, scores, rel = cand[keep], scores[keep], rel[keep]
            pruned.append((cand, scores, rel))
        picked: list[int] = []
        picked_scores: list[float] = []
        prev = ctx.last_row
        for k in range(count):
            j = position_target[k] if k < len(position_target) else position_target[-1]
            cand, scores, rel = pruned[j]
            free = ~np.isin(cand, picked) if picked else np.ones(len(cand), bool)
            if not free.any():
                break
            value = rel.copy()
            if picked:
                redundancy = (cat.taste[cand] @ cat.taste[np.array(picked)].T).max(axis=1)
                value -= MMR_LAMBDA * np.maximum(redundancy, 0.0)
            if prev is not None:
                ts = tempo_step(cat.tempo_bpm[cand], float(cat.tempo_bpm[prev]))
                ks = key_step(cat.key[cand], cat.major[cand], int(cat.key[prev]), bool(cat.major[prev] > 0.5))
                value -= TRANSITION_WEIGHT * np.minimum(ts / 0.5 * 0.5 + ks * 0.5, 1.0)
                same_artist = cat.artist[cand] == cat.artist[prev]
                if (free & ~same_artist).any():
                    free &= ~same_artist
            value = np.where(free, value, -np.inf)
            best = int(np.argmax(value))
            row = int(cand[best])
            picked.append(row)
            picked_scores.append(float(scores[best]))
            prev = row
        return picked, picked_scores

    # ------------------------------------------------------------------ reasons
    def _reason(self, state: ListenerState, ctx: DecisionContext, row: int, k: int, at_s: float) -> str:
        cat = self.catalog
        intent = state.active_intent(at_s)
        mood = state.mood_at(at_s)
        dv = float(cat.valence[row]) - mood.valence
        de = float(cat.energy[row]) - mood.energy
        if intent is not None:
            if abs(de) >= abs(dv) and abs(de) > 0.04:
                word = "calmer" if de < 0 else "more energetic"
            elif abs(dv) > 0.04:
                word = "brighter" if dv > 0 else "more mellow"
            else:
                word = "close to where you are"
            return f"{word}, on the way to your '{intent.label}' request"
        if len(ctx.pos_rows):
            sims = cat.taste[ctx.pos_rows] @ cat.taste[row] * ctx.pos_weights
            best = int(np.argmax(sims))
            if float(sims[best]) >= 0.55:
                ref = cat.tracks[int(ctx.pos_rows[best])]
                verb = "you liked" if ctx.pos_weights[best] >= 1.0 else "you played through"
                return f"like {ref.title} {verb}"
        if state.mood_observations and state.mood_label and state.mood_label != "neutral":
            return f"suits your {state.mood_label} mood"
        local = state.local_time(at_s)
        return f"fits a {_DAYS[local.weekday()]} {_part_of_day(local.hour)}"
