"""Tests of player.core.interleave: the team draft's properties, the credit rules, the per-queue choice."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from player.core.interleave import (
    NEGATIVE_CREDIT,
    POSITIVE_CREDIT,
    InterleavedPick,
    PickOutcome,
    Team,
    credit,
    draft_seed,
    pick_credit,
    pick_outcomes,
    should_interleave,
    team_draft,
)
from player.core.listener import EARLY_SKIP_S, PlaybackEvent
from player.core.track import TrackId

_ids = st.lists(st.sampled_from([TrackId(f"t{i}") for i in range(12)]), max_size=12)
"""Rankings over a small shared catalog, so the two lists overlap and may repeat a track."""


def _ids_of(*names: str) -> list[TrackId]:
    return [TrackId(n) for n in names]


@settings(max_examples=300, deadline=None)
@given(a=_ids, b=_ids, count=st.integers(0, 30), seed=st.integers(0, 2**32))
def test_team_draft_properties(a: list[TrackId], b: list[TrackId], count: int, seed: int) -> None:
    """Every pick is its team's best unpicked track at its rank, no track twice, teams balanced, top tracks in."""
    picks = team_draft(a, b, count, rng=random.Random(seed))
    lists = {"a": a, "b": b}
    assert len(picks) <= count
    assert len({p.track_id for p in picks}) == len(picks)
    for i, pick in enumerate(picks):
        ranking = lists[pick.team]
        assert ranking[pick.rank] == pick.track_id
        earlier = {p.track_id for p in picks[:i]}
        assert all(t in earlier for t in ranking[: pick.rank]), "a better unpicked track was passed over"
        sizes = [sum(1 for p in picks[: i + 1] if p.team == team) for team in "ab"]
        assert abs(sizes[0] - sizes[1]) <= 1
        if (i + 1) % 2 == 0:
            assert sizes[0] == sizes[1]
    for team in "ab":
        ranks = [p.rank for p in picks if p.team == team]
        assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    chosen = {p.track_id for p in picks}
    if len(picks) >= 2:
        assert (not a or a[0] in chosen) and (not b or b[0] in chosen)
    if len(picks) < count:
        # Stopped early: a team whose turn it could be (the one with fewer picks) had nothing left.
        final = {team: sum(1 for p in picks if p.team == team) for team in "ab"}
        on_turn = [team for team in "ab" if final[team] == min(final.values())]
        assert any(set(lists[team]) <= chosen for team in on_turn)


@settings(max_examples=200, deadline=None)
@given(a=_ids, b=_ids, seed=st.integers(0, 2**32))
def test_team_draft_fills_count_when_both_lists_are_long_enough(
    a: list[TrackId], b: list[TrackId], seed: int
) -> None:
    """With at least ``count`` distinct tracks in each list the queue is exactly ``count`` long."""
    count = min(len(set(a)), len(set(b)))
    assert len(team_draft(a, b, count, rng=random.Random(seed))) == count


def test_team_draft_is_deterministic_for_a_seed() -> None:
    """The same seed gives the same picks; the coin changes which team picks first."""
    a = _ids_of("a1", "a2", "a3", "a4", "a5")
    b = _ids_of("b1", "b2", "b3", "b4", "b5")
    assert team_draft(a, b, 6, rng=random.Random(11)) == team_draft(a, b, 6, rng=random.Random(11))
    orders = {tuple(p.team for p in team_draft(a, b, 6, rng=random.Random(seed))) for seed in range(50)}
    assert len(orders) > 1


def test_team_draft_coin_is_fair() -> None:
    """Over 4000 seeded queues team a picks first about half of the time."""
    a, b = _ids_of("x", "y"), _ids_of("y", "x")
    first_a = sum(team_draft(a, b, 1, rng=random.Random(seed))[0].team == "a" for seed in range(4000))
    # Binomial(4000, 1/2): sd 32; the bounds are 4 sd.
    assert 2000 - 128 <= first_a <= 2000 + 128


def test_team_draft_shared_track_goes_to_the_first_team_to_reach_it() -> None:
    """Identical lists alternate: the second team takes the next track down, at its own rank."""
    same = _ids_of("t1", "t2", "t3", "t4")
    picks = team_draft(same, same, 4, rng=random.Random(3))
    assert [p.track_id for p in picks] == same
    assert [p.rank for p in picks] == [0, 1, 2, 3]
    assert sorted(p.team for p in picks) == ["a", "a", "b", "b"]


def test_team_draft_count_larger_than_the_union() -> None:
    """Asked for more than both lists hold, the draft stops when the team to pick runs out, without repeats."""
    a = _ids_of("t1", "t2")
    b = _ids_of("t2", "t3", "t4", "t5")
    for seed in range(20):
        picks = team_draft(a, b, 50, rng=random.Random(seed))
        ids = [p.track_id for p in picks]
        assert len(ids) == len(set(ids)) <= 5
        assert {"t1", "t2"} <= set(ids)
        sizes = [sum(p.team == t for p in picks) for t in "ab"]
        assert abs(sizes[0] - sizes[1]) <= 1


def test_team_draft_edge_cases() -> None:
    """Zero count or an empty list gives no queue beyond what balance allows; a negative count is refused."""
    a = _ids_of("t1", "t2")
    assert team_draft(a, a, 0, rng=random.Random(0)) == []
    assert team_draft([], [], 5, rng=random.Random(0)) == []
    one_sided = team_draft(a, [], 5, rng=random.Random(0))
    assert len(one_sided) <= 1 and all(p.team == "a" for p in one_sided)
    with pytest.raises(ValueError, match="count"):
        team_draft(a, a, -1, rng=random.Random(0))


def test_team_draft_within_list_duplicates_keep_their_first_rank() -> None:
    """A track listed twice by one team is picked once, at its first rank; the next pick skips the repeat."""
    a = _ids_of("t1", "t1", "t2")
    b = _ids_of("t9", "t8")
    picks = team_draft(a, b, 4, rng=random.Random(0))
    a_picks = [(p.track_id, p.rank) for p in picks if p.team == "a"]
    assert a_picks == [("t1", 0), ("t2", 2)]


def _outcome(
    team: Team,
    *,
    started: bool = False,
    completed: bool = False,
    liked: bool = False,
    disliked: bool = False,
    skip_position_s: float | None = None,
) -> PickOutcome:
    pick = InterleavedPick(TrackId(f"{team}-track"), team, 0)
    return PickOutcome(pick, started, completed, liked, disliked, skip_position_s)


def test_pick_credit_rules() -> None:
    """Completed or liked +1 (once), disliked −1 whatever else, early skip −1, late skip or unfinished 0."""
    assert pick_credit(_outcome("a", started=True, completed=True)) == POSITIVE_CREDIT == 1.0
    assert pick_credit(_outcome("a", started=True, liked=True)) == POSITIVE_CREDIT
    assert pick_credit(_outcome("a", started=True, completed=True, liked=True)) == POSITIVE_CREDIT
    assert pick_credit(_outcome("a", started=True, completed=True, disliked=True)) == NEGATIVE_CREDIT == -1.0
    assert pick_credit(_outcome("a", started=True, skip_position_s=3.0)) == NEGATIVE_CREDIT
    assert pick_credit(_outcome("a", started=True, skip_position_s=EARLY_SKIP_S - 0.01)) == NEGATIVE_CREDIT
    assert pick_credit(_outcome("a", started=True, skip_position_s=EARLY_SKIP_S)) == 0.0
    assert pick_credit(_outcome("a", started=True, skip_position_s=120.0)) == 0.0
    assert pick_credit(_outcome("a", started=True)) == 0.0
    assert pick_credit(_outcome("a")) == 0.0
    assert pick_credit(_outcome("a", started=True, liked=True, skip_position_s=2.0)) == POSITIVE_CREDIT


def test_credit_decides_the_queue() -> None:
    """The team with more credit wins the queue; equal credit ties; nothing finished is uninformative."""
    won_by_b = credit([_outcome("a", skip_position_s=120.0), _outcome("b", completed=True)])
    assert (won_by_b.credit_a, won_by_b.credit_b, won_by_b.winner) == (0.0, 1.0, "b")
    assert won_by_b.informative and won_by_b.finished == 2
    lost_by_b = credit([_outcome("b", skip_position_s=4.0), _outcome("a", started=True)])
    assert lost_by_b.winner == "a" and lost_by_b.credit_b == -1.0
    tie = credit([_outcome("a", completed=True), _outcome("b", liked=True)])
    assert tie.winner == "tie" and tie.informative
    late_only = credit([_outcome("a", skip_position_s=200.0)])
    assert late_only.winner == "tie" and late_only.informative
    nothing = credit([_outcome("a", started=True), _outcome("b")])
    assert nothing.winner == "tie" and not nothing.informative
    assert (nothing.picks_a, nothing.picks_b) == (1, 1)
    assert credit([]).winner == "tie" and not credit([]).informative


def test_pick_outcomes_fold_playback_events() -> None:
    """Events fold onto their picks in queue order; the first skip's position counts; strangers are ignored."""
    picks = [
        InterleavedPick(TrackId("t1"), "a", 0),
        InterleavedPick(TrackId("t2"), "b", 0),
        InterleavedPick(TrackId("t3"), "b", 1),
    ]
    events = [
        PlaybackEvent("started", "t1", 0.0, 10.0),
        PlaybackEvent("liked", "t1", 50.0, 60.0),
        PlaybackEvent("completed", "t1", 200.0, 210.0),
        PlaybackEvent("started", "t2", 0.0, 211.0),
        PlaybackEvent("skipped", "t2", 7.5, 219.0),
        PlaybackEvent("skipped", "t2", 80.0, 300.0),
        PlaybackEvent("started", "elsewhere", 0.0, 301.0),
        PlaybackEvent("disliked", "elsewhere", 1.0, 302.0),
    ]
    outcomes = pick_outcomes(picks, events)
    assert [o.pick for o in outcomes] == picks
    assert outcomes[0].started and outcomes[0].liked and outcomes[0].completed and not outcomes[0].disliked
    assert outcomes[1].skip_position_s == 7.5 and outcomes[1].early_skip
    assert not outcomes[2].started and not outcomes[2].finished
    result = credit(outcomes)
    assert (result.credit_a, result.credit_b, result.winner) == (1.0, -1.0, "a")


def test_should_interleave_is_deterministic_and_shares() -> None:
    """The choice depends only on its inputs and interleaves about ``share`` of queues."""
    assert should_interleave("s1", 4, 0.3) == should_interleave("s1", 4, 0.3)
    assert not any(should_interleave("s1", i, 0.0) for i in range(200))
    assert all(should_interleave("s1", i, 1.0) for i in range(200))
    chosen = sum(should_interleave(f"session-{i // 100}", i % 100, 0.3) for i in range(10_000))
    # Binomial(10 000, 0.3): sd 46; the bounds are 4 sd.
    assert 3000 - 184 <= chosen <= 3000 + 184
    # Raising the share only adds queues: the hash is compared with the share.
    low = {i for i in range(500) if should_interleave("s2", i, 0.2)}
    high = {i for i in range(500) if should_interleave("s2", i, 0.5)}
    assert low < high
    with pytest.raises(ValueError, match="share"):
        should_interleave("s1", 0, 1.5)


def test_draft_seed_is_stable_and_independent_of_the_choice() -> None:
    """Each queue's coin seed is fixed by session and number, differs between queues, and is not the choice."""
    assert draft_seed("s1", 3) == draft_seed("s1", 3)
    seeds = {draft_seed(f"s{i % 7}", i) for i in range(1000)}
    assert len(seeds) == 1000
    # Among interleaved queues (share 0.5), team a still picks first about half of the time.
    a, b = _ids_of("x", "y"), _ids_of("y", "x")
    firsts = [
        team_draft(a, b, 1, rng=random.Random(draft_seed("s", i)))[0].team == "a"
        for i in range(4000)
        if should_interleave("s", i, 0.5)
    ]
    assert abs(sum(firsts) / len(firsts) - 0.5) < 4 * (0.25 / len(firsts)) ** 0.5
