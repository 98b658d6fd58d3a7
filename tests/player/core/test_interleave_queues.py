"""Tests of player.core.interleave's serving side: the draft's artist spacing, logged queues and their credit."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from player.core.interleave import (
    RETRAINED_PREFIX,
    InterleavedPick,
    QueueRecord,
    queue_outcomes,
    retrained_name,
    team_draft,
)
from player.core.records import LogEvent
from player.core.track import TrackId

_ids = st.lists(st.sampled_from([TrackId(f"t{i}") for i in range(12)]), max_size=12)
_ARTIST = {f"t{i}": f"artist {i % 3}" for i in range(12)}
"""Twelve tracks by three artists, so neighbouring picks often share one."""


@settings(max_examples=300, deadline=None)
@given(
    a=_ids,
    b=_ids,
    count=st.integers(0, 20),
    seed=st.integers(0, 2**32),
    after=st.sampled_from([None, "t0", "t1"]),
)
def test_team_draft_with_artists_keeps_spacing_whenever_a_team_can(
    a: list[TrackId], b: list[TrackId], count: int, seed: int, after: str | None
) -> None:
    """With artists, each pick is its team's best unpicked track by another artist than the previous pick's,
    or its best unpicked track when its list has no other artist left; teams stay balanced."""
    picks = team_draft(a, b, count, rng=random.Random(seed), artists=_ARTIST, after=after)
    lists = {"a": a, "b": b}
    assert len({p.track_id for p in picks}) == len(picks) <= count
    previous = after
    for i, pick in enumerate(picks):
        ranking = lists[pick.team]
        assert ranking[pick.rank] == pick.track_id
        earlier = {p.track_id for p in picks[:i]}
        free = [(r, t) for r, t in enumerate(ranking) if t not in earlier]
        avoid = _ARTIST.get(previous) if previous is not None else None
        spaced = [(r, t) for r, t in free if _ARTIST[t] != avoid]
        assert (pick.rank, pick.track_id) == (spaced or free)[0]
        sizes = [sum(1 for p in picks[: i + 1] if p.team == team) for team in "ab"]
        assert abs(sizes[0] - sizes[1]) <= 1
        previous = pick.track_id


def test_team_draft_without_artists_is_unchanged_by_after() -> None:
    """``after`` only matters with ``artists``: without them the draft is the plain team draft."""
    a = [TrackId(t) for t in ("t0", "t3", "t6")]
    b = [TrackId(t) for t in ("t3", "t1", "t4")]
    plain = team_draft(a, b, 4, rng=random.Random(5))
    assert team_draft(a, b, 4, rng=random.Random(5), after="t9") == plain


def test_retrained_name_identifies_the_file() -> None:
    """The name is the prefix and 12 hex digits of the bytes' SHA-256: equal bytes, equal names."""
    name = retrained_name(b"model one")
    assert name.startswith(RETRAINED_PREFIX) and len(name) == len(RETRAINED_PREFIX) + 12
    assert name == retrained_name(b"model one") != retrained_name(b"model two")


def _event(
    kind: str, session: str, at_s: float, track: str | None = None, position_s: float = 0.0
) -> LogEvent:
    return LogEvent(
        kind=kind,  # type: ignore[arg-type]
        listener_id="ann",
        session_id=session,
        at_s=at_s,
        track_id=track,
        position_s=position_s if track else None,
    )


def _queue(session: str, index: int, at_s: float, picks: str | None) -> QueueRecord:
    """A logged queue; ``picks`` like "a:x b:y" (team:track, rank 0 each), None for a plain queue."""
    if picks is None:
        return QueueRecord(session, index, "ann", at_s, challenger=None)
    parsed = tuple(
        InterleavedPick(TrackId(item.split(":")[1]), item.split(":")[0], 0)  # type: ignore[arg-type]
        for item in picks.split()
    )
    return QueueRecord(session, index, "ann", at_s, challenger="heuristic", picks=parsed)


def test_queue_outcomes_cut_each_session_at_its_next_logged_queue() -> None:
    """An interleaved queue is credited with its session's playback after it and up to the next queue."""
    queues = [
        _queue("s1", 0, 10.0, "a:x b:y"),
        _queue("s1", 1, 20.0, "b:z a:w"),
        _queue("s1", 2, 30.0, None),
        _queue("s2", 0, 15.0, "a:y b:x"),
    ]
    events = [
        _event("skipped", "s1", 10.0, "y", 4.0),  # the skip that caused queue 0: before it
        _event("started", "s1", 11.0, "x"),
        _event("completed", "s1", 12.0, "x", 200.0),  # a +1
        _event("started", "s1", 13.0, "y"),
        _event("skipped", "s1", 20.0, "y", 5.0),  # b −1, at the moment queue 1 replaced queue 0
        _event("started", "s1", 21.0, "z"),
        _event("liked", "s1", 22.0, "z", 9.0),  # b +1
        _event("disliked", "s1", 30.0, "w", 1.0),  # a −1 (the dislike that caused the plain queue)
        _event("started", "s1", 31.0, "x"),  # after the plain queue: nobody's
        _event("completed", "s1", 32.0, "w", 200.0),  # after the plain queue: nobody's
        _event("mood", "s2", 16.0),  # not playback
        _event("started", "s2", 16.0, "y"),
        _event("completed", "s2", 99.0, "y", 200.0),  # s2 has no later queue: counts
        _event("skipped", "s3", 17.0, "x", 1.0),  # another session's queue is not s2's
    ]
    results = queue_outcomes(queues, events)
    assert [(q.session_id, q.queue_index) for q, _ in results] == [("s1", 0), ("s2", 0), ("s1", 1)]
    s1q0, s2q0, s1q1 = (outcome for _, outcome in results)
    assert (s1q0.credit_a, s1q0.credit_b, s1q0.winner) == (1.0, -1.0, "a")
    assert (s1q1.credit_a, s1q1.credit_b, s1q1.winner) == (-1.0, 1.0, "b")
    assert (s2q0.credit_a, s2q0.credit_b, s2q0.winner) == (1.0, 0.0, "a")


def test_queue_outcomes_of_an_untouched_queue_are_uninformative() -> None:
    """A queue nobody reacted to before the next one is returned, uninformative; plain queues are not returned."""
    queues = [_queue("s1", 0, 10.0, "a:x b:y"), _queue("s1", 1, 11.0, None)]
    results = queue_outcomes(queues, [_event("started", "s1", 10.5, "x")])
    assert len(results) == 1 and not results[0][1].informative
    assert queue_outcomes([_queue("s1", 0, 10.0, None)], []) == []
