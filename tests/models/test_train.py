"""Tests of models.train and models.commands: training data from the training families only (never
the held-out one), LambdaRank → ONNX fidelity, learning from the real interaction log, ablations,
atomic replacement and the quality gate."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.catalogs import TruthLibrary, synthetic_truth_library
from models.cf import retrain_cf
from models.commands import replace_if_better, retrain
from models.evaluate import EvalConfig
from models.simulate import HELDOUT_FAMILY, TRAIN_FAMILIES, catalog_matrix, simulate_log, synthetic_catalog
from models.train import (
    ABLATIONS,
    LABEL_GAINS,
    LGBM_PARAMS,
    TrainingSet,
    average_boosters,
    blank_features,
    fit_preselect,
    log_queries,
    save_model_atomic,
    simulated_queries,
    train_booster,
    train_model,
)
from models.train import main as train_main
from player.cf import CfModel, cf_path
from player.core.ranking import (
    FEATURE_NAMES,
    PRESELECT_CONTEXT,
    PRESELECT_TERMS,
    SCHEMA_VERSION,
    OnnxRanker,
    preselect_design,
    shipped_ranker_path,
)
from player.core.records import LogEvent
from player.server.log import InteractionLog
from tests.support.postgres import LogBackend

FAMILIES_WITHOUT_READER = tuple(f for f in TRAIN_FAMILIES if f != "spoken")
"""Training families whose sentences need no real mood reader (fast tests)."""


@pytest.fixture(scope="module")
def small_lib() -> TruthLibrary:
    return synthetic_truth_library(seed=41, count=400)


@pytest.fixture(scope="module")
def small_tracks(small_lib: TruthLibrary) -> list:
    return small_lib.tracks


@pytest.fixture(scope="module")
def small_set(small_lib: TruthLibrary) -> TrainingSet:
    return simulated_queries(
        small_lib, listeners=2, seed=3, sessions=2, tracks_per_session=12, families=FAMILIES_WITHOUT_READER
    )


@pytest.fixture(scope="module")
def small_model(small_set: TrainingSet) -> tuple[Any, Any]:
    return train_model(small_set, seed=0, rounds=40, info={"model_version": "test"})


@pytest.mark.integration
def test_simulated_queries_are_labelled_groups(small_set: TrainingSet) -> None:
    """Simulated decisions give groups of candidate rows labelled with all four outcomes' gains, by family."""
    x, y, groups = small_set.arrays()
    assert x.shape == (groups.sum(), len(FEATURE_NAMES))
    assert set(np.unique(y).tolist()) == set(LABEL_GAINS)
    assert groups.min() >= 2 and sum(small_set.sources.values()) == len(y)
    assert set(small_set.sources) == {f"simulated:{f}" for f in FAMILIES_WITHOUT_READER}
    assert len(small_set.query_sources) == len(groups)


def test_ablation_blanks_its_features(small_set: TrainingSet) -> None:
    """blank_features sets the named columns to a constant and leaves the others and the labels alone."""
    names = ABLATIONS["without_similarity"]
    blanked = blank_features(small_set, names)
    x, y, g = small_set.arrays()
    bx, by, bg = blanked.arrays()
    cols = [FEATURE_NAMES.index(n) for n in names]
    assert np.all(bx[:, cols] == 0.0) and np.array_equal(np.delete(bx, cols, 1), np.delete(x, cols, 1))
    assert np.array_equal(y, by) and np.array_equal(g, bg) and blanked.sources == small_set.sources


@pytest.mark.integration
def test_onnx_scores_equal_lightgbm(
    small_model: tuple[Any, Any], small_set: TrainingSet, tmp_path: Path
) -> None:
    """The exported ONNX model scores the same rows as the LightGBM booster within 1e-5."""
    booster, model = small_model
    path = tmp_path / "ranker.onnx"
    save_model_atomic(model, path)
    ranker = OnnxRanker.load(path)
    x, _, _ = small_set.arrays()
    onnx_scores = ranker.score(x[:3000])
    lgb_scores = booster.predict(x[:3000])
    assert np.max(np.abs(onnx_scores - lgb_scores)) < 1e-5
    assert ranker.metadata["cadence.schema_version"] == str(SCHEMA_VERSION)
    assert ranker.model_version == "test"


@pytest.mark.integration
def test_preselect_distillation_tracks_the_model(
    small_model: tuple[Any, Any], small_set: TrainingSet
) -> None:
    """The linear pre-selection weights rank a query's rows much like the model does."""
    booster, _ = small_model
    weights = fit_preselect(booster, small_set)
    assert set(weights) == set(PRESELECT_TERMS)
    assert all(len(v) == len(PRESELECT_CONTEXT) for v in weights.values())
    x, _, groups = small_set.arrays()
    terms, context = preselect_design(x)
    w = np.array([weights[t] for t in PRESELECT_TERMS])
    proxy = np.einsum("it,tc,ic->i", terms, w, context)
    score = booster.predict(x)
    corr = []
    start = 0
    for g in groups[:200]:
        a, b = proxy[start : start + g], score[start : start + g]
        corr.append(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])
        start += g
    assert np.nanmean(corr) > 0.6


@pytest.mark.integration
def test_expected_labels_see_the_same_candidates_without_the_draws_noise(
    small_lib: TruthLibrary, small_set: TrainingSet
) -> None:
    """Expected labels: the same candidate rows as drawn labels (same sessions, same queries), each
    labelled with its expected gain, which the drawn gains agree with on average."""
    expected = simulated_queries(
        small_lib,
        listeners=2,
        seed=3,
        sessions=2,
        tracks_per_session=12,
        families=FAMILIES_WITHOUT_READER,
        labels="expected",
    )
    x, y, groups = expected.arrays()
    x_drawn, y_drawn, groups_drawn = small_set.arrays()
    assert np.array_equal(groups, groups_drawn) and np.array_equal(x, x_drawn)
    assert y.min() >= 0.0 and y.max() <= max(LABEL_GAINS)
    assert len(np.unique(y)) > 100 and not set(np.unique(y)) <= set(LABEL_GAINS)
    assert (y < 1.0).any() and (y > 4.0).any()  # candidates the listener would skip, and ones they'd like
    # one draw per candidate: unbiased, so the means agree within a few standard errors
    assert abs(y_drawn.mean() - y.mean()) < 4 * y_drawn.std() / np.sqrt(len(y))
    assert np.corrcoef(y, y_drawn)[0, 1] > 0.3


def _write_log(path: Path, events: list) -> None:
    with InteractionLog(path) as log:
        log.record_many([(LogEvent(**asdict(e)), None) for e in events])


def test_log_plays_are_replayed_and_labelled_by_outcome(small_tracks: list, tmp_path: Path) -> None:
    """Plays read back from a real interaction log become rows labelled by their outcome's gain
    (early skip 0, late skip 1, completed 3, liked 7)."""
    events = simulate_log(small_tracks, listeners=3, seed=5, sessions=2, tracks_per_session=12)
    _write_log(tmp_path / "log.db", events)
    with InteractionLog(tmp_path / "log.db") as log:
        by_listener = {lid: log.events(lid) for lid in log.listeners()}
    ts = log_queries(by_listener, small_tracks, catalog_matrix(small_tracks))
    x, y, groups = ts.arrays()
    plays = sum(1 for e in events if e.kind == "started")
    assert ts.sources == {"log": len(y)}
    assert 0 < len(y) <= plays and len(groups) <= 3 * 2
    # labels agree with the logged outcomes, counted independently
    outcomes = {"early": 0, "late": 0, "done": 0, "liked": 0}
    last: dict[str, str] = {}
    for e in events:
        key = f"{e.session_id}/{e.track_id}"
        if e.kind == "skipped":
            last[key] = "early" if (e.position_s or 0.0) < 30 else "late"
        elif e.kind == "liked":
            last[key] = "liked"
        elif e.kind == "completed" and last.get(key) != "liked":
            last[key] = "done"
    for v in last.values():
        outcomes[v] += 1
    assert set(np.unique(y)) <= set(LABEL_GAINS)  # a logged play's label is its outcome's gain
    counts = np.bincount(np.searchsorted(LABEL_GAINS, y), minlength=4)
    if len(y) == plays:  # every session had mixed outcomes, so none was dropped
        assert counts.tolist() == [outcomes["early"], outcomes["late"], outcomes["done"], outcomes["liked"]]
    assert counts[0] > 0 and counts[2] + counts[3] > 0
    assert np.all(np.isfinite(x))


def test_atomic_replacement_keeps_the_old_model_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the rename fails the old model stays byte for byte and no temporary file is left."""
    target = tmp_path / "models" / "ranker.onnx"
    target.parent.mkdir()
    target.write_bytes(b"old model")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        save_model_atomic(b"new model", target)
    assert target.read_bytes() == b"old model"
    assert os.listdir(target.parent) == ["ranker.onnx"]
    monkeypatch.undo()
    save_model_atomic(b"new model", target)
    assert target.read_bytes() == b"new model"
    assert os.listdir(target.parent) == ["ranker.onnx"]


@pytest.mark.integration
def test_quality_gate_refuses_a_worse_model(
    small_tracks: list, small_set: TrainingSet, tmp_path: Path
) -> None:
    """A model trained on inverted labels does not replace a good one; a good one replaces a missing one."""
    catalog = synthetic_truth_library(seed=41, count=400)
    cfg = EvalConfig(listeners=4, seed=77, sessions=1, tracks_per_session=12, extra_seeds=())
    inverted = TrainingSet()
    for x, y in zip(small_set.features, small_set.labels, strict=True):
        inverted.add(x, max(LABEL_GAINS) - y, "simulated")
    _, bad = train_model(inverted, seed=0, rounds=30)
    target = tmp_path / "models" / "ranker.onnx"
    target.parent.mkdir()
    good = shipped_ranker_path().read_bytes()
    target.write_bytes(good)
    refused = replace_if_better(bad.SerializeToString(), target, catalog, cfg)
    assert not refused.replaced and "kept the current model" in refused.reason
    assert refused.current is not None and refused.candidate["skip_rate"] > refused.current["skip_rate"]
    assert target.read_bytes() == good
    assert sorted(os.listdir(target.parent)) == ["ranker.onnx"]

    target.write_bytes(b"corrupt")
    accepted = replace_if_better(good, target, catalog, cfg)
    assert accepted.replaced and "unusable" in accepted.reason
    assert target.read_bytes() == good


@pytest.mark.integration
def test_float32_thresholds_change_no_decision(small_set: TrainingSet) -> None:
    """Rounding split thresholds down to float32 leaves every prediction on float32 rows unchanged."""
    import lightgbm as lgb

    from models.train import LGBM_PARAMS, float32_thresholds

    x, y, groups = small_set.arrays()
    raw = lgb.train(
        dict(LGBM_PARAMS, seed=2), lgb.Dataset(x, y.astype(int), group=groups), num_boost_round=15
    )
    assert np.array_equal(raw.predict(x), float32_thresholds(raw).predict(x))


@pytest.mark.integration
def test_booster_is_deterministic(small_set: TrainingSet) -> None:
    """Training twice with the same seed gives the same scores (reproducible models)."""
    x, _, _ = small_set.arrays()
    a = train_booster(small_set, seed=1, rounds=10).predict(x[:500])
    b = train_booster(small_set, seed=1, rounds=10).predict(x[:500])
    assert np.array_equal(a, b)


@pytest.mark.integration
def test_an_ensemble_scores_the_mean_of_its_members_in_lightgbm_and_in_onnx(
    small_lib: TruthLibrary, small_set: TrainingSet
) -> None:
    """Two members trained on two simulated draws (seeds 0 and 1): the averaged booster scores every
    row at the mean of the members' scores, its ONNX export at the same scores (float32), and the
    metadata says how many members it has."""
    other = simulated_queries(
        small_lib, listeners=2, seed=4, sessions=2, tracks_per_session=12, families=FAMILIES_WITHOUT_READER
    )
    x = np.concatenate([small_set.arrays()[0][:400], other.arrays()[0][:400]])
    members = [train_booster(small_set, seed=0, rounds=20), train_booster(other, seed=1, rounds=20)]
    assert not np.allclose(members[0].predict(x), members[1].predict(x))
    mean = (members[0].predict(x) + members[1].predict(x)) / 2
    booster, model = train_model([small_set, other], seed=0, rounds=20, info={"model_version": "ens"})
    assert booster.num_trees() == 40
    np.testing.assert_allclose(booster.predict(x), mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(average_boosters(members).predict(x), mean, rtol=0, atol=1e-12)
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    onnx_scores = session.run(None, {"features": x.astype(np.float32)})[0].ravel()
    np.testing.assert_allclose(onnx_scores, mean, rtol=0, atol=1e-5)
    training = json.loads({p.key: p.value for p in model.metadata_props}["cadence.training"])
    assert training["ensemble"] == 2
    assert training["rows"] == small_set.rows + other.rows


@pytest.mark.integration
def test_boosters_that_disagree_on_their_features_are_not_averaged(small_set: TrainingSet) -> None:
    import lightgbm as lgb

    x, y, groups = small_set.arrays()
    narrow = lgb.train(
        dict(LGBM_PARAMS, seed=0), lgb.Dataset(x[:, :5], y.astype(int), group=groups), num_boost_round=3
    )
    with pytest.raises(ValueError, match="differ"):
        average_boosters([train_booster(small_set, seed=0, rounds=3), narrow])
    with pytest.raises(ValueError):
        average_boosters([])


@pytest.mark.slow
def test_cadence_train_retrains_from_the_log(log_backend: LogBackend) -> None:
    """`cadence train` (its two steps, :func:`retrain_cf` and :func:`retrain`) reads the interaction log
    (HOME/log.db, or the PostgreSQL log servers share), trains the collaborative-filtering factors from
    it, tops up with simulated listeners of the training families, and installs the new model as the
    challenger (schema checked), not as the ranker: the same on both stores."""
    settings = log_backend.settings()
    events = simulate_log(
        synthetic_catalog(1500, seed=21), listeners=6, seed=9, sessions=2, tracks_per_session=12
    )
    with log_backend.open() as log:
        log.record_many([(LogEvent(**asdict(e)), None) for e in events])
    cf = retrain_cf(settings)
    assert (cf.action, cf.listeners, cf.items) == ("trained", 3, 2)  # as train_cf on these events
    model = CfModel.load(cf_path(settings))
    assert model is not None and len(model.item_ids) == 2
    report = retrain(
        settings,
        seed=0,
        min_rows=8000,
        rounds=60,
        gate=EvalConfig(listeners=2, seed=5, sessions=1, tracks_per_session=10, extra_seeds=()),
    )
    assert report["catalog"]["source"] == "synthetic"
    assert report["log"]["listeners"] == 6 and report["log"]["held_out_listeners"] == 2
    assert report["log"]["training_rows"] > 0 and report["simulated_top_up_listeners_per_family"] >= 1
    assert not report["replaced"] and not (settings.models_dir / "ranker.onnx").exists()
    challenger = OnnxRanker.load(settings.models_dir / "challenger.onnx")
    assert challenger.model_version.startswith("trained-")
    sources = json.loads(challenger.metadata["cadence.training"])["sources"]
    assert sources["log"] > 0 and f"simulated:{HELDOUT_FAMILY}" not in sources


@pytest.mark.integration
def test_heldout_family_is_never_training_data(small_set: TrainingSet) -> None:
    """Neither the training data nor the shipped model's recorded training families hold the held-out family."""
    assert HELDOUT_FAMILY not in TRAIN_FAMILIES
    assert not any(HELDOUT_FAMILY in source for source in small_set.sources)
    training = json.loads(OnnxRanker.load(shipped_ranker_path()).metadata["cadence.training"])
    assert HELDOUT_FAMILY not in training["families"]
    assert set(training["families"]) == set(TRAIN_FAMILIES)
    assert training["sources"] and all(HELDOUT_FAMILY not in s for s in training["sources"])


@pytest.mark.parametrize("listeners", ["0", "-3"])
def test_train_refuses_fewer_than_one_listener_per_family(
    listeners: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--listeners`` below 1 is a usage error (exit 2, said on stderr), before anything is trained."""
    with pytest.raises(SystemExit) as exit_info:
        train_main([str(tmp_path), "--listeners", listeners, "--no-ablations"])
    assert exit_info.value.code == 2
    assert "--listeners must be at least 1" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_train_refuses_an_ensemble_of_fewer_than_one_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--ensemble`` below 1 is a usage error (exit 2, said on stderr), before anything is trained."""
    with pytest.raises(SystemExit) as exit_info:
        train_main([str(tmp_path), "--ensemble", "0", "--no-ablations"])
    assert exit_info.value.code == 2
    assert "--ensemble must be at least 1" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
