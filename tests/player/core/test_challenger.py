"""The serving side of a challenger: the skip-aware heuristic and the explainer of a drafted queue (synthetic catalog)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from models.simulate import catalog_matrix, synthetic_catalog
from player.core.listener import ListenerState, PlaybackEvent
from player.core.ranking import OnnxRanker, Recommender, build_context, shipped_ranker_path
from player.core.ranking.explain import QueueExplainer
from player.core.ranking.heuristic import SkipAwareRecommender
from player.core.track import Track

T0 = 1_800_000_000.0
EVENING = datetime(2026, 5, 4, 19, 30, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture(scope="module")
def tracks() -> list[Track]:
    return synthetic_catalog(300, seed=5)


@pytest.fixture(scope="module")
def recommender(tracks: list[Track]) -> Recommender:
    return Recommender(tracks, catalog_matrix(tracks), OnnxRanker.load(shipped_ranker_path()))


def _state_with_history(tracks: list[Track]) -> ListenerState:
    state = ListenerState("ann", local_time=EVENING, at_s=T0)
    for i, track in enumerate(tracks[:6]):
        at_s = T0 + 60 * i
        state.observe_playback(PlaybackEvent("started", track.id, 0.0, at_s))
        kind = "completed" if i % 2 else "skipped"
        state.observe_playback(
            PlaybackEvent(kind, track.id, 200.0 if i % 2 else 4.0, at_s + 30, track.valence, track.energy)
        )
    return state


def test_explainer_reproduces_the_recommenders_own_queue(
    recommender: Recommender, tracks: list[Track]
) -> None:
    """Given the recommender's own order, the explainer gives the same scores and reasons."""
    state = _state_with_history(tracks)
    at_s = T0 + 600
    own = recommender.recommend(state, count=10, at_s=at_s)
    explained = QueueExplainer(recommender).explain(state, [p.track.id for p in own.picks], at_s=at_s)
    assert [p.track.id for p in explained.picks] == [p.track.id for p in own.picks]
    assert [p.reason for p in explained.picks] == [p.reason for p in own.picks]
    assert np.allclose([p.score for p in explained.picks], [p.score for p in own.picks], atol=1e-5)
    assert explained.target == own.target and explained.targets == own.targets


def test_explainer_writes_reasons_for_another_order(recommender: Recommender, tracks: list[Track]) -> None:
    """Another order keeps its order, gets one reason each, and the ranker's score of each track."""
    state = _state_with_history(tracks)
    at_s = T0 + 600
    own = recommender.recommend(state, count=10, at_s=at_s)
    reordered = [p.track.id for p in reversed(own.picks)] + ["no-such-track"]
    explained = QueueExplainer(recommender).explain(state, reordered, at_s=at_s)
    assert [p.track.id for p in explained.picks] == reordered[:-1]
    assert all(p.reason for p in explained.picks)
    scores = {p.track.id: p.score for p in own.picks}
    for pick in explained.picks:
        assert pick.score == pytest.approx(scores[pick.track.id], abs=1e-5)


def test_heuristic_prefers_the_nearest_to_the_target_for_a_new_listener(
    recommender: Recommender, tracks: list[Track]
) -> None:
    """With no history its first pick is the track nearest to the target; it shares the recommender's catalog."""
    heuristic = SkipAwareRecommender(catalog=recommender.catalog)
    assert heuristic.catalog is recommender.catalog
    state = ListenerState("new", local_time=EVENING, at_s=T0)
    picks = heuristic.recommend(state, count=5, at_s=T0)
    target = picks.target
    distance = {t.id: np.hypot(t.valence - target.valence, t.energy - target.energy) for t in tracks}
    assert picks.picks[0].track.id == min(distance, key=lambda t: distance[t])
    assert len({p.track.id for p in picks.picks}) == 5


def test_heuristic_never_repeats_a_recent_track_and_moves_away_from_skips(
    recommender: Recommender, tracks: list[Track]
) -> None:
    """Recently played tracks are not picked; an early skip lowers the score of the skipped track's look-alike."""
    heuristic = SkipAwareRecommender(catalog=recommender.catalog)
    at_s = T0 + 600
    picks = heuristic.recommend(_state_with_history(tracks), count=20, at_s=at_s).picks
    assert not {p.track.id for p in picks} & {t.id for t in tracks[:6]}

    cat = recommender.catalog
    skipped = tracks[0]
    lookalike = int(np.argsort(-(cat.taste @ cat.taste[cat.row[skipped.id]]))[1])

    def history_part(state: ListenerState) -> float:
        """The score without its distance term (which the skip also moves, through the mood)."""
        ctx = build_context(state, cat, at_s=at_s)
        target = ctx.targets[0]
        distance = np.hypot(cat.valence - target.valence, cat.energy - target.energy)
        return float((heuristic.scores(ctx, 0) + heuristic.weights.distance * distance)[lookalike])

    fresh = ListenerState("fresh", local_time=EVENING, at_s=T0)
    skipper = ListenerState("skipper", local_time=EVENING, at_s=T0)
    skipper.observe_playback(PlaybackEvent("started", skipped.id, 0.0, T0))
    skipper.observe_playback(
        PlaybackEvent("skipped", skipped.id, 4.0, T0 + 4, skipped.valence, skipped.energy)
    )
    assert history_part(skipper) < history_part(fresh) - 1.0


def test_heuristic_ranks_once_per_target_with_the_same_picks_as_argmax_per_position(
    tracks: list[Track],
) -> None:
    """Sharing one ranking per distinct target gives exactly the per-position argmax picks (walks included)."""
    from mood.types import Intent, MoodEstimate

    class PerPosition(SkipAwareRecommender):
        scores_follow_the_target = False

        def _max_similarity(self, rows: np.ndarray, weights: np.ndarray) -> np.ndarray:
            cat = self.catalog
            return np.asarray((cat.taste @ cat.taste[rows].T * weights).max(axis=1))

    fast = SkipAwareRecommender(tracks, catalog_matrix(tracks))
    reference = PerPosition(catalog=fast.catalog)
    rng = np.random.default_rng(7)
    for trial in range(20):
        state = ListenerState(f"l{trial}", local_time=EVENING, at_s=T0)
        for i in range(int(rng.integers(0, 25))):
            track = tracks[int(rng.integers(0, len(tracks)))]
            kind = ("completed", "skipped", "liked", "disliked")[int(rng.integers(0, 4))]
            state.observe_playback(PlaybackEvent("started", track.id, 0.0, T0 + 10 * i))
            state.observe_playback(
                PlaybackEvent(kind, track.id, 3.0, T0 + 10 * i + 5, track.valence, track.energy)
            )
        if trial % 2:
            calmer = Intent(kind="calmer", strength=1.0)
            state.observe_mood(
                MoodEstimate(valence=0.5, energy=0.7, confidence=0.9, intents=(calmer,)), at_s=T0 + 300
            )
        ours = fast.recommend(state, count=15, at_s=T0 + 400)
        theirs = reference.recommend(state, count=15, at_s=T0 + 400)
        assert [p.track.id for p in ours.picks] == [p.track.id for p in theirs.picks]
        assert np.allclose([p.score for p in ours.picks], [p.score for p in theirs.picks], atol=1e-5)
