"""Tests of models.evaluate and `cadence eval`: the metrics, the thresholds the ranker must meet on
held-out simulated listeners (with the shipped ONNX model), and the command on a real library."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.evaluate import EvalConfig, evaluate, gini
from models.simulate import catalog_matrix, synthetic_catalog
from player.cli import main
from player.core.ranking import OnnxRanker, shipped_ranker_path

METRICS = {
    "plays",
    "skip_rate",
    "early_skip_rate",
    "ndcg_at_10",
    "valence_error",
    "energy_error",
    "coverage",
    "exposure_gini",
}


def test_gini_extremes() -> None:
    """Gini is 0 for equal exposure and close to 1 when one item gets everything."""
    assert gini(np.ones(50)) == pytest.approx(0.0, abs=1e-9)
    one = np.zeros(1000)
    one[3] = 5.0
    assert gini(one) > 0.99
    assert gini(np.zeros(10)) == 0.0


@pytest.fixture(scope="module")
def report() -> dict:
    tracks = synthetic_catalog(1500, seed=21)
    ranker = OnnxRanker.load(shipped_ranker_path())
    return evaluate(tracks, catalog_matrix(tracks), ranker, EvalConfig(listeners=16, reaction_listeners=10))


@pytest.mark.slow
def test_report_shape(report: dict) -> None:
    """The report is {"ranker": {...}, "baselines": {"random", "popular", "heuristic"}} with every metric."""
    assert set(report) >= {"ranker", "baselines"}
    assert set(report["baselines"]) == {"random", "popular", "heuristic"}
    for metrics in [report["ranker"], *report["baselines"].values()]:
        assert set(metrics) >= METRICS
        assert metrics["plays"] == 16 * 3 * 20
        for k in METRICS - {"plays"}:
            assert 0.0 <= metrics[k] <= 1.0, k
    assert set(report["ranker"]["skip_reaction"]) >= {
        "distance_before",
        "distance_after_skips",
        "distance_after_completions",
    }


@pytest.mark.slow
def test_ranker_beats_the_heuristic_by_a_fifth(report: dict) -> None:
    """On held-out listeners the ranker's skip rate is at least 20 % below the nearest-to-target heuristic."""
    ranker, heuristic = report["ranker"], report["baselines"]["heuristic"]
    assert ranker["skip_rate"] <= 0.8 * heuristic["skip_rate"]
    assert ranker["ndcg_at_10"] > heuristic["ndcg_at_10"]
    assert ranker["skip_rate"] < report["baselines"]["random"]["skip_rate"]
    assert ranker["skip_rate_reduction_vs_heuristic"] >= 0.2


@pytest.mark.slow
def test_skip_reaction_moves_away(report: dict) -> None:
    """After 3 consecutive early skips the ranker's picks sit measurably farther from those tracks."""
    r = report["ranker"]["skip_reaction"]
    assert r["distance_after_skips"] > 1.1 * r["distance_before"]
    assert r["distance_after_skips"] > 1.1 * r["distance_after_completions"]


@pytest.mark.slow
def test_popularity_bias_is_measured(report: dict) -> None:
    """Most-played collapses onto few tracks; the ranker spreads exposure far more widely."""
    popular, ranker = report["baselines"]["popular"], report["ranker"]
    assert popular["exposure_gini"] > 0.9 and popular["coverage"] < 0.05
    assert ranker["exposure_gini"] < popular["exposure_gini"] - 0.15
    assert ranker["coverage"] > 5 * popular["coverage"]


@pytest.mark.slow
def test_cadence_eval_uses_the_library_at_home(demo_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cadence eval --home H --json` runs on H's scanned library and says so."""
    assert main(["eval", "--home", str(demo_home), "--json", "--listeners", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["catalog"] == "library"
    assert out["config"]["catalog_tracks"] == 120
    assert set(out["baselines"]) == {"random", "popular", "heuristic"}


@pytest.mark.slow
def test_cadence_eval_falls_back_to_a_synthetic_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no library at --home, eval runs on a synthetic catalog and prints a readable table."""
    assert main(["eval", "--home", str(tmp_path), "--listeners", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("catalog: synthetic (1500 tracks)")
    assert "heuristic" in out and "skip rate vs heuristic" in out
