"""The skip-aware heuristic: a simple, honest policy, served as the interleaving challenger.

When no retrained model waits to be judged (``HOME/models/challenger.onnx``), the shipped ranker is
interleaved with this heuristic (:mod:`player.core.interleave`), and ``cadence eval`` compares the
ranker with it offline (``models.baselines`` re-exports it). It reads the listener state through the
same :func:`~player.core.ranking.context.build_context` as the ranker (the per-position targets of
the iso walk, recently played tracks, recent likes and skips), never repeats a recently played
track, and ranks by the *extracted* features:

    score = − distance · |track − target|  +  liked · max_j w_j · sim(track, positive_j)
            − skipped · max_j w_j · sim(track, negative_j)  −  artist_skips · artist skip share

distances on the valence/energy plane, similarities the cosines of taste vectors, weights in
:data:`SKIP_AWARE_WEIGHTS` (set by hand on the simulator's training families). Its picks carry its
name as their reason; an interleaved queue's reasons are written afresh for the merged order
(:class:`~player.core.ranking.explain.QueueExplainer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from player.core.listener import ListenerState
from player.core.ranking.context import Catalog, DecisionContext, MatrixLike, build_context
from player.core.ranking.recommender import Pick, Recommendation
from player.core.track import Track

__all__ = [
    "SKIP_AWARE_WEIGHTS",
    "PositionScoredRecommender",
    "SkipAwareRecommender",
    "SkipAwareWeights",
]


@dataclass(frozen=True, slots=True)
class SkipAwareWeights:
    """Weights of the skip-aware heuristic's score (distances and similarities are 0–1 scales)."""

    distance: float = 1.0 / 0.15
    """Per unit of valence/energy distance to the target."""
    liked: float = 1.5
    """Times the best weighted taste similarity to a recent like (1.0) or completion (0.6)."""
    skipped: float = 2.5
    """Times the best weighted taste similarity to a recent early skip/dislike (1.0) or late skip (0.4)."""
    artist_skips: float = 2.0
    """Times the share of this listener's plays of the artist that were skipped."""


SKIP_AWARE_WEIGHTS = SkipAwareWeights()


class PositionScoredRecommender:
    """A policy that scores every catalog row per queue position and takes the best free row each time.

    Subclasses define :meth:`scores`. Recently played tracks are not picked (unless too few others
    are left), nor tracks outside ``within``; there is no artist spacing or variety term.

    Args:
        tracks: the library's track records (any order).
        matrix: the library's float32 feature matrix.
        catalog: an already built :class:`Catalog` of that library to share (then ``tracks`` and
            ``matrix`` are not read).
    """

    name = "baseline"
    scores_follow_the_target = False
    """True if :meth:`scores` depends on the position only through its target: positions with one
    target then share one score vector, ranked once (the same picks, far fewer passes over a large
    catalog)."""

    def __init__(
        self,
        tracks: Sequence[Track] = (),
        matrix: MatrixLike | None = None,
        *,
        catalog: Catalog | None = None,
    ) -> None:
        if catalog is None:
            if matrix is None:
                raise ValueError("give the library's tracks and matrix, or a catalog")
            catalog = Catalog(tracks, matrix)
        self.catalog = catalog

    def scores(self, ctx: DecisionContext, position: int) -> np.ndarray:
        """Score of every catalog row for queue position ``position`` (higher first) [n]."""
        raise NotImplementedError

    def recommend(
        self, state: ListenerState, *, count: int, at_s: float, within: Sequence[str] | None = None
    ) -> Recommendation:
        """The next ``count`` tracks for ``state`` at server time ``at_s``, best first."""
        cat = self.catalog
        count = max(1, int(count))
        ctx = build_context(state, cat, at_s=at_s, count=count)
        pool = np.ones(cat.n, bool)
        if within is not None:
            pool[:] = False
            pool[[cat.row[t] for t in within if t in cat.row]] = True
        blocked = ~pool | ctx.excluded
        if (~blocked).sum() < count:  # a small library or a long session: repeats come back
            blocked = ~pool
        picks: list[Pick] = []
        n_picks = min(count, int((~blocked).sum()))
        ranked: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}
        for k in range(n_picks):
            if self.scores_follow_the_target:
                target = ctx.targets[min(k, len(ctx.targets) - 1)]
                key = (target.valence, target.energy)
                if key not in ranked:
                    score = np.where(blocked, -np.inf, self.scores(ctx, k))
                    ranked[key] = (score, _best_first(score, n_picks))
                score, order = ranked[key]
                row = int(next(r for r in order if not blocked[r]))
            else:
                score = np.where(blocked, -np.inf, self.scores(ctx, k))
                row = int(np.argmax(score))
            blocked[row] = True
            picks.append(Pick(cat.tracks[row], float(score[row]), self.name))
        return Recommendation(
            picks=tuple(picks), target=ctx.targets[0], targets=tuple(ctx.targets[: len(picks)])
        )

    def _target_distance(self, ctx: DecisionContext, position: int) -> np.ndarray:
        t = ctx.targets[min(position, len(ctx.targets) - 1)]
        return np.asarray(np.hypot(self.catalog.valence - t.valence, self.catalog.energy - t.energy))


class SkipAwareRecommender(PositionScoredRecommender):
    """Nearest-to-target, pulled toward what the listener recently enjoyed and away from what they skipped.

    Thread-safe (the server's core threads share one): its one-entry cache of a decision's history
    terms is one (context, terms) tuple, so a concurrent decision recomputes rather than reads another's.
    """

    name = "skip_aware"
    scores_follow_the_target = True

    def __init__(
        self,
        tracks: Sequence[Track] = (),
        matrix: MatrixLike | None = None,
        weights: SkipAwareWeights = SKIP_AWARE_WEIGHTS,
        *,
        catalog: Catalog | None = None,
    ) -> None:
        super().__init__(tracks, matrix, catalog=catalog)
        self.weights = weights
        self._cache: tuple[DecisionContext, np.ndarray] | None = None
        # One contiguous row per taste dimension: similarities as float32 AXPYs (see _max_similarity).
        self._taste_columns = np.ascontiguousarray(self.catalog.taste.T, dtype=np.float32)

    def _history_terms(self, ctx: DecisionContext) -> np.ndarray:
        """The score's parts that do not depend on the queue position (computed once per decision)."""
        cached = self._cache
        if cached is not None and cached[0] is ctx:
            return cached[1]
        cat, w = self.catalog, self.weights
        out = np.zeros(cat.n)
        if len(ctx.pos_rows):
            out += w.liked * self._max_similarity(ctx.pos_rows, ctx.pos_weights)
        if len(ctx.neg_rows):
            out -= w.skipped * self._max_similarity(ctx.neg_rows, ctx.neg_weights)
        art = cat.artist
        out -= w.artist_skips * ctx.artist_skips[art] / (ctx.artist_plays[art] + 1.0)
        # One tuple, assigned at once: a concurrent decision sees either the old or the new pair.
        self._cache = (ctx, out)
        return out

    def _max_similarity(self, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``max_j weights[j] · cos(track, rows[j])`` for every catalog track, float32 [n].

        A loop of float32 AXPYs over contiguous rows instead of a matrix product: on a busy 2-core
        machine a threaded BLAS product over 100k tracks measured 2–3× slower (the same finding as
        the recommender's pre-selection).
        """
        columns = self._taste_columns
        best: np.ndarray | None = None
        for row, weight in zip(rows, weights, strict=True):
            vector = self.catalog.taste[int(row)] * np.float32(weight)
            similarity = columns[0] * vector[0]
            for d in range(1, len(vector)):
                similarity += columns[d] * vector[d]
            best = similarity if best is None else np.maximum(best, similarity, out=best)
        assert best is not None
        return best

    def scores(self, ctx: DecisionContext, position: int) -> np.ndarray:
        return -self.weights.distance * self._target_distance(ctx, position) + self._history_terms(ctx)


def _best_first(score: np.ndarray, count: int) -> np.ndarray:
    """Rows holding the ``count`` best scores (and any tied with the last), best first, ties by row:
    the order repeated ``argmax`` calls would take them in."""
    n = len(score)
    if count >= n:
        candidates = np.arange(n)
    else:
        kth = np.partition(score, n - count)[n - count]
        candidates = np.flatnonzero(score >= kth)
    return candidates[np.lexsort((candidates, -score[candidates]))]
