"""The policies the ranker is compared with, each a drop-in for the session core's recommender.

All read the listener state through the serving code's own :func:`~player.core.ranking.build_context`
(the per-position targets of the iso walk, recently played tracks, recent likes and skips), never
repeat a recently played track, and rank by the *extracted* features, as the ranker does:

- :class:`RandomRecommender` — uniformly random allowed tracks.
- :class:`PopularRecommender` — most completed and liked first (counts the caller keeps up to date).
- :class:`NearestRecommender` — nearest to each position's target on the valence/energy plane
  (plain nearest-neighbour; with an intent, each position of the walk its own target).
- :class:`SkipAwareRecommender` — nearest-to-target plus similarity to recent completions and likes,
  minus similarity to recent skips and the artist's skip share: the strongest simple heuristic we
  could write (weights in :data:`SKIP_AWARE_WEIGHTS`, set by hand on the training families).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from player.core.listener import ListenerState
from player.core.ranking import (
    Catalog,
    DecisionContext,
    MatrixLike,
    Pick,
    Recommendation,
    build_context,
)
from player.core.track import Track

__all__ = [
    "SKIP_AWARE_WEIGHTS",
    "NearestRecommender",
    "PopularRecommender",
    "RandomRecommender",
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


class _Baseline:
    """Shared shape: one score per catalog row and queue position, the best free row per position."""

    name = "baseline"

    def __init__(self, tracks: Sequence[Track], matrix: MatrixLike) -> None:
        self.catalog = Catalog(tracks, matrix)

    def scores(self, ctx: DecisionContext, position: int) -> np.ndarray:
        """Score of every catalog row for queue position ``position`` (higher first) [n]."""
        raise NotImplementedError

    def recommend(
        self, state: ListenerState, *, count: int, at_s: float, within: Sequence[str] | None = None
    ) -> Recommendation:
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
        for k in range(min(count, int((~blocked).sum()))):
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


class RandomRecommender(_Baseline):
    """Uniformly random allowed tracks (seeded)."""

    name = "random"

    def __init__(self, tracks: Sequence[Track], matrix: MatrixLike, *, seed: int) -> None:
        super().__init__(tracks, matrix)
        self.rng = np.random.default_rng(seed)

    def scores(self, ctx: DecisionContext, position: int) -> np.ndarray:
        return np.asarray(self.rng.random(self.catalog.n))


class PopularRecommender(_Baseline):
    """Most-played first: ``counts`` (completions and likes per catalog row), kept up to date by the caller."""

    name = "popular"

    def __init__(self, tracks: Sequence[Track], matrix: MatrixLike, counts: np.ndarray) -> None:
        super().__init__(tracks, matrix)
        self.counts = counts
        self._tiebreak = 1e-6 * np.arange(self.catalog.n)[::-1]

    def scores(self, ctx: DecisionContext, position: int) -> np.ndarray:
        return np.asarray(self.counts + self._tiebreak)


class NearestRecommender(_Baseline):
    """Nearest to each queue position's target on the valence/energy plane."""

    name = "nearest"

    def scores(self, ctx: DecisionContext, position: int) -> np.ndarray:
        return -self._target_distance(ctx, position)


class SkipAwareRecommender(_Baseline):
    """Nearest-to-target, pulled toward what the listener recently enjoyed and away from what they skipped."""

    name = "skip_aware"

    def __init__(
        self, tracks: Sequence[Track], matrix: MatrixLike, weights: SkipAwareWeights = SKIP_AWARE_WEIGHTS
    ) -> None:
        super().__init__(tracks, matrix)
        self.weights = weights
        self._ctx: DecisionContext | None = None
        self._history = np.zeros(self.catalog.n)

    def _history_terms(self, ctx: DecisionContext) -> np.ndarray:
        """The score's parts that do not depend on the queue position (computed once per decision)."""
        if self._ctx is ctx:
            return self._history
        cat, w = self.catalog, self.weights
        out = np.zeros(cat.n)
        if len(ctx.pos_rows):
            out += w.liked * (cat.taste @ cat.taste[ctx.pos_rows].T * ctx.pos_weights).max(axis=1)
        if len(ctx.neg_rows):
            out -= w.skipped * (cat.taste @ cat.taste[ctx.neg_rows].T * ctx.neg_weights).max(axis=1)
        art = cat.artist
        out -= w.artist_skips * ctx.artist_skips[art] / (ctx.artist_plays[art] + 1.0)
        self._ctx, self._history = ctx, out
        return out

    def scores(self, ctx: DecisionContext, position: int) -> np.ndarray:
        return -self.weights.distance * self._target_distance(ctx, position) + self._history_terms(ctx)
