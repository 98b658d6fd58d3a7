"""Serving the collaborative-filtering factors (player/cf.py), the log's private flag and `cadence
listeners`."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from player.cf import (
    CF_FORMAT_VERSION,
    NEUTRAL_SCORE,
    CfModel,
    confidence,
    event_weight,
    track_evidence,
)
from player.cli import main
from player.core.records import LogEvent
from player.server.log import InteractionLog

FACTORS = 4


def _model() -> CfModel:
    """Two planted groups of tracks (a0…a9 along one axis, b0…b9 along another) and two listeners."""
    rng = np.random.default_rng(5)
    ids = [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)]
    items = np.zeros((20, FACTORS), np.float32)
    items[:10, 0] = 1.0
    items[10:, 1] = 1.0
    items += rng.normal(0, 0.05, items.shape).astype(np.float32)
    users = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32)
    return CfModel(tuple(ids), items, ("ann", "bob"), users, factors=FACTORS, regularization=0.1)


def _done(listener: str, track: str, at_s: float, kind: str = "completed") -> LogEvent:
    return LogEvent(kind, listener, "s", at_s, track_id=track, position_s=180.0)  # type: ignore[arg-type]


def test_event_weights_and_confidences() -> None:
    """Completed +1, liked +2, late skip +0.25, early skip −1, disliked −2, started 0; confidences are
    signed, at least 1 in size, and grow with the evidence."""
    skip = LogEvent("skipped", "a", "s", 1.0, track_id="t", position_s=12.0)
    late = LogEvent("skipped", "a", "s", 1.0, track_id="t", position_s=45.0)
    assert event_weight(skip) == -1.0 and event_weight(late) == 0.25
    assert event_weight(_done("a", "t", 0, "liked")) == 2.0
    assert event_weight(_done("a", "t", 0, "disliked")) == -2.0
    assert event_weight(_done("a", "t", 0, "started")) == 0.0
    events = [_done("a", "t", 0), skip, _done("a", "u", 0, "liked"), _done("b", "u", 0)]
    assert track_evidence(events, "a") == {"u": 2.0}  # t: +1 − 1 cancels
    assert confidence(0.0) == 0.0
    assert confidence(1.0) > 1.0 and confidence(-1.0) == -confidence(1.0)
    assert confidence(3.0) > confidence(1.0)


def test_scores_are_aligned_neutral_for_unknown_tracks_and_follow_the_events() -> None:
    """A listener folded in from completions of group a scores group a above group b, which the model
    says nothing about (near neutral, like unknown ids, which get exactly the neutral score); nothing positive (or only unknown tracks): None."""
    model = _model()
    events = [_done("zoe", f"a{i}", float(i)) for i in range(5)]
    asked = ["a7", "nope", "b3", "a8"]
    scores = model.scores("zoe", events, asked)
    assert scores is not None and scores.dtype == np.float32 and scores.shape == (4,)
    assert scores[1] == NEUTRAL_SCORE
    # a7, a8 (the listener's group, not yet played) well above neutral; b3 (no evidence either way) near it
    assert scores[0] > 0.6 and scores[3] > 0.6
    assert abs(scores[2] - NEUTRAL_SCORE) < 0.1 and scores[2] < scores[0]
    assert np.all((scores >= 0) & (scores <= 1))
    assert model.scores("zoe", [], asked) is None
    assert model.scores("zoe", [_done("zoe", "nope", 0.0)], asked) is None
    early = LogEvent("skipped", "zoe", "s", 1.0, track_id="a1", position_s=3.0)
    assert model.scores("zoe", [early], asked) is None
    # Other listeners' events passed along are ignored.
    assert model.scores("max", events, asked) is None


def test_the_same_tuple_of_ids_is_mapped_once() -> None:
    model = _model()
    ids = ("a1", "b1", "x")
    assert model.rows(ids) is model.rows(ids)
    assert model.rows(ids).tolist() == [1, 11, -1]


def test_also_played_returns_ids_and_numbers_of_the_same_group() -> None:
    """also_played: other tracks of the same planted group, best first, never the track itself."""
    model = _model()
    similar = model.also_played("a3", n=5)
    assert len(similar) == 5
    assert all(t.startswith("a") and t != "a3" for t, _ in similar)
    assert all(isinstance(s, float) for _, s in similar)
    assert [s for _, s in similar] == sorted((s for _, s in similar), reverse=True)
    assert model.also_played("unknown") == [] and model.also_played("a3", n=0) == []


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    """A saved model loads with the same ids, factors and hyper-parameters, and scores the same; the
    file is readable by its owner only and holds no event."""
    model = _model()
    path = tmp_path / "cf.npz"
    model.save(path)
    loaded = CfModel.load(path)
    assert loaded is not None
    assert loaded.item_ids == model.item_ids and loaded.user_ids == model.user_ids
    np.testing.assert_array_equal(loaded.item_factors, model.item_factors)
    np.testing.assert_array_equal(loaded.user_factors, model.user_factors)
    assert loaded.hyper_parameters() == model.hyper_parameters()
    assert loaded.version == CF_FORMAT_VERSION
    events = [_done("zoe", "b1", 1.0)]
    np.testing.assert_array_equal(loaded.scores("zoe", events, ["b2"]), model.scores("zoe", events, ["b2"]))  # type: ignore[arg-type]
    assert path.stat().st_mode & 0o077 == 0
    assert [p.name for p in tmp_path.iterdir()] == ["cf.npz"]


def test_load_missing_damaged_or_foreign_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """No file: None. A damaged file or another format version: None with a WARNING (CF stays out of
    the way, serving goes on)."""
    assert CfModel.load(tmp_path / "cf.npz") is None
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"not a zip at all")
    with caplog.at_level(logging.WARNING, logger="player.cf"):
        assert CfModel.load(damaged) is None
    assert "not a usable CF model" in caplog.text
    foreign = tmp_path / "foreign.npz"
    _model().save(foreign)
    with np.load(foreign) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["version"] = np.int64(CF_FORMAT_VERSION + 1)
    np.savez(foreign, **arrays)
    with caplog.at_level(logging.WARNING, logger="player.cf"):
        assert CfModel.load(foreign) is None
    assert f"CF format {CF_FORMAT_VERSION + 1}" in caplog.text


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="do not match"):
        CfModel(("a", "b"), np.zeros((3, 2), np.float32), (), np.zeros((0, 2)), factors=2, regularization=0.1)


# ---------------------------------------------------------------------------------------- private flag


def test_private_flag_persists(tmp_path: Path) -> None:
    """set_private marks and unmarks a listener across reopenings; an unknown listener is reported,
    and new events keep the flag."""
    path = tmp_path / "log.db"
    with InteractionLog(path) as log:
        log.record(_done("ann", "t1", 1.0))
        log.record(_done("bob", "t1", 2.0))
        assert log.private_listeners() == set()
        assert log.set_private("ann", True) is True
        assert log.set_private("nobody", True) is False
    with InteractionLog(path) as log:
        assert log.private_listeners() == {"ann"}
        log.record(_done("ann", "t2", 3.0))
        assert log.private_listeners() == {"ann"}
        rows = {r.listener_id: r for r in log.listener_rows()}
        assert rows["ann"].private and not rows["bob"].private
        assert rows["ann"].events == 2 and rows["ann"].last_seen_s == 3.0
        assert log.set_private("ann", False)
        assert log.private_listeners() == set()


_VERSION_3_LISTENERS = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '3');
CREATE TABLE listeners (listener_id TEXT PRIMARY KEY, first_seen_s REAL NOT NULL, last_seen_s REAL NOT NULL);
INSERT INTO listeners VALUES ('ann', 1.0, 2.0);
"""


def test_a_version_3_log_gets_the_private_flag(tmp_path: Path) -> None:
    """Opening a log without ``listeners.private`` adds it (everyone public) and stamps version 4."""
    path = tmp_path / "log.db"
    old = sqlite3.connect(path)
    old.executescript(_VERSION_3_LISTENERS)
    old.close()
    with InteractionLog(path) as log:
        assert log.private_listeners() == set()
        assert log.set_private("ann", True)
        assert log.private_listeners() == {"ann"}
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("4",)
    db.close()
    with InteractionLog(path) as log:  # opening again changes nothing
        assert log.private_listeners() == {"ann"}


def test_cadence_listeners_lists_and_toggles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cadence listeners` lists id, events, last seen and the flag; --private / --public set it (it
    persists); an unknown id exits 2 with `unknown_listener`."""
    home = str(tmp_path)
    assert main(["listeners", "--home", home]) == 0
    assert "no listeners" in capsys.readouterr().out
    with InteractionLog(tmp_path / "log.db") as log:
        log.record(_done("ann", "t1", 1.0))
        log.record(_done("ann", "t2", 2.0))
        log.record(_done("bob", "t1", 3.0))

    assert main(["listeners", "--home", home, "--private", "ann"]) == 0
    assert "ann is private" in capsys.readouterr().out
    assert main(["listeners", "--home", home]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["listener", "events", "last", "seen", "private"]
    ann, bob = (line.split() for line in lines[1:])
    assert ann[0] == "ann" and ann[1] == "2" and ann[-1] == "yes"
    assert bob[0] == "bob" and bob[1] == "1" and bob[-1] == "no"

    assert main(["listeners", "--home", home, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(d["listener_id"], d["events"], d["private"]) for d in data] == [
        ("ann", 2, True),
        ("bob", 1, False),
    ]

    assert main(["listeners", "--home", home, "--public", "ann"]) == 0
    assert "ann is public" in capsys.readouterr().out
    with InteractionLog(tmp_path / "log.db") as log:
        assert log.private_listeners() == set()

    assert main(["listeners", "--home", home, "--private", "carol"]) == 2
    assert "error [unknown_listener]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["listeners", "--home", home, "--private", "ann", "--public", "bob"])


def test_forget_without_cf_factors_says_nothing_about_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cadence forget` on a home without cf.npz erases as before and creates no factors."""
    with InteractionLog(tmp_path / "log.db") as log:
        log.record(_done("ann", "t1", 1.0))
    assert main(["forget", "--home", str(tmp_path), "--listener", "ann"]) == 0
    out = capsys.readouterr().out
    assert "rows erased" in out and "collaborative filtering" not in out
    assert not (tmp_path / "cf.npz").exists()


def test_a_running_servers_cf_file_follows_rewrites_and_removal(tmp_path: Path) -> None:
    """CfFile reloads cf.npz when `cadence train`/`forget` rewrites or removes it, so a running
    server never keeps factors an erased listener helped make; no file, no scores."""
    from dataclasses import replace

    from player.cf import CfFile

    path = tmp_path / "cf.npz"
    source = CfFile(path)
    events = [_done("zoe", f"a{i}", float(i)) for i in range(5)]
    assert source.current() is None and source.scores("zoe", events, ["a1"]) is None
    model = _model()
    model.save(path)
    first = source.scores("zoe", events, ["a7", "b3"])
    assert first is not None and first[0] > first[1]
    assert source.current() is source.current(), "an unchanged file is not reloaded"
    # Retrained on a log without group a (say its only listeners were erased): a's tracks are gone.
    retrained = replace(model, item_ids=tuple(i.replace("a", "c") for i in model.item_ids))
    retrained.save(path)
    assert source.scores("zoe", events, ["a7", "b3"]) is None
    again = source.scores("zoe", [_done("zoe", f"c{i}", float(i)) for i in range(5)], ["c7", "b3"])
    assert again is not None and again[0] > again[1]
    path.unlink()
    assert source.scores("zoe", events, ["a7"]) is None
