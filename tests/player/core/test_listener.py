"""Unit tests of the pure listener state: smoothing, drift, intents and the iso walk, history."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mood.types import Intent, MoodEstimate
from player.core.listener import (
    HISTORY_CAP,
    ISO_STEPS,
    MOOD_RELAX_S,
    ListenerState,
    PlaybackEvent,
    Target,
    intent_goal,
    time_of_day_prior,
)
from player.core.records import LogEvent
from player.core.replay import replay as state_from_events

T0 = 1_780_000_000.0
MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=1)))


def _state(local: datetime = MONDAY_9) -> ListenerState:
    return ListenerState("ana", local_time=local, at_s=T0, device="phone")


def test_new_state_starts_at_the_time_of_day_prior() -> None:
    """Before any input the mood is the prior of the client's local hour (not the server's)."""
    night = _state(datetime(2026, 3, 2, 3, 0, tzinfo=timezone(timedelta(hours=-5))))
    afternoon = _state(datetime(2026, 3, 2, 15, 0, tzinfo=timezone(timedelta(hours=9))))
    assert night.mood_at(T0) == time_of_day_prior(night.local_time(T0))
    assert afternoon.mood_at(T0).energy > night.mood_at(T0).energy + 0.3


def test_local_time_advances_with_server_time() -> None:
    """The listener's local time at a later server time is the client time plus the elapsed seconds."""
    s = _state()
    assert s.local_time(T0 + 3600) == MONDAY_9 + timedelta(hours=1)
    assert s.local_time(T0 + 3600).utcoffset() == timedelta(hours=1)


def test_naive_local_time_is_rejected() -> None:
    """A local time without offset is refused: the state never guesses the listener's timezone."""
    with pytest.raises(ValueError):
        ListenerState("x", local_time=datetime(2026, 3, 2, 9, 0), at_s=T0)


def test_estimate_moves_mood_in_proportion_to_confidence() -> None:
    """A confident estimate moves the mood further than a hesitant one."""
    sure, unsure = _state(), _state()
    before = sure.mood_at(T0)
    sure.observe_mood(MoodEstimate(valence=0.9, energy=0.9, confidence=0.9), at_s=T0)
    unsure.observe_mood(MoodEstimate(valence=0.9, energy=0.9, confidence=0.2), at_s=T0)
    moved_sure = sure.mood.distance(before)
    moved_unsure = unsure.mood.distance(before)
    assert moved_sure > 3 * moved_unsure > 0
    zero = _state()
    zero.observe_mood(MoodEstimate(valence=0.9, energy=0.9, confidence=0.0), at_s=T0)
    assert zero.mood.distance(before) == pytest.approx(0.0, abs=1e-9)


def test_mood_drifts_back_to_the_prior_over_tens_of_minutes() -> None:
    """Without input the distance to the prior decays: mostly kept after 5 min, mostly gone after 1 h."""
    s = _state()
    s.observe_mood(MoodEstimate(valence=0.95, energy=0.95, confidence=1.0), at_s=T0)

    def gap(t: float) -> float:
        return s.mood_at(t).distance(time_of_day_prior(s.local_time(t)))

    g0, g5, g60 = gap(T0), gap(T0 + 300), gap(T0 + 3600)
    assert g0 > 0.2
    assert g5 > 0.7 * g0
    assert g60 < 0.1 * g0
    assert MOOD_RELAX_S >= 600


def test_no_intent_target_meets_the_mood() -> None:
    """Without an intent every position's target is the smoothed mood (the iso principle's first step)."""
    s = _state()
    s.observe_mood(MoodEstimate(valence=0.3, energy=0.7, confidence=0.8), at_s=T0)
    targets = s.targets(5, at_s=T0 + 1)
    assert all(t == s.mood_at(T0 + 1) for t in targets)
    assert s.target(at_s=T0 + 1) == targets[0]


@pytest.mark.parametrize("kind", ["calmer", "energize", "sleep", "workout", "focus", "party", "cheer_up"])
def test_intent_walk_moves_monotonically_to_the_goal(kind: str) -> None:
    """After a request the per-track targets step monotonically from the mood to the goal, then stay."""
    s = _state()
    s.observe_mood(MoodEstimate(valence=0.5, energy=0.6, confidence=0.8, intents=(Intent(kind),)), at_s=T0)  # type: ignore[arg-type]
    intent = s.active_intent(T0 + 1)
    assert intent is not None and intent.kind == kind
    targets = s.targets(ISO_STEPS + 3, at_s=T0 + 1)
    dists = [t.distance(intent.goal) for t in targets]
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(dists))
    assert dists[0] > 0.0  # the first step is not a jump to the goal
    assert dists[ISO_STEPS - 1] == pytest.approx(0.0, abs=1e-9)
    assert targets[0].distance(intent.anchor) < intent.anchor.distance(intent.goal)


def test_walk_advances_as_tracks_start() -> None:
    """Each started track moves the next target one step further along the walk."""
    s = _state()
    s.observe_mood(
        MoodEstimate(valence=0.5, energy=0.7, confidence=0.8, intents=(Intent("calmer"),)), at_s=T0
    )
    planned = s.targets(3, at_s=T0 + 1)
    s.observe_playback(PlaybackEvent("started", "t1", 0.0, T0 + 2))
    second = s.target(at_s=T0 + 3)
    assert second.energy < planned[0].energy
    assert second.distance(planned[1]) < 1e-3  # the mood relaxed a little in the two seconds between


def test_calmer_goal_is_lower_energy_and_energize_higher() -> None:
    """The relative intents move energy the way their names say, more for a stronger request."""
    mood = Target(0.5, 0.6)
    assert intent_goal("calmer", 1.0, mood).energy < intent_goal("calmer", 0.2, mood).energy < mood.energy
    assert intent_goal("energize", 0.5, mood).energy > mood.energy
    assert intent_goal("cheer_up", 0.5, mood).valence > mood.valence
    with pytest.raises(ValueError):
        intent_goal("skip", 1.0, mood)


def test_intent_expires_and_commands_are_ignored() -> None:
    """An intent stops steering after its lifetime; skip/like/stop do not move the target."""
    s = _state()
    s.observe_mood(
        MoodEstimate(valence=0.5, energy=0.5, confidence=0.5, intents=(Intent("skip"), Intent("stop"))),
        at_s=T0,
    )
    assert s.active_intent(T0) is None
    s.add_intent(Intent("energize"), at_s=T0)
    assert s.active_intent(T0 + 60) is not None
    assert s.active_intent(T0 + 6 * 3600) is None
    assert s.target(at_s=T0 + 6 * 3600) == s.mood_at(T0 + 6 * 3600)


def test_newest_intent_replaces_the_previous_one() -> None:
    """ "calmer" after "energize" means calmer now."""
    s = _state()
    s.add_intent(Intent("energize"), at_s=T0)
    s.add_intent(Intent("calmer"), at_s=T0 + 10)
    intent = s.active_intent(T0 + 11)
    assert intent is not None and intent.kind == "calmer"


def test_history_is_newest_first_and_capped() -> None:
    """History keeps (time, track) entries newest first and never grows past its cap."""
    s = _state()
    for i in range(HISTORY_CAP + 50):
        s.observe_playback(PlaybackEvent("started", f"t{i}", 0.0, T0 + i))
    assert len(s.history) == HISTORY_CAP
    assert s.history[0].track_id == f"t{HISTORY_CAP + 49}"
    assert s.history[0].at_s > s.history[1].at_s


def test_skips_completions_likes_and_repeats_are_counted() -> None:
    """Per-track counts separate early skips (< 30 s) from late ones and count repeats."""
    s = _state()
    s.observe_playback(PlaybackEvent("started", "a", 0.0, T0))
    s.observe_playback(PlaybackEvent("skipped", "a", 12.0, T0 + 12))
    s.observe_playback(PlaybackEvent("started", "a", 0.0, T0 + 20))
    s.observe_playback(PlaybackEvent("skipped", "a", 95.0, T0 + 115))
    s.observe_playback(PlaybackEvent("started", "b", 0.0, T0 + 120))
    s.observe_playback(PlaybackEvent("liked", "b", 40.0, T0 + 160))
    s.observe_playback(PlaybackEvent("completed", "b", 200.0, T0 + 320))
    a, b = s.track_stats["a"], s.track_stats["b"]
    assert (a.plays, a.skips, a.early_skips, a.repeats) == (2, 2, 1, 1)
    assert (b.plays, b.completions, b.likes) == (1, 1, 1)
    assert s.session_position == 3
    assert s.consecutive_early_skips() == 0
    assert dict(s.positives())["b"] == 1.0
    assert dict(s.negatives())["a"] == 1.0  # the early skip weighs more than the later late one


def test_consecutive_early_skips_and_skip_rate() -> None:
    """Three early skips in a row are counted as such and raise the recent skip rate."""
    s = _state()
    base = s.recent_skip_rate()
    for i in range(3):
        s.observe_playback(PlaybackEvent("started", f"t{i}", 0.0, T0 + 20 * i))
        s.observe_playback(PlaybackEvent("skipped", f"t{i}", 8.0, T0 + 20 * i + 8))
    assert s.consecutive_early_skips() == 3
    assert s.recent_skip_rate() > base
    assert s.recently_played(at_s=T0 + 100) == {"t0", "t1", "t2"}


def test_state_is_rebuilt_from_the_interaction_log() -> None:
    """Replaying logged events (player.server.log.LogEvent) restores mood, intent, history and session."""
    local = "2026-03-02T21:30:00+01:00"
    events = [
        LogEvent("session_start", "ana", "s1", T0, local_time=local, device="desk"),
        LogEvent("mood", "ana", "s1", T0 + 5, valence=0.2, energy=0.8, confidence=0.9, intents=("calmer",)),
        LogEvent("started", "ana", "s1", T0 + 10, track_id="x", position_s=0.0),
        LogEvent("skipped", "ana", "s1", T0 + 20, track_id="x", position_s=10.0),
        LogEvent("session_end", "ana", "s1", T0 + 30),
    ]
    s = state_from_events("ana", events)
    assert s is not None
    assert s.device == "desk"
    assert s.local_time(T0) == datetime.fromisoformat(local)
    assert s.track_stats["x"].early_skips == 1
    intent = s.active_intent(T0 + 30)
    assert intent is not None and intent.kind == "calmer"
    assert s.mood.energy > time_of_day_prior(s.local_time(T0)).energy
    assert state_from_events("ana", events[1:]) is None


def test_snapshot_is_json_ready() -> None:
    """The snapshot reports local time, mood, target and intent as plain values."""
    s = _state(datetime(2026, 3, 7, 9, 0, tzinfo=UTC))
    s.add_intent(Intent("focus"), at_s=T0)
    snap = s.snapshot(at_s=T0 + 1)
    assert snap["intent"]["kind"] == "focus"  # type: ignore[index]
    assert str(snap["local_time"]).startswith("2026-03-07T09:00:01")
