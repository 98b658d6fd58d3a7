"""The schema-3 ranker inputs from outside the listener's own plays: ``cf_score``/``cf_known`` (the
server's collaborative-filtering model, folded in from the state's counts) and ``lyrics_valence``/
``has_lyrics`` (the library's lyrics); and the lift CF gives the shipped ranker on households it never
trained on."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from models.simulate import catalog_matrix, synthetic_catalog
from player.cf import CfModel, stats_evidence, track_evidence
from player.core.listener import ListenerState, PlaybackEvent, Target
from player.core.ranking import (
    Catalog,
    OnnxRanker,
    Recommender,
    assemble_features,
    build_context,
    shipped_ranker_path,
)
from player.core.ranking.schema import FEATURE_INDEX, FEATURE_OFFSETS, FEATURE_SCALES
from player.core.records import LogEvent

T0 = 1_780_000_000.0
LOCAL = datetime(2026, 3, 2, 20, 0, tzinfo=timezone(timedelta(hours=1)))


def _raw(x: np.ndarray, name: str) -> np.ndarray:
    """Column ``name`` of assembled rows, unscaled."""
    i = FEATURE_INDEX[name]
    return np.asarray(x[:, i] * FEATURE_SCALES[i] + FEATURE_OFFSETS[i])


@pytest.fixture(scope="module")
def tracks() -> list:
    return synthetic_catalog(120, seed=41)


def _groups_model(ids: list[str]) -> CfModel:
    """Factors with two planted groups: the first half of ``ids`` along one axis, the rest another."""
    rng = np.random.default_rng(3)
    items = np.zeros((len(ids), 4), np.float32)
    half = len(ids) // 2
    items[:half, 0] = 1.0
    items[half:, 1] = 1.0
    items += rng.normal(0, 0.05, items.shape).astype(np.float32)
    return CfModel(tuple(ids), items, (), np.zeros((0, 4), np.float32), factors=4, regularization=1.0)


def _state_with_plays(track_ids: list[str]) -> ListenerState:
    state = ListenerState("ana", local_time=LOCAL, at_s=T0)
    at = T0
    for tid in track_ids:
        state.observe_playback(PlaybackEvent("started", tid, 0.0, at))
        state.observe_playback(PlaybackEvent("completed", tid, 200.0, at + 200))
        at += 202
    return state


def test_state_counts_give_the_same_evidence_as_the_events(tracks: list) -> None:
    """The fold-in from the state's counts weighs each outcome as the event log does."""
    state = ListenerState("ana", local_time=LOCAL, at_s=T0)
    events: list[LogEvent] = []
    plan = [("completed", 200.0), ("skipped", 5.0), ("skipped", 80.0), ("liked", 50.0), ("disliked", 3.0)]
    for k, (kind, position) in enumerate(plan):
        tid = tracks[k % 3].id
        at = T0 + 300 * k
        state.observe_playback(PlaybackEvent("started", tid, 0.0, at))
        state.observe_playback(PlaybackEvent(kind, tid, position, at + position))  # type: ignore[arg-type]
        events.append(LogEvent(kind, "ana", "s", at + position, track_id=tid, position_s=position))  # type: ignore[arg-type]
    assert stats_evidence(state.track_stats) == pytest.approx(track_evidence(events))


def test_cf_score_comes_from_the_model_and_is_neutral_without_one(tracks: list) -> None:
    """With a model, ``cf_known`` is 1 and the listener's own group scores above the other; without a
    model (or before anything positive) the features sit at their neutral values."""
    ids = [t.id for t in tracks]
    catalog = Catalog(tracks, catalog_matrix(tracks))
    model = _groups_model(ids)
    state = _state_with_plays(ids[:5])  # five completions in the first group
    idx = np.array([10, 20, len(ids) - 10, len(ids) - 20])
    with_cf = assemble_features(
        catalog, build_context(state, catalog, at_s=T0 + 5000, cf=model), idx, Target(0.5, 0.5)
    )
    assert _raw(with_cf, "cf_known").tolist() == [1.0] * 4
    scores = _raw(with_cf, "cf_score")
    assert scores[0] > 0.6 and scores[1] > 0.6
    assert abs(scores[2] - 0.5) < 0.1 and abs(scores[3] - 0.5) < 0.1
    without = assemble_features(catalog, build_context(state, catalog, at_s=T0 + 5000), idx, Target(0.5, 0.5))
    assert _raw(without, "cf_known").tolist() == [0.0] * 4
    assert _raw(without, "cf_score") == pytest.approx([0.5] * 4)
    fresh = ListenerState("new", local_time=LOCAL, at_s=T0)
    cold = assemble_features(catalog, build_context(fresh, catalog, at_s=T0, cf=model), idx, Target(0.5, 0.5))
    assert _raw(cold, "cf_known").tolist() == [0.0] * 4  # nothing to fold in: the model says nothing


def test_lyrics_features_follow_the_track_records(tracks: list) -> None:
    """``lyrics_valence`` is the lyrics' valence where a track has lyrics, 0.5 otherwise; ``has_lyrics``
    says which."""
    sung = [
        replace(t, lyrics_valence=0.12, lyrics_confidence=0.8, lyrics_source="sidecar:lrc") if k % 2 else t
        for k, t in enumerate(tracks)
    ]
    catalog = Catalog(sung, catalog_matrix(sung))
    state = ListenerState("ana", local_time=LOCAL, at_s=T0)
    idx = np.array([0, 1, 2, 3])
    x = assemble_features(catalog, build_context(state, catalog, at_s=T0), idx, Target(0.5, 0.5))
    assert _raw(x, "has_lyrics").tolist() == [0.0, 1.0, 0.0, 1.0]
    assert _raw(x, "lyrics_valence") == pytest.approx([0.5, 0.12, 0.5, 0.12], abs=1e-6)


def test_the_recommender_passes_its_cf_model_to_every_decision(tracks: list) -> None:
    """A recommender made with a CF model scores with it (the picks' ranker scores change); one
    without scores as before."""
    ids = [t.id for t in tracks]
    ranker = OnnxRanker.load(shipped_ranker_path())
    plain = Recommender(tracks, catalog_matrix(tracks), ranker)
    with_cf = Recommender(tracks, catalog_matrix(tracks), ranker, cf=_groups_model(ids))
    state = _state_with_plays(ids[:8])
    a = plain.recommend(state, count=10, at_s=T0 + 5000, exhaustive=True)
    b = with_cf.recommend(state, count=10, at_s=T0 + 5000, exhaustive=True)
    assert [p.score for p in a.picks] != [p.score for p in b.picks]


@pytest.mark.slow
def test_cf_lifts_the_shipped_ranker_on_unseen_households() -> None:
    """On three simulated households the shipped model never trained on (models/cf_lift.py), the
    ranker with the household's CF model finds more held-out favourites (recall@20) than without it,
    and more than content-only."""
    from models.cf_eval import HouseholdConfig
    from models.cf_lift import evaluate_lift

    report = evaluate_lift(OnnxRanker.load(shipped_ranker_path()), HouseholdConfig(), seeds=(101, 102, 103))
    summary = report["summary"]
    assert report["lift"]["recall_at_20"]["mean"] > 0
    assert summary["ranker_cf"]["recall_at_20"]["mean"] > summary["content"]["recall_at_20"]["mean"]
