"""The session core's interleaving, driven with fakes: which queues, the draft, what is logged, constraints."""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from player.core.interleave import InterleavedPick, QueueRecord, queue_outcomes
from player.core.listener import ListenerState
from player.core.protocol import PROTOCOL_VERSION, Queue
from player.core.ranking import Pick, Recommendation
from player.core.records import LogEvent
from player.core.session import (
    Effect,
    Interleaving,
    QueueExplainerLike,
    RecommenderLike,
    Record,
    RecordQueue,
    Send,
    Session,
    SessionDeps,
)
from player.core.track import Track
from tests.support.fakes import (
    FakeChallenger,
    FakeExplainer,
    FakeMood,
    FakeRecommender,
    fake_interleaving,
    fake_tracks,
    limits,
    make_track,
)

T0 = 1_800_000_000.0
LOCAL = "2026-05-01T07:30:00+02:00"


def _msg(type_: str, **fields: Any) -> str:
    return json.dumps({"type": type_, **fields})


def _deps(tracks: list[Track] | None = None, **interleaving: Any) -> SessionDeps:
    tracks = tracks if tracks is not None else fake_tracks(30)
    return SessionDeps(
        mood=FakeMood(),
        recommender=FakeRecommender(tracks),
        tracks={t.id: t for t in tracks},
        interleaving=fake_interleaving(tracks, **interleaving),
    )


class _Run:
    """A started session and everything it asked the shell to do."""

    def __init__(self, session_id: str, deps: SessionDeps, share: float | None, count: int = 6) -> None:
        self.session = Session(session_id, deps, limits(interleave_share=share, queue_count=count))
        self.effects: list[Effect] = []
        self.now_s = T0
        self.feed(_msg("hello", protocol=PROTOCOL_VERSION, client="t"))
        self.feed(_msg("session.start", local_time=LOCAL))

    def feed(self, frame: str) -> list[Effect]:
        self.now_s += 1.0
        effects = self.session.handle(frame, now_s=self.now_s)
        self.effects += effects
        return effects

    @property
    def queues(self) -> list[Queue]:
        return [e.message for e in self.effects if isinstance(e, Send) and isinstance(e.message, Queue)]

    @property
    def records(self) -> list[QueueRecord]:
        return [e.queue for e in self.effects if isinstance(e, RecordQueue)]

    @property
    def events(self) -> list[LogEvent]:
        return [e.event for e in self.effects if isinstance(e, Record)]

    def skip_first(self, position_s: float = 5.0) -> None:
        """Start the current queue's first track and skip it (which pushes a new queue)."""
        first = self.queues[-1].tracks[0].id
        self.feed(_msg("playback", event="started", track_id=first, position_s=0.0))
        self.feed(_msg("playback", event="skipped", track_id=first, position_s=position_s))


def test_fakes_implement_exactly_the_protocols() -> None:
    """The challenger and explainer fakes have the Protocols' public methods with the same signatures."""
    for fake, protocol in ((FakeChallenger, RecommenderLike), (FakeExplainer, QueueExplainerLike)):
        public = {n for n in vars(fake) if not n.startswith("_")}
        assert public == {n for n in vars(protocol) if not n.startswith("_")}
        for name in public:
            assert inspect.signature(getattr(fake, name)) == inspect.signature(getattr(protocol, name))


def test_share_zero_never_interleaves_and_logs_no_queue() -> None:
    """With share 0 every queue is the recommender's own and nothing about queues is logged."""
    run = _Run("s0", _deps(), share=0.0)
    for _ in range(20):
        run.skip_first()
    assert len(run.queues) == 21 and run.records == []
    assert all(t.reason == "fake: closest energy" for q in run.queues for t in q.tracks)


def test_without_a_challenger_no_queue_is_interleaved() -> None:
    """No interleaving deps: share 1 changes nothing."""
    tracks = fake_tracks(30)
    deps = SessionDeps(mood=FakeMood(), recommender=FakeRecommender(tracks), tracks={t.id: t for t in tracks})
    run = _Run("s0", deps, share=1.0)
    run.skip_first()
    assert run.records == [] and len(run.queues) == 2


def test_share_one_interleaves_every_queue_and_logs_each_pick_with_its_team() -> None:
    """With share 1 every queue is drafted from both rankings; its record lists each pick's team and rank."""
    deps = _deps()
    assert deps.interleaving is not None
    run = _Run("s1", deps, share=1.0)
    for _ in range(10):
        run.skip_first()
    assert len(run.queues) == len(run.records) == 11
    teams_seen: set[str] = set()
    for index, (queue, record) in enumerate(zip(run.queues, run.records, strict=True)):
        assert record.interleaved and record.challenger == "heuristic"
        assert record.session_id == "s1" and record.queue_index == index and record.listener_id == "anon-s1"
        assert [p.track_id for p in record.picks] == [t.id for t in queue.tracks]
        assert len(queue.tracks) == 6
        # Reasons and scores come from the explainer for the merged order.
        assert [t.reason for t in queue.tracks] == [f"fake: explained at {k}" for k in range(6)]
        sizes = [sum(p.team == team for p in record.picks) for team in "ab"]
        assert sizes == [3, 3]
        teams_seen.update(p.team for p in record.picks)
    assert teams_seen == {"a", "b"}


def test_each_pick_sits_at_its_rank_in_its_team_list() -> None:
    """A pick's rank indexes its track in its own team's ranking (made with the same state and time)."""
    deps = _deps()
    run = _Run("s2", deps, share=1.0)
    record, state = run.records[0], run.session.state
    assert state is not None and deps.interleaving is not None
    depth = 2 * 6
    rankings = {
        "a": [p.track.id for p in deps.recommender.recommend(state, count=depth, at_s=T0 + 2).picks],
        "b": [
            p.track.id for p in deps.interleaving.challenger.recommend(state, count=depth, at_s=T0 + 2).picks
        ],
    }
    for pick in record.picks:
        assert rankings[pick.team][pick.rank] == pick.track_id
    # The two teams' first choices are both in the queue.
    assert {rankings["a"][0], rankings["b"][0]} <= {p.track_id for p in record.picks}


def test_the_record_is_committed_before_the_queue_is_sent() -> None:
    """In every step the RecordQueue effect comes before the Send of its queue."""
    run = _Run("s3", _deps(), share=1.0)
    run.skip_first()
    kinds = [type(e).__name__ for e in run.effects]
    for i, effect in enumerate(run.effects):
        if isinstance(effect, Send) and isinstance(effect.message, Queue):
            assert kinds[i - 1] == "RecordQueue"


def test_interleaving_is_deterministic_per_session_and_queue() -> None:
    """The same session id and inputs give the same drafts; other session ids give other coin flips."""
    first = _Run("same", _deps(), share=1.0)
    again = _Run("same", _deps(), share=1.0)
    for run in (first, again):
        for _ in range(5):
            run.skip_first()
    assert first.records == again.records
    orders = set()
    for i in range(20):
        run = _Run(f"other-{i}", _deps(), share=1.0)
        orders.add(tuple(p.team for p in run.records[0].picks))
    assert len(orders) > 1


def test_share_between_picks_the_queues_should_interleave_picks() -> None:
    """With share 0.5 about half of the queues are interleaved, exactly those the hash chooses."""
    from player.core.interleave import should_interleave

    run = _Run("half", _deps(fake_tracks(80)), share=0.5)
    for _ in range(59):
        run.skip_first()
    interleaved = {r.queue_index for r in run.records if r.interleaved}
    assert interleaved == {i for i in range(60) if should_interleave("half", i, 0.5)}
    assert 15 <= len(interleaved) <= 45


def test_a_plain_queue_after_an_interleaved_one_is_logged_as_its_end() -> None:
    """The plain queue that replaces an interleaved queue is logged (no challenger, no picks); later ones are not."""
    from player.core.interleave import should_interleave

    run = _Run("ends", _deps(fake_tracks(80)), share=0.5)
    for _ in range(39):
        run.skip_first()
    chosen = [should_interleave("ends", i, 0.5) for i in range(40)]
    expected_plain = {i for i in range(1, 40) if chosen[i - 1] and not chosen[i]}
    plain = {r.queue_index for r in run.records if not r.interleaved}
    assert plain == expected_plain and plain
    assert all(r.picks == () and r.challenger is None for r in run.records if not r.interleaved)


def test_the_default_share_is_the_challengers_unless_the_settings_give_one() -> None:
    """Share None uses Interleaving.default_share; an explicit share overrides it."""
    by_default = _Run("d", _deps(default_share=1.0), share=None)
    assert by_default.records and by_default.records[0].interleaved
    overridden = _Run("d", _deps(default_share=1.0), share=0.0)
    assert overridden.records == []
    heuristic_default = _Run("d", _deps(default_share=0.0), share=None)
    assert heuristic_default.records == []


def test_merged_queue_has_no_repeat_no_skipped_track_and_keeps_artist_spacing() -> None:
    """No track twice, none skipped before, and never the same artist back to back while another is free."""
    # 30 tracks by 5 artists, each artist's tracks spread over the energy range: both fakes' rankings
    # run through runs of neighbouring energies, which share artists.
    tracks = [replace(make_track(f"t{i:02d}", energy=i / 29), artist=f"Artist {i // 6}") for i in range(30)]
    run = _Run("spacing", _deps(tracks), share=1.0)
    for _ in range(8):
        run.skip_first()
    skipped: set[str] = set()
    artist: dict[str, str] = {t.id: t.artist for t in tracks}
    for queue, record in zip(run.queues, run.records, strict=True):
        ids = [t.id for t in queue.tracks]
        assert len(ids) == len(set(ids)) == 6
        assert not skipped & set(ids)
        for before, after in itertools.pairwise(ids):
            assert artist[before] != artist[after]
        assert record.picks and all(isinstance(p, InterleavedPick) for p in record.picks)
        skipped.add(ids[0])


def test_a_challenger_with_too_short_a_list_gives_the_recommenders_queue() -> None:
    """If the draft cannot fill the queue (the challenger ran out), the recommender's own queue is sent."""
    tracks = fake_tracks(30)
    deps = replace(
        _deps(tracks),
        interleaving=Interleaving(
            challenger=FakeChallenger(tracks[:1]),
            name="heuristic",
            explainer=FakeExplainer(tracks),
            default_share=0.0,
        ),
    )
    run = _Run("short", deps, share=1.0)
    assert run.records == []
    assert [t.reason for t in run.queues[0].tracks] == ["fake: closest energy"] * 6


def test_the_session_log_credits_the_team_of_each_reaction() -> None:
    """Feeding the session's own records and events to queue_outcomes credits the skipped pick's team."""
    run = _Run("credit", _deps(), share=1.0)
    for _ in range(12):
        run.skip_first(position_s=3.0)
    outcomes = queue_outcomes(run.records, run.events)
    assert len(outcomes) == 13
    for queue, outcome in outcomes[:-1]:
        skipped_team = queue.picks[0].team
        assert outcome.winner == ("b" if skipped_team == "a" else "a")
        assert outcome.finished == 1
    assert not outcomes[-1][1].informative  # the last queue was never played


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_settings_refuse_a_share_outside_0_1(share: float) -> None:
    """Settings.interleave_share is validated to 0–1."""
    from pathlib import Path

    from player.settings import Settings

    with pytest.raises(ValueError, match="interleave share"):
        Settings(home=Path("/nonexistent"), interleave_share=share)


def test_a_team_whose_short_list_is_one_artist_still_keeps_the_spacing() -> None:
    """The challenger ranks one artist's twelve tracks first (the heuristic has no artist spacing of its
    own): when its turn follows its own pick by that artist, a list cut at ``DRAFT_DEPTH · N`` holds
    nobody else, yet the library does, so the queue must still never put that artist twice in a row."""
    # 40 tracks; the 12 loudest, the challenger's whole 12-deep list, are all by "Artist X".
    tracks = [
        replace(make_track(f"t{i:02d}", energy=i / 39), artist="Artist X" if i >= 22 else f"Artist {i}")
        for i in range(40)
    ]
    run = _Run("one-artist", _deps(tracks), share=1.0)
    for _ in range(12):
        run.skip_first()
    artist = {t.id: t.artist for t in tracks}
    b_after_b = 0
    skipped: set[str] = set()
    for queue, record in zip(run.queues, run.records, strict=True):
        ids = [t.id for t in queue.tracks]
        assert len(ids) == len(set(ids)) == 6
        assert not skipped & set(ids)
        skipped.add(ids[0])
        assert sorted(p.team for p in record.picks) == ["a"] * 3 + ["b"] * 3
        b_after_b += any(x.team == y.team == "b" for x, y in itertools.pairwise(record.picks))
        for before, after in itertools.pairwise(ids):
            assert artist[before] != artist[after], ids
    assert b_after_b > 0  # the case the test is about did come up


class _StaleFirst(FakeChallenger):
    """A challenger that, asked for more tracks than it has fresh ones, puts the played ones back at the
    top of its list (as a real recommender lets the least recently played back in, here at worst)."""

    def recommend(
        self, state: ListenerState, *, count: int, at_s: float, within: Sequence[str] | None = None
    ) -> Recommendation:
        fresh = super().recommend(state, count=count, at_s=at_s, within=within)
        if len(fresh.picks) >= count:
            return fresh
        played = [t for t in self.tracks if any(e.track_id == t.id for e in state.history)]
        picks = tuple(Pick(t, 2.0, "fake: played") for t in played) + fresh.picks
        return replace(fresh, picks=picks[:count], targets=(fresh.target,) * min(count, len(picks)))


def test_a_deeper_draft_never_brings_back_what_was_just_played() -> None:
    """Drafting deeper for the artist spacing asks the rankings for more tracks than the library has fresh
    ones: what they let back in (recently played tracks) stays out of the queue."""
    # 40 tracks, 30 of them by "Artist X" (the loudest): the challenger's 12- and 24-deep lists are
    # all X after a few skips, so the draft goes to 48, more than there are fresh tracks.
    tracks = [
        replace(make_track(f"t{i:02d}", energy=i / 39), artist="Artist X" if i >= 10 else f"Artist {i}")
        for i in range(40)
    ]
    deps = replace(
        _deps(tracks),
        interleaving=Interleaving(
            challenger=_StaleFirst(tracks),
            name="heuristic",
            explainer=FakeExplainer(tracks),
            default_share=0.0,
        ),
    )
    run = _Run("stale", deps, share=1.0)
    for _ in range(14):
        run.skip_first()
    played: set[str] = set()
    for queue in run.queues:
        ids = [t.id for t in queue.tracks]
        assert len(ids) == len(set(ids)) == 6
        assert not played & set(ids), sorted(played & set(ids))
        played.add(ids[0])
