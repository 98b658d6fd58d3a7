"""`cadence eval --live` and `cadence train`'s promotion rule, on logs constructed with known outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.commands import GateResult
from models.interleaving import sign_test_p_value
from models.live import interleave_or_promote, live_report
from player.cli import main
from player.core.interleave import InterleavedPick, QueueRecord, retrained_name
from player.core.records import LogEvent
from player.core.track import TrackId
from player.server.log import InteractionLog
from player.settings import Settings


def _write_log(
    log_db: Path, listener: str, challenger: str, *, wins: int, losses: int, ties: int, silent: int = 0
) -> None:
    """Queues of two picks (team a's track, then team b's) whose playback gives the challenger
    ``wins`` wins, ``losses`` losses, ``ties`` ties and ``silent`` uninformative queues."""
    items: list[LogEvent | QueueRecord] = []
    outcomes = ["b"] * wins + ["a"] * losses + ["tie"] * ties + ["silent"] * silent
    for i, outcome in enumerate(outcomes):
        session = f"{listener}-{challenger}-{i}"
        t0 = 1000.0 * i
        a, b = TrackId(f"{session}-a"), TrackId(f"{session}-b")
        items.append(
            QueueRecord(
                session, 0, listener, t0, challenger, (InterleavedPick(a, "a", 0), InterleavedPick(b, "b", 0))
            )
        )
        done = {"b": [b], "a": [a], "tie": [a, b], "silent": []}[outcome]
        for k, track in enumerate(done):
            items.append(
                LogEvent(
                    kind="completed",
                    listener_id=listener,
                    session_id=session,
                    at_s=t0 + 1 + k,
                    track_id=track,
                    position_s=200.0,
                )
            )
    with InteractionLog(log_db) as log:
        log.record_many([item if isinstance(item, QueueRecord) else (item, None) for item in items])


def test_eval_live_json_reports_each_challenger_per_listener_and_pooled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cadence eval --live --json` counts wins/losses/ties per challenger as constructed, pooled and per listener."""
    log_db = tmp_path / "log.db"
    _write_log(log_db, "ann", "heuristic", wins=30, losses=10, ties=5, silent=3)
    _write_log(log_db, "bob", "heuristic", wins=5, losses=5, ties=0)
    _write_log(log_db, "bob", "retrained:0123456789ab", wins=2, losses=7, ties=1)
    assert main(["eval", "--live", "--json", "--home", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    pooled = report["challengers"]["heuristic"]
    assert (pooled["wins"], pooled["losses"], pooled["ties"], pooled["uninformative"]) == (35, 15, 5, 3)
    assert pooled["impressions"] == 55 and pooled["queues"] == 58
    assert pooled["delta"] == pytest.approx(20 / 55, abs=1e-6)
    assert pooled["p_value"] == pytest.approx(sign_test_p_value(35, 15))
    assert pooled["ci_low"] < pooled["delta"] < pooled["ci_high"]
    # 55 impressions < 200: not enough to promote, whatever p says.
    assert pooled["verdict"] == "not_enough_impressions" and "55 < 200" in pooled["message"]
    assert report["listeners"]["ann"]["heuristic"]["wins"] == 30
    assert report["listeners"]["bob"]["retrained:0123456789ab"]["losses"] == 7
    assert main(["eval", "--live", "--json", "--listener", "bob", "--home", str(tmp_path)]) == 0
    only_bob = json.loads(capsys.readouterr().out)
    assert only_bob["listener"] == "bob" and set(only_bob["listeners"]) == {"bob"}
    assert (only_bob["challengers"]["heuristic"]["wins"], only_bob["challengers"]["heuristic"]["losses"]) == (
        5,
        5,
    )


def test_eval_live_text_says_the_verdict_and_its_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The readable report gives counts, Δ with its interval, p and the verdict; an empty log says what to do."""
    assert main(["eval", "--live", "--home", str(tmp_path)]) == 0
    assert "no interleaved queues" in capsys.readouterr().out
    _write_log(tmp_path / "log.db", "ann", "heuristic", wins=150, losses=40, ties=30)
    assert main(["eval", "--live", "--home", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "150 wins / 40 losses / 30 ties" in out and "Δ = +0.500" in out
    assert "verdict: challenger wins" in out


def test_live_report_uses_the_settings_minimum_and_alpha(tmp_path: Path) -> None:
    """The verdict follows Settings.promote_min_impressions and promote_alpha."""
    _write_log(tmp_path / "log.db", "ann", "heuristic", wins=14, losses=6, ties=0)
    loose = live_report(Settings(home=tmp_path, promote_min_impressions=10, promote_alpha=0.2))
    strict = live_report(Settings(home=tmp_path, promote_min_impressions=10, promote_alpha=0.05))
    assert sign_test_p_value(14, 6) < 0.2
    assert loose["challengers"]["heuristic"]["verdict"] == "challenger_wins"
    assert strict["challengers"]["heuristic"]["verdict"] == "no_difference"


class _Gate:
    """The offline gate's stand-in: records what it judged; installs it as ranker.onnx if ``passes``."""

    def __init__(self, settings: Settings, *, passes: bool) -> None:
        self.target = settings.models_dir / "ranker.onnx"
        self.passes = passes
        self.judged: list[bytes] = []

    def __call__(self, model: bytes) -> GateResult:
        self.judged.append(model)
        if self.passes:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.target.write_bytes(model)
            return GateResult(
                True, "the new model evaluates at least as well: replaced", {"skip_rate": 0.3}, None
            )
        return GateResult(False, "kept the current model: skip_rate 0.5 > 0.3", {"skip_rate": 0.5}, None)


def _home_with_challenger(tmp_path: Path, model: bytes, **log: int) -> Settings:
    settings = Settings(home=tmp_path)
    settings.models_dir.mkdir(parents=True)
    (settings.models_dir / "challenger.onnx").write_bytes(model)
    if log:
        _write_log(settings.log_db, "ann", retrained_name(model), **log)
    return settings


def test_train_installs_a_first_candidate_as_the_challenger(tmp_path: Path) -> None:
    """No challenger yet: the candidate becomes challenger.onnx, nothing is promoted, the gate is not asked."""
    settings = Settings(home=tmp_path)
    gate = _Gate(settings, passes=True)
    result = interleave_or_promote(settings, b"candidate", gate=gate)
    assert result.action == "installed" and not result.promoted and gate.judged == []
    assert (settings.models_dir / "challenger.onnx").read_bytes() == b"candidate"
    assert not (settings.models_dir / "ranker.onnx").exists()
    assert "interleaves it" in result.message and "at least 200 impressions" in result.message
    assert result.installed == retrained_name(b"candidate")


def test_train_replaces_a_challenger_that_was_never_interleaved(tmp_path: Path) -> None:
    """A challenger with no interleaved queue in the log is replaced by the newer candidate."""
    settings = _home_with_challenger(tmp_path, b"old")
    _write_log(settings.log_db, "ann", "heuristic", wins=300, losses=0, ties=0)  # another challenger's queues
    result = interleave_or_promote(settings, b"new", gate=_Gate(settings, passes=True))
    assert result.action == "replaced_unjudged"
    assert (settings.models_dir / "challenger.onnx").read_bytes() == b"new"


def test_train_keeps_a_challenger_without_enough_impressions_and_says_why(tmp_path: Path) -> None:
    """Winning but under the minimum: not promoted, the challenger stays, the message has the numbers."""
    settings = _home_with_challenger(tmp_path, b"old", wins=90, losses=10, ties=20)
    gate = _Gate(settings, passes=True)
    result = interleave_or_promote(settings, b"new", gate=gate)
    assert result.action == "kept" and not result.promoted and gate.judged == []
    assert (
        "not enough impressions (120 < 200)" in result.message
        and "90 wins / 10 losses / 20 ties" in result.message
    )
    assert (settings.models_dir / "challenger.onnx").read_bytes() == b"old"
    assert not (settings.models_dir / "ranker.onnx").exists()
    assert result.stats is not None and result.stats["impressions"] == 120


def test_train_keeps_a_challenger_with_no_significant_difference(tmp_path: Path) -> None:
    """Enough impressions but p ≥ alpha: kept, with the verdict's numbers."""
    settings = _home_with_challenger(tmp_path, b"old", wins=105, losses=95, ties=20)
    result = interleave_or_promote(settings, b"new", gate=_Gate(settings, passes=True))
    assert result.action == "kept" and "no significant difference" in result.message
    assert (settings.models_dir / "challenger.onnx").read_bytes() == b"old"


def test_train_promotes_a_winning_challenger_that_passes_the_gate(tmp_path: Path) -> None:
    """Wins with enough impressions and passes the offline gate: it becomes ranker.onnx, the candidate the next challenger."""
    settings = _home_with_challenger(tmp_path, b"old", wins=150, losses=50, ties=20)
    gate = _Gate(settings, passes=True)
    result = interleave_or_promote(settings, b"new", gate=gate)
    assert result.action == "promoted" and result.promoted and gate.judged == [b"old"]
    assert (settings.models_dir / "ranker.onnx").read_bytes() == b"old"
    assert (settings.models_dir / "challenger.onnx").read_bytes() == b"new"
    assert "challenger wins" in result.message and result.gate is not None and result.gate.replaced


def test_train_does_not_promote_a_winner_the_offline_gate_refuses(tmp_path: Path) -> None:
    """The offline gate is an additional check: refused, ranker.onnx stays, the candidate replaces the challenger."""
    settings = _home_with_challenger(tmp_path, b"old", wins=150, losses=50, ties=20)
    result = interleave_or_promote(settings, b"new", gate=_Gate(settings, passes=False))
    assert result.action == "gate_refused" and not result.promoted
    assert "skip_rate 0.5 > 0.3" in result.message
    assert not (settings.models_dir / "ranker.onnx").exists()
    assert (settings.models_dir / "challenger.onnx").read_bytes() == b"new"


def test_train_retires_a_challenger_the_shipped_ranker_beats(tmp_path: Path) -> None:
    """The shipped ranker wins significantly: the challenger is replaced by the candidate, nothing promoted."""
    settings = _home_with_challenger(tmp_path, b"old", wins=40, losses=150, ties=20)
    gate = _Gate(settings, passes=True)
    result = interleave_or_promote(settings, b"new", gate=gate)
    assert result.action == "retired" and gate.judged == [] and "shipped ranker wins" in result.message
    assert (settings.models_dir / "challenger.onnx").read_bytes() == b"new"


def test_train_min_impressions_is_configurable(tmp_path: Path) -> None:
    """`cadence train --min-impressions N` sets the minimum; interleave_or_promote takes it from Settings."""
    from player.cli import build_parser, settings_from_args

    args = build_parser().parse_args(["train", "--min-impressions", "50", "--home", str(tmp_path)])
    settings = settings_from_args(args)
    assert settings.promote_min_impressions == 50
    settings.models_dir.mkdir(parents=True)
    (settings.models_dir / "challenger.onnx").write_bytes(b"old")
    _write_log(settings.log_db, "ann", retrained_name(b"old"), wins=45, losses=10, ties=5)
    result = interleave_or_promote(settings, b"new", gate=_Gate(settings, passes=True))
    assert result.action == "promoted"
