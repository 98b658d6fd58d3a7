"""The decision's fast paths give exactly what the straightforward computations give: the shortlists of
stage one (estimated proxies, the valence band for the nearest tracks) against summing every row and
partitioning the whole catalog, ties included; the vectorised property features against a loop over the
properties; re-ranking from gathered pools against recomputing per pick; the CF scores of a few rows
against scoring the library; the k-th largest from a sample against partitioning everything."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from models.simulate import catalog_matrix, synthetic_catalog
from mood.types import Intent, MoodEstimate
from player.cf import NEUTRAL_SCORE, SCORE_SLOPE, CfModel, stats_evidence
from player.core.listener import EARLY_SKIP_S, ListenerState, PlaybackEvent, Target
from player.core.ranking import (
    MMR_LAMBDA,
    NEAREST_K,
    PRESELECT_K,
    PROPERTIES,
    Catalog,
    DecisionContext,
    OnnxRanker,
    Recommender,
    assemble_features,
    build_context,
    key_step,
    shipped_ranker_path,
    tempo_step,
)
from player.core.ranking.context import _property_features
from player.core.ranking.recommender import (
    CALIBRATION_ROWS,
    CF_K,
    LATER_STEP_SHARE,
    TRANSITION_WEIGHT,
    kth_largest,
)

T0 = 1_780_000_000.0
LOCAL = datetime(2026, 3, 2, 19, 0, tzinfo=timezone(timedelta(hours=1)))


@pytest.fixture(scope="module")
def ranker() -> OnnxRanker:
    return OnnxRanker.load(shipped_ranker_path())


@pytest.fixture(scope="module")
def tracks() -> list:
    return synthetic_catalog(6000, seed=23)


@pytest.fixture(scope="module")
def rec(tracks: list, ranker: OnnxRanker) -> Recommender:
    return Recommender(tracks, catalog_matrix(tracks), ranker)


def _states(tracks: list, count: int, seed: int) -> list[tuple[ListenerState, float]]:
    """Listeners part-way through a session: completions, likes, early and late skips, dislikes, a
    mood reading, and for every other one a request steering an iso walk (several targets)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        state = ListenerState(f"l{i}", local_time=LOCAL + timedelta(hours=int(rng.integers(0, 48))), at_s=T0)
        at = T0
        mood = MoodEstimate(
            valence=float(rng.random()), energy=float(rng.random()), confidence=0.8, label="calm"
        )
        state.observe_mood(mood, at_s=at)
        for _ in range(int(rng.integers(0, 30))):
            tid = tracks[int(rng.integers(0, len(tracks)))].id
            state.observe_playback(PlaybackEvent("started", tid, 0.0, at))
            kind = str(rng.choice(["completed", "early", "late", "liked", "disliked"]))
            if kind == "early":
                state.observe_playback(PlaybackEvent("skipped", tid, 5.0, at + 5))
            elif kind == "late":
                state.observe_playback(PlaybackEvent("skipped", tid, EARLY_SKIP_S + 20, at + 50))
            elif kind == "disliked":
                state.observe_playback(PlaybackEvent("disliked", tid, 12.0, at + 12))
            else:
                if kind == "liked":
                    state.observe_playback(PlaybackEvent("liked", tid, 40.0, at + 40))
                state.observe_playback(PlaybackEvent("completed", tid, 200.0, at + 200))
            at += 210
        if i % 2:
            state.add_intent(Intent(rng.choice(["calmer", "energize", "sleep", "party"])), at_s=at)  # type: ignore[arg-type]
        out.append((state, at + 1))
    return out


def _straightforward_shortlists(
    rec: Recommender,
    ctx: DecisionContext,
    targets: list[Target],
    allowed: np.ndarray,
    weights: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Stage one the plain way: every row's proxy summed in order, the whole catalog partitioned."""
    n_allowed = int(allowed.sum())
    out = []
    for j, target in enumerate(targets):
        share = 1.0 if j == 0 else LATER_STEP_SHARE
        k_proxy, k_near = max(10, int(PRESELECT_K * share)), max(10, int(NEAREST_K * share))
        if n_allowed <= k_proxy + k_near:
            out.append(np.flatnonzero(allowed))
            continue
        proxy, dist2 = rec.proxy_scores(ctx, target, weights)
        proxy = np.where(allowed, proxy, -np.inf)
        dist2 = np.where(allowed, dist2, np.inf)
        top = np.argpartition(-proxy, k_proxy)[:k_proxy]
        near = np.argpartition(dist2, k_near)[:k_near]
        out.append(np.union1d(top, near))
    return out


def _targets(ctx: DecisionContext) -> list[Target]:
    distinct: dict[tuple[float, float], Target] = {}
    for t in ctx.targets:
        distinct.setdefault((round(t.valence, 6), round(t.energy, 6)), t)
    return list(distinct.values())


def test_shortlists_equal_summing_and_partitioning_every_row(rec: Recommender, tracks: list) -> None:
    """For listeners with and without a request (one target, or an iso walk of several), with the whole
    library or a part of it allowed, stage one keeps exactly the rows the plain computation keeps."""
    cat = rec.catalog
    several = 0
    for k, (state, at) in enumerate(_states(tracks, 16, seed=5)):
        ctx = build_context(state, cat, at_s=at, count=10)
        targets = _targets(ctx)
        several += len(targets) > 1
        within = None if k % 4 else [cat.ids[i] for i in range(0, cat.n, 3)]
        allowed = rec._allowed(ctx, within, 10)
        # the shipped weights, and those fitted to the decision
        for weights in (None, rec._calibrate(ctx, targets[0], allowed).weights):
            fast = rec._shortlists(ctx, targets, allowed, weights=weights)
            plain = _straightforward_shortlists(rec, ctx, targets, allowed, weights)
            assert len(fast) == len(plain)
            for got, want in zip(fast, plain, strict=True):
                np.testing.assert_array_equal(got, want)
    assert several >= 4


def test_calibration_scores_are_those_of_scoring_the_shortlist(rec: Recommender, tracks: list) -> None:
    """The calibration's rows are allowed, drawn again the same for the same decision, join the first
    shortlist, and their scores (not computed twice) are exactly those of scoring the whole shortlist."""
    cat = rec.catalog
    drawn = []
    for k, (state, at) in enumerate(_states(tracks, 8, seed=13)):
        ctx = build_context(state, cat, at_s=at, count=10)
        targets = _targets(ctx)
        within = None if k % 2 else [cat.ids[i] for i in range(0, cat.n, 5)]
        allowed = rec._allowed(ctx, within, 10)
        shortlists, calibration = rec._candidates(ctx, targets, allowed)
        assert calibration is not None
        assert len(calibration.rows) == CALIBRATION_ROWS and allowed[calibration.rows].all()
        np.testing.assert_array_equal(calibration.rows, rec._calibrate(ctx, targets[0], allowed).rows)
        assert np.isin(calibration.rows, shortlists[0]).all()
        reused = rec._score(ctx, shortlists[0], targets[0], calibration)
        again = rec.ranker.score(assemble_features(cat, ctx, shortlists[0], targets[0]))
        np.testing.assert_array_equal(reused, again)
        drawn.append(frozenset(calibration.rows.tolist()))
    assert len(set(drawn)) == len(drawn)  # another decision, another draw


def test_a_library_no_bigger_than_pre_selection_would_score_is_scored_whole(ranker: OnnxRanker) -> None:
    """Up to PRESELECT_K + NEAREST_K + CALIBRATION_ROWS + CF_K allowed tracks (as many as pre-selecting
    would score at most), the first target's candidates are every allowed track, with no calibration;
    one more and the decision is calibrated."""
    limit = PRESELECT_K + NEAREST_K + CALIBRATION_ROWS + CF_K
    for n, calibrated in ((limit, False), (limit + 1, True)):
        library = synthetic_catalog(n, seed=15)
        rec = Recommender(library, catalog_matrix(library), ranker)
        for state, at in _states(library, 3, seed=16):
            ctx = build_context(state, rec.catalog, at_s=at, count=10)
            allowed = np.ones(rec.catalog.n, bool)  # the whole library
            shortlists, calibration = rec._candidates(ctx, _targets(ctx), allowed)
            assert (calibration is not None) == calibrated
            if not calibrated:
                np.testing.assert_array_equal(shortlists[0], np.arange(n))


def test_calibrated_proxy_follows_the_ranker_closer_than_the_shipped_weights(
    rec: Recommender, tracks: list
) -> None:
    """Over every allowed track (not only the rows it was fitted on), the proxy fitted to the decision
    ranks tracks more like the ranker does than the shipped weights: higher rank correlation on average
    and more of the ranker's top 10 inside the proxy's top PRESELECT_K."""
    cat = rec.catalog
    shipped, fitted, found_shipped, found_fitted = [], [], 0, 0
    for state, at in _states(tracks, 10, seed=14):
        ctx = build_context(state, cat, at_s=at, count=1)
        target = ctx.targets[0]
        rows = np.flatnonzero(rec._allowed(ctx, None, 10))
        truth = rec.ranker.score(assemble_features(cat, ctx, rows, target))
        best = set(np.argsort(-truth, kind="stable")[:10].tolist())
        weights = rec._calibrate(ctx, target, rec._allowed(ctx, None, 10)).weights
        for w, corr in ((None, shipped), (weights, fitted)):
            proxy = rec.proxy_scores(ctx, target, w)[0][rows]
            corr.append(np.corrcoef(np.argsort(np.argsort(proxy)), np.argsort(np.argsort(truth)))[0, 1])
            kept = len(best & set(np.argsort(-proxy)[:PRESELECT_K].tolist()))
            if w is None:
                found_shipped += kept
            else:
                found_fitted += kept
    assert np.mean(fitted) > np.mean(shipped) + 0.05
    assert found_fitted > found_shipped


def test_ties_for_the_last_place_are_resolved_as_the_whole_catalog_does(ranker: OnnxRanker) -> None:
    """A library where every track has an identical twin (same features, another id) ties every proxy
    and distance: the shortlists still equal the plain computation's, and so do the decisions."""
    base = synthetic_catalog(1500, seed=8)
    twins = [replace(t, id=f"{t.id}-twin", title=f"{t.title} (again)") for t in base]
    library = [t for pair in zip(base, twins, strict=True) for t in pair]
    rec = Recommender(library, catalog_matrix(library), ranker)
    for state, at in _states(library, 8, seed=9):
        ctx = build_context(state, rec.catalog, at_s=at, count=10)
        targets = _targets(ctx)
        allowed = rec._allowed(ctx, None, 10)
        for got, want in zip(
            rec._shortlists(ctx, targets, allowed),
            _straightforward_shortlists(rec, ctx, targets, allowed),
            strict=True,
        ):
            np.testing.assert_array_equal(got, want)


def _property_features_loop(catalog: Catalog, ctx: DecisionContext, idx: np.ndarray) -> dict[str, np.ndarray]:
    """The property features one property at a time (as schema 2 defined and first computed them)."""
    values = catalog.properties[idx]
    pos_rows, pos_w = ctx.history_pos
    neg_rows, neg_w = ctx.history_neg
    m = len(idx)
    lean = np.zeros((m, len(PROPERTIES)), np.float32)
    outside = []
    for j, prop in enumerate(PROPERTIES):
        x = values[:, j : j + 1]

        def mass(
            rows: np.ndarray, weights: np.ndarray, j: int = j, x: np.ndarray = x, bw: float = prop.bandwidth
        ):
            if len(rows) == 0:
                return np.zeros(m, np.float32)
            d = x - catalog.properties[rows, j][None, :]
            alike = np.exp(-0.5 * (d / bw) ** 2) if bw > 0 else np.abs(d) < 1e-3
            return np.asarray(alike @ weights, np.float32)

        neg, pos = mass(neg_rows, neg_w), mass(pos_rows, pos_w)
        lean[:, j] = (neg - pos) / (neg + pos + 1.0)
        if prop.range_scale > 0 and len(pos_rows):
            liked = catalog.properties[pos_rows, j]
            v = values[:, j]
            over = np.maximum(np.maximum(v - float(liked.max()), float(liked.min()) - v), 0.0)
            outside.append(over / prop.range_scale)
    out_arr = np.stack(outside, axis=1) if outside else np.zeros((m, 1), np.float32)
    rows, bad = ctx.finished
    stump = np.zeros((m, len(PROPERTIES)), np.float32)
    if len(rows) >= 2:
        prior = (float(bad.sum()) + 0.5) / (len(bad) + 2.0)
        hist = catalog.properties[rows]
        for j, prop in enumerate(PROPERTIES):
            x = values[:, j : j + 1]
            h = hist[None, :, j]
            sides = ((h >= x - 1e-6), (h <= x + 1e-6)) if prop.bandwidth > 0 else (np.abs(h - x) < 1e-3,)
            worst = np.full(m, -np.inf, np.float32)
            for side in sides:
                n = side.sum(axis=1)
                worst = np.maximum(worst, (side @ bad + 2.0 * prior) / (n + 2.0))
            stump[:, j] = worst - prior
    return {
        "stump_skip_max": stump.max(axis=1),
        "stump_skip_mean": stump.mean(axis=1),
        "skip_lean_max": lean.max(axis=1),
        "skip_lean_mean": lean.mean(axis=1),
        "outside_liked_max": out_arr.max(axis=1),
        "outside_liked_mean": out_arr.mean(axis=1),
    }


def test_property_features_equal_the_loop_over_properties(rec: Recommender, tracks: list) -> None:
    """All properties at once give bit for bit the loop's numbers, for candidate sets of every size."""
    cat = rec.catalog
    rng = np.random.default_rng(4)
    for state, at in _states(tracks, 12, seed=6):
        ctx = build_context(state, cat, at_s=at)
        idx = np.sort(rng.choice(cat.n, int(rng.integers(1, 900)), replace=False))
        got = _property_features(cat, ctx, cat.properties[idx])
        want = _property_features_loop(cat, ctx, idx)
        assert got.keys() == want.keys()
        for name in want:
            assert got[name].dtype == want[name].dtype, name
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def _rerank_plain(
    rec: Recommender, ctx: DecisionContext, scored: list[tuple[np.ndarray, np.ndarray]], positions: list[int]
) -> list[int]:
    """Re-ranking recomputing every candidate's catalog values at every pick."""
    cat = rec.catalog
    pools = []
    for cand, scores in scored:
        rel = (scores - float(scores.min())) / max(float(scores.max() - scores.min()), 1e-6)
        ref = min(len(rel), 20) - 1
        keep = rel >= np.partition(rel, len(rel) - 1 - ref)[len(rel) - 1 - ref] - (
            MMR_LAMBDA + TRANSITION_WEIGHT
        )
        pools.append((cand[keep], rel[keep]))
    picked: list[int] = []
    prev = ctx.last_row
    for k in range(10):
        cand, rel = pools[positions[k] if k < len(positions) else positions[-1]]
        free = ~np.isin(cand, picked) if picked else np.ones(len(cand), bool)
        if not free.any():
            break
        value = rel.copy()
        if picked:
            value -= MMR_LAMBDA * np.maximum(
                (cat.taste[cand] @ cat.taste[np.array(picked)].T).max(axis=1), 0.0
            )
        if prev is not None:
            ts = tempo_step(cat.tempo_bpm[cand], float(cat.tempo_bpm[prev]))
            ks = key_step(cat.key[cand], cat.major[cand], int(cat.key[prev]), bool(cat.major[prev] > 0.5))
            value -= TRANSITION_WEIGHT * np.minimum(ts / 0.5 * 0.5 + ks * 0.5, 1.0)
            same = cat.artist[cand] == cat.artist[prev]
            if (free & ~same).any():
                free &= ~same
        prev = int(cand[int(np.argmax(np.where(free, value, -np.inf)))])
        picked.append(prev)
    return picked


def test_reranking_from_gathered_pools_picks_as_recomputing_does(rec: Recommender, tracks: list) -> None:
    """The pools gathered once per decision pick the same tracks as recomputing per pick."""
    cat = rec.catalog
    for state, at in _states(tracks, 12, seed=7):
        ctx = build_context(state, cat, at_s=at, count=10)
        targets = _targets(ctx)
        positions = [next(i for i, u in enumerate(targets) if u == t) for t in ctx.targets]
        allowed = rec._allowed(ctx, None, 10)
        scored = [
            (cand, rec.ranker.score(assemble_features(cat, ctx, cand, t)))
            for cand, t in zip(rec._shortlists(ctx, targets, allowed), targets, strict=True)
        ]
        picks, _ = rec._rerank(ctx, scored, positions, 10, targets, False)
        assert picks == _rerank_plain(rec, ctx, scored, positions)


def _cf_model(ids: tuple[str, ...], seed: int) -> CfModel:
    """A CF model knowing two thirds of ``ids`` (and one id not in the library), a quarter of them with
    all-zero factors (tracks nobody played)."""
    rng = np.random.default_rng(seed)
    known = (*ids[: 2 * len(ids) // 3], "not-in-the-library")
    items = rng.normal(0, 0.3, (len(known), 8)).astype(np.float32)
    items[rng.random(len(known)) < 0.25] = 0.0
    return CfModel(known, items, (), np.zeros((0, 8), np.float32), factors=8, regularization=2.0)


def test_cf_informative_rows_are_the_only_ones_off_neutral(tracks: list) -> None:
    """``informative()`` names every position whose score may differ from neutral (known, factors not all
    zero), with the scores ``scorer[rows]`` gives; every other position scores exactly neutral."""
    ids = tuple(t.id for t in tracks)
    model = _cf_model(ids, 21)
    for state, _ in _states(tracks, 6, seed=22):
        scorer = model.stats_row_scores(state.track_stats, ids)
        if scorer is None:
            continue
        rows, scores = scorer.informative()
        everything = scorer[np.arange(len(ids))]
        np.testing.assert_array_equal(scores, everything[rows])
        rest = np.ones(len(ids), bool)
        rest[rows] = False
        assert np.all(everything[rest] == NEUTRAL_SCORE)
        row_of = {t: i for i, t in enumerate(model.item_ids)}
        expected = [
            p for p, t in enumerate(ids) if t in row_of and np.any(model.item_factors[row_of[t]] != 0)
        ]
        np.testing.assert_array_equal(rows, expected)


def test_shortlists_with_a_cf_term_equal_the_plain_computation(tracks: list, ranker: OnnxRanker) -> None:
    """With CF scores the fitted proxy has a CF term (added last to every row): stage one still keeps
    exactly the rows summing and partitioning every row keeps, and the first shortlist holds the
    CF_K allowed tracks with the best CF scores."""
    ids = tuple(t.id for t in tracks)
    rec = Recommender(tracks, catalog_matrix(tracks), ranker, cf=_cf_model(ids, 23))
    cat = rec.catalog
    with_term = 0
    for k, (state, at) in enumerate(_states(tracks, 10, seed=24)):
        ctx = build_context(state, cat, at_s=at, count=10, cf=rec.cf)
        targets = _targets(ctx)
        within = None if k % 3 else [cat.ids[i] for i in range(0, cat.n, 2)]
        allowed = rec._allowed(ctx, within, 10)
        shortlists, calibration = rec._candidates(ctx, targets, allowed)
        assert calibration is not None
        if ctx.cf_scores is None:
            continue
        with_term += calibration.weights[-1] != 0.0
        fast = rec._shortlists(ctx, targets, allowed, weights=calibration.weights)
        plain = _straightforward_shortlists(rec, ctx, targets, allowed, calibration.weights)
        for got, want in zip(fast, plain, strict=True):
            np.testing.assert_array_equal(got, want)
        cf = np.where(allowed, ctx.cf_scores[np.arange(cat.n)], -np.inf)
        best = np.argsort(-cf, kind="stable")[:CF_K]
        assert np.isin(best[cf[best] > cf[best[-1]]], shortlists[0]).all()
    assert with_term >= 5


def test_cf_scores_of_a_few_rows_equal_scoring_the_library(tracks: list) -> None:
    """The fold-in scored for the rows asked for gives the library-wide scores at those rows, and those
    are the documented formula (spread over every known track, unknown tracks neutral)."""
    ids = tuple(t.id for t in tracks)
    rng = np.random.default_rng(11)
    known = (*ids[: len(ids) // 2], "not-in-the-library")
    items = rng.normal(0, 0.3, (len(known), 8)).astype(np.float32)
    model = CfModel(known, items, (), np.zeros((0, 8), np.float32), factors=8, regularization=2.0)
    for state, _ in _states(tracks, 6, seed=12):
        dense = model.stats_scores(state.track_stats, ids)
        rows = model.stats_row_scores(state.track_stats, ids)
        if dense is None:
            assert rows is None
            continue
        assert rows is not None
        asked = np.sort(rng.choice(len(ids), 700, replace=False))
        np.testing.assert_array_equal(rows[asked], dense[asked])
        vector = model.evidence_vector(stats_evidence(state.track_stats))
        assert vector is not None
        dots = items.astype(np.float64) @ vector
        expected = 1.0 / (1.0 + np.exp(-SCORE_SLOPE * dots / np.sqrt(np.mean(dots * dots))))
        np.testing.assert_allclose(dense[: len(known) - 1], expected[:-1], rtol=1e-6)
        assert np.all(dense[len(known) - 1 :] == NEUTRAL_SCORE)


@pytest.mark.parametrize("n", [7, 3000, 40_000, 100_000])
def test_kth_largest_equals_partitioning_the_whole_array(n: int) -> None:
    rng = np.random.default_rng(n)
    shapes = {
        "normal": rng.standard_normal(n).astype(np.float32),
        "sorted": np.sort(rng.standard_normal(n)).astype(np.float32),
        "reversed": np.sort(rng.standard_normal(n))[::-1].astype(np.float32),
        "ties": np.round(rng.standard_normal(n) * 2).astype(np.float32),
        "nan": np.where(rng.random(n) < 0.01, np.nan, rng.standard_normal(n)).astype(np.float32),
        "blocked": np.where(rng.random(n) < 0.6, -np.inf, rng.standard_normal(n)).astype(np.float32),
    }
    ks = sorted({1, 2, min(n, 10), min(n, 600), max(1, n // 9), max(1, n // 2), n})
    for name, values in shapes.items():
        for k in ks:
            want = float(np.partition(values, n - k)[n - k])
            got = kth_largest(values, k)
            assert got == want or (np.isnan(got) and np.isnan(want)), (name, k, got, want)
    with pytest.raises(ValueError):
        kth_largest(shapes["normal"], 0)
