"""Collaborative filtering: training (models/cf.py), its evaluation on planted households
(models/cf_eval.py), privacy, forgetting, and `cadence train`'s CF step."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from models.cf import (
    MIN_LISTENERS,
    MIN_POSITIVE_TRACKS,
    build_matrix,
    evidence_by_listener,
    fit_als,
    retrain_cf,
    train_cf,
)
from models.cf_eval import Household, HouseholdConfig, evaluate_households, simulate_household
from player.cf import CfModel
from player.cli import main
from player.core.records import LogEvent
from player.server.log import InteractionLog
from player.settings import Settings

SMALL = HouseholdConfig(tracks=400, groups=2, listeners_per_group=3, sessions=6, tracks_per_session=15)
"""A household small enough for a unit test (6 listeners, 90 plays each)."""


@pytest.fixture(scope="module")
def small_house() -> Household:
    return simulate_household(SMALL, seed=3)


def _plays(listener: str, tracks: list[str], kind: str = "completed", at_s: float = 0.0) -> list[LogEvent]:
    out = []
    for i, t in enumerate(tracks):
        at = at_s + 10.0 * i
        out.append(LogEvent("started", listener, f"{listener}-s", at, track_id=t, position_s=0.0))
        if kind == "early":
            out.append(LogEvent("skipped", listener, f"{listener}-s", at + 5, track_id=t, position_s=5.0))
        else:
            out.append(LogEvent(kind, listener, f"{listener}-s", at + 5, track_id=t, position_s=200.0))  # type: ignore[arg-type]
    return out


def _record(path: Path, events: list[LogEvent]) -> None:
    with InteractionLog(path, synchronous="normal") as log:
        log.record_many([(e, None) for e in events])


# ---------------------------------------------------------------------------------------- evaluation


def test_cf_beats_popularity_and_content_on_planted_households() -> None:
    """On households with planted taste groups (models/cf_eval.py, default configuration), CF's
    recall@20 on held-out positive tracks, mean over three households, beats popularity's and
    content-only's."""
    report = evaluate_households(HouseholdConfig(), seeds=(101, 102, 103))
    recall = {m: v["recall_at_20"]["mean"] for m, v in report["summary"].items()}
    assert recall["cf"] > recall["popularity"], recall
    assert recall["cf"] > recall["content"], recall


def test_household_groups_share_their_taste(small_house: Household) -> None:
    """The simulation plants what it says: members of a group agree on their utilities (correlation
    above 0.5) far more than members of different groups, and every member has positives to hold out."""
    by_group: dict[int, list[np.ndarray]] = {}
    for listener in small_house.listeners:
        by_group.setdefault(listener.group, []).append(listener.utility)
    same = np.corrcoef(by_group[0][0], by_group[0][1])[0, 1]
    other = np.corrcoef(by_group[0][0], by_group[1][0])[0, 1]
    assert same > 0.5 and same > other + 0.3, (same, other)  # groups' property tastes may oppose
    completed = {e.listener_id for e in small_house.events if e.kind == "completed"}
    assert completed == {x.listener_id for x in small_house.listeners}


# ---------------------------------------------------------------------------------------- out of the way


def test_one_listener_or_too_little_data_trains_nothing(small_house: Household) -> None:
    """One listener, listeners with too few positive tracks, or no shared track: no model."""
    one = [e for e in small_house.events if e.listener_id == "g0-m0"]
    result = train_cf(one)
    assert result.model is None and "too little data" in result.reason

    tracks = [f"t{i}" for i in range(40)]
    few = _plays("a", tracks[:4]) + _plays("b", tracks[:4]) + _plays("c", tracks[:4])
    assert MIN_POSITIVE_TRACKS > 4
    assert train_cf(few).model is None

    disjoint = _plays("a", tracks[0:6]) + _plays("b", tracks[6:12]) + _plays("c", tracks[12:18])
    result = train_cf(disjoint)
    assert result.model is None and "no track" in result.reason

    shared = _plays("a", tracks[0:6]) + _plays("b", tracks[0:6]) + _plays("c", tracks[0:6])
    assert MIN_LISTENERS == 3
    assert train_cf(shared).model is not None


def test_early_skips_alone_are_not_positive_and_cancel_completions() -> None:
    """A completion and an early skip of the same track cancel (the pair is left out); early skips
    alone are negative evidence, entered with preference 0."""
    ev = evidence_by_listener(
        _plays("a", ["x"]) + _plays("a", ["x"], kind="early") + _plays("a", ["y"], kind="early")
    )
    assert ev == {"a": {"y": -1.0}}


def test_retrain_cf_removes_a_stale_model_when_the_log_is_too_small(tmp_path: Path) -> None:
    """`retrain_cf` with too little data deletes an old cf.npz and says CF stays out of the way."""
    settings = Settings(home=tmp_path)
    _record(settings.log_db, _plays("solo", [f"t{i}" for i in range(10)]))
    stale = tmp_path / "cf.npz"
    stale.write_bytes(b"old factors")
    update = retrain_cf(settings)
    assert update.action == "removed" and not stale.exists()
    assert "stays out of the way" in update.message
    assert retrain_cf(settings).action == "none"


# ---------------------------------------------------------------------------------------- privacy


def test_private_listeners_do_not_change_the_item_factors(small_house: Household) -> None:
    """Training with a listener marked private gives exactly the factors of training without their
    events at all; the private listener is in no id list of the model."""
    secret = "g1-m2"
    with_private = train_cf(small_house.events, private={secret})
    without = train_cf([e for e in small_house.events if e.listener_id != secret])
    everyone = train_cf(small_house.events)
    assert with_private.model is not None and without.model is not None and everyone.model is not None
    assert with_private.private == 1
    assert with_private.model.item_ids == without.model.item_ids
    assert with_private.model.user_ids == without.model.user_ids
    assert secret not in with_private.model.user_ids
    np.testing.assert_array_equal(with_private.model.item_factors, without.model.item_factors)
    # … and the listener does count when not private (the test would notice a no-op).
    assert secret in everyone.model.user_ids
    assert everyone.model.item_factors.shape != without.model.item_factors.shape or not np.array_equal(
        everyone.model.item_factors, without.model.item_factors
    )


def test_forget_leaves_no_trace_of_the_listener_in_the_factors(
    tmp_path: Path, small_house: Household, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cadence forget --listener ID` retrains cf.npz from the rest of the log: the listener is not in
    it and its factors are those of a log that never had them; when too little data remains, cf.npz
    is removed."""
    settings = Settings(home=tmp_path)
    _record(settings.log_db, small_house.events)
    assert retrain_cf(settings).action == "trained"
    before = CfModel.load(tmp_path / "cf.npz")
    assert before is not None and "g0-m1" in before.user_ids

    assert main(["forget", "--home", str(tmp_path), "--listener", "g0-m1"]) == 0
    out = capsys.readouterr().out
    assert "rows erased" in out and "collaborative filtering: trained" in out
    after = CfModel.load(tmp_path / "cf.npz")
    assert after is not None and "g0-m1" not in after.user_ids
    expected = train_cf([e for e in small_house.events if e.listener_id != "g0-m1"]).model
    assert expected is not None and after.item_ids == expected.item_ids
    np.testing.assert_array_equal(after.item_factors, expected.item_factors)

    for listener in ("g0-m0", "g0-m2", "g1-m0", "g1-m1"):
        assert main(["forget", "--home", str(tmp_path), "--listener", listener]) == 0
    assert "stays out of the way" in capsys.readouterr().out
    assert not (tmp_path / "cf.npz").exists()


def test_making_a_listener_private_retrains_without_them(
    tmp_path: Path, small_house: Household, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cadence listeners --private ID` with a cf.npz retrains it at once without that listener."""
    settings = Settings(home=tmp_path)
    _record(settings.log_db, small_house.events)
    retrain_cf(settings)
    assert main(["listeners", "--home", str(tmp_path), "--private", "g1-m0"]) == 0
    assert "1 private listener(s) left out" in capsys.readouterr().out
    model = CfModel.load(tmp_path / "cf.npz")
    assert model is not None and "g1-m0" not in model.user_ids


# ---------------------------------------------------------------------------------------- fold-in


def test_fold_in_is_implicits_user_solve(small_house: Household) -> None:
    """CfModel.user_vector (numpy) equals implicit's recalculate_user on the same signed confidences."""
    from implicit.cpu.als import AlternatingLeastSquares

    model = train_cf(small_house.events).model
    assert model is not None
    events = [e for e in small_house.events if e.listener_id == "g0-m0"]
    ours = model.user_vector(events)
    assert ours is not None
    matrix = build_matrix(evidence_by_listener(small_house.events))
    assert not isinstance(matrix, str)
    row = matrix.listener_ids.index("g0-m0")
    als = AlternatingLeastSquares(factors=model.factors, regularization=model.regularization, alpha=1.0)
    als.item_factors = model.item_factors.copy()
    theirs = als.recalculate_user(0, sp.csr_matrix(matrix.confidences[row]))
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)


def test_new_events_move_a_new_listeners_scores_toward_the_group_they_like(small_house: Household) -> None:
    """A listener unknown to the model is folded in from their events: after completing tracks group 0
    loves, group 0's favourites score above group 1's; after liking many of group 1's, group 1's
    favourites gain and group 0's lose — without retraining."""
    model = train_cf(small_house.events).model
    assert model is not None
    groups = {g: np.mean([x.utility for x in small_house.listeners if x.group == g], axis=0) for g in (0, 1)}
    ids = small_house.cat.ids
    known = [i for i, t in enumerate(ids) if model.knows(t)]

    def favourites(g: int, other: int) -> list[str]:
        gap = groups[g] - groups[other]
        return [ids[i] for i in sorted(known, key=lambda i: -gap[i])[:40]]

    fav0, fav1 = favourites(0, 1), favourites(1, 0)
    events = _plays("newcomer", fav0[:15])
    first = model.scores("newcomer", events, fav0[15:] + fav1[15:])
    assert first is not None
    a0, a1 = first[:25].mean(), first[25:].mean()
    assert a0 > a1 + 0.1, (a0, a1)

    events += _plays("newcomer", fav1[:15] + fav1[:15], kind="liked", at_s=1e4)
    second = model.scores("newcomer", events, fav0[15:] + fav1[15:])
    assert second is not None
    b0, b1 = second[:25].mean(), second[25:].mean()
    assert b1 > a1 + 0.05 and b0 < a0 - 0.05, (a0, a1, b0, b1)


def test_fit_is_deterministic(small_house: Household) -> None:
    """The same log gives the same factors (fixed random state, one thread, exact solves)."""
    matrix = build_matrix(evidence_by_listener(small_house.events))
    assert not isinstance(matrix, str)
    u1, i1 = fit_als(matrix.confidences)
    u2, i2 = fit_als(matrix.confidences)
    np.testing.assert_array_equal(u1, u2)
    np.testing.assert_array_equal(i1, i2)


# ---------------------------------------------------------------------------------------- cadence train


def test_cadence_train_retrains_cf_and_reports_it(
    tmp_path: Path,
    small_house: Household,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`cadence train` writes cf.npz from the log and says so (the ranker's retraining stubbed out);
    on a home with too little data it says CF stays out of the way and removes a stale cf.npz."""
    import models.commands as commands

    def fake_retrain(settings: Settings, **_: Any) -> dict[str, Any]:
        return {"interleaving": {"message": "ranker stub"}}

    monkeypatch.setattr(commands, "retrain", fake_retrain)
    monkeypatch.setattr(commands, "_reader", lambda settings: None)
    settings = Settings(home=tmp_path)
    _record(settings.log_db, small_house.events)
    assert commands.cmd_train(settings, argparse.Namespace(seed=0)) == 0
    captured = capsys.readouterr()
    assert "collaborative filtering: trained" in captured.err
    assert '"action": "trained"' in captured.out
    assert CfModel.load(tmp_path / "cf.npz") is not None

    small = Settings(home=tmp_path / "small")
    _record(small.log_db, _plays("solo", [f"t{i}" for i in range(10)]))
    (small.home / "cf.npz").write_bytes(b"stale")
    assert main(["train", "--home", str(small.home)]) == 0
    assert "stays out of the way" in capsys.readouterr().err
    assert not (small.home / "cf.npz").exists()
