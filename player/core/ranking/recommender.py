"""Pick the next tracks: two-stage selection, the ONNX ranker, re-ranking, and a reason per pick.

A decision (:meth:`Recommender.recommend`):

1. **Context** — from the :class:`~player.core.listener.ListenerState` at ``at_s``: the per-position
   targets (the iso walk), the last track, recently enjoyed and rejected tracks, play/skip counts
   (:func:`~player.core.ranking.context.build_context`).
2. **Pre-selection** — a vectorised linear score over the whole float32 feature matrix (library
   descriptors, distance to the target, similarity to recent likes and skips) keeps
   :data:`PRESELECT_K` candidates plus the :data:`NEAREST_K` nearest to the target. The linear
   weights are a distillation of the ranker fitted at training time and shipped in the model's
   metadata (``cadence.preselect``).
3. **Scoring** — the full feature rows of the candidates go through the ONNX ranker
   (:class:`~player.core.ranking.scorer.OnnxRanker`).
4. **Re-ranking** — greedily fills the queue: nothing played recently, never the same artist twice in
   a row, maximal marginal relevance on the timbre vector (Carbonell & Goldstein, 1998) and a cost for
   abrupt tempo/key changes between neighbours.
5. **Reasons** — one per pick, true of it and naming its evidence, varied within the queue
   (:func:`~player.core.ranking.reasons.explain_queue`).

Errors: :class:`~player.errors.NoLibraryError` for an empty library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from player.core.listener import ListenerState, Target
from player.core.ranking.context import (
    Catalog,
    CfSource,
    DecisionContext,
    MatrixLike,
    assemble_features,
    build_context,
    decision_context_vector,
    key_step,
    tempo_step,
)
from player.core.ranking.reasons import explain_queue
from player.core.ranking.schema import DESCRIPTOR_COLUMNS
from player.core.ranking.scorer import OnnxRanker
from player.core.track import Track

__all__ = [
    "LATER_STEP_SHARE",
    "MMR_LAMBDA",
    "NEAREST_K",
    "PRESELECT_K",
    "TRANSITION_WEIGHT",
    "Pick",
    "Recommendation",
    "Recommender",
]

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


class Recommender:
    """Turns a listener state into the next tracks over one library.

    Args:
        tracks: the library's track records (any order).
        matrix: the library's float32 feature matrix (``LibraryStore.feature_matrix()``).
        ranker: a loaded :class:`OnnxRanker`.
        cf: the server's collaborative-filtering model (the ``cf_score`` feature), if any.
    """

    def __init__(
        self, tracks: Sequence[Track], matrix: MatrixLike, ranker: OnnxRanker, *, cf: CfSource | None = None
    ) -> None:
        self.catalog = Catalog(tracks, matrix)
        self.ranker = ranker
        self.cf = cf
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
        c = decision_context_vector(ctx)
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
        ctx = build_context(state, self.catalog, at_s=at_s, count=count, cf=self.cf)
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
        targets = tuple(ctx.targets[k] for k in range(len(picks_rows)))
        reasons = explain_queue(state, self.catalog, ctx, picks_rows, targets, at_s=at_s)
        picks = tuple(
            Pick(self.catalog.tracks[r], float(s), reason)
            for r, s, reason in zip(picks_rows, pick_scores, reasons, strict=True)
        )
        return Recommendation(picks=picks, target=ctx.targets[0], targets=targets)

    def top_scored(
        self, state: ListenerState, *, at_s: float, k: int = 10, exhaustive: bool = False
    ) -> list[str]:
        """The ``k`` best track ids by ranker score for the next position, before re-ranking."""
        ctx = build_context(state, self.catalog, at_s=at_s, count=1, cf=self.cf)
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
