"""Tests of models.evaluate and `cadence eval`: the metrics, the report's shape (per family, the
baselines, mood following, targets), policies run in the real session core, and the targets the
shipped ranker meets on the evaluation catalog."""

from __future__ import annotations

import itertools
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.baselines import NearestRecommender
from models.catalogs import EVAL_SEED, TruthLibrary
from models.driver import SessionPlayer
from models.evaluate import BASELINES, METRICS, EvalConfig, _seed_spread, _targets, evaluate, gini, ndcg_at_k
from models.moodfollow import HELD_OUT_SCRIPTS, POLICIES, SCRIPTS, TargetDistanceScorer, paired_difference
from models.simulate import FAMILIES, HELDOUT_FAMILY, MoodPoint, Utterance, draw_listeners, run_listener
from mood.types import MoodEstimate
from player.cli import main
from player.core.listener import ListenerState
from player.core.ranking import (
    PRESELECT_TERMS,
    OnnxRanker,
    Recommender,
    assemble_features,
    build_context,
    shipped_ranker_path,
)


def test_gini_extremes() -> None:
    """Gini is 0 for equal exposure and close to 1 when one item gets everything."""
    assert gini(np.ones(50)) == pytest.approx(0.0, abs=1e-9)
    one = np.zeros(1000)
    one[3] = 5.0
    assert gini(one) > 0.99
    assert gini(np.zeros(10)) == 0.0


def test_ndcg_at_k() -> None:
    """NDCG is 1 for the ideal order, below 1 for a worse one, 0 without gains, and cut at k."""
    gains = np.array([3.0, 2.0, 0.0, 1.0])
    assert ndcg_at_k(np.sort(gains)[::-1], gains, 10) == pytest.approx(1.0)
    worse = ndcg_at_k(np.array([0.0, 1.0, 2.0, 3.0]), gains, 10)
    assert 0.0 < worse < 1.0
    expected = (0 + 1 / np.log2(3) + 2 / 2 + 3 / np.log2(5)) / (3 + 2 / np.log2(3) + 1 / 2)
    assert worse == pytest.approx(expected)
    assert ndcg_at_k(np.zeros(3), np.zeros(3)) == 0.0
    assert ndcg_at_k(np.array([0.0, 3.0]), np.array([0.0, 3.0]), 1) == 0.0


def _entry(ranker: float, skip_aware: float, best: float, held: bool) -> dict[str, Any]:
    return {
        "held_out": held,
        "ranker": {"skip_rate": ranker},
        "baselines": {"skip_aware": {"skip_rate": skip_aware}},
        "skip_rate_reduction_vs_best_baseline": best,
    }


def test_paired_difference_compares_check_by_check() -> None:
    """The ranker's distance less nearest-neighbour's per check: mean, standard error, closer/farther
    counts; scripts that differ are refused."""

    def run(*distances: float | None) -> dict[str, Any]:
        checks = [{"top5_distance": d} if d is not None else {"say": "x"} for d in distances]
        return {"scripts": [{"script": "s", "checks": checks}]}

    report = {"ranker": run(0.1, None, 0.2, 0.3), "nearest": run(0.2, None, 0.2, 0.1)}
    p = paired_difference(report, "ranker")
    assert p["checks"] == 3 and p["closer"] == 1 and p["farther"] == 1
    assert p["mean_difference"] == pytest.approx((-0.1 + 0.0 + 0.2) / 3, abs=1e-4)
    assert p["standard_error"] == pytest.approx(
        float(np.std([-0.1, 0.0, 0.2], ddof=1) / np.sqrt(3)), abs=1e-4
    )
    with pytest.raises(ValueError):
        paired_difference({"ranker": run(0.1), "nearest": run(0.1, 0.2)}, "ranker")


def test_held_out_scripts_are_new_sentences() -> None:
    """The held-out mood-following scripts share no sentence or name with the scripts the queue's
    rules were chosen on, and each checks bands and requests as those do."""

    def sentences(scripts: tuple[Any, ...]) -> set[str]:
        return {step.text.lower() for s in scripts for step in s.steps if hasattr(step, "text")}

    assert not sentences(SCRIPTS) & sentences(HELD_OUT_SCRIPTS)
    assert not {s.name for s in SCRIPTS} & {s.name for s in HELD_OUT_SCRIPTS}
    assert sum(1 for s in HELD_OUT_SCRIPTS for step in s.steps if getattr(step, "direction", None)) >= 3


def test_targets_say_whether_each_is_met() -> None:
    """The targets read the held-out reduction (≥ 15 %), every family against the skip-aware heuristic
    and the mood-following distances; one miss makes a target not met."""
    report: dict[str, Any] = {
        "families": {
            HELDOUT_FAMILY: _entry(0.30, 0.40, 0.16, True),
            "band": _entry(0.31, 0.30, -0.03, False),
        },
        "mood_following": {"ranker": {"top5_distance": 0.14}, "nearest": {"top5_distance": 0.15}},
    }
    t = _targets(report)
    assert t["heldout_vs_best_baseline"]["met"] is True
    assert t["no_worse_than_skip_aware"]["met"] is False
    assert t["mood_following_vs_nearest"]["met"] is True
    # the held-out scripts must be met too
    report["mood_following_held_out"] = {
        "ranker": {"top5_distance": 0.16},
        "nearest": {"top5_distance": 0.15},
    }
    t = _targets(report)
    assert t["mood_following_vs_nearest"]["met"] is False
    assert set(t["mood_following_vs_nearest"]["value"]) == {"scripts", "held_out_scripts"}
    report["families"][HELDOUT_FAMILY]["skip_rate_reduction_vs_best_baseline"] = 0.149
    assert _targets(report)["heldout_vs_best_baseline"]["met"] is False
    # over several draws of listeners the targets read the means, not the first draw
    report["mood_following_held_out"] = {
        "ranker": {"top5_distance": 0.14},
        "nearest": {"top5_distance": 0.15},
    }
    report["families"][HELDOUT_FAMILY]["skip_rate_reduction_vs_best_baseline"] = 0.16
    rows = {
        HELDOUT_FAMILY: ([0.30, 0.36], [0.40, 0.40], [0.25, 0.10]),
        "band": ([0.29, 0.32], [0.30, 0.31], [0.03, -0.03]),
    }
    report["seed_spread"] = _seed_spread(
        {
            seed: {
                f: {
                    "ranker": {"skip_rate": r[k]},
                    "baselines": {"skip_aware": {"skip_rate": a[k]}},
                    "best_baseline": "skip_aware",
                    "skip_rate_reduction_vs_best_baseline": red[k],
                }
                for f, (r, a, red) in rows.items()
            }
            for k, seed in enumerate((1000, 2000))
        }
    )
    t = _targets(report)
    assert t["heldout_vs_best_baseline"]["value"] == pytest.approx(0.175)
    assert t["heldout_vs_best_baseline"]["met"] is True
    assert t["heldout_vs_best_baseline"]["per_seed"] == {1000: 0.25, 2000: 0.10}
    # band: above skip-aware on one draw, not on the mean (0.305 vs 0.305)
    assert t["no_worse_than_skip_aware"]["met"] is True
    assert t["no_worse_than_skip_aware"]["seeds_above_skip_aware"] == {HELDOUT_FAMILY: 0, "band": 1}
    report["seed_spread"]["families"][HELDOUT_FAMILY]["mean"]["reduction_vs_best_baseline"] = 0.12
    assert _targets(report)["heldout_vs_best_baseline"]["met"] is False


@pytest.mark.integration
def test_policies_run_in_the_session_core(demo_lib: TruthLibrary) -> None:
    """The simulated client's sessions go through the real session core: every event is logged, and a
    returning listener's next session starts from the replayed history."""
    player = SessionPlayer(demo_lib.tracks, NearestRecommender(demo_lib.tracks, demo_lib.matrix))
    listener = draw_listeners("band", 1, seed=4, cat=demo_lib.truth)[0]
    positions, plays = [], []
    for _ in run_listener(listener, demo_lib.truth, player, seed=1, sessions=2, tracks_per_session=5):
        positions.append(player.state.session_position)
        plays.append(sum(s.plays for s in player.state.track_stats.values()))
    assert positions == [1, 2, 3, 4, 5] * 2  # the second session's state starts a new session …
    assert plays == list(range(1, 11))  # … on the history replayed from the log
    kinds = [e.kind for e in player.log[listener.listener_id]]
    assert kinds.count("session_start") == 2 and kinds.count("session_end") == 2
    assert kinds.count("started") == 10


@pytest.mark.integration
def test_target_distance_scorer_is_nearest_inside_the_queue(demo_lib: TruthLibrary) -> None:
    """The mood-following reference scores a row by minus its distance to the target, so Cadence's
    queue built on it opens with the nearest track; its pre-selection leans on the distance alone."""
    scorer = TargetDistanceScorer()
    rec = Recommender(demo_lib.tracks, demo_lib.matrix, scorer)
    cat = rec.catalog
    for hour in (7, 15, 23):
        at = datetime(2026, 3, 4, hour, tzinfo=UTC)
        state = ListenerState("ref", local_time=at, at_s=at.timestamp())
        ctx = build_context(state, cat, at_s=at.timestamp(), count=5)
        target = ctx.targets[0]
        distance = np.hypot(cat.valence - target.valence, cat.energy - target.energy)
        rows = np.arange(cat.n)
        assert scorer.score(assemble_features(cat, ctx, rows, target)) == pytest.approx(-distance, abs=1e-5)
        picks = rec.recommend(state, count=5, at_s=at.timestamp()).picks
        assert cat.row[str(picks[0].track.id)] == int(np.argmin(distance))
    terms = dict(zip(PRESELECT_TERMS, scorer.preselect_weights.sum(axis=1), strict=True))
    assert terms.pop("target_distance") < 0 and not any(terms.values())


@pytest.fixture(scope="module")
def small_report(demo_lib: TruthLibrary) -> dict[str, Any]:
    from mood.analyzer import MoodAnalyzer

    cfg = EvalConfig(listeners=2, seed=5, sessions=1, tracks_per_session=6)
    return evaluate(demo_lib, OnnxRanker.load(shipped_ranker_path()), cfg, reader=MoodAnalyzer())


@pytest.mark.integration
def test_report_shape(small_report: dict[str, Any]) -> None:
    """Per family the ranker and every baseline with every metric, the held-out family marked, the
    mood-following summaries for every policy (the ranker, the ranker without its new-listener rule,
    nearest-neighbour, the distance-in-queue reference), the targets, the configuration."""
    report = small_report
    assert set(report) >= {"held_out_family", "families", "mood_following", "targets", "config"}
    assert report["held_out_family"] == HELDOUT_FAMILY
    assert list(report["families"]) == list(FAMILIES)
    for family, entry in report["families"].items():
        assert entry["held_out"] == (family == HELDOUT_FAMILY)
        assert set(entry["baselines"]) == set(BASELINES)
        for metrics in [entry["ranker"], *entry["baselines"].values()]:
            assert metrics["plays"] == 2 * 1 * 6
            for k in METRICS:
                assert 0.0 <= metrics[k] <= 1.0, (family, k)
            # knowing the listener's hidden state skips less than any policy's expected rate
            assert metrics["oracle_skip_rate"] < metrics["expected_skip_rate"], family
        assert entry["best_baseline"] in BASELINES
    for key in ("mood_following", "mood_following_held_out"):
        assert set(report[key]) == set(POLICIES)
        for name in POLICIES:
            summary = report[key][name]
            assert summary["checks"] > 10 and summary["requests"] >= 3
            assert 0.0 <= summary["top5_in_band"] <= 1.0 and 0.0 <= summary["direction_agreement"] <= 1.0
    paired = report["targets"]["mood_following_vs_nearest"]["value"]
    for key, n_checks in (
        ("scripts", report["mood_following"]["ranker"]["checks"]),
        ("held_out_scripts", report["mood_following_held_out"]["ranker"]["checks"]),
    ):
        assert paired[key]["checks"] == n_checks
        assert paired[key]["closer"] + paired[key]["farther"] <= n_checks
    assert set(report["targets"]) == {
        "heldout_vs_best_baseline",
        "no_worse_than_skip_aware",
        "mood_following_vs_nearest",
    }
    assert report["config"]["trained_families"] == [f for f in FAMILIES if f != HELDOUT_FAMILY]
    spread = report["seed_spread"]
    assert spread["seeds"] == [5, *EvalConfig().extra_seeds]
    held = spread["families"][HELDOUT_FAMILY]
    # the first draw is the report's own families
    assert held["ranker"][0] == report["families"][HELDOUT_FAMILY]["ranker"]["skip_rate"]
    assert held["mean"]["ranker"] == pytest.approx(float(np.mean(held["ranker"])), abs=1e-4)
    assert (
        report["targets"]["heldout_vs_best_baseline"]["value"] == held["mean"]["reduction_vs_best_baseline"]
    )
    json.dumps(report)  # JSON-ready


@pytest.mark.integration
def test_mood_following_scores_against_truth(small_report: dict[str, Any], demo_lib: TruthLibrary) -> None:
    """Each check's distance and band share are recomputed from the designed values of its top five."""
    for name, key in itertools.product(POLICIES, ("mood_following", "mood_following_held_out")):
        for script in small_report[key][name]["scripts"]:
            for check in script["checks"]:
                if "band" not in check:
                    continue
                sq = np.zeros(len(check["top5"]))
                inside = np.ones(len(check["top5"]), bool)
                for axis in ("valence", "energy"):
                    band = check["band"][axis]
                    if band is None:
                        continue
                    values = np.array([t[axis] for t in check["top5"]])
                    sq += (values - (band[0] + band[1]) / 2) ** 2
                    inside &= (values >= band[0]) & (values <= band[1])
                assert check["top5_distance"] == pytest.approx(float(np.sqrt(sq).mean()), abs=2e-3)
                assert check["top5_in_band"] == pytest.approx(float(inside.mean()))


@pytest.mark.integration
def test_cadence_eval_json_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cadence eval --json` builds and caches its evaluation catalog under HOME and reports every
    family; without --json it prints a readable table with the targets."""
    home = tmp_path / "home"
    args = ["eval", "--home", str(home), "--listeners", "1", "--catalog-tracks", "30"]
    assert main([*args, "--json", "--seeds", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seed_spread"]["seeds"] == [1000, 2000] and out["config"]["extra_seeds"] == [2000]
    assert out["config"]["catalog"] == f"demo-s{EVAL_SEED}-n30" and out["config"]["catalog_tracks"] == 30
    assert out["config"]["truth"] == "demo truth.json"
    assert list(out["families"]) == list(FAMILIES)
    assert (home / "eval-catalogs" / f"demo-s{EVAL_SEED}-n30" / "library.db").is_file()
    assert main([*args, "--seeds", "2"]) == 0
    table = capsys.readouterr().out
    assert "skip rate over 2 draws of listeners (seeds [1000, 2000])" in table
    assert table.startswith(f"catalog: demo-s{EVAL_SEED}-n30 (30 tracks")
    assert f"family {HELDOUT_FAMILY} (held out" in table and "mood following" in table and "targets" in table
    mood_rows = table.split("mood following", 1)[1].split("mood following, held-out scripts", 1)[0]
    held_rows = table.split("mood following, held-out scripts", 1)[1].split("targets", 1)[0]
    assert all(f"\n  {policy} " in mood_rows and f"\n  {policy} " in held_rows for policy in POLICIES)


_MACHINE_TOLERANCE = 1.5e-3
"""How far a published evaluation figure may move on another machine of the project's kind (its scan of
the evaluation catalog): about four times the 4e-4 seen."""


@pytest.mark.slow
def test_shipped_ranker_evaluation_is_reproduced(tmp_path: Path) -> None:
    """The shipped ranker re-evaluated on the held-out family (a fresh build of the evaluation catalog)
    gives the figures its model card and models/evaluation.json publish (within what another machine's
    scan moves them), and it beats the skip-aware heuristic there. Which of the issue's targets are met
    is what evaluation.json says; this test asserts the published figures are the measured ones, not
    that every target is met."""
    from models.catalogs import EVAL_COUNT, demo_truth_library
    from mood.analyzer import MoodAnalyzer

    published = json.loads((Path(shipped_ranker_path()).parent / "evaluation.json").read_text("utf-8"))[
        "report"
    ]
    lib = demo_truth_library(tmp_path / "catalogs", seed=EVAL_SEED, count=EVAL_COUNT)
    cfg = EvalConfig(families=(HELDOUT_FAMILY,), mood_following=False, extra_seeds=())
    report = evaluate(
        lib, OnnxRanker.load(shipped_ranker_path()), cfg, reader=MoodAnalyzer(), baselines=("skip_aware",)
    )
    mine, theirs = report["families"][HELDOUT_FAMILY], published["families"][HELDOUT_FAMILY]
    # Counts exactly; rates to the published 4 decimals give or take a few units in the last place
    # (the figures published: metrics added since, such as the oracle's, are not in the file yet).
    # The catalog is scanned on the machine that runs the test, and machines of one kind differ in
    # the last bits of the extracted features: on 2026-12-07 a second machine gave the ranker's skip
    # rate 0.3825 against the published 0.3829 (every rate within 4e-4, skip-aware's identical). A
    # serving change that moves a published figure by more than that is what this test is for.
    for policy, published_figures in (
        (mine["ranker"], theirs["ranker"]),
        (mine["baselines"]["skip_aware"], theirs["baselines"]["skip_aware"]),
    ):
        measured = {k: policy[k] for k in published_figures}
        assert measured == pytest.approx(published_figures, abs=_MACHINE_TOLERANCE)
    assert mine["ranker"]["skip_rate"] < mine["baselines"]["skip_aware"]["skip_rate"]
    card = (Path(shipped_ranker_path()).parent / "ranker.md").read_text("utf-8")
    assert str(theirs["skip_rate_reduction_vs_best_baseline"]) in card


@pytest.mark.integration
def test_each_listener_runs_on_its_own_clock(demo_lib: TruthLibrary) -> None:
    """One player serves simulated listeners in turn, each near the same epoch: every session runs at
    its own time, so a request made in one session no longer steers the next one days later, and the
    next listener does not start at the time the previous one reached."""
    from mood.types import Intent

    player = SessionPlayer(demo_lib.tracks, NearestRecommender(demo_lib.tracks, demo_lib.matrix))
    day = 86400.0
    t0 = 1_780_000_000.0
    local = datetime.fromtimestamp(t0, UTC)
    player.start("first", "first-s0", local, t0)
    calm = MoodEstimate(0.5, 0.5, confidence=0.8, intents=(Intent("energize"),))
    player.say(Utterance("let's go", MoodPoint(0.5, 0.5), heard=calm), t0 + 10)
    assert player.state.active_intent(t0 + 20) is not None
    player.end(t0 + 600)
    player.start("first", "first-s1", local + timedelta(days=3), t0 + 3 * day)
    player.next(t0 + 3 * day + 1)
    mood_events = [e for e in player.log["first"] if e.kind == "mood"]
    assert mood_events and mood_events[-1].at_s == pytest.approx(t0 + 10, abs=1e-3)
    session_starts = [e.at_s for e in player.log["first"] if e.kind == "session_start"]
    assert session_starts == [pytest.approx(t0, abs=1e-3), pytest.approx(t0 + 3 * day, abs=1e-3)]
    assert player.state.active_intent(t0 + 3 * day + 1) is None  # the request expired days ago
    player.end(t0 + 3 * day + 600)
    # the next listener starts back at the epoch, not at the first one's last time
    player.start("second", "second-s0", local, t0 + 5)
    assert [e.at_s for e in player.log["second"] if e.kind == "session_start"] == [
        pytest.approx(t0 + 5, abs=1e-3)
    ]


@pytest.mark.integration
def test_a_new_evaluation_is_republished_with_the_published_ablations(
    tmp_path: Path, small_report: dict[str, Any]
) -> None:
    """`python -m models.train --reevaluate` rewrites evaluation.json and the card from a new report of
    the same model and keeps the published ablations, saying when they were measured and what the
    shipped model measured beside them."""
    from models.train import republish

    shipped = Path(shipped_ranker_path()).parent
    for name in ("ranker.onnx", "evaluation.json"):
        shutil.copy(shipped / name, tmp_path / name)
    published = json.loads((shipped / "evaluation.json").read_text("utf-8"))
    published.pop("ablations_note", None)
    (tmp_path / "evaluation.json").write_text(json.dumps(published), "utf-8")
    republish(tmp_path, small_report)
    out = json.loads((tmp_path / "evaluation.json").read_text("utf-8"))
    assert out["report"] == json.loads(json.dumps(small_report))
    assert out["ablations"] == published["ablations"] and out["ablations"]
    before = published["report"]["families"][HELDOUT_FAMILY]["ranker"]["skip_rate"]
    assert f"{HELDOUT_FAMILY} {before}" in out["ablations_note"]
    card = (tmp_path / "ranker.md").read_text("utf-8")
    assert out["ablations_note"] in card and "| ranker_alone |" in card
    assert all(f"| {name} |" in card for name in published["ablations"])
    republish(tmp_path, small_report)  # again: the note is kept, not rewritten from the new report
    assert (
        json.loads((tmp_path / "evaluation.json").read_text("utf-8"))["ablations_note"]
        == out["ablations_note"]
    )
