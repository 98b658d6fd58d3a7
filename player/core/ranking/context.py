"""What the listener state says at one decision, as arrays over the catalog, and the ranker's inputs.

:class:`Catalog` holds the per-library arrays computed once from the feature matrix (descriptors,
taste vectors, artists); :func:`build_context` reads a :class:`~player.core.listener.ListenerState` at
``at_s`` into a :class:`DecisionContext`; :func:`assemble_features` turns candidate rows into scaled
ranker inputs in :data:`~player.core.ranking.schema.FEATURE_NAMES` order (used by serving and by
training alike); :func:`preselect_design` gives the pre-selection's terms for fitting its weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from player.core.listener import EARLY_SKIP_S, ListenerState, Target, TrackStats
from player.core.ranking.schema import (
    DESCRIPTOR_COLUMNS,
    FEATURE_INDEX,
    FEATURE_OFFSETS,
    FEATURE_SCALES,
    FEATURES,
    FINISHED_HISTORY,
    PRESELECT_CONTEXT,
    PRESELECT_TERMS,
    PROPERTIES,
    PROPERTY_HISTORY,
)
from player.core.track import MFCC_COUNT, Track
from player.errors import NoLibraryError

__all__ = [
    "REPEAT_WINDOW_S",
    "REPEAT_WINDOW_TRACKS",
    "Catalog",
    "CfSource",
    "DecisionContext",
    "MatrixLike",
    "RowScores",
    "assemble_features",
    "build_context",
    "circle_of_fifths",
    "decision_context_vector",
    "fifths_step",
    "fit_proxy",
    "key_step",
    "preselect_design",
    "tempo_step",
    "upper_half_weight",
]

REPEAT_WINDOW_TRACKS = 25
"""A track started among the last this many starts is not picked again (unless the library runs out)."""
REPEAT_WINDOW_S = 3 * 3600.0
"""Nor one started within this many seconds."""


class MatrixLike(Protocol):
    """The library's :class:`player.library.store.FeatureMatrix` (structurally)."""

    @property
    def ids(self) -> tuple[str, ...]: ...
    @property
    def columns(self) -> tuple[str, ...]: ...
    @property
    def values(self) -> np.ndarray: ...


# Taste vector: z-scored timbre (MFCC means 1..12; 0 is loudness) and a few descriptors, weighted so
# timbre carries 60 % of the squared norm, then unit-normalised (cosine similarity = dot product).
_TIMBRE_COLUMNS = tuple(f"mfcc_mean_{i}" for i in range(1, MFCC_COUNT))
_TASTE_DESCRIPTORS = ("energy", "valence", "danceability", "acousticness", "hp_ratio")
_TIMBRE_SHARE = 0.6


class RowScores(Protocol):
    """Per-track numbers computed for the positions asked for: ``scores[rows]`` is float32 [len(rows)]."""

    def __getitem__(self, rows: np.ndarray, /) -> np.ndarray: ...

    def informative(self) -> tuple[np.ndarray, np.ndarray]:
        """The positions whose score may differ from the neutral 0.5 (sorted int64) and their scores
        (float32); every other position scores 0.5. The pre-selection reads these for every track."""
        ...


class CfSource(Protocol):
    """Collaborative-filtering scores for one listener (``player.cf.CfModel`` and ``CfFile`` are ones).

    The listener is folded in from their own counts (the state's :attr:`ListenerState.track_stats`),
    so what the model says moves with every logged event without retraining; the scores are numbers
    per track, never another listener's history.
    """

    def stats_row_scores(self, stats: Mapping[str, TrackStats], track_ids: Sequence[str]) -> RowScores | None:
        """Scores (0–1, 0.5 typical or unknown) of the positions of ``track_ids`` asked for, computed
        when asked (a decision needs its candidates' only); None when the model has nothing to say for
        this listener."""
        ...


def tempo_step(tempo_bpm: np.ndarray, last_bpm: float) -> np.ndarray:
    """|log2(tempo / last)| folded over half and double time (a 70 → 140 bpm step is seamless)."""
    r = np.log2(np.maximum(tempo_bpm, 1.0) / max(last_bpm, 1.0))
    return np.minimum(np.abs(r), np.minimum(np.abs(r - 1.0), np.abs(r + 1.0))).astype(np.float32)


def key_step(key: np.ndarray, major: np.ndarray, last_key: int, last_major: bool) -> np.ndarray:
    """Circle-of-fifths distance (0–6) / 6; a minor key is placed on its relative major."""
    return fifths_step(circle_of_fifths(key, major), int(last_key), last_major)


def circle_of_fifths(key: np.ndarray, major: np.ndarray) -> np.ndarray:
    """Each key's position on the circle of fifths (0–11, int64), a minor key on its relative major's."""
    tonic = (key.astype(np.int64) + np.where(major > 0.5, 0, 3)) % 12
    return np.asarray((tonic * 7) % 12)


def fifths_step(fifths: np.ndarray, last_key: int, last_major: bool) -> np.ndarray:
    """:func:`key_step` from positions on the circle of fifths (:func:`circle_of_fifths`)."""
    last = (int(last_key) + (0 if last_major else 3)) % 12
    last_f = (last * 7) % 12
    d = np.abs(fifths - last_f)
    return (np.minimum(d, 12 - d) / 6.0).astype(np.float32)


_ND = len(DESCRIPTOR_COLUMNS)
_VALUES_VALENCE, _VALUES_ENERGY, _VALUES_TEMPO, _VALUES_KEY, _VALUES_MAJOR, _VALUES_ARTIST = range(
    _ND, _ND + 6
)
_VALUES_LYRICS_VALENCE, _VALUES_HAS_LYRICS = _ND + 6, _ND + 7
_VALUES_PROPERTIES = slice(_ND + 8, _ND + 8 + len(PROPERTIES))
_VALUES_TASTE = _ND + 8 + len(PROPERTIES)
"""Columns of :attr:`Catalog.track_values` (the taste vector from this one on)."""


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
            (desc - FEATURE_OFFSETS[: len(DESCRIPTOR_COLUMNS)]) / FEATURE_SCALES[: len(DESCRIPTOR_COLUMNS)]
        ).astype(np.float32)
        self.taste = _taste_vectors(col)
        self.lyrics_valence = np.array(
            [0.5 if t.lyrics_valence is None else t.lyrics_valence for t in self.tracks], dtype=np.float32
        )
        """Each track's lyrics valence (0.5 without lyrics), float32 [n]."""
        self.has_lyrics = np.array([t.has_lyrics for t in self.tracks], dtype=np.float32)
        self.properties = np.stack(
            [np.log2(np.maximum(col[p.column], 1e-3)) if p.log else col[p.column] for p in PROPERTIES], axis=1
        ).astype(np.float32)
        """Each track's :data:`PROPERTIES` values (log2 where the property says), float32 [n, P]."""
        self.track_values = np.ascontiguousarray(
            np.column_stack(
                [
                    self.descriptors,
                    self.valence,
                    self.energy,
                    self.tempo_bpm,
                    self.key.astype(np.float32),
                    self.major,
                    self.artist.astype(np.float32),
                    self.lyrics_valence,
                    self.has_lyrics,
                    self.properties,
                    self.taste,
                ]
            ),
            dtype=np.float32,
        )
        """The per-track numbers a decision reads for its candidates, one row per track (the arrays
        above side by side: ``_VALUES_*`` name the columns), float32 [n, 28 + taste dims]: gathering a
        few hundred candidates touches 3 cache lines each instead of ~15 across the separate arrays.
        Keys and artist indices are small integers, exact in float32."""

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
    history_pos: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0, np.float32))
    """Rows and weights of the :data:`PROPERTY_HISTORY` most recent enjoyed tracks."""
    history_neg: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0, np.float32))
    """Rows and weights of the :data:`PROPERTY_HISTORY` most recent rejected tracks."""
    finished: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.int64), np.zeros(0, np.float32))
    """Rows of the :data:`FINISHED_HISTORY` most recent finished plays and how bad each went
    (early skip or dislike 1, late skip 0.5, completed 0)."""
    cf_scores: RowScores | None = None
    """The listener's collaborative-filtering scores by catalog row (``cf_scores[rows]``, 0–1, computed
    for the rows asked for), None without a model or fold-in."""


def build_context(
    state: ListenerState, catalog: Catalog, *, at_s: float, count: int = 1, cf: CfSource | None = None
) -> DecisionContext:
    """Read ``state`` at ``at_s`` into arrays over ``catalog`` (unknown track ids are ignored); with
    ``cf``, the listener's collaborative-filtering scores too."""
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
    stat_rows: list[int] = []
    for tid, st in state.track_stats.items():
        r = row.get(tid)
        if r is None:
            continue
        stat_rows.append(r)
        plays[r] = st.plays
        skips[r] = st.skips
        early[r] = st.early_skips
        balance[r] = st.likes - st.dislikes
        if st.last_played_s is not None:
            last_played[r] = st.last_played_s
    # only the rows with counts (every other row adds 0; the sums are of whole numbers, exact in any order)
    played = np.array(stat_rows, dtype=np.int64)
    artist = catalog.artist[played]
    artist_plays = np.bincount(artist, weights=plays[played], minlength=catalog.n_artists).astype(np.float32)
    artist_skips = np.bincount(artist, weights=skips[played], minlength=catalog.n_artists).astype(np.float32)
    excluded = np.zeros(n, bool)
    recent = [
        row[t]
        for t in state.recently_played(at_s=at_s, tracks=REPEAT_WINDOW_TRACKS, window_s=REPEAT_WINDOW_S)
        if t in row
    ]
    if recent:
        excluded[np.array(recent, dtype=np.int64)] = True
    local = state.local_time(at_s)
    heard = state.mood_heard_at_s
    hour = local.hour + local.minute / 60.0
    scalars = {
        "tod_sin": math.sin(2 * math.pi * hour / 24.0),
        "tod_cos": math.cos(2 * math.pi * hour / 24.0),
        "weekend": 1.0 if local.weekday() >= 5 else 0.0,
        "recent_skip_rate": state.recent_skip_rate(),
        "session_position": math.log1p(state.session_position),
        "consecutive_early_skips": float(min(5, state.consecutive_early_skips())),
        "minutes_since_heard": math.log1p(
            600.0 if heard is None else min(max(at_s - heard, 0.0) / 60.0, 600.0)
        ),
        "heard_this_session": 1.0 if heard is not None and heard >= state.session_started_s else 0.0,
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
    if cf is not None:
        ctx.cf_scores = cf.stats_row_scores(state.track_stats, catalog.ids)
    ctx.pos_centroid = _centroid(catalog, pos_rows, pos_w)
    ctx.neg_centroid = _centroid(catalog, neg_rows, neg_w)
    ctx.history_pos = rows_weights(state.positives(PROPERTY_HISTORY))
    ctx.history_neg = rows_weights(state.negatives(PROPERTY_HISTORY))
    ctx.finished = rows_weights(
        [
            (h.track_id, 0.0 if h.kind == "completed" else 0.5 if h.position_s >= EARLY_SKIP_S else 1.0)
            for h in state.outcomes(FINISHED_HISTORY)
            if h.kind in ("completed", "skipped", "disliked")
        ]
    )
    return ctx


def _centroid(catalog: Catalog, rows: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    if len(rows) == 0:
        return None
    c = (catalog.taste[rows] * weights[:, None]).sum(axis=0)
    return np.asarray(c / max(float(np.linalg.norm(c)), 1e-6), dtype=np.float32)


def _similarities(
    catalog: Catalog, taste: np.ndarray, rows: np.ndarray, weights: np.ndarray, centroid: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Max weighted and centroid cosine of the candidates' ``taste`` vectors (C-contiguous [m, d], as
    ``catalog.taste[idx]`` gives them) to the history ``rows``."""
    if len(rows) == 0 or centroid is None:
        z = np.zeros(len(taste), np.float32)
        return z, z
    sims = taste @ catalog.taste[rows].T  # [m, k]
    return (sims * weights[None, :]).max(axis=1), taste @ centroid


def assemble_features(catalog: Catalog, ctx: DecisionContext, idx: np.ndarray, target: Target) -> np.ndarray:
    """The scaled ranker inputs of catalog rows ``idx`` for ``target``.

    Returns:
        np.ndarray [shape=(len(idx), len(FEATURES)), dtype=float32], columns in :data:`FEATURE_NAMES` order.
    """
    idx = np.asarray(idx, dtype=np.int64)
    m = len(idx)
    values = catalog.track_values[idx]  # the candidates' own numbers, one gather
    by_feature = np.empty((len(FEATURES), m), dtype=np.float32)  # filled a feature (a row) at a time
    nd = len(DESCRIPTOR_COLUMNS)
    # descriptors are stored scaled; undo so that one scaling step below applies to every column
    by_feature[:nd] = (values[:, :nd] * FEATURE_SCALES[:nd] + FEATURE_OFFSETS[:nd]).T
    dv = values[:, _VALUES_VALENCE] - target.valence
    de = values[:, _VALUES_ENERGY] - target.energy
    cols: dict[str, Any] = {
        "target_valence": target.valence,
        "target_energy": target.energy,
        "delta_valence": dv,
        "delta_energy": de,
        "target_distance": np.sqrt(dv * dv + de * de),
        "intent_active": 1.0 if ctx.intent_active else 0.0,
    }
    artist = values[:, _VALUES_ARTIST].astype(np.int64)
    if ctx.last_row is not None:
        lr = ctx.last_row
        cols["has_last_track"] = 1.0
        cols["tempo_step"] = tempo_step(values[:, _VALUES_TEMPO], float(catalog.tempo_bpm[lr]))
        cols["key_step"] = key_step(
            values[:, _VALUES_KEY],
            values[:, _VALUES_MAJOR],
            int(catalog.key[lr]),
            bool(catalog.major[lr] > 0.5),
        )
        cols["same_artist_as_last"] = (artist == catalog.artist[lr]).astype(np.float32)
    else:
        cols["has_last_track"] = cols["tempo_step"] = cols["key_step"] = cols["same_artist_as_last"] = 0.0
    taste = np.ascontiguousarray(values[:, _VALUES_TASTE:])
    cols["sim_liked_max"], cols["sim_liked_mean"] = _similarities(
        catalog, taste, ctx.pos_rows, ctx.pos_weights, ctx.pos_centroid
    )
    cols["sim_skipped_max"], cols["sim_skipped_mean"] = _similarities(
        catalog, taste, ctx.neg_rows, ctx.neg_weights, ctx.neg_centroid
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
    a_plays = ctx.artist_plays[artist]
    cols["artist_plays"] = np.log1p(a_plays)
    cols["artist_skip_share"] = ctx.artist_skips[artist] / (a_plays + 1.0)
    if ctx.cf_scores is not None:
        cols["cf_score"] = ctx.cf_scores[idx]
        cols["cf_known"] = 1.0
    else:
        cols["cf_score"] = 0.5
        cols["cf_known"] = 0.0
    cols["lyrics_valence"] = values[:, _VALUES_LYRICS_VALENCE]
    cols["has_lyrics"] = values[:, _VALUES_HAS_LYRICS]
    cols.update(ctx.scalars)
    cols.update(_property_features(catalog, ctx, values[:, _VALUES_PROPERTIES]))
    for name, value in cols.items():
        by_feature[FEATURE_INDEX[name]] = value
    out = np.empty((m, len(FEATURES)), dtype=np.float32)
    np.subtract(by_feature.T, FEATURE_OFFSETS, out=out)
    out /= FEATURE_SCALES
    return out


def _property_features(catalog: Catalog, ctx: DecisionContext, values: np.ndarray) -> dict[str, np.ndarray]:
    """``skip_lean_*``, ``outside_liked_*`` and ``stump_skip_*`` of candidates whose :data:`PROPERTIES`
    values are ``values`` [m, P] (raw; aggregated over the properties).

    Every property at once, as arrays [property, candidate, history]: each property's slice goes through
    the same float32 operations (and the same matrix-vector product per slice) as a loop over the
    properties would, so the values are those of that loop, without its ~10 small calls per property.
    """
    m = len(values)
    columns = values.T[:, :, None]  # [P, m, 1]
    neg = _kernel_mass(catalog, columns, *ctx.history_neg)  # [P, m]
    pos = _kernel_mass(catalog, columns, *ctx.history_pos)
    lean = (neg - pos) / (neg + pos + 1.0)
    lean_rows = np.ascontiguousarray(lean.T)  # [m, P], laid out as the per-property loop filled it
    pos_rows = ctx.history_pos[0]
    if len(pos_rows) and len(_RANGED):
        liked = catalog.properties[pos_rows][:, _RANGED]  # [H, P']
        v = values[:, _RANGED]  # [m, P']
        over = np.maximum(np.maximum(v - liked.max(axis=0), liked.min(axis=0) - v), 0.0)
        out_arr = over / _RANGE_SCALES
    else:
        out_arr = np.zeros((m, 1), np.float32)
    stump = _stumps(catalog, ctx, values)
    return {
        "stump_skip_max": stump.max(axis=1),
        "stump_skip_mean": stump.mean(axis=1),
        "skip_lean_max": lean_rows.max(axis=1),
        "skip_lean_mean": lean_rows.mean(axis=1),
        "outside_liked_max": out_arr.max(axis=1),
        "outside_liked_mean": out_arr.mean(axis=1),
    }


_BANDWIDTHS = np.array([p.bandwidth for p in PROPERTIES], np.float32)
_SMOOTH = np.flatnonzero(_BANDWIDTHS > 0)
"""Properties read with a Gaussian kernel (the ordered ones) …"""
_EXACT = np.flatnonzero(_BANDWIDTHS <= 0)
"""… and those alike only when equal (the mode)."""
_RANGED = np.array([j for j, p in enumerate(PROPERTIES) if p.range_scale > 0], np.int64)
"""Properties read for ``outside_liked_*``, in :data:`PROPERTIES` order."""
_RANGE_SCALES = np.array([PROPERTIES[j].range_scale for j in _RANGED], np.float32)


def _kernel_mass(catalog: Catalog, columns: np.ndarray, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per property and candidate, the weighted count of history tracks ``rows`` alike on that property:
    ``exp(-½((x - h) / bandwidth)²) @ weights`` (equal within 1e-3 for a bandwidth of 0), float32 [P, m]."""
    n_props, m = columns.shape[0], columns.shape[1]
    if len(rows) == 0:
        return np.zeros((n_props, m), np.float32)
    history = catalog.properties[rows].T[:, None, :]  # [P, 1, H]
    out = np.empty((n_props, m), np.float32)
    d = columns[_SMOOTH] - history[_SMOOTH]  # [P_smooth, m, H]
    out[_SMOOTH] = np.exp(-0.5 * (d / _BANDWIDTHS[_SMOOTH, None, None]) ** 2) @ weights
    if len(_EXACT):
        out[_EXACT] = (np.abs(columns[_EXACT] - history[_EXACT]) < 1e-3) @ weights
    return out


def _stumps(catalog: Catalog, ctx: DecisionContext, values: np.ndarray) -> np.ndarray:
    """Per property, how much worse than usual the listener's finished plays went on this track's side.

    For a track with value ``x`` on an ordered property: the smoothed badness of the finished plays at
    or above ``x`` and of those at or below it, the worse of the two, minus the listener's mean badness
    (a one-sided rule such as a tempo ceiling shows as a high value beyond it); on the mode, the plays
    in the same mode. 0 without history. Known limit (schema 2, as trained): a value beyond every
    finished play has no plays on its far side and gets 0, not the evidence of the nearest plays.
    Every property at once, as arrays [property, candidate, play] (the same operations per property as
    a loop over them). Returns float32 [m, P].
    """
    rows, bad = ctx.finished
    m = len(values)
    if len(rows) < 2:
        return np.zeros((m, len(PROPERTIES)), np.float32)
    prior = (float(bad.sum()) + 0.5) / (len(bad) + 2.0)
    k = 2.0

    ones = np.ones(len(bad), np.float32)

    def rate(side: np.ndarray) -> np.ndarray:
        # float32 0/1 gives the same products as the boolean array, and the counts exactly (a
        # product too: summing a short last axis is ~8x slower)
        alike = side.astype(np.float32)
        return np.asarray((alike @ bad + k * prior) / ((alike @ ones).astype(np.float64) + k))

    x = values.T[:, :, None]  # [P, m, 1]
    h = catalog.properties[rows].T[:, None, :]  # [P, 1, H]
    worst = np.empty((len(PROPERTIES), m), np.float64)
    xs, hs = x[_SMOOTH], h[_SMOOTH]
    worst[_SMOOTH] = np.maximum(rate(hs >= xs - 1e-6), rate(hs <= xs + 1e-6))
    if len(_EXACT):
        worst[_EXACT] = rate(np.abs(h[_EXACT] - x[_EXACT]) < 1e-3)
    return np.ascontiguousarray((worst - prior).T, dtype=np.float32)


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
        v = features[:, FEATURE_INDEX[term.removesuffix("_sq")]]
        cols.append(v * v if term.endswith("_sq") else v)
    context = [np.ones(len(features), np.float32)]
    context += [features[:, FEATURE_INDEX[name]] for name in PRESELECT_CONTEXT[1:]]
    return np.column_stack(cols).astype(np.float32), np.column_stack(context).astype(np.float32)


def upper_half_weight(scores: np.ndarray) -> np.ndarray:
    """Row weights of one decision's rows in the pre-selection's fit: 1 for a score at or above the
    decision's median, 0.2 below (the proxy must order the good candidates, not only separate them
    from the bad), float64."""
    return np.where(scores >= np.median(scores), 1.0, 0.2)


def fit_proxy(
    design: np.ndarray,
    scores: np.ndarray,
    weight: np.ndarray,
    *,
    ridge: float,
    prior: np.ndarray | None = None,
) -> np.ndarray:
    """The pre-selection's distillation, shared by training (``models.train.fit_preselect``, over many
    decisions) and serving (``Recommender._calibrate``, one decision): a weighted ridge regression of
    ``scores`` on the ``design`` columns (both centred per decision by the caller), pulled toward
    ``prior`` (toward 0 when None). Returns float64 [design columns]."""
    weighted = design * weight[:, None]
    rhs = weighted.T @ scores
    if prior is not None:
        rhs = rhs + ridge * prior
    return np.asarray(np.linalg.solve(weighted.T @ design + ridge * np.eye(design.shape[1]), rhs))


def decision_context_vector(ctx: DecisionContext) -> np.ndarray:
    """The :data:`PRESELECT_CONTEXT` values of a decision, scaled like the ranker inputs."""
    raw = {
        "n_liked": math.log1p(len(ctx.pos_rows)),
        "n_skipped": math.log1p(len(ctx.neg_rows)),
        "intent_active": 1.0 if ctx.intent_active else 0.0,
        **ctx.scalars,
    }
    values = [1.0] + [
        (raw[n] - float(FEATURE_OFFSETS[FEATURE_INDEX[n]])) / float(FEATURE_SCALES[FEATURE_INDEX[n]])
        for n in PRESELECT_CONTEXT[1:]
    ]
    return np.array(values, np.float64)
