"""Each mix's rule on a constructed library and log (player.core.mixes), determinism, cold start, and a
property test: no mix holds a track twice or a track the library does not have."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from player.core.mixes import (
    MIN_MIX_TRACKS,
    Mix,
    arc_order,
    build_mixes,
    daypart,
    kmeans,
)
from player.core.records import LogEvent, LogKind
from player.core.track import MFCC_COUNT, Track
from tests.support.fakes import make_track

DAY_S = 86_400.0
LOCAL = datetime(2024, 5, 7, 8, 30, tzinfo=timezone(timedelta(hours=2)))  # a Tuesday morning
NOW_S = LOCAL.timestamp()
ARTISTS = ("Lumen Drift", "Tessellate", "Neon Static", "Hollow Pines", "Salt Tides", "Paper Harbour")


def track(
    track_id: str,
    *,
    energy: float,
    artist: str | None = None,
    timbre: float = 0.0,
    **changes: object,
) -> Track:
    """``make_track`` with an artist and a timbre (MFCC means 1–12 around ``timbre``, a per-id wobble)."""
    t = make_track(track_id, energy=energy)
    wobble = (sum(map(ord, track_id)) % 7) / 10.0
    mfcc = (0.0, *(timbre + wobble * ((i % 3) - 1) for i in range(1, MFCC_COUNT)))
    return replace(t, artist=artist or t.artist, mfcc_mean=mfcc, **changes)  # type: ignore[arg-type]


def library(n: int = 60) -> list[Track]:
    """``n`` tracks over six artists, energies spread over 0–1, timbres spread over -3…3."""
    return [
        track(
            f"t{i:02d}",
            energy=(i * 37 % n) / (n - 1),
            artist=ARTISTS[i % len(ARTISTS)],
            timbre=((i * 13) % 7) - 3.0,
        )
        for i in range(n)
    ]


def play(track_id: str, at_s: float, outcome: str = "completed", position_s: float = 180.0) -> list[LogEvent]:
    """A start and its outcome (completed / skipped at ``position_s`` / liked / disliked)."""
    started = LogEvent("started", "ana", "s1", at_s, track_id=track_id, position_s=0.0)
    end = LogEvent(outcome, "ana", "s1", at_s + 1.0, track_id=track_id, position_s=position_s)  # type: ignore[arg-type]
    return [started, end]


def by_id(mixes: list[Mix]) -> dict[str, Mix]:
    return {m.id: m for m in mixes}


def build(tracks: list[Track], events: list[LogEvent], **kwargs: object) -> dict[str, Mix]:
    return by_id(build_mixes(tracks, events, listener_local=LOCAL, now_s=NOW_S, **kwargs))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- On Repeat / Rewind


def test_on_repeat_puts_the_most_completed_first_and_leaves_out_skips_and_old_plays() -> None:
    tracks = library()
    events: list[LogEvent] = []
    for k in range(3):
        events += play("t01", NOW_S - (k + 1) * DAY_S)
    for i, tid in enumerate(("t02", "t03", "t04", "t05", "t06")):
        events += play(tid, NOW_S - (i + 1) * 3600.0)
    events += play("t07", NOW_S - 7200.0, "skipped", position_s=5.0)
    events += play("t08", NOW_S - 40 * DAY_S)  # outside the 30 days
    mix = build(tracks, events)["on-repeat"]
    assert mix.track_ids[0] == "t01"
    assert set(mix.track_ids) == {"t01", "t02", "t03", "t04", "t05", "t06"}
    assert mix.kind == "on_repeat" and mix.refresh == "daily"


def test_skips_count_against_on_repeat() -> None:
    tracks = library()
    events: list[LogEvent] = []
    for tid in ("t02", "t03", "t04", "t05", "t06", "t09"):
        events += play(tid, NOW_S - 3600.0)
    for k in range(2):  # t02: completed twice more, but early-skipped three times
        events += play("t02", NOW_S - (k + 2) * 3600.0)
    for k in range(3):
        events += play("t02", NOW_S - (k + 5) * 3600.0, "skipped", position_s=3.0)
    events += play("t03", NOW_S - 9000.0)  # t03: completed twice, never skipped
    mix = build(tracks, events)["on-repeat"]
    assert mix.track_ids[0] == "t03"


def test_on_repeat_needs_enough_tracks() -> None:
    events = [e for tid in ("t01", "t02", "t03") for e in play(tid, NOW_S - DAY_S)]
    assert "on-repeat" not in build(library(), events)
    assert MIN_MIX_TRACKS > 3


def test_rewind_finds_old_favourites_not_ones_played_lately() -> None:
    tracks = library()
    events: list[LogEvent] = []
    for tid in ("t10", "t11", "t12", "t13", "t14", "t15"):
        for k in range(3):
            events += play(tid, NOW_S - (60 + k) * DAY_S)
    events += play("t15", NOW_S - DAY_S)  # a favourite, but played yesterday
    events += play("t16", NOW_S - 60 * DAY_S)  # played once long ago: not a favourite
    mixes = build(tracks, events)
    rewind = mixes["repeat-rewind"]
    assert set(rewind.track_ids) == {"t10", "t11", "t12", "t13", "t14"}
    assert "on-repeat" not in mixes  # only t15 was completed lately


# --------------------------------------------------------------------------- Daily Mixes


def planted_clusters() -> tuple[list[Track], list[LogEvent], set[str], set[str]]:
    """Two timbre clusters the listener played through (A: calm acoustic Lumen Drift/Tessellate; B:
    energetic electronic Neon Static/Hollow Pines), among 40 unplayed tracks between them."""
    a = [
        track(f"a{i}", energy=0.15, artist=ARTISTS[i % 2], timbre=6.0, acousticness=0.85, tempo_bpm=72.0)
        for i in range(10)
    ]
    b = [
        track(
            f"b{i}",
            energy=0.85,
            artist=ARTISTS[2 + i % 2],
            timbre=-6.0,
            acousticness=0.1,
            tempo_bpm=160.0,
            key=7,
        )
        for i in range(10)
    ]
    rest = [track(f"r{i:02d}", energy=i / 39, artist="Salt Tides", timbre=(i % 9) - 4.0) for i in range(40)]
    events = [e for k, t in enumerate(a + b) for e in play(t.id, NOW_S - (k + 1) * DAY_S)]
    return a + b + rest, events, {t.id for t in a}, {t.id for t in b}


def test_daily_mixes_separate_planted_clusters_and_name_their_artists() -> None:
    tracks, events, a, b = planted_clusters()
    mixes = build(tracks, events)
    daily = [m for m in mixes.values() if m.kind == "daily"]
    assert [m.id for m in daily] == ["daily-1", "daily-2"]
    seeds = [set(m.track_ids) & (a | b) for m in daily]
    assert sorted(map(frozenset, seeds), key=len) in (
        [frozenset(a), frozenset(b)],
        [frozenset(b), frozenset(a)],
    )
    mix_a = next(m for m in daily if set(m.track_ids) & a)
    mix_b = next(m for m in daily if set(m.track_ids) & b)
    assert mix_a.title == "Calm acoustic · Lumen Drift, Tessellate and more"
    assert mix_b.title == "Energetic electronic · Hollow Pines, Neon Static and more"
    # topped up with tracks the listener never played, none in both mixes
    extra_a = set(mix_a.track_ids) - a
    extra_b = set(mix_b.track_ids) - b
    assert extra_a and extra_b and not extra_a & extra_b
    assert all(t.startswith("r") for t in extra_a | extra_b)


def test_kmeans_is_seeded() -> None:
    import numpy as np

    points = np.random.default_rng(0).normal(size=(40, 3))
    assert np.array_equal(kmeans(points, 3, seed=5), kmeans(points, 3, seed=5))


# --------------------------------------------------------------------------- Discover


def test_discover_has_only_unplayed_tracks_and_no_artist_twice_in_a_row() -> None:
    tracks = library(90)
    events: list[LogEvent] = []
    played = [f"t{i:02d}" for i in range(0, 40, 3)]
    for k, tid in enumerate(played):
        events += play(tid, NOW_S - (k + 1) * DAY_S)
    events += play("t41", NOW_S - 3600.0, "skipped", position_s=4.0)
    mix = build(tracks, events)["discover"]
    assert not set(mix.track_ids) & {*played, "t41"}
    artist = {str(t.id): t.artist for t in tracks}
    assert all(artist[x] != artist[y] for x, y in zip(mix.track_ids, mix.track_ids[1:], strict=False))
    assert len(mix.track_ids) == 30 and mix.refresh == "weekly"


def test_discover_leans_toward_taste_and_away_from_skips() -> None:
    tracks, events, a, b = planted_clusters()
    near_a = [
        track(f"na{i}", energy=0.15, artist=f"Near {i}", timbre=6.0, acousticness=0.85) for i in range(8)
    ]
    near_b = [
        track(f"nb{i}", energy=0.85, artist=f"Far {i}", timbre=-6.0, acousticness=0.1) for i in range(8)
    ]
    # the listener plays A through and skips B early
    events = [e for k, tid in enumerate(sorted(a)) for e in play(tid, NOW_S - (k + 1) * DAY_S)]
    events += [e for k, tid in enumerate(sorted(b)) for e in play(tid, NOW_S - k * 60.0, "skipped", 3.0)]
    mix = build(tracks + near_a + near_b, events, size=10)["discover"]
    head = mix.track_ids[:5]
    assert sum(t.startswith("na") for t in head) >= 3
    assert not any(t.startswith("nb") for t in mix.track_ids)


# --------------------------------------------------------------------------- Release Radar


def test_release_radar_leads_with_new_tracks_by_played_artists() -> None:
    tracks = library()
    new_by_played = track("new1", energy=0.5, artist="Lumen Drift")
    others = [track(f"new{i}", energy=0.1 * i, artist=f"Newcomer {i}") for i in range(2, 8)]
    old = track("old1", energy=0.5, artist="Lumen Drift")
    events = [e for k in range(3) for e in play("t00", NOW_S - (k + 1) * DAY_S)]  # t00 is by Lumen Drift
    added = {"new1": NOW_S - 10 * DAY_S, "old1": NOW_S - 20 * DAY_S}
    added.update({t.id: NOW_S - i * DAY_S for i, t in enumerate(others, start=1)})
    mixes = build([*tracks, new_by_played, *others, old], events, added_at=added)
    radar = mixes["release-radar"]
    assert radar.track_ids[0] == "new1"
    assert set(radar.track_ids) == {"new1", *(t.id for t in others)}


def test_release_radar_needs_added_at() -> None:
    assert "release-radar" not in build(library(), [])


# --------------------------------------------------------------------------- activity mixes


def energies(mix: Mix, tracks: list[Track]) -> list[float]:
    energy = {str(t.id): t.energy for t in tracks}
    return [energy[t] for t in mix.track_ids]


def test_workout_warms_up_peaks_and_cools_down() -> None:
    tracks = library(120)
    mix = build(tracks, [])["workout"]
    e = energies(mix, tracks)
    peak = e.index(max(e))
    assert 0 < peak < len(e) - 1
    assert all(x <= y for x, y in itertools.pairwise(e[: peak + 1]))  # warms up
    assert all(x >= y for x, y in itertools.pairwise(e[peak:]))  # cools down
    assert all(x >= 0.6 for x in e)


def test_sleep_energy_never_rises() -> None:
    tracks = library(120)
    events = [e for k, tid in enumerate(("t05", "t40", "t77")) for e in play(tid, NOW_S - k * DAY_S)]
    mix = build(tracks, events)["sleep"]
    e = energies(mix, tracks)
    assert len(e) >= MIN_MIX_TRACKS
    assert all(x >= y for x, y in itertools.pairwise(e))
    assert all(x <= 0.35 for x in e)


def test_party_takes_danceable_energetic_tracks_ranked_by_taste() -> None:
    tracks = library(60)
    dance = [replace(t, danceability=0.8) for t in tracks if t.energy >= 0.65]
    rest = [t for t in tracks if t.energy < 0.65]
    mixes = build(dance + rest, [])
    assert set(mixes["party"].track_ids) == {t.id for t in dance}


def test_a_disliked_track_is_in_no_mix() -> None:
    tracks = library(120)
    events = play("t50", NOW_S - 3600.0, "disliked", position_s=10.0)
    assert all("t50" not in m.track_ids for m in build(tracks, events).values())


def test_arc_order_rises_then_falls() -> None:
    order = arc_order([0.1, 0.9, 0.5, 0.3, 0.7])
    assert [round([0.1, 0.9, 0.5, 0.3, 0.7][i], 1) for i in order] == [0.1, 0.5, 0.9, 0.7, 0.3]


# --------------------------------------------------------------------------- Daylist


def test_daylist_names_weekday_and_daypart() -> None:
    mix = build(library(), [])["daylist"]
    assert mix.title.endswith("Tuesday morning") and mix.refresh == "daypart"
    late = datetime(2024, 5, 6, 2, 0, tzinfo=UTC)  # Monday 02:00 belongs to Sunday night
    night = by_id(build_mixes(library(), [], listener_local=late, now_s=late.timestamp()))["daylist"]
    assert night.title.endswith("Sunday night")
    assert set(night.track_ids) != set(mix.track_ids)


def test_daypart_names() -> None:
    tz = UTC
    assert daypart(datetime(2024, 5, 7, 8, tzinfo=tz)) == ("Tuesday", "morning")
    assert daypart(datetime(2024, 5, 7, 13, tzinfo=tz)) == ("Tuesday", "afternoon")
    assert daypart(datetime(2024, 5, 7, 19, tzinfo=tz)) == ("Tuesday", "evening")
    assert daypart(datetime(2024, 5, 7, 23, tzinfo=tz)) == ("Tuesday", "night")
    assert daypart(datetime(2024, 5, 8, 3, tzinfo=tz)) == ("Tuesday", "night")


def test_daylist_title_describes_what_it_holds() -> None:
    calm = [track(f"c{i}", energy=0.2, acousticness=0.9) for i in range(10)]
    late = datetime(2024, 5, 7, 23, 30, tzinfo=UTC)
    mix = by_id(build_mixes(calm, [], listener_local=late, now_s=late.timestamp()))["daylist"]
    assert mix.title == "calm acoustic Tuesday night"


# --------------------------------------------------------------------------- determinism, cold start


def test_same_inputs_give_identical_mixes_and_discover_holds_within_the_day() -> None:
    tracks, events, _, _ = planted_clusters()
    first = build_mixes(tracks, events, listener_local=LOCAL, now_s=NOW_S)
    again = build_mixes(list(reversed(tracks)), list(reversed(events)), listener_local=LOCAL, now_s=NOW_S)
    assert by_id(first)["discover"] == by_id(again)["discover"]
    assert first == build_mixes(tracks, events, listener_local=LOCAL, now_s=NOW_S)
    later = LOCAL + timedelta(hours=3)
    same_day = by_id(build_mixes(tracks, events, listener_local=later, now_s=later.timestamp()))
    assert same_day["discover"] == by_id(first)["discover"]
    for mix in first:
        if mix.refresh == "daily" and mix.kind == "daily":
            assert same_day[mix.id] == mix


def test_cold_start_discover_changes_with_the_week() -> None:
    tracks = library(120)
    this_week = build(tracks, [])["discover"]
    next_local = LOCAL + timedelta(days=7)
    next_week = by_id(build_mixes(tracks, [], listener_local=next_local, now_s=next_local.timestamp()))
    assert next_week["discover"].track_ids != this_week.track_ids


def test_cold_start_has_activity_mixes_daylist_and_discover_only() -> None:
    tracks = library(120)  # danceability 0.5 throughout: no Party
    assert set(build(tracks, [])) == {"daylist", "discover", "workout", "focus", "sleep", "chill"}
    dance = [replace(t, danceability=0.9) for t in tracks]
    assert "party" in build(dance, [])


def test_empty_library_has_no_mixes() -> None:
    assert build_mixes([], [], listener_local=LOCAL, now_s=NOW_S) == []


# --------------------------------------------------------------------------- property


@st.composite
def listener(draw: st.DrawFn) -> tuple[list[Track], list[LogEvent], dict[str, float]]:
    n = draw(st.integers(1, 40))
    tracks = [
        track(
            f"p{i}",
            energy=draw(st.floats(0.0, 1.0)),
            artist=draw(st.sampled_from(ARTISTS[:3])),
            timbre=draw(st.floats(-5.0, 5.0)),
            danceability=draw(st.floats(0.0, 1.0)),
            acousticness=draw(st.floats(0.0, 1.0)),
            key=draw(st.integers(0, 11)),
        )
        for i in range(n)
    ]
    kinds: st.SearchStrategy[LogKind] = st.sampled_from(
        ["started", "skipped", "completed", "liked", "disliked", "mood"]
    )
    ids = st.sampled_from([*(t.id for t in tracks), "gone"])
    events = [
        LogEvent(
            draw(kinds),
            "ana",
            "s",
            NOW_S - draw(st.floats(0.0, 90 * DAY_S)),
            track_id=draw(ids),
            position_s=draw(st.floats(0.0, 300.0)),
        )
        for _ in range(draw(st.integers(0, 80)))
    ]
    added = {str(t.id): NOW_S - draw(st.floats(0.0, 30 * DAY_S)) for t in tracks if draw(st.booleans())}
    return tracks, events, added


@settings(max_examples=40, deadline=None)
@given(listener(), st.integers(1, 12))
def test_no_mix_holds_duplicates_or_unknown_ids(
    case: tuple[list[Track], list[LogEvent], dict[str, float]], size: int
) -> None:
    tracks, events, added = case
    known = {t.id for t in tracks}
    mixes = build_mixes(tracks, events, listener_local=LOCAL, now_s=NOW_S, added_at=added, size=size)
    assert len({m.id for m in mixes}) == len(mixes)
    for mix in mixes:
        assert len(set(mix.track_ids)) == len(mix.track_ids)
        assert set(mix.track_ids) <= known
        assert min(MIN_MIX_TRACKS, size) <= len(mix.track_ids) <= size
