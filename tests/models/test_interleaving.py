"""Tests of models.interleaving: counts, Δ, the sign test, the bootstrap interval and the promotion verdict,
on hand-made outcomes and on simulated listeners reacting to team-draft queues of two rankers."""

from __future__ import annotations

import ast
import json
import random
import subprocess
import sys
from fractions import Fraction
from math import comb
from pathlib import Path

import numpy as np
import pytest

from models.interleaving import (
    InterleavingStats,
    QueueCredit,
    interleaving_stats,
    sign_test_p_value,
    summarize,
)
from player.core.interleave import InterleavingOutcome, credit, pick_outcomes, team_draft
from player.core.listener import EARLY_SKIP_S, PlaybackEvent
from player.core.track import TrackId

ROOT = Path(__file__).resolve().parents[2]

WIN_B = InterleavingOutcome(credit_a=0.0, credit_b=1.0, picks_a=1, picks_b=1, finished=1)
WIN_A = InterleavingOutcome(credit_a=1.0, credit_b=-1.0, picks_a=1, picks_b=1, finished=2)
TIE = InterleavingOutcome(credit_a=1.0, credit_b=1.0, picks_a=1, picks_b=1, finished=2)
SILENT = InterleavingOutcome(credit_a=0.0, credit_b=0.0, picks_a=2, picks_b=2, finished=0)


def _stats(wins: int, losses: int, ties: int) -> InterleavingStats:
    return InterleavingStats("retrained", wins=wins, losses=losses, ties=ties)


# ----------------------------------------------------------------------------- a simulated listener
def _simulate(
    queues: int, *, noise_a: float, noise_b: float, catalog_seed: int, seed: int, catalog: int = 60
) -> list[InterleavingOutcome]:
    """Credit of ``queues`` team-draft queues of two noisy rankers, played by one simulated listener.

    The listener's catalog has a true completion probability per track (uniform 0.1–0.9, from
    ``catalog_seed``); each ranker orders it by that probability plus Gaussian noise of its own
    (``noise_a``, ``noise_b``: the smaller, the better the ranker). The listener plays the 10-track
    interleaved queue in order: each track is completed with its probability, else skipped (early
    7 times in 10, at a uniform position), and the first skip ends the queue, as Cadence then
    pushes a fresh one; at most 5 tracks are played.
    """
    quality = np.random.default_rng(catalog_seed).uniform(0.1, 0.9, catalog)
    ids = [TrackId(f"t{i}") for i in range(catalog)]
    rng = np.random.default_rng(seed)
    coin = random.Random(seed)
    # Every random number is drawn up front, as arrays: the loop below only drafts and credits.
    top_a = np.argsort(-(quality + rng.normal(0.0, noise_a, (queues, catalog))), axis=1)[:, :10]
    top_b = np.argsort(-(quality + rng.normal(0.0, noise_b, (queues, catalog))), axis=1)[:, :10]
    completes = rng.random((queues, 5))
    earlies = rng.random((queues, 5)) < 0.7
    skip_shares = rng.random((queues, 5))
    out: list[InterleavingOutcome] = []
    for q in range(queues):
        picks = team_draft([ids[i] for i in top_a[q]], [ids[i] for i in top_b[q]], 10, rng=coin)
        events: list[PlaybackEvent] = []
        at_s = 0.0
        for k, pick in enumerate(picks[:5]):
            events.append(PlaybackEvent("started", pick.track_id, 0.0, at_s))
            if completes[q, k] < quality[int(pick.track_id[1:])]:
                events.append(PlaybackEvent("completed", pick.track_id, 200.0, at_s + 200.0))
                at_s += 200.0
                continue
            share = float(skip_shares[q, k])
            position_s = (
                share * EARLY_SKIP_S if earlies[q, k] else EARLY_SKIP_S + share * (200.0 - EARLY_SKIP_S)
            )
            events.append(PlaybackEvent("skipped", pick.track_id, position_s, at_s + position_s))
            break
        out.append(credit(pick_outcomes(picks, events)))
    return out


@pytest.fixture(scope="module")
def equal_rankers() -> list[list[InterleavingOutcome]]:
    """200 listeners (each its own catalog) × 120 queues of two different but equally noisy rankers."""
    return [_simulate(120, noise_a=0.3, noise_b=0.3, catalog_seed=s, seed=10_000 + s) for s in range(200)]


# ----------------------------------------------------------------------------- counts and Δ
def test_counts_and_delta() -> None:
    """Wins, losses and ties are counted from each queue's winner; Δ = (wins − losses) / impressions."""
    stats = interleaving_stats("retrained", [WIN_B, WIN_B, WIN_B, WIN_A, TIE, SILENT, SILENT])
    assert (stats.wins, stats.losses, stats.ties, stats.uninformative) == (3, 1, 1, 2)
    assert stats.impressions == 5
    assert stats.delta == pytest.approx((3 - 1) / 5)
    # Chapelle et al. 2012's (wins_A + ties / 2) / N − 1/2 is −Δ / 2.
    assert (stats.losses + stats.ties / 2) / stats.impressions - 0.5 == pytest.approx(-stats.delta / 2)
    empty = interleaving_stats("retrained", [SILENT])
    assert (empty.impressions, empty.delta, empty.p_value) == (0, 0.0, 1.0)
    assert empty.confidence_interval() == (-1.0, 1.0)


def test_summarize_groups_by_challenger() -> None:
    """Each challenger gets its own counts, in order of first appearance."""
    queues = [
        QueueCredit("heuristic", WIN_A),
        QueueCredit("retrained", WIN_B),
        QueueCredit("heuristic", TIE),
        QueueCredit("retrained", WIN_B),
    ]
    summary = summarize(queues)
    assert list(summary) == ["heuristic", "retrained"]
    assert (summary["heuristic"].losses, summary["heuristic"].ties) == (1, 1)
    assert (summary["retrained"].wins, summary["retrained"].impressions) == (2, 2)
    assert summary["retrained"].challenger == "retrained"
    record = summary["retrained"].to_dict()
    assert json.loads(json.dumps(record))["wins"] == 2


# ----------------------------------------------------------------------------- the sign test
def _exact_p(wins: int, losses: int) -> float:
    n, k = wins + losses, min(wins, losses)
    tail = Fraction(sum(comb(n, i) for i in range(k + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))


@pytest.mark.parametrize(
    ("wins", "losses"), [(0, 1), (3, 0), (10, 3), (5, 5), (60, 40), (40, 60), (520, 430)]
)
def test_sign_test_matches_the_exact_binomial(wins: int, losses: int) -> None:
    """The log-space p-value equals the exact two-sided binomial tail computed with integers."""
    assert sign_test_p_value(wins, losses) == pytest.approx(_exact_p(wins, losses), rel=1e-9)
    assert sign_test_p_value(wins, losses) == sign_test_p_value(losses, wins)


def test_sign_test_edges() -> None:
    """No decisive queue gives p = 1; a large one-sided count gives a tiny p; negative counts are refused."""
    assert sign_test_p_value(0, 0) == 1.0
    assert sign_test_p_value(5000, 0) < 1e-300
    with pytest.raises(ValueError, match="counts"):
        sign_test_p_value(-1, 3)


# ----------------------------------------------------------------------------- the bootstrap interval
def test_confidence_interval_is_seeded_and_sensible() -> None:
    """The interval is the same for a seed, holds Δ, narrows with more impressions and collapses when all agree."""
    stats = _stats(60, 40, 100)
    assert stats.confidence_interval(seed=3) == stats.confidence_interval(seed=3)
    low, high = stats.confidence_interval()
    assert -1.0 <= low < stats.delta < high <= 1.0
    big_low, big_high = _stats(600, 400, 1000).confidence_interval()
    assert big_high - big_low < (high - low) / 2
    # Normal approximation: sd of Δ is sqrt((p_w + p_l − Δ²) / N) = sqrt((0.5 − 0.01) / 200) ≈ 0.0495.
    assert high - low == pytest.approx(2 * 1.96 * 0.0495, rel=0.15)
    assert _stats(30, 0, 0).confidence_interval() == (1.0, 1.0)
    with pytest.raises(ValueError, match="level"):
        stats.confidence_interval(1.0)


# ----------------------------------------------------------------------------- the verdict
def test_verdict_kinds_and_messages() -> None:
    """Each verdict says its reason with the numbers; only a significant win with enough impressions promotes."""
    few = _stats(40, 5, 5).verdict(min_impressions=200)
    assert few.kind == "not_enough_impressions" and not few.promote
    assert few.message.startswith("not enough impressions (50 < 200)")
    win = _stats(130, 70, 100).verdict(min_impressions=200, alpha=0.05)
    assert win.kind == "challenger_wins" and win.promote
    assert "Δ = +0.200" in win.message and "130 wins / 70 losses / 100 ties" in win.message
    assert "300 impressions" in win.message and "95 % CI" in win.message
    lose = _stats(70, 130, 100).verdict(min_impressions=200)
    assert lose.kind == "challenger_loses" and not lose.promote
    assert lose.message.startswith("shipped ranker wins")
    close = _stats(105, 95, 100).verdict(min_impressions=200)
    assert close.kind == "no_difference" and not close.promote
    assert close.message.startswith("no significant difference") and "≥ 0.05" in close.message
    with pytest.raises(ValueError, match="alpha"):
        _stats(1, 1, 1).verdict(10, alpha=0.0)


# ----------------------------------------------------------------------------- simulated listeners
def test_better_challenger_wins_with_enough_queues() -> None:
    """When B ranks by the listener's true taste and A is noisy, 400 queues give a "challenger wins" verdict."""
    outcomes = _simulate(400, noise_a=0.4, noise_b=0.05, catalog_seed=1, seed=2)
    stats = interleaving_stats("retrained", outcomes)
    verdict = stats.verdict(min_impressions=200, alpha=0.05)
    assert verdict.kind == "challenger_wins", verdict.message
    assert stats.delta > 0
    # Too few of the same queues for the rule, whatever they say.
    assert stats.verdict(min_impressions=1000).kind == "not_enough_impressions"


def test_equal_rankers_are_significant_about_alpha_of_the_time(
    equal_rankers: list[list[InterleavingOutcome]],
) -> None:
    """With equally good rankers the sign test at 0.05 flags close to 5 % of 200 listeners, either way."""
    verdicts = [interleaving_stats("twin", o).verdict(min_impressions=0, alpha=0.05) for o in equal_rankers]
    significant = sum(v.kind in ("challenger_wins", "challenger_loses") for v in verdicts) / len(verdicts)
    # Binomial(200, 0.05): sd 1.5 points; the exact sign test is a little conservative, so the true
    # rate is at most 5 %. The bounds are 3 sd either side of 5 % (the mean-Δ check below is the
    # sharper test of bias; this one checks the test's calibration).
    assert 0.004 <= significant <= 0.096, significant
    deltas = [interleaving_stats("twin", o).delta for o in equal_rankers]
    # No team is favoured: the mean Δ over 24 000 queues is 0 within about 4 standard errors.
    assert abs(float(np.mean(deltas))) < 4 * float(np.std(deltas)) / len(deltas) ** 0.5


def test_bootstrap_interval_covers_zero_for_equal_rankers(
    equal_rankers: list[list[InterleavingOutcome]],
) -> None:
    """The 95 % interval holds the true Δ = 0 (A and B are exchangeable) for about 95 % of listeners."""
    covered = [
        low <= 0.0 <= high
        for low, high in (
            interleaving_stats("twin", o).confidence_interval(0.95, seed=i)
            for i, o in enumerate(equal_rankers)
        )
    ]
    # Binomial(200, 0.95): sd 1.5 points; the bounds are 3 sd.
    assert 0.904 <= sum(covered) / len(covered) <= 0.996, sum(covered) / len(covered)


def test_bootstrap_interval_covers_the_true_delta() -> None:
    """95 % intervals from 150 queues hold a known true Δ = 0.15 for about 95 % of 1000 logs."""
    # Queue winners drawn with known shares (challenger 0.35, shipped 0.20, tie 0.45): Δ = 0.15 exactly.
    counts = np.random.default_rng(17).multinomial(150, [0.35, 0.20, 0.45], size=1000)
    covered = []
    for i, (wins, losses, ties) in enumerate(counts):
        low, high = _stats(int(wins), int(losses), int(ties)).confidence_interval(0.95, seed=i)
        covered.append(low <= 0.15 <= high)
    # Binomial(1000, 0.95): sd 0.7 points; the bounds are 3 sd.
    assert 0.929 <= sum(covered) / len(covered) <= 0.971, sum(covered) / len(covered)


# ----------------------------------------------------------------------------- the import contract
def test_models_interleaving_imports_only_the_interleave_records() -> None:
    """models.interleaving imports, of player, only player.core.interleave, and loads no serving engine."""
    tree = ast.parse((ROOT / "models" / "interleaving.py").read_text(encoding="utf-8"))
    project = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            project.add(node.module)
        elif isinstance(node, ast.Import):
            project.update(alias.name for alias in node.names)
    assert {m for m in project if m.split(".")[0] in ("player", "mood", "models")} == {
        "player.core.interleave"
    }
    code = (
        "import sys, json, models.interleaving; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('player', 'onnxruntime', 'lightgbm', 'sqlite3', 'asyncio'))))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
    )
    # player.core.interleave itself reads EARLY_SKIP_S and PlaybackEvent from listener, over the records.
    assert set(loaded) <= {
        "player",
        "player.core",
        "player.core.interleave",
        "player.core.listener",
        "player.core.records",
        "player.core.track",
    }, loaded
