"""Unit tests of the pure listener state: smoothing, drift, intents and the iso walk, history."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mood.types import Intent, MoodEstimate
from player.core.listener import (
    HISTORY_CAP,
    ISO_STEPS,
    MOOD_GAIN,
    MOOD_RELAX_S,
    ListenerState,
    PlaybackEvent,
    Target,
    intent_goal,
    time_of_day_prior,
)
from player.core.records import LogEvent
from player.core.replay import replay as state_from_events
from player.core.track import Track, TrackId

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
    assert s.finished_plays == 3  # two skips and a completion; starts and likes finish nothing


def test_how_firmly_the_last_reading_spoke_is_kept() -> None:
    """The last reading's firmness is its larger axis confidence, 1 with a music request, and a
    player command (skip) is no request."""
    s = _state()
    assert s.mood_heard_at_s is None and s.mood_heard_firmness == 0.0
    s.observe_mood(MoodEstimate(0.3, 0.5, 0.45, valence_confidence=0.7, energy_confidence=0.2), at_s=T0)
    assert s.mood_heard_at_s == T0 and s.mood_heard_firmness == pytest.approx(0.7)
    s.observe_mood(
        MoodEstimate(0.5, 0.5, confidence=0.0, intents=(Intent("calmer", 1.0, "calmer"),)), at_s=T0 + 5
    )
    assert s.mood_heard_firmness == 1.0
    s.observe_mood(
        MoodEstimate(0.5, 0.5, confidence=0.1, intents=(Intent("skip", 1.0, "skip"),)), at_s=T0 + 9
    )
    assert s.mood_heard_firmness == pytest.approx(0.1)


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


# ------------------------------------------------------------------ a state that follows the listener
def _heard(state: ListenerState, at_s: float, **fields: float) -> None:
    state.observe_mood(MoodEstimate(**fields), at_s=at_s)  # type: ignore[arg-type]


def test_each_axis_moves_by_its_own_confidence() -> None:
    """A reading with no evidence on energy (confidence 0) moves valence only; a confident one most of the way."""
    s = _state()
    before = s.mood_at(T0)
    s.observe_mood(
        MoodEstimate(valence=0.1, energy=0.95, confidence=0.8, valence_confidence=0.8, energy_confidence=0.0),
        at_s=T0,
    )
    assert s.mood.energy == pytest.approx(before.energy, abs=1e-9)
    moved = (before.valence - s.mood.valence) / (before.valence - 0.1)
    assert moved == pytest.approx(MOOD_GAIN * 0.8) and moved >= 0.7  # most of the way at once


def _played(track: tuple[float, float], kind: str, position_s: float = 0.0) -> tuple[float, float]:
    """How one playback event of a track at (valence, energy) moves a listener heard at about (0.5, 0.5):
    the (valence, energy) change of the mood."""
    s = _state()
    _heard(s, T0, valence=0.5, energy=0.5, confidence=1.0)
    before = s.mood
    assert before.distance(Target(0.5, 0.5)) < 0.02
    s.observe_playback(PlaybackEvent(kind, "t", position_s, T0, track[0], track[1]))  # type: ignore[arg-type]
    return s.mood.valence - before.valence, s.mood.energy - before.energy


def test_an_early_skip_pushes_the_mood_away_and_a_late_skip_less() -> None:
    """Skipping a calm track early moves the mood up in energy (away from it); late, by less; a dislike like early."""
    calm = (0.505, 0.35)
    early = _played(calm, "skipped", 8.0)
    late = _played(calm, "skipped", 120.0)
    disliked = _played(calm, "disliked", 120.0)
    assert early[1] > 2 * late[1] > 0.0
    assert abs(early[0]) < 0.01 and abs(late[0]) < 0.01
    assert disliked == pytest.approx(early)
    assert 0.0 < _played((0.505, 0.2), "skipped", 8.0)[1] < early[1]  # farther away, weaker evidence
    assert _played((0.505, 0.0), "skipped", 8.0) == (0.0, 0.0)  # beyond SKIP_REACH


def test_completions_and_likes_pull_the_mood_toward_the_track() -> None:
    """Playing a bright, lively track through moves the mood toward it; a like moves it further."""
    lively = (0.8, 0.9)
    completed = Target(*_played(lively, "completed", 200.0))
    liked = Target(*_played(lively, "liked", 60.0))
    still = Target(0.0, 0.0)
    assert completed.energy > 0.0 and completed.valence > 0.0
    assert liked.distance(still) > completed.distance(still) > 0.0
    assert _played(lively, "started") == (0.0, 0.0)


def test_events_without_track_features_leave_the_mood_alone() -> None:
    """A playback event that does not carry the track's valence/energy counts, but does not move the mood."""
    s = _state()
    before = s.mood_at(T0 + 5)
    s.observe_playback(PlaybackEvent("started", "t", 0.0, T0))
    s.observe_playback(PlaybackEvent("skipped", "t", 5.0, T0 + 5))
    assert s.mood_at(T0 + 5).distance(before) < 1e-4 and s.track_stats["t"].early_skips == 1


def test_an_early_skip_during_a_walk_moves_the_rest_of_it() -> None:
    """The walk starts from where the listener is: after an early skip of a calm pick the next targets sit
    higher in energy, still step toward the goal, and still end on it."""
    s = _state()
    _heard(s, T0, valence=0.5, energy=0.7, confidence=0.8, intents=(Intent("calmer"),))  # type: ignore[arg-type]
    planned = s.targets(ISO_STEPS, at_s=T0 + 1)
    pick = planned[0]
    s.observe_playback(PlaybackEvent("started", "p", 0.0, T0 + 2, pick.valence, pick.energy))
    s.observe_playback(PlaybackEvent("skipped", "p", 6.0, T0 + 8, pick.valence, pick.energy))
    after = s.targets(ISO_STEPS, at_s=T0 + 9)
    assert after[0].energy > planned[1].energy
    assert all(a.energy >= b.energy for a, b in itertools.pairwise(after))
    intent = s.active_intent(T0 + 9)
    assert intent is not None and after[-1].distance(intent.goal) < 1e-9


def test_a_new_request_starts_from_the_listener_not_from_the_old_walk() -> None:
    """'calmer' after 'energize' walks from the listener's mood, not from where the energize walk stood."""
    s = _state()
    s.add_intent(Intent("energize"), at_s=T0)
    for i in range(3):
        s.observe_playback(PlaybackEvent("started", f"e{i}", 0.0, T0 + 10 * i))
    s.add_intent(Intent("calmer"), at_s=T0 + 40)
    intent = s.active_intent(T0 + 41)
    assert intent is not None and intent.anchor.distance(s.mood_at(T0 + 40)) < 1e-9


def test_population_prior_rises_in_the_morning_falls_at_night_and_runs_later_at_weekends() -> None:
    """07:00 and 23:00 no longer share a target; mornings rise, nights fall, weekends rise later and stay up."""

    def energy(day: int, hour: int) -> float:
        return time_of_day_prior(datetime(2026, 3, day, hour, 0, tzinfo=UTC)).energy

    monday, tuesday, saturday, sunday = 2, 3, 7, 8
    assert energy(monday, 7) > energy(tuesday, 23) + 0.1
    assert energy(monday, 5) < energy(monday, 7) < energy(monday, 9)
    assert energy(monday, 20) > energy(monday, 22) > energy(tuesday, 0)
    assert energy(saturday, 8) < energy(monday, 8) - 0.1  # the weekend morning rises later
    assert energy(saturday, 23) > energy(tuesday, 23) + 0.1  # and its evening stays up
    assert energy(sunday, 1) > energy(tuesday, 1)  # 01:00 on Sunday is Saturday night
    assert (
        time_of_day_prior(datetime(2026, 3, saturday, 12, tzinfo=UTC)).valence
        > time_of_day_prior(datetime(2026, 3, monday, 12, tzinfo=UTC)).valence
    )


def _night_owl(nights: int, energy: float = 0.85) -> ListenerState:
    """A listener who played ``nights`` high-energy tracks through at 23:00 on consecutive weekday nights."""
    start = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # a Monday
    s = ListenerState("owl", local_time=start, at_s=T0)
    for n in range(nights):
        day = n + (2 * (n // 5))  # skip weekends: five weeknights a week
        at = T0 + day * 86400.0
        s.start_session(start + timedelta(days=day), at_s=at)
        s.observe_playback(PlaybackEvent("started", f"t{n}", 0.0, at, 0.6, energy))
        s.observe_playback(PlaybackEvent("completed", f"t{n}", 200.0, at + 200, 0.6, energy))
    return s


def test_the_prior_is_learned_from_the_listeners_own_completions_and_shrunk_until_then() -> None:
    """A night owl's 23:00 prior climbs toward the energy they play through, slowly at first; other hours
    and the weekend barely move."""
    monday_23 = datetime(2026, 4, 6, 23, 0, tzinfo=UTC)
    population = time_of_day_prior(monday_23).energy

    def prior(s: ListenerState, local: datetime) -> float:
        s.start_session(local, at_s=T0 + 90 * 86400.0)
        return s.prior_at(T0 + 90 * 86400.0).energy

    few, many = _night_owl(2), _night_owl(30)
    assert population < prior(few, monday_23) < population + 0.2
    assert prior(many, monday_23) > 0.7
    assert many.prior_evidence(T0 + 90 * 86400.0) > 0.8 > few.prior_evidence(T0 + 90 * 86400.0)
    morning = datetime(2026, 4, 7, 10, 0, tzinfo=UTC)
    assert prior(many, morning) == pytest.approx(time_of_day_prior(morning).energy, abs=0.01)
    saturday_23 = datetime(2026, 4, 11, 23, 0, tzinfo=UTC)
    moved_weekend = prior(many, saturday_23) - time_of_day_prior(saturday_23).energy
    assert 0.0 < moved_weekend < prior(many, monday_23) - population


def test_without_input_the_mood_relaxes_to_the_learned_prior() -> None:
    """A returning night owl's mood at 23:00 with no reading is their own prior, not the population's."""
    s = _night_owl(30)
    at = T0 + 90 * 86400.0
    s.start_session(datetime(2026, 4, 6, 23, 0, tzinfo=UTC), at_s=at)
    assert s.mood_at(at + 4 * 3600).distance(s.prior_at(at + 4 * 3600)) < 0.01
    assert s.mood_at(at).energy > time_of_day_prior(s.local_time(at)).energy + 0.2


def test_replay_with_the_library_moves_the_state_like_live_playback() -> None:
    """replay(..., tracks=) gives each played track's valence/energy to the state (the same moves as live
    events carrying them); without tracks the mood ignores playback; known_tracks still filters."""
    local = "2026-03-02T21:30:00+01:00"
    events = [
        LogEvent("session_start", "ana", "s1", T0, local_time=local),
        LogEvent("started", "ana", "s1", T0 + 10, track_id="loud", position_s=0.0),
        LogEvent("skipped", "ana", "s1", T0 + 15, track_id="loud", position_s=5.0),
        LogEvent("started", "ana", "s1", T0 + 20, track_id="soft", position_s=0.0),
        LogEvent("completed", "ana", "s1", T0 + 220, track_id="soft", position_s=200.0),
    ]
    library = {
        "loud": _track("loud", valence=0.5, energy=0.55),
        "soft": _track("soft", valence=0.4, energy=0.2),
    }
    replayed = state_from_events("ana", events, tracks=library)
    plain = state_from_events("ana", events)
    assert replayed is not None and plain is not None
    live = ListenerState("ana", local_time=datetime.fromisoformat(local), at_s=T0)
    for e in events[1:]:
        t = library[str(e.track_id)]
        live.observe_playback(
            PlaybackEvent(e.kind, str(e.track_id), float(e.position_s or 0.0), e.at_s, t.valence, t.energy)  # type: ignore[arg-type]
        )
    assert replayed.mood_at(T0 + 221) == live.mood_at(T0 + 221)
    assert replayed.mood_at(T0 + 221).energy < plain.mood_at(T0 + 221).energy
    assert replayed.prior_evidence(T0 + 221) > 0.0 == plain.prior_evidence(T0 + 221)
    filtered = state_from_events("ana", events, known_tracks={"soft"}, tracks=library)
    assert filtered is not None and "loud" not in filtered.track_stats


def _track(track_id: str, *, valence: float, energy: float) -> Track:
    """A library record with the given valence and energy (other features irrelevant here)."""
    return Track(
        id=TrackId(track_id),
        path=f"/music/{track_id}.flac",
        title=track_id,
        artist="a",
        album="b",
        duration_s=200.0,
        tempo_bpm=120.0,
        beat_strength=0.5,
        onset_rate=3.0,
        loudness_db=-14.0,
        dynamic_range_db=8.0,
        spectral_centroid_hz=2000.0,
        spectral_rolloff_hz=4000.0,
        spectral_flatness=0.01,
        spectral_contrast_db=20.0,
        zero_crossing_rate=0.05,
        key=0,
        mode="major",
        hp_ratio=0.5,
        energy=energy,
        danceability=0.5,
        acousticness=0.5,
        valence=valence,
        mfcc_mean=(0.0,) * 13,
        mfcc_std=(1.0,) * 13,
    )
