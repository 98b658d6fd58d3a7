"""Collaborative filtering for listeners who share a server: serving the factors in ``HOME/cf.npz``.

``cadence train`` (``models.cf``) factorizes what every non-private listener of the home played into
item factors with implicit-feedback ALS (Hu, Koren & Volinsky, ICDM 2008, with the ``implicit``
library); this module reads them back and answers two questions, in track ids and numbers only:

- :meth:`CfModel.scores`: how much a listener's *current* log says they will like each of some tracks
  (a ranker feature, aligned with the ids asked for);
- :meth:`CfModel.also_played`: "listeners who played X also played Y" (item–item cosine of the factors).

Numpy only: ``implicit`` is imported by training alone.

What the log says about a pair (listener, track)
------------------------------------------------
Each playback event adds to the pair's *net evidence* ``w`` (:func:`event_weight`, shared by training
and serving so they cannot drift): completed +1, liked +2, a skip at or after
:data:`~player.core.listener.EARLY_SKIP_S` (30 s, a late skip: they listened) +0.25, an early skip
−1, disliked −2; ``started`` and every other row 0. A pair whose evidence sums to 0 is left out (its
positives and negatives cancel). The rest enter the factorization with a *confidence*
``C = 1 + alpha · log1p(|w|)`` (:func:`confidence`; ``alpha`` = :data:`ALPHA` = 10 unless a model says
otherwise): ``w > 0`` as preference 1, ``w < 0`` as preference 0 — the same preference as a track the
listener never played (implicit ALS's default, confidence 1), but with the confidence of the evidence,
so an early skip or a dislike pulls the listener's vector away from the track much harder than
silence does. This is ``implicit``'s own convention: a negative value in its user–item matrix is a
preference 0 with confidence ``|value|``.

Folding a listener in
---------------------
:meth:`CfModel.user_vector` solves the ALS user step against the fixed item factors ``Y``::

    x = (YᵀY + λI + Σᵢ (Cᵢ − 1) yᵢ yᵢᵀ)⁻¹ Σ_{i: wᵢ > 0} Cᵢ yᵢ

over the listener's pairs with tracks the model knows — exactly ``implicit``'s ``recalculate_user``
(a test checks they agree). It is done from the events passed in, every time: a listener the model
was trained with, one it has never seen, and a private one (never used in training) are all folded
in the same way, and new events count at once, without retraining. With 10k tracks and a few hundred
events it takes well under a millisecond (``bench/cf.py``).

Scores
------
``dot = Y·x`` for every track the model knows, scaled by their spread (``z = dot / rms(dot)``: not
centred, so that 0 stays "no collaborative evidence either way") and squashed: ``score = 1 / (1 +
exp(−z / 2))`` (:data:`SCORE_SLOPE`), in 0–1. The spread over all known tracks is
``rms(dot) = sqrt(xᵀ(YᵀY)x / items)`` from the Gram matrix kept at load, so a track's score needs
only its own dot product: :meth:`CfModel.stats_row_scores` scores just the rows a decision asks for
(the ranker's ~700 candidates), not the whole library (at 100k tracks, ``Y·x`` for every track read
25 MB of factors in a BLAS call that woke a second thread: 1–8 ms of every decision,
``bench/rank.py``). 0.5 is a track the listener's neighbours neither favour nor avoid, and the
value of a track the model does not know (:data:`NEUTRAL_SCORE`); z = 2 gives 0.73, z = 6 0.95. (Centring on the mean, as before, put every unknown track above the known
tracks of the listener's own taste group that they had not played yet: the mean is pulled up by the
tracks they play, so their group's other tracks sat below it; recall@20 of the served score on the
planted households went from 0.02 to the trained factors' figure, see bench/cf.py.) :meth:`CfModel.scores` returns None when the model cannot say anything: no positive pair of the
listener with a track it knows.

The file
--------
``cf.npz`` (:func:`cf_path`): ``item_ids``, ``item_factors`` (float32 [items, factors]),
``user_ids``, ``user_factors`` (float32 [listeners, factors]: the trained listeners, for inspection;
serving folds in instead), the hyper-parameters and :data:`CF_FORMAT_VERSION`; no event, no history.
Written atomically (a temporary file in the same folder, fsync, rename), readable by the owner only.
:meth:`CfModel.load` returns None for a missing file, and for a damaged one or one of another format
version with a WARNING: collaborative filtering then stays out of the way until `cadence train`
writes a new one.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from player.core.listener import EARLY_SKIP_S, TrackStats
from player.core.records import LogEvent
from player.settings import Settings

__all__ = [
    "ALPHA",
    "CF_FORMAT_VERSION",
    "EVENT_WEIGHTS",
    "NEUTRAL_SCORE",
    "SCORE_SLOPE",
    "CfFile",
    "CfModel",
    "CfRowScores",
    "cf_path",
    "confidence",
    "event_weight",
    "stats_evidence",
    "track_evidence",
]

logger = logging.getLogger(__name__)

CF_FORMAT_VERSION = 1
"""Version of ``cf.npz`` (its arrays and what the evidence weights mean); another is not loaded."""

EVENT_WEIGHTS: dict[str, float] = {
    "completed": 1.0,
    "liked": 2.0,
    "late_skip": 0.25,
    "early_skip": -1.0,
    "disliked": -2.0,
}
"""Net evidence each playback event adds to its (listener, track) pair; ``late_skip`` is a skip at or
after :data:`~player.core.listener.EARLY_SKIP_S`, ``early_skip`` one before it (or without a position)."""

ALPHA = 10.0
"""Confidence per unit of log-evidence: ``C = 1 + ALPHA · log1p(|w|)`` (one completion: C ≈ 7.9)."""

SCORE_SLOPE = 0.5
"""``score = 1 / (1 + exp(−SCORE_SLOPE · z))``, z the standardized dot product."""

NEUTRAL_SCORE = 0.5
"""The score of a track the model does not know (and of a track exactly typical for the listener)."""


def cf_path(settings: Settings) -> Path:
    """Where the home's factors live: ``HOME/cf.npz``."""
    return settings.home / "cf.npz"


def event_weight(event: LogEvent) -> float:
    """The net evidence ``event`` adds to its (listener, track) pair (:data:`EVENT_WEIGHTS`; 0 for
    ``started``, moods and session rows)."""
    if event.kind == "completed":
        return EVENT_WEIGHTS["completed"]
    if event.kind == "liked":
        return EVENT_WEIGHTS["liked"]
    if event.kind == "disliked":
        return EVENT_WEIGHTS["disliked"]
    if event.kind == "skipped":
        late = event.position_s is not None and event.position_s >= EARLY_SKIP_S
        return EVENT_WEIGHTS["late_skip" if late else "early_skip"]
    return 0.0


def track_evidence(events: Iterable[LogEvent], listener_id: str | None = None) -> dict[str, float]:
    """Net evidence per track id (pairs summing to 0 left out), oldest event first; only
    ``listener_id``'s events when given."""
    out: dict[str, float] = {}
    for event in events:
        if event.track_id is None or (listener_id is not None and event.listener_id != listener_id):
            continue
        weight = event_weight(event)
        if weight:
            out[event.track_id] = out.get(event.track_id, 0.0) + weight
    return {track: w for track, w in out.items() if abs(w) > 1e-9}


def stats_evidence(stats: Mapping[str, TrackStats]) -> dict[str, float]:
    """Net evidence per track from a listener state's counts: the same :data:`EVENT_WEIGHTS` as
    :func:`track_evidence` applies to the events those counts were made from (pairs summing to 0 left
    out)."""
    w = EVENT_WEIGHTS
    out: dict[str, float] = {}
    for track, st in stats.items():
        late = st.skips - st.early_skips
        value = (
            w["completed"] * st.completions
            + w["liked"] * st.likes
            + w["disliked"] * st.dislikes
            + w["late_skip"] * late
            + w["early_skip"] * st.early_skips
        )
        if abs(value) > 1e-9:
            out[track] = value
    return out


def confidence(evidence: float, alpha: float = ALPHA) -> float:
    """The signed confidence of a pair with net ``evidence``: ``+C`` (preference 1) when positive,
    ``−C`` (preference 0) when negative, ``C = 1 + alpha · log1p(|evidence|)``; 0 for no evidence."""
    if abs(evidence) <= 1e-9:
        return 0.0
    return math.copysign(1.0 + alpha * math.log1p(abs(evidence)), evidence)


@dataclass(frozen=True, eq=False)
class CfModel:
    """Item factors (and the trained listeners' factors) of an implicit-feedback ALS model.

    Raises (when made):
        ValueError: If the ids and factor matrices do not match in shape, or an id repeats.
    """

    item_ids: tuple[str, ...]
    item_factors: np.ndarray
    """float32 [items, factors]."""
    user_ids: tuple[str, ...]
    user_factors: np.ndarray
    """float32 [listeners, factors]: the listeners the model was trained with (serving folds in)."""
    factors: int
    regularization: float
    """λ of the least-squares solves."""
    alpha: float = ALPHA
    iterations: int = 15
    random_state: int = 0
    version: int = CF_FORMAT_VERSION
    _row: dict[str, int] = field(init=False, repr=False)
    _items64: np.ndarray = field(init=False, repr=False)
    _cov: np.ndarray = field(init=False, repr=False)
    _gram: np.ndarray = field(init=False, repr=False)
    _unit: np.ndarray = field(init=False, repr=False)
    _informative: np.ndarray = field(init=False, repr=False)
    """Per model row: True if its factors are not all zero (a track nobody played scores neutral)."""
    _rows_cache: tuple[Sequence[str], np.ndarray, np.ndarray, np.ndarray] | None = field(
        init=False, repr=False, default=None
    )

    def __post_init__(self) -> None:
        items = np.ascontiguousarray(self.item_factors, np.float32)
        users = np.ascontiguousarray(self.user_factors, np.float32).reshape(-1, self.factors)
        if items.ndim != 2 or items.shape != (len(self.item_ids), self.factors):
            raise ValueError(
                f"item factors {items.shape} do not match {len(self.item_ids)} ids × {self.factors}"
            )
        if users.shape[0] != len(self.user_ids):
            raise ValueError(f"user factors {users.shape} do not match {len(self.user_ids)} ids")
        row = {track: i for i, track in enumerate(self.item_ids)}
        if len(row) != len(self.item_ids) or len(set(self.user_ids)) != len(self.user_ids):
            raise ValueError("repeated ids in a CF model")
        items64 = items.astype(np.float64)
        norms = np.linalg.norm(items64, axis=1, keepdims=True)
        set_ = object.__setattr__
        set_(self, "item_factors", items)
        set_(self, "user_factors", users)
        set_(self, "_row", row)
        cov = items64.T @ items64
        set_(self, "_items64", items64)
        set_(self, "_cov", cov)
        set_(self, "_gram", cov + self.regularization * np.eye(self.factors))
        set_(self, "_unit", items64 / np.maximum(norms, 1e-12))
        set_(self, "_informative", np.any(items != 0, axis=1))

    # ------------------------------------------------------------ serving

    def knows(self, track_id: str) -> bool:
        """True if the model has factors for ``track_id``."""
        return track_id in self._row

    def rows(self, track_ids: Sequence[str]) -> np.ndarray:
        """The model's row of each of ``track_ids`` (−1 for a track it does not know), int64.

        The last tuple asked for is remembered (by identity), so a caller passing the same tuple of
        library ids at every decision maps them once.
        """
        return self._mapped(track_ids)[0]

    def _mapped(self, track_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`rows` of ``track_ids``, the positions among them of the tracks whose factors are not
        all zero (sorted int64; only those can score other than neutral) and those tracks' factors
        (float64, contiguous), remembered alike."""
        cached = self._rows_cache
        if cached is not None and cached[0] is track_ids:
            return cached[1], cached[2], cached[3]
        out = np.fromiter((self._row.get(t, -1) for t in track_ids), np.int64, count=len(track_ids))
        known = np.flatnonzero(out >= 0)
        informative = known[self._informative[out[known]]]
        factors = np.ascontiguousarray(self._items64[out[informative]])
        if isinstance(track_ids, tuple):
            object.__setattr__(self, "_rows_cache", (track_ids, out, informative, factors))
        return out, informative, factors

    def user_vector(self, events: Iterable[LogEvent], listener_id: str | None = None) -> np.ndarray | None:
        """The listener folded in from ``events`` (only ``listener_id``'s when given): the ALS user solve
        against the fixed item factors, float64 [factors]; None without a positive pair the model knows."""
        return self.evidence_vector(track_evidence(events, listener_id))

    def evidence_vector(self, evidence_by_track: Mapping[str, float]) -> np.ndarray | None:
        """The listener folded in from their net evidence per track (:func:`track_evidence`)."""
        rows: list[int] = []
        conf: list[float] = []
        for track, evidence in evidence_by_track.items():
            r = self._row.get(track)
            if r is not None:
                rows.append(r)
                conf.append(confidence(evidence, self.alpha))
        c = np.array(conf, np.float64)
        if not (c > 0).any():
            return None
        y = self._items64[np.array(rows, np.int64)]
        a = self._gram + (y.T * (np.abs(c) - 1.0)) @ y
        b = y[c > 0].T @ c[c > 0]
        return np.asarray(np.linalg.solve(a, b))

    def item_scores(self, vector: np.ndarray) -> np.ndarray | None:
        """Every known track's score (0–1, module docstring) for a folded-in listener ``vector``, in the
        model's item order; None if the dot products are all 0."""
        rms = self._spread(vector)
        if rms is None:
            return None
        return _squash(np.einsum("ij,j->i", self._items64, vector), rms)

    def _spread(self, vector: np.ndarray) -> float | None:
        """``rms(Y·x)`` over every known track, from the Gram matrix (None if the dot products are all 0)."""
        mean_square = float(vector @ self._cov @ vector) / max(len(self.item_ids), 1)
        rms = math.sqrt(max(mean_square, 0.0))
        return rms if rms > 1e-12 else None

    def scores(
        self, listener_id: str, events: Iterable[LogEvent], track_ids: Sequence[str]
    ) -> np.ndarray | None:
        """The listener's CF score of each of ``track_ids``, float32 aligned with them: 0–1, 0.5 for a
        typical track and for a track the model does not know (module docstring).

        ``events``: the listener's log as it is now (other listeners' events in it are ignored); they
        are folded in at every call, so new events count without retraining. None when the model
        cannot say anything for this listener (no completed or liked track it knows).
        """
        return self._scores_of(self.user_vector(events, listener_id), track_ids)

    def stats_scores(self, stats: Mapping[str, TrackStats], track_ids: Sequence[str]) -> np.ndarray | None:
        """:meth:`scores` for a listener folded in from their state's counts (:func:`stats_evidence`)."""
        scorer = self.stats_row_scores(stats, track_ids)
        return None if scorer is None else scorer.all()

    def stats_row_scores(
        self, stats: Mapping[str, TrackStats], track_ids: Sequence[str]
    ) -> CfRowScores | None:
        """The same scores as :meth:`stats_scores`, computed only for the positions of ``track_ids`` asked
        for (``scorer[rows]``): the ranker's ``cf_score`` (``player.core.ranking.CfSource``). None when
        the model cannot say anything for this listener."""
        return self._row_scores(self.evidence_vector(stats_evidence(stats)), track_ids)

    def _row_scores(self, vector: np.ndarray | None, track_ids: Sequence[str]) -> CfRowScores | None:
        if vector is None:
            return None
        rms = self._spread(vector)
        if rms is None:
            return None
        return CfRowScores(self._items64, vector, rms, *self._mapped(track_ids))

    def _scores_of(self, vector: np.ndarray | None, track_ids: Sequence[str]) -> np.ndarray | None:
        scorer = self._row_scores(vector, track_ids)
        return None if scorer is None else scorer.all()

    def also_played(self, track_id: str, n: int = 10) -> list[tuple[str, float]]:
        """Up to ``n`` other tracks most alike ``track_id`` in who played them (cosine of item factors,
        best first, positive cosines only): ``(track_id, cosine)``. Empty for a track the model does not
        know. Only ids and numbers: nothing says who played what."""
        r = self._row.get(track_id)
        if r is None or n <= 0:
            return []
        sims = self._unit @ self._unit[r]
        sims[r] = -np.inf
        k = min(n, len(sims) - 1)
        if k <= 0:
            return []
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.item_ids[i], float(sims[i])) for i in top if sims[i] > 0]

    # ------------------------------------------------------------ files

    def hyper_parameters(self) -> dict[str, float | int]:
        """The training's settings, as stored in the file."""
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "random_state": self.random_state,
        }

    def save(self, path: Path) -> None:
        """Write the model to ``path`` atomically (temporary file, fsync, rename; mode 0600)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".cf-", suffix=".npz.tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    version=np.int64(self.version),
                    item_ids=np.array(self.item_ids, dtype=np.str_),
                    item_factors=self.item_factors,
                    user_ids=np.array(self.user_ids, dtype=np.str_),
                    user_factors=self.user_factors,
                    factors=np.int64(self.factors),
                    regularization=np.float64(self.regularization),
                    alpha=np.float64(self.alpha),
                    iterations=np.int64(self.iterations),
                    random_state=np.int64(self.random_state),
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: Path) -> CfModel | None:
        """The model at ``path``; None if there is none, or (with a WARNING) if it is damaged or of
        another format version: collaborative filtering then stays out of the way."""
        path = Path(path)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays: dict[str, Any] = {k: data[k] for k in data.files}
            version = int(arrays["version"])
            if version != CF_FORMAT_VERSION:
                logger.warning(
                    "%s is CF format %d, this code reads %d: not used until `cadence train` rewrites it",
                    path,
                    version,
                    CF_FORMAT_VERSION,
                )
                return None
            return cls(
                item_ids=tuple(str(i) for i in arrays["item_ids"]),
                item_factors=arrays["item_factors"],
                user_ids=tuple(str(i) for i in arrays["user_ids"]),
                user_factors=arrays["user_factors"],
                factors=int(arrays["factors"]),
                regularization=float(arrays["regularization"]),
                alpha=float(arrays["alpha"]),
                iterations=int(arrays["iterations"]),
                random_state=int(arrays["random_state"]),
            )
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            logger.warning(
                "%s is not a usable CF model (%s): not used until `cadence train` rewrites it", path, exc
            )
            return None


def _squash(dots: np.ndarray, rms: float) -> np.ndarray:
    """Scores (0–1, float64) of dot products whose spread over every known track is ``rms``."""
    z = dots / rms
    return np.asarray(1.0 / (1.0 + np.exp(-SCORE_SLOPE * z)))


class CfRowScores:
    """One folded-in listener's scores, computed for the positions asked for: ``scorer[rows]`` is the
    float32 score of each ``track_ids[rows[i]]`` (:data:`NEUTRAL_SCORE` for a track the model does not
    know), the same numbers :meth:`CfModel.stats_scores` gives at those positions.

    Dot products are taken with ``einsum`` rather than a BLAS matrix-vector product: a BLAS call over a
    whole library wakes OpenBLAS's second thread, which on a busy 2-core machine costs milliseconds.
    """

    def __init__(
        self,
        items64: np.ndarray,
        vector: np.ndarray,
        rms: float,
        model_rows: np.ndarray,
        informative: np.ndarray,
        informative_factors: np.ndarray,
    ) -> None:
        self._items64 = items64
        self._vector = vector
        self._rms = rms
        self._model_rows = model_rows
        """The model's row of each track id (−1 unknown), aligned with the ids the scorer was made for."""
        self._informative = informative
        """Positions whose factors are not all zero (:meth:`CfModel._mapped`)."""
        self._informative_factors = informative_factors
        """``items64`` at the informative positions' rows: their dot products without a gather."""
        self._informative_scores: np.ndarray | None = None

    def informative(self) -> tuple[np.ndarray, np.ndarray]:
        """The positions whose score may differ from :data:`NEUTRAL_SCORE` (a known track with factors
        not all zero; sorted int64) and their scores (float32, as ``self[positions]``, computed once);
        every other position scores neutral."""
        if self._informative_scores is None:
            dots = np.einsum("ij,j->i", self._informative_factors, self._vector)
            self._informative_scores = _squash(dots, self._rms).astype(np.float32)
        return self._informative, self._informative_scores

    def __len__(self) -> int:
        return len(self._model_rows)

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        model_rows = self._model_rows[np.asarray(rows, dtype=np.int64)]
        out = np.full(len(model_rows), NEUTRAL_SCORE, np.float32)
        hit = model_rows >= 0
        known = model_rows[hit]
        out[hit] = _squash(np.einsum("ij,j->i", self._items64[known], self._vector), self._rms)
        return out

    def all(self) -> np.ndarray:
        """Every position's score, float32 [len(track_ids)] (every known track's dot product at once,
        without gathering factor rows)."""
        out = np.full(len(self._model_rows), NEUTRAL_SCORE, np.float32)
        hit = self._model_rows >= 0
        known = _squash(np.einsum("ij,j->i", self._items64, self._vector), self._rms)
        out[hit] = known[self._model_rows[hit]]
        return out


class CfFile:
    """The model in a ``cf.npz`` as it is now: reloaded when the file changes (``cadence train``,
    ``cadence forget``, ``cadence listeners --private`` rewrite or remove it while a server runs), so a
    running server never keeps serving factors an erased or newly private listener helped make.

    One ``stat`` per call (microseconds); the load itself only when the inode, size or mtime changed.
    Thread-safe enough for the session core threads: the swap is one attribute assignment.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._model: CfModel | None = None
        self.current()

    def current(self) -> CfModel | None:
        """The file's model now (None: no file, or one that cannot be used)."""
        try:
            st = self.path.stat()
            # the inode too: a rewrite is an atomic rename (a new inode) and may keep size and mtime
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp != self._stamp:
            self._model = CfModel.load(self.path) if stamp is not None else None
            self._stamp = stamp
        return self._model

    def scores(
        self, listener_id: str, events: Iterable[LogEvent], track_ids: Sequence[str]
    ) -> np.ndarray | None:
        """:meth:`CfModel.scores` of the file's current model (None without one)."""
        model = self.current()
        return None if model is None else model.scores(listener_id, events, track_ids)

    def stats_scores(self, stats: Mapping[str, TrackStats], track_ids: Sequence[str]) -> np.ndarray | None:
        """:meth:`CfModel.stats_scores` of the file's current model (None without one)."""
        model = self.current()
        return None if model is None else model.stats_scores(stats, track_ids)

    def stats_row_scores(
        self, stats: Mapping[str, TrackStats], track_ids: Sequence[str]
    ) -> CfRowScores | None:
        """:meth:`CfModel.stats_row_scores` of the file's current model (None without one)."""
        model = self.current()
        return None if model is None else model.stats_row_scores(stats, track_ids)
