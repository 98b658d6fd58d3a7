"""Scores and reasons for a queue whose order was decided elsewhere: an interleaved queue.

An interleaved queue (:func:`player.core.interleave.team_draft`) mixes the recommender's picks with a
challenger's, so neither list's scores and reasons fit it: a reason compares each pick with the track
before it, and the heuristic's scores are on another scale than the ranker's. :class:`QueueExplainer`
gives every pick of the merged order the *recommender's* view of it: the ranker's score at that
position's target (so ``score`` stays comparable within the queue, as docs/protocol.md says) and a
reason from :func:`~player.core.ranking.reasons.explain_queue`, exactly as for the recommender's own
queues.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from player.core.listener import ListenerState
from player.core.ranking.context import assemble_features, build_context
from player.core.ranking.reasons import explain_queue
from player.core.ranking.recommender import Pick, Recommendation, Recommender

__all__ = ["QueueExplainer"]


class QueueExplainer:
    """The ranker's scores and the reasons of a queue in a given order, over ``recommender``'s catalog."""

    def __init__(self, recommender: Recommender) -> None:
        self.catalog = recommender.catalog
        self.ranker = recommender.ranker
        self.cf = recommender.cf

    def explain(self, state: ListenerState, track_ids: Sequence[str], *, at_s: float) -> Recommendation:
        """``track_ids`` in this order as a recommendation for ``state`` at ``at_s``.

        Each pick's score is the ranker's score for its position's target (the iso walk's), and its
        reason is written against the pick before it, as for the recommender's own queue. Track ids
        the catalog does not hold are left out.
        """
        cat = self.catalog
        rows = [cat.row[t] for t in track_ids if t in cat.row]
        ctx = build_context(state, cat, at_s=at_s, count=max(1, len(rows)), cf=self.cf)
        targets = tuple(ctx.targets[: len(rows)])
        if not rows:
            return Recommendation(picks=(), target=ctx.targets[0], targets=())
        scores = np.zeros(len(rows), np.float32)
        by_target: dict[tuple[float, float], list[int]] = {}
        for k, target in enumerate(targets):
            by_target.setdefault((target.valence, target.energy), []).append(k)
        for positions in by_target.values():
            candidates = np.array([rows[k] for k in positions], dtype=np.int64)
            features = assemble_features(cat, ctx, candidates, targets[positions[0]])
            scores[positions] = self.ranker.score(features)
        reasons = explain_queue(state, cat, ctx, rows, targets, at_s=at_s)
        picks = tuple(
            Pick(cat.tracks[row], float(score), reason)
            for row, score, reason in zip(rows, scores, reasons, strict=True)
        )
        return Recommendation(picks=picks, target=ctx.targets[0], targets=targets)
