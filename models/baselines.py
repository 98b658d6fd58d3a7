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
  could write (weights in :data:`SKIP_AWARE_WEIGHTS`, set by hand on the training families). It is
  defined in serving code, :mod:`player.core.ranking.heuristic`, because the server interleaves it
  with the ranker as a challenger; re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from player.core.ranking import DecisionContext, MatrixLike
from player.core.ranking.heuristic import (
    SKIP_AWARE_WEIGHTS,
    PositionScoredRecommender,
    SkipAwareRecommender,
    SkipAwareWeights,
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


_Baseline = PositionScoredRecommender
"""Shared shape: one score per catalog row and queue position, the best free row per position."""


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
