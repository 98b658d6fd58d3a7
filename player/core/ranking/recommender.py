"""Pick the next tracks: two-stage selection, the ONNX ranker, re-ranking, and a reason per pick.

A decision (:meth:`Recommender.recommend`):

1. **Context** — from the :class:`~player.core.listener.ListenerState` at ``at_s``: the per-position
   targets (the iso walk), the last track, recently enjoyed and rejected tracks, play/skip counts
   (:func:`~player.core.ranking.context.build_context`).
2. **Pre-selection** — a vectorised linear score over the whole float32 feature matrix (library
   descriptors, distance to the target, similarity to recent likes and skips) keeps
   :data:`PRESELECT_K` candidates plus the :data:`NEAREST_K` nearest to the target. The linear
   weights start from a distillation of the ranker fitted at training time and shipped in the
   model's metadata (``cadence.preselect``) and are fitted again to each decision: the ranker scores
   :data:`CALIBRATION_ROWS` allowed tracks drawn at random (and the :data:`CF_K` best by the
   listener's CF scores, when there are any), and a ridge regression pulled toward the shipped
   weights fits the proxy to those scores, with a ``cf_score`` term (:meth:`Recommender._calibrate`;
   those tracks stay candidates). One set of weights cannot follow the ranker across listeners and libraries: on the
   unit-test library the shipped proxy's correlation with the ranker was 0.05 in one state. The
   candidates are those of summing every track's score in a fixed float32 order; most tracks' scores
   are only estimated, within a bound of that sum (:meth:`Recommender._shortlists`).
3. **Scoring** — the full feature rows of the candidates go through the ONNX ranker
   (:class:`~player.core.ranking.scorer.OnnxRanker`).
4. **Re-ranking** — greedily fills the queue: nothing played recently, never the same artist twice in
   a row, maximal marginal relevance on the taste vector (timbre and mood descriptors; Carbonell &
   Goldstein, 1998) and a cost for abrupt tempo/key changes between neighbours. For a new listener who
   has just said how they are (cold start, :func:`meets_statement`), each pick is chosen among the
   tracks nearest to its target: the stated mood is met first, the ranker leads once it knows the taste.
5. **Reasons** — one per pick, true of it and naming its evidence, varied within the queue
   (:func:`~player.core.ranking.reasons.explain_queue`).

Errors: :class:`~player.errors.NoLibraryError` for an empty library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from player.core.listener import MOOD_RELAX_S, ListenerState, Target
from player.core.ranking.context import (
    Catalog,
    CfSource,
    DecisionContext,
    MatrixLike,
    assemble_features,
    build_context,
    circle_of_fifths,
    decision_context_vector,
    fifths_step,
    fit_proxy,
    preselect_design,
    tempo_step,
    upper_half_weight,
)
from player.core.ranking.reasons import explain_queue
from player.core.ranking.schema import DESCRIPTOR_COLUMNS, FEATURE_INDEX, FEATURE_OFFSETS, FEATURE_SCALES
from player.core.ranking.scorer import Scorer
from player.core.track import Track

__all__ = [
    "CALIBRATION_RIDGE",
    "CALIBRATION_ROWS",
    "CF_K",
    "LATER_STEP_SHARE",
    "MEET_FIRMNESS",
    "MEET_TOLERANCE",
    "MMR_LAMBDA",
    "NEAREST_K",
    "NEW_LISTENER_PLAYS",
    "PRESELECT_K",
    "TRANSITION_WEIGHT",
    "Pick",
    "Recommendation",
    "Recommender",
    "kth_largest",
    "meets_statement",
]

PRESELECT_K = 600
"""Candidates kept by the linear pre-selection."""
NEAREST_K = 100
"""Candidates nearest to the target on the valence/energy plane, always kept as well."""
CALIBRATION_ROWS = 256
"""Allowed tracks the ranker scores at random to fit the pre-selection's weights to a decision."""
CALIBRATION_RIDGE = 0.1
"""Pull of the shipped pre-selection weights on those fitted to a decision (ridge toward them)."""
CF_K = 100
"""Candidates with the best collaborative-filtering scores, kept as well when the listener has them."""
LATER_STEP_SHARE = 1 / 3
"""Share of those shortlists kept for the later targets of an iso walk (one queue slot each)."""
MMR_LAMBDA = 0.25
"""Weight of the timbre redundancy penalty in maximal marginal relevance."""
TRANSITION_WEIGHT = 0.1
"""Weight of the tempo/key transition cost between neighbouring picks."""
NEW_LISTENER_PLAYS = 5
"""A listener with at most this many finished plays (completions and skips, every session) is new:
the ranker knows nothing of their taste yet, only what the population of simulated listeners liked."""
MEET_TOLERANCE = 0.03
"""How much farther from its target (valence/energy plane) than the nearest free track a pick may sit
while it meets a new listener's statement (:func:`meets_statement`)."""
MEET_FIRMNESS = 0.3
"""A reading is a statement to meet when one of its axes was read with at least this confidence, or
it carried a music request."""
KTH_SAMPLE = 8192
"""About as many values as :func:`kth_largest` samples to find a threshold below the k-th largest."""


def kth_largest(values: np.ndarray, k: int) -> float:
    """The ``k``-th largest of ``values`` in :func:`numpy.partition`'s order (NaN counts as the largest):
    ``np.partition(values, n - k)[n - k]``, the same value, at a fraction of its cost on a long array.

    A strided sample gives a threshold that about ``2k + 8·n/KTH_SAMPLE`` values are not below; when at
    least ``k`` are not below it (NaN is never below), the k-th largest of all is the k-th largest of
    them, and only they are partitioned (on 100k values: ~0.15 ms instead of ~0.6 ms). Otherwise, or
    for a short array or a large ``k``, the whole array is.
    """
    n = len(values)
    if not 0 < k <= n:
        raise ValueError(f"k={k} outside 1..{n}")
    step = n // KTH_SAMPLE
    if step >= 4 and k * 8 <= n:
        sample = values[::step]
        rank = min(len(sample) - 1, 2 * (k * len(sample)) // n + 8)  # 0 = the sample's largest
        threshold = np.partition(sample, len(sample) - 1 - rank)[len(sample) - 1 - rank]
        above = values[~(values < threshold)]
        if len(above) >= k:
            return float(np.partition(above, len(above) - k)[len(above) - k])
    return float(np.partition(values, n - k)[n - k])


def meets_statement(state: ListenerState, at_s: float) -> bool:
    """Whether the queue at ``at_s`` must meet what a new listener just said (cold start).

    A new listener (:data:`NEW_LISTENER_PLAYS`) who has said how they are, or asked for something,
    firmly enough (:data:`MEET_FIRMNESS`) within the mood's relaxation time (``MOOD_RELAX_S``) gets
    every pick among the tracks nearest to its position's target (:data:`MEET_TOLERANCE`), the ranker
    and the queue's rules choosing among those: with no taste to go on, the ranker's scores are the
    simulated population's preferences, which pull a stated mood at the plane's edges toward the
    middle (docs/ranking.md, "Mood following"). Once the listener has played a few tracks, or has
    skipped one early (or disliked it) since the statement, the ranker leads.
    """
    heard = state.mood_heard_at_s
    return (
        heard is not None
        and state.mood_heard_firmness >= MEET_FIRMNESS
        and at_s - heard <= MOOD_RELAX_S
        and state.finished_plays <= NEW_LISTENER_PLAYS
        and state.rejected_since_heard == 0
    )


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


@dataclass(frozen=True, slots=True)
class _ProxyCoefficients:
    """One target's pre-selection proxy as weights of the precomputed basis rows."""

    proxy: np.ndarray
    """float64 [basis rows]: the proxy without its distance term."""
    distance: np.ndarray
    """float64 [basis rows]: the squared distance to the target (its valence/energy rows only)."""
    offset: np.float32
    """Added to the squared distance: ``tv² + te²``."""
    weight: np.float32
    """Weight of the distance (the root of the squared distance) in the proxy."""
    extra: np.ndarray | None = None
    """A per-track term added last (the weighted ``cf_score``), float32 [n]; the same array for every
    target of a decision."""
    extra_size: float = 0.0
    """Largest magnitude of ``extra``."""


@dataclass(frozen=True, slots=True)
class _Calibration:
    """The tracks the ranker scored to fit a decision's pre-selection, and the fitted weights."""

    rows: np.ndarray
    """Catalog rows, sorted, int64: CALIBRATION_ROWS at random and up to CF_K best by CF."""
    scores: np.ndarray
    """Their ranker scores for the decision's first target, float32."""
    weights: np.ndarray
    """The proxy's weight per :data:`PRESELECT_TERMS` term and then of ``cf_score``, float64."""


@dataclass(frozen=True, slots=True)
class _Estimate:
    """A target's proxy over the whole catalog to within ``error`` (disallowed rows −inf)."""

    coef: _ProxyCoefficients
    proxy: np.ndarray
    """float32 [n]."""
    distance: np.ndarray
    """The root of the squared distance to the target as the proxy uses it, float32 [n]."""
    dist2: np.ndarray
    """The squared distance to the target (:meth:`Recommender._distance2`), float32 [n]."""
    error: float
    """Bound of ``|proxy - fixed-order proxy|`` over every row."""
    size: float
    """What the rounding errors of the proxy's sums are relative to (:meth:`Recommender._rounding_scale`)."""
    kth: float
    """The k-th best estimate, k the target's shortlist by proxy (NaN when not computed)."""


class Recommender:
    """Turns a listener state into the next tracks over one library.

    Args:
        tracks: the library's track records (any order).
        matrix: the library's float32 feature matrix (``LibraryStore.feature_matrix()``).
        ranker: what scores the candidates: a loaded :class:`OnnxRanker` (any :class:`Scorer`).
        cf: the server's collaborative-filtering model (the ``cf_score`` feature), if any.
        meet_statements: meet a new listener's statement (:func:`meets_statement`); False: the
            ranker and the queue's rules alone (for measuring what the rule does).
    """

    def __init__(
        self,
        tracks: Sequence[Track],
        matrix: MatrixLike,
        ranker: Scorer,
        *,
        cf: CfSource | None = None,
        meet_statements: bool = True,
    ) -> None:
        self.catalog = Catalog(tracks, matrix)
        self.ranker = ranker
        self.cf = cf
        self.meet_statements = meet_statements
        cat = self.catalog
        self._n_static = len(DESCRIPTOR_COLUMNS)
        # rows [descriptors..., v, e, v², e², taste...]: each decision's proxy is a weighted sum
        self._proxy_basis = np.ascontiguousarray(
            np.vstack(
                [cat.descriptors.T, cat.valence, cat.energy, cat.valence**2, cat.energy**2, cat.taste.T]
            ),
            dtype=np.float32,
        )
        # each basis row's largest magnitude: scales the rounding error bounds of the proxy's sums
        self._basis_magnitude = np.abs(self._proxy_basis).max(axis=1).astype(np.float64)
        # relative rounding of one float32 sum of the basis terms (and the distance term): at most
        # γ = m·u/(1 - m·u) with m terms and u = 2⁻²⁴; twice that for two sums in different orders,
        # twice again to spare
        self._rounding = 4.0 * (self._proxy_basis.shape[0] + 2) * 2.0**-24
        # the same numbers track by track, for gathering a few tracks' terms (one or two cache lines each)
        self._proxy_rows = np.ascontiguousarray(self._proxy_basis.T)
        # tracks by valence: those near a target are found in a band of it (NaN sorts last)
        self._by_valence = np.argsort(cat.valence, kind="stable")
        self._valence_sorted = cat.valence[self._by_valence]
        self._energy_by_valence = cat.energy[self._by_valence]

    def _combine(
        self, coef: np.ndarray, rows: Sequence[int] | None = None, cols: np.ndarray | None = None
    ) -> np.ndarray:
        """``sum_j coef[j] * basis[j]`` as a loop of float32 AXPYs over contiguous rows (over the catalog
        rows ``cols`` only, when given: the same float32 operations per track, so the same values).

        Deliberately not a BLAS matrix-vector product: a threaded OpenBLAS GEMV on a busy 2-core
        machine measured 20-50x slower than this loop (threads spin while descheduled). Terms are
        added in row order into one buffer, each product written to one scratch buffer: no array is
        allocated per term.
        """
        idx = list(range(self._proxy_basis.shape[0])) if rows is None else list(rows)
        if cols is None:
            basis = self._proxy_basis[idx[0] : idx[-1] + 1]
        else:  # the tracks asked for, gathered track by track
            basis = self._proxy_rows[cols, idx[0] : idx[-1] + 1].T
        out = np.multiply(basis[0], np.float32(coef[idx[0]]))
        term = np.empty_like(out)
        for j in idx[1:]:
            c = np.float32(coef[j])
            if c == 1.0:  # x · 1 is x: add the row itself
                np.add(out, basis[j - idx[0]], out=out)
            elif c != 0.0:
                np.multiply(basis[j - idx[0]], c, out=term)
                np.add(out, term, out=out)
        return out

    # ------------------------------------------------------------------ stage 1
    def proxy_weights(self, ctx: DecisionContext) -> np.ndarray:
        """The shipped pre-selection weight of each :data:`PRESELECT_TERMS` term in ``ctx``'s decision
        context (``W @ context``), and then 0 for the scaled ``cf_score`` (the shipped proxy has no CF
        term), float64: where :meth:`_calibrate` starts from."""
        shipped = self.ranker.preselect_weights @ decision_context_vector(ctx)
        return np.append(np.asarray(shipped, np.float64), 0.0)

    def _calibrate(self, ctx: DecisionContext, target: Target, allowed: np.ndarray) -> _Calibration:
        """Score :data:`CALIBRATION_ROWS` allowed rows drawn at random (seeded by the decision's time, so
        a decision is reproducible) and the :data:`CF_K` best by CF (:meth:`_cf_best`), and fit the
        proxy's term weights to their scores for ``target``.

        The fit is the shipped distillation's (``models.train.fit_preselect``) on one decision: terms
        and scores centred, the upper half of the scores weighted 1 and the rest 0.2 (the proxy must
        order the good tracks), a ridge of :data:`CALIBRATION_RIDGE` toward :meth:`proxy_weights`.
        Rows with a non-finite term or score are left out of the fit; a fit that is not finite falls
        back to the shipped weights.
        """
        # the best CF tracks are candidates anyway; scored here, they also show the fit what CF is
        # worth (few random rows have a CF score other than neutral in a big library)
        rows = np.union1d(self._calibration_rows(ctx, allowed), self._cf_best(ctx, allowed))
        features = assemble_features(self.catalog, ctx, rows, target)
        scores = self.ranker.score(features)
        prior = self.proxy_weights(ctx)
        cf = features[:, FEATURE_INDEX["cf_score"]]  # constant (0) without CF: its weight stays 0
        terms = np.column_stack([preselect_design(features)[0], cf]).astype(np.float64)
        y = scores.astype(np.float64)
        ok = np.isfinite(terms).all(axis=1) & np.isfinite(y)
        weights = prior
        if np.count_nonzero(ok) >= 2:
            terms, y = terms[ok], y[ok]
            terms -= terms.mean(axis=0)
            y -= y.mean()
            fitted = fit_proxy(terms, y, upper_half_weight(y), ridge=CALIBRATION_RIDGE, prior=prior)
            if np.isfinite(fitted).all():
                weights = fitted
        return _Calibration(rows, scores, weights)

    def _cf_best(self, ctx: DecisionContext, allowed: np.ndarray) -> np.ndarray:
        """The :data:`CF_K` allowed rows with the best CF scores (fewer if fewer score other than
        neutral; none without CF scores), int64."""
        if ctx.cf_scores is None:
            return np.zeros(0, np.int64)
        rows, scores = ctx.cf_scores.informative()
        keep = allowed[rows]
        rows, scores = rows[keep], scores[keep]
        if len(rows) > CF_K:
            rows = rows[np.argpartition(-scores, CF_K - 1)[:CF_K]]
        return rows

    def _calibration_rows(self, ctx: DecisionContext, allowed: np.ndarray) -> np.ndarray:
        """:data:`CALIBRATION_ROWS` allowed rows drawn at random without replacement (all of them if
        fewer), sorted; the draw is seeded by the decision's time and the number of allowed rows."""
        n_allowed = int(np.count_nonzero(allowed))
        want = min(CALIBRATION_ROWS, n_allowed)
        rng = np.random.default_rng([int(ctx.at_s * 1000.0) & 0xFFFFFFFF, n_allowed])
        if n_allowed >= 4 * want:
            # draws over the catalog, the allowed ones kept in the order drawn: no pass over every row
            drawn = rng.integers(0, self.catalog.n, 4 * want)
            drawn = drawn[allowed[drawn]]
            _, first = np.unique(drawn, return_index=True)
            if len(first) >= want:
                return np.sort(drawn[np.sort(first)[:want]])
        allowed_rows = np.flatnonzero(allowed)
        return np.sort(allowed_rows[rng.choice(n_allowed, want, replace=False)])

    def _candidates(
        self, ctx: DecisionContext, targets: Sequence[Target], allowed: np.ndarray
    ) -> tuple[list[np.ndarray], _Calibration | None]:
        """The rows to score for each of ``targets`` (:meth:`_shortlists`) and, when the library is
        pre-selected at all, the decision's calibration (:meth:`_calibrate`), whose rows (the random
        sample and the best CF tracks) join the first target's shortlist: they are scored already.
        With no more allowed tracks than that would score, the first target scores them all (and the
        later ones of an iso walk get their usual shortlists, with the shipped weights)."""
        if int(np.count_nonzero(allowed)) <= PRESELECT_K + NEAREST_K + CALIBRATION_ROWS + CF_K:
            later = self._shortlists(ctx, targets[1:], allowed, first_share=LATER_STEP_SHARE)
            return [np.flatnonzero(allowed), *later], None
        calibration = self._calibrate(ctx, targets[0], allowed)
        shortlists = self._shortlists(ctx, targets, allowed, weights=calibration.weights)
        shortlists[0] = np.union1d(shortlists[0], calibration.rows)
        return shortlists, calibration

    def _score(
        self, ctx: DecisionContext, cand: np.ndarray, target: Target, known: _Calibration | None = None
    ) -> np.ndarray:
        """Ranker scores of the rows ``cand`` (sorted) for ``target``; those among ``known``'s rows (scored
        for this same target) are not scored again. A row's score does not depend on the rows it is
        scored with (one intra-op thread, row-wise features), so the result is the same either way."""
        if known is None or len(cand) == 0:
            return self.ranker.score(assemble_features(self.catalog, ctx, cand, target))
        pos = np.minimum(np.searchsorted(known.rows, cand), len(known.rows) - 1)
        have = known.rows[pos] == cand
        scores = np.empty(len(cand), np.float32)
        scores[have] = known.scores[pos[have]]
        new = cand[~have]
        if len(new):
            scores[~have] = self.ranker.score(assemble_features(self.catalog, ctx, new, target))
        return scores

    def _shortlists(
        self,
        ctx: DecisionContext,
        targets: Sequence[Target],
        allowed: np.ndarray,
        *,
        weights: np.ndarray | None = None,
        first_share: float = 1.0,
    ) -> list[np.ndarray]:
        """Rows worth scoring for each of ``targets``, among ``allowed``: the best :data:`PRESELECT_K` by
        the linear proxy plus the :data:`NEAREST_K` nearest to the target, for the first target; for the
        later ones (the next steps of an iso walk, one queue slot each) :data:`LATER_STEP_SHARE` of each.

        The proxy's term weights depend on the decision's context (``W @ context``); its squared
        deltas expand to terms linear in (v, e, v², e²) and its two similarity terms fold into one
        taste vector, so the whole catalog is scored as a weighted sum of precomputed rows. ``weights``
        are the decision's term weights (:meth:`_calibrate`), the shipped ones when None.

        What is selected is always what summing every row in a fixed order (:meth:`proxy_scores`) and
        partitioning the whole catalog would select; the work is not:

        - the first target's proxy is *estimated* over the catalog by one ``einsum`` pass, with a bound
          on its rounding error; only the rows whose estimate comes within twice that bound of the
          k-th best can be among the best k, and only they get the fixed-order sum (the same float32
          operations per row, so the same values);
        - a later target's proxy differs from the first's only in its valence/energy terms and its
          distance term: its estimate is the first's plus those (five passes instead of 27 terms);
        - the nearest rows to a target are looked for in a valence/energy box around it (rows sorted by
          valence), grown until it holds enough rows closer than anything outside it can be.

        A tie for a last place, or a bound that does not help, falls back to the whole catalog.
        """
        cat = self.catalog
        n_allowed = int(np.count_nonzero(allowed))
        blocked = np.flatnonzero(~allowed) if n_allowed < cat.n else None
        reference: _Estimate | None = None
        out: list[np.ndarray] = []
        term_weights = self.proxy_weights(ctx) if weights is None else weights
        cf_term = self._cf_term(ctx, term_weights)
        for j, target in enumerate(targets):
            share = first_share if j == 0 else LATER_STEP_SHARE
            k_proxy, k_near = max(10, int(PRESELECT_K * share)), max(10, int(NEAREST_K * share))
            if n_allowed <= k_proxy + k_near:
                out.append(np.flatnonzero(allowed))
                continue
            coef = self._proxy_coefficients(ctx, target, term_weights, cf_term)
            estimate: _Estimate | None
            if reference is None:
                estimate = reference = self._estimate(coef, blocked, k_proxy)
            else:
                estimate = self._later_estimate(reference, coef)
            if estimate is None:
                dist2 = self._distance2(coef)
                top = None
            else:
                dist2 = estimate.dist2
                kth = None if math.isnan(estimate.kth) else estimate.kth
                top = self._top(estimate.proxy, estimate.error, coef, dist2, k_proxy, kth=kth)
            if top is None:  # sum every row and partition the catalog
                proxy = self._proxy(coef, dist2)
                if blocked is not None:
                    proxy[blocked] = -np.inf
                top = np.argpartition(-proxy, k_proxy)[:k_proxy]
            near = self._nearest(coef, target, allowed, k_near)
            if near is None:
                dist2 = dist2.copy()
                if blocked is not None:
                    dist2[blocked] = np.inf
                near = np.argpartition(dist2, k_near)[:k_near]
            shortlist = np.zeros(cat.n, bool)  # the union, sorted (as np.union1d gives it), in one pass
            shortlist[top] = True
            shortlist[near] = True
            out.append(np.flatnonzero(shortlist))
        return out

    def _estimate(self, coef: _ProxyCoefficients, blocked: np.ndarray | None, k: int) -> _Estimate:
        """The proxy of every catalog row to within a bound: ``einsum`` of the basis rows (one pass, in
        its own summation order: its error and the fixed-order sum's are each within
        ``γ · Σ_j |c_j| · max|basis_j|``, γ for as many terms), plus the distance term as the proxy
        computes it; with every row's squared distance (:meth:`_distance2`) and its root."""
        dist2 = self._distance2(coef)
        distance = np.maximum(dist2, np.float32(0.0))
        np.sqrt(distance, out=distance)
        proxy = np.einsum("ij,i->j", self._proxy_basis, coef.proxy.astype(np.float32))
        proxy += coef.weight * distance
        if coef.extra is not None:
            proxy += coef.extra
        if blocked is not None:
            proxy[blocked] = -np.inf
        size = self._rounding_scale(coef, float(distance.max()))
        kth = kth_largest(proxy, k)
        return _Estimate(coef, proxy, distance, dist2, self._rounding * (size + 1.0), size, kth)

    def _later_estimate(self, reference: _Estimate, coef: _ProxyCoefficients) -> _Estimate | None:
        """A later target's proxy to within a bound: the first target's estimate plus the terms that
        differ (:meth:`_shortlists`); None if they are not two targets of one decision."""
        ref = reference.coef
        change = coef.proxy.astype(np.float32) - ref.proxy.astype(np.float32)
        kv = self._n_static
        if (
            float(ref.weight) != float(coef.weight)
            or ref.extra is not coef.extra
            or np.any(change[:kv] != 0)
            or np.any(change[kv + 2 :] != 0)
        ):
            return None
        dist2 = self._distance2(coef)
        distance = np.maximum(dist2, np.float32(0.0))
        np.sqrt(distance, out=distance)
        proxy = np.subtract(distance, reference.distance)
        proxy *= coef.weight
        proxy += reference.proxy  # disallowed rows stay -inf
        term = np.empty_like(proxy)
        for j in (kv, kv + 1):  # the valence and energy rows: the only terms whose weights differ
            np.multiply(self._proxy_basis[j], change[j], out=term)
            proxy += term
        # the reference's error, both fixed-order sums' and this estimate's own rounding
        size = self._rounding_scale(coef, float(distance.max()))
        error = reference.error + self._rounding * (size + reference.size + 2.0)
        return _Estimate(coef, proxy, distance, dist2, error, size, math.nan)

    def _rounding_scale(self, coef: _ProxyCoefficients, distance_max: float) -> float:
        """``Σ_j |c_j| · max|basis_j|`` plus the distance term's largest size: what rounding errors of
        the proxy's float32 sums are relative to."""
        weights = np.abs(coef.proxy.astype(np.float32).astype(np.float64))
        return (
            float(weights @ self._basis_magnitude) + abs(float(coef.weight)) * distance_max + coef.extra_size
        )

    def _top(
        self,
        estimate: np.ndarray,
        error: float,
        coef: _ProxyCoefficients,
        dist2: np.ndarray,
        k: int,
        kth: float | None = None,
    ) -> np.ndarray | None:
        """The ``k`` catalog rows with the best proxy, from an ``estimate`` of it within ``error`` for
        every row (``dist2`` their squared distances, ``kth`` the k-th best estimate if known); None when
        a tie for the last place or a useless bound leaves it open."""
        if not math.isfinite(error) or len(estimate) <= k:
            return None
        if kth is None:
            kth = kth_largest(estimate, k)
        # every row that may be among the best k: its estimate is within twice the error of the k-th
        rows = np.flatnonzero(estimate >= kth - 2.0 * error)
        if len(rows) == k:
            return rows  # every other row's proxy is below all of theirs: no tie for the last place
        if len(rows) < k or len(rows) > self.catalog.n // 2:
            return None
        proxy = self._proxy(coef, dist2[rows], cols=rows)
        top = np.argpartition(-proxy, k)[:k]
        if np.count_nonzero(proxy >= proxy[top].min()) != k:
            return None  # a tie for the last place: which one the whole catalog keeps is its own affair
        return rows[top]

    def _distance2_error(self, target: Target) -> float:
        """A bound of ``|expanded float32 squared distance - true squared distance|`` to ``target`` over
        every row: float32 coefficients and a 5-term float32 sum, each term's rounding ≤ 2⁻²⁴ of its size
        (the bound is ~3x what they can add up to)."""
        kv = self._n_static
        v, e = self._basis_magnitude[kv], self._basis_magnitude[kv + 1]
        tv, te = abs(target.valence), abs(target.energy)
        return 1e-6 * (2.0 * tv * v + 2.0 * te * e + v * v + e * e + tv * tv + te * te + 1.0)

    def _nearest(
        self, coef: _ProxyCoefficients, target: Target, allowed: np.ndarray, k: int
    ) -> np.ndarray | None:
        """The ``k`` allowed rows with the smallest squared distance to ``target`` (as
        :meth:`_distance2` computes it), looked for in a box around it (half-width doubling from about
        the expected k-th distance up to 0.5); None when a tie for the last place, or no such box,
        settles them."""
        cat = self.catalog
        error = self._distance2_error(target)
        if not math.isfinite(error):
            return None
        radius = max(0.01, 1.5 * math.sqrt(k / (math.pi * cat.n)))
        while radius <= 0.5:
            lo, hi = np.searchsorted(self._valence_sorted, (target.valence - radius, target.valence + radius))
            in_box = np.abs(self._energy_by_valence[lo:hi] - np.float32(target.energy)) <= radius
            box = self._by_valence[lo:hi][in_box]
            box = box[allowed[box]]
            if len(box) >= k:
                dist2 = self._distance2(coef, cols=box)
                # a row outside the box is farther than `radius`: its squared distance exceeds
                # radius² - error, so k rows below radius² - 2·error are the k nearest of all
                if np.count_nonzero(dist2 <= radius * radius - 2.0 * error) >= k:
                    nearest = np.argpartition(dist2, k - 1)[:k] if len(box) > k else np.arange(k)
                    if np.count_nonzero(dist2 <= dist2[nearest].max()) != k:
                        return None  # a tie for the last place
                    return box[nearest]
            radius *= 2.0
        return None

    def proxy_scores(
        self, ctx: DecisionContext, target: Target, weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The pre-selection score of every catalog track (up to a per-decision constant) and its
        squared valence/energy distance to ``target``; both float32 [n]. ``weights``: per
        :data:`PRESELECT_TERMS` term, the shipped ones (:meth:`proxy_weights`) when None."""
        weights = self.proxy_weights(ctx) if weights is None else weights
        coef = self._proxy_coefficients(ctx, target, weights, self._cf_term(ctx, weights))
        dist2 = self._distance2(coef)
        return self._proxy(coef, dist2), dist2

    def _cf_term(self, ctx: DecisionContext, weights: np.ndarray) -> np.ndarray | None:
        """The proxy's CF term of every catalog track, ``weights[-1]`` × the scaled ``cf_score`` (0 for a
        track scoring neutral), float32 [n]; None without CF scores or with a zero weight."""
        w_cf = float(weights[-1])
        if ctx.cf_scores is None or w_cf == 0.0:
            return None
        rows, scores = ctx.cf_scores.informative()
        j = FEATURE_INDEX["cf_score"]
        scaled = (scores - FEATURE_OFFSETS[j]) / FEATURE_SCALES[j]
        term = np.zeros(self.catalog.n, np.float32)
        term[rows] = np.float32(w_cf) * scaled.astype(np.float32)
        return term

    def _proxy_coefficients(
        self, ctx: DecisionContext, target: Target, weights: np.ndarray, cf_term: np.ndarray | None = None
    ) -> _ProxyCoefficients:
        nd = len(DESCRIPTOR_COLUMNS)
        w = weights[nd:]  # dv, de, dist, dv², de², sim_liked, sim_skipped (, cf: `cf_term`)
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
        coef[:k, 0] = weights[:nd]
        coef[k : k + 4, 0] = (
            w[0] / 0.25 - 2.0 * w[3] * tv / s2,
            w[1] / 0.25 - 2.0 * w[4] * te / s2,
            w[3] / s2,
            w[4] / s2,
        )
        coef[k + 4 :, 0] = taste_w
        coef[k : k + 4, 1] = (-2.0 * tv, -2.0 * te, 1.0, 1.0)
        return _ProxyCoefficients(
            proxy=coef[:, 0].copy(),
            distance=coef[:, 1].copy(),
            offset=np.float32(tv * tv + te * te),
            weight=np.float32(w[2] / 0.15),
            extra=cf_term,
            extra_size=0.0 if cf_term is None else float(np.abs(cf_term).max(initial=0.0)),
        )

    def _distance2(self, coef: _ProxyCoefficients, cols: np.ndarray | None = None) -> np.ndarray:
        """Squared valence/energy distance of the catalog rows ``cols`` (all when None) to the target,
        float32."""
        k = self._n_static
        dist2 = self._combine(coef.distance, rows=range(k, k + 4), cols=cols)
        dist2 += coef.offset
        return dist2

    def _proxy(
        self, coef: _ProxyCoefficients, dist2: np.ndarray, cols: np.ndarray | None = None
    ) -> np.ndarray:
        """The proxy of the catalog rows ``cols`` (all when None), ``dist2`` theirs, float32."""
        proxy = self._combine(coef.proxy, cols=cols)
        term = np.maximum(dist2, np.float32(0.0))
        np.sqrt(term, out=term)
        np.multiply(coef.weight, term, out=term)
        proxy += term
        if coef.extra is not None:
            proxy += coef.extra if cols is None else coef.extra[cols]
        return proxy

    def _allowed(self, ctx: DecisionContext, within: Sequence[str] | None, count: int) -> np.ndarray:
        cat = self.catalog
        if within is not None:
            allowed = np.zeros(cat.n, bool)
            rows = [cat.row[t] for t in within if t in cat.row]
            allowed[np.array(rows, dtype=np.int64)] = True
        else:
            allowed = np.ones(cat.n, bool)
        fresh = allowed & ~ctx.excluded
        n_fresh = int(np.count_nonzero(fresh))
        if n_fresh >= count:
            return fresh
        # a small library or a long session: allow the least recently played back in
        stale = np.flatnonzero(allowed & ctx.excluded)
        order = stale[np.argsort(np.nan_to_num(ctx.last_played_s[stale], nan=-np.inf))]
        fresh[order[: count - n_fresh]] = True
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
        # later steps of an iso walk fill one queue slot each: a smaller shortlist does
        calibration: _Calibration | None = None
        if exhaustive:
            shortlists = [np.flatnonzero(allowed)] * len(unique_targets)
        else:
            shortlists, calibration = self._candidates(ctx, unique_targets, allowed)
        scored: list[tuple[np.ndarray, np.ndarray]] = []
        for j, (cand, target) in enumerate(zip(shortlists, unique_targets, strict=True)):
            # the calibration's scores are the first target's
            scored.append((cand, self._score(ctx, cand, target, calibration if j == 0 else None)))
        meet = self.meet_statements and meets_statement(state, at_s)
        picks_rows, pick_scores = self._rerank(ctx, scored, position_target, count, unique_targets, meet)
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
        if exhaustive:
            cand, calibration = np.flatnonzero(allowed), None
        else:
            shortlists, calibration = self._candidates(ctx, [target], allowed)
            cand = shortlists[0]
        scores = self._score(ctx, cand, target, calibration)
        order = np.argsort(-scores, kind="stable")[:k]
        return [self.catalog.ids[int(cand[i])] for i in order]

    # ------------------------------------------------------------------ stage 3
    def _rerank(
        self,
        ctx: DecisionContext,
        scored: list[tuple[np.ndarray, np.ndarray]],
        position_target: list[int],
        count: int,
        targets: list[Target],
        meet: bool,
    ) -> tuple[list[int], list[float]]:
        """Fill ``count`` positions greedily (with ``meet``, each only with tracks within
        :data:`MEET_TOLERANCE` of the nearest free one to its position's target)."""
        cat = self.catalog
        pools: list[_Pool] = []
        for (cand, scores), target in zip(scored, targets, strict=True):
            # distances to the target only when a statement is met (most decisions need none)
            fit = (
                np.hypot(cat.valence[cand] - target.valence, cat.energy[cand] - target.energy)
                if meet
                else None
            )
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
                if fit is not None:  # the nearest may be chosen whatever the ranker thinks of them
                    keep[np.argsort(fit, kind="stable")[: 2 * count]] = True
                    fit = fit[keep]
                cand, scores, rel = cand[keep], scores[keep], rel[keep]
            pools.append(_Pool.of(cat, cand, scores, rel, fit))
        picked: list[int] = []
        picked_scores: list[float] = []
        prev = ctx.last_row
        for k in range(count):
            j = position_target[k] if k < len(position_target) else position_target[-1]
            pool = pools[j]
            free = ~pool.taken
            if not free.any():
                break
            value = pool.rel.copy()
            if picked:
                redundancy = (pool.taste @ cat.taste[np.array(picked)].T).max(axis=1)
                value -= MMR_LAMBDA * np.maximum(redundancy, 0.0)
            if prev is not None:
                ts = tempo_step(pool.tempo_bpm, float(cat.tempo_bpm[prev]))
                ks = fifths_step(pool.fifths, int(cat.key[prev]), bool(cat.major[prev] > 0.5))
                value -= TRANSITION_WEIGHT * np.minimum(ts / 0.5 * 0.5 + ks * 0.5, 1.0)
                same_artist = pool.artist == cat.artist[prev]
                if (free & ~same_artist).any():
                    free &= ~same_artist
            if pool.fit is not None:
                fits = pool.fit[free & ~np.isnan(pool.fit)]
                if len(fits):
                    free &= pool.fit <= fits.min() + MEET_TOLERANCE
            value = np.where(free, value, -np.inf)
            best = int(np.argmax(value))
            row = int(pool.cand[best])
            picked.append(row)
            picked_scores.append(float(pool.scores[best]))
            for other in pools:
                other.taken |= other.cand == row
            prev = row
        return picked, picked_scores


@dataclass(slots=True)
class _Pool:
    """One target's re-ranking candidates with the catalog values re-ranking reads, gathered once."""

    cand: np.ndarray
    scores: np.ndarray
    rel: np.ndarray
    taste: np.ndarray
    tempo_bpm: np.ndarray
    fifths: np.ndarray
    """Position of each candidate's key on the circle of fifths (:func:`circle_of_fifths`)."""
    artist: np.ndarray
    fit: np.ndarray | None
    """Distance of each candidate to the pool's target on the valence/energy plane (None when no
    statement is met)."""
    taken: np.ndarray
    """Candidates already picked (for any position)."""

    @classmethod
    def of(
        cls, cat: Catalog, cand: np.ndarray, scores: np.ndarray, rel: np.ndarray, fit: np.ndarray | None
    ) -> _Pool:
        return cls(
            cand=cand,
            scores=scores,
            rel=rel,
            taste=cat.taste[cand],
            tempo_bpm=cat.tempo_bpm[cand],
            fifths=circle_of_fifths(cat.key[cand], cat.major[cand]),
            artist=cat.artist[cand],
            fit=fit,
            taken=np.zeros(len(cand), bool),
        )
