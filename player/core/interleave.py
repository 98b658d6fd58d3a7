"""Team-draft interleaving: merge two rankers' lists into one queue and credit each pick to its team.

Pure: no clock, no I/O, and no randomness except through a :class:`random.Random` passed in.

Why interleave
--------------
An offline metric on simulated listeners says how a ranker does on the simulator's taste; the
listener's own skips and completions say how it does on them. Interleaving shows one queue built
from two rankers (team ``"a"``, the shipped ranker, and team ``"b"``, a challenger such as the
listener's retrained model or the skip-aware heuristic) and lets each of the listener's reactions
count for the team that contributed the track. It needs far fewer queues than an A/B split to see
the same difference, because both rankers are judged on the same queue at the same moment
(Chapelle, Joachims, Radlinski & Yue, "Large-scale validation and analysis of interleaved search
evaluation", ACM TOIS 2012).

Team draft
----------
:func:`team_draft` follows Radlinski, Kurup & Joachims, "How does clickthrough data reflect retrieval
quality?" (CIKM 2008), algorithm 2: like captains choosing players, the team with fewer picks so far
picks next, a fair coin deciding when both have as many (so in each round of two picks a coin flip
decides who picks first); a team picks its highest-ranked track not already in the queue. Every
pick records its team and its rank in that team's own list (0 = the team's first choice). Each
team's top track is in the queue (once it holds two picks), and the teams' sizes never differ by
more than one.

Credit
------
What the listener did with a pick (:class:`PickOutcome`, folded from playback events by
:func:`pick_outcomes`) is worth, to the pick's team (:func:`pick_credit`):

- ``disliked``: :data:`NEGATIVE_CREDIT` (−1), whatever else happened: the listener said so;
- else ``liked`` or ``completed``: :data:`POSITIVE_CREDIT` (+1), once, the analogue of a click;
- else skipped before :data:`~player.core.listener.EARLY_SKIP_S` seconds: :data:`NEGATIVE_CREDIT`;
- else (skipped later, or started and never finished, or never reached): 0.

:func:`credit` sums one queue's picks per team; the team with more credit wins the queue, equal
credit is a tie. A queue with no finished pick at all (nothing completed, liked, disliked or
skipped) is not *informative* and is left out of the statistics (:mod:`models.interleaving`).

Which queues
------------
:func:`should_interleave` decides from a hash of the session id and the queue's number whether a
queue is interleaved, so a configured share of queues is, reproducibly; :func:`draft_seed` gives the
seed of that queue's coin flips from the same inputs (a separate hash, so the two are independent).

From the log
------------
The session logs each interleaved queue as a :class:`QueueRecord` (its picks with their teams and
ranks, the challenger's name) and, when a plain queue replaces an interleaved one, that plain queue
too (``challenger=None``, no picks): the end of the interleaved queue's time on the player.
:func:`queue_outcomes` cuts the session's playback events at those records and credits each
interleaved queue with what happened while it was the one playing.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from player.core.listener import EARLY_SKIP_S, PlaybackEvent
from player.core.records import PLAYBACK_KINDS, LogEvent, PlaybackKind
from player.core.track import TrackId

__all__ = [
    "HEURISTIC_CHALLENGER",
    "NEGATIVE_CREDIT",
    "POSITIVE_CREDIT",
    "RETRAINED_PREFIX",
    "TEAMS",
    "InterleavedPick",
    "InterleavingOutcome",
    "PickOutcome",
    "QueueRecord",
    "QueueWinner",
    "Team",
    "credit",
    "draft_seed",
    "pick_credit",
    "pick_outcomes",
    "queue_outcomes",
    "retrained_name",
    "should_interleave",
    "team_draft",
]

Team = Literal["a", "b"]
"""``"a"``: the shipped ranker; ``"b"``: the challenger."""
TEAMS: tuple[Team, ...] = get_args(Team)

QueueWinner = Literal["a", "b", "tie"]
"""Which team earned more credit on one queue."""

POSITIVE_CREDIT = 1.0
"""Credit of a pick that was completed or liked (once, even if both)."""
NEGATIVE_CREDIT = -1.0
"""Credit of a pick that was disliked, or skipped before ``EARLY_SKIP_S`` seconds."""

_CREDIT_TOLERANCE = 1e-9
"""Credits closer than this are a tie (they are sums of ±1 and 0, so only rounding could differ)."""

HEURISTIC_CHALLENGER = "heuristic"
"""The challenger's logged name when it is the skip-aware heuristic."""
RETRAINED_PREFIX = "retrained:"
"""A retrained challenger's logged name is this and the first 12 hex digits of its file's SHA-256."""


def retrained_name(model_bytes: bytes) -> str:
    """The logged name of a retrained challenger: ``retrained:`` + 12 hex digits of the file's SHA-256.

    The name is an id of the very file, so the log's impressions of one challenger are never
    counted for another one trained later.
    """
    return RETRAINED_PREFIX + hashlib.sha256(model_bytes).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class InterleavedPick:
    """One track of an interleaved queue, as logged with the queue's id: which team chose it, at what rank."""

    track_id: TrackId
    team: Team
    """The team whose list the track was drafted from."""
    rank: int
    """Position of the track in that team's own list, 0 = the team's first choice."""


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """One logged queue: an interleaved queue with its picks, or the plain queue that replaced one.

    Only numbers and ids: the session, the queue's number in it, the listener, the server time, the
    challenger's name (:data:`HEURISTIC_CHALLENGER` or :func:`retrained_name`) and the picks.
    """

    session_id: str
    queue_index: int
    """The queue's number in its session, 0 for the first queue (the input of :func:`should_interleave`)."""
    listener_id: str
    at_s: float
    """Server time the queue was made, Unix seconds."""
    challenger: str | None
    """The challenger that was team ``"b"``; None for a plain queue (logged only as an end)."""
    picks: tuple[InterleavedPick, ...] = ()
    """The queue's tracks in queue order, each with its team and rank (empty for a plain queue)."""

    @property
    def interleaved(self) -> bool:
        """True for an interleaved queue, False for a plain queue that ended one."""
        return self.challenger is not None


@dataclass(frozen=True, slots=True)
class PickOutcome:
    """What the listener did with one pick of an interleaved queue."""

    pick: InterleavedPick
    started: bool = False
    """The track began to play."""
    completed: bool = False
    """It played to the end."""
    liked: bool = False
    disliked: bool = False
    skip_position_s: float | None = None
    """Seconds into the track when it was skipped (the first skip); None if it was not skipped."""

    @property
    def finished(self) -> bool:
        """True if the listener's verdict on the track is in: completed, liked, disliked or skipped."""
        return self.completed or self.liked or self.disliked or self.skip_position_s is not None

    @property
    def early_skip(self) -> bool:
        """True if it was skipped before :data:`~player.core.listener.EARLY_SKIP_S` seconds."""
        return self.skip_position_s is not None and self.skip_position_s < EARLY_SKIP_S


@dataclass(frozen=True, slots=True)
class InterleavingOutcome:
    """The credit each team earned on one interleaved queue."""

    credit_a: float
    """Sum of :func:`pick_credit` over team a's picks."""
    credit_b: float
    picks_a: int
    """Team a's picks in the queue."""
    picks_b: int
    finished: int
    """Picks with a verdict in (see :attr:`PickOutcome.finished`), both teams together."""

    @property
    def informative(self) -> bool:
        """True if at least one pick was finished: only then does the queue say anything."""
        return self.finished > 0

    @property
    def winner(self) -> QueueWinner:
        """``"a"`` or ``"b"``, whichever earned more credit, else ``"tie"``."""
        if self.credit_b > self.credit_a + _CREDIT_TOLERANCE:
            return "b"
        if self.credit_a > self.credit_b + _CREDIT_TOLERANCE:
            return "a"
        return "tie"


def team_draft(
    a: Sequence[TrackId],
    b: Sequence[TrackId],
    count: int,
    *,
    rng: random.Random,
    artists: Mapping[str, str] | None = None,
    after: str | None = None,
) -> list[InterleavedPick]:
    """Interleave rankings ``a`` and ``b`` (best first) into up to ``count`` picks by team draft.

    The team with fewer picks picks next; when both have as many, ``rng`` flips the coin. A team
    picks the highest-ranked track of its list not already picked, so a track both lists hold goes
    to whichever team reaches it first and appears once. Drafting stops at ``count`` picks or as
    soon as the team whose turn it is has no unpicked track left (as in the paper: continuing with
    the other team alone would unbalance the teams and bias the credit), so the queue is shorter than
    ``count`` only if a list runs out: with at least ``count`` distinct tracks in each list it is exactly
    ``count`` long.

    Args:
        artists: The artist of each track id. When given, the queue keeps the recommender's artist
            spacing: a team picks its highest-ranked unpicked track by another artist than the
            previous pick's (for the first pick, than ``after``'s, the track started last), and only
            when its list has none left, its highest-ranked unpicked track. Both teams obey the same
            rule, so neither is favoured by it.
        after: The track played before the queue (None: none).

    Returns:
        The picks in queue order; ``rank`` indexes the track in its team's list.

    Raises:
        ValueError: If ``count`` is negative.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    lists: dict[Team, Sequence[TrackId]] = {"a": a, "b": b}
    sizes: dict[Team, int] = {"a": 0, "b": 0}
    chosen: set[TrackId] = set()
    picks: list[InterleavedPick] = []
    previous = after
    while len(picks) < count:
        if sizes["a"] != sizes["b"]:
            team: Team = "a" if sizes["a"] < sizes["b"] else "b"
        else:
            team = "a" if rng.random() < 0.5 else "b"
        rank = _best_unpicked(lists[team], chosen, artists, previous)
        if rank is None:
            break
        track_id = lists[team][rank]
        sizes[team] += 1
        chosen.add(track_id)
        picks.append(InterleavedPick(track_id=track_id, team=team, rank=rank))
        previous = track_id
    return picks


def _best_unpicked(
    ranking: Sequence[TrackId],
    chosen: set[TrackId],
    artists: Mapping[str, str] | None,
    previous: str | None,
) -> int | None:
    """Rank of the best track of ``ranking`` not in ``chosen``, by another artist than ``previous``'s
    if there is one (when ``artists`` is given); None if every track is chosen."""
    first: int | None = None
    avoid = artists.get(previous) if artists is not None and previous is not None else None
    for rank, track_id in enumerate(ranking):
        if track_id in chosen:
            continue
        if avoid is None or artists is None or artists.get(track_id) != avoid:
            return rank
        if first is None:
            first = rank
    return first


@dataclass(slots=True)
class _Reactions:
    """What has happened to one pick so far, while folding events."""

    started: bool = False
    completed: bool = False
    liked: bool = False
    disliked: bool = False
    skip_position_s: float | None = None


def pick_outcomes(picks: Sequence[InterleavedPick], events: Iterable[PlaybackEvent]) -> list[PickOutcome]:
    """Fold the playback events that followed a queue into one outcome per pick, in queue order.

    ``events`` are the listener's playback events while this queue was the one playing (the caller
    cuts the log at the next queue); events for tracks not in ``picks`` are ignored. The first skip
    of a track gives its skip position.
    """
    index = {pick.track_id: i for i, pick in enumerate(picks)}
    state = [_Reactions() for _ in picks]
    for event in events:
        i = index.get(TrackId(event.track_id))
        if i is None:
            continue
        seen = state[i]
        if event.kind == "started":
            seen.started = True
        elif event.kind == "completed":
            seen.completed = True
        elif event.kind == "liked":
            seen.liked = True
        elif event.kind == "disliked":
            seen.disliked = True
        elif event.kind == "skipped" and seen.skip_position_s is None:
            seen.skip_position_s = max(0.0, float(event.position_s))
    return [
        PickOutcome(
            pick=pick,
            started=seen.started,
            completed=seen.completed,
            liked=seen.liked,
            disliked=seen.disliked,
            skip_position_s=seen.skip_position_s,
        )
        for pick, seen in zip(picks, state, strict=True)
    ]


def pick_credit(outcome: PickOutcome) -> float:
    """The credit one pick earns its team (rules in the module docstring)."""
    if outcome.disliked:
        return NEGATIVE_CREDIT
    if outcome.liked or outcome.completed:
        return POSITIVE_CREDIT
    if outcome.early_skip:
        return NEGATIVE_CREDIT
    return 0.0


def credit(outcomes: Iterable[PickOutcome]) -> InterleavingOutcome:
    """Sum one queue's pick credits per team: who won the queue, and whether it said anything."""
    totals: dict[Team, float] = {"a": 0.0, "b": 0.0}
    sizes: dict[Team, int] = {"a": 0, "b": 0}
    finished = 0
    for outcome in outcomes:
        team = outcome.pick.team
        totals[team] += pick_credit(outcome)
        sizes[team] += 1
        finished += outcome.finished
    return InterleavingOutcome(
        credit_a=totals["a"],
        credit_b=totals["b"],
        picks_a=sizes["a"],
        picks_b=sizes["b"],
        finished=finished,
    )


def _unit_hash(*parts: str) -> float:
    """A uniform number in [0, 1) from ``parts``, the same in every process (unlike ``hash``)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def should_interleave(session_id: str, queue_index: int, share: float) -> bool:
    """Whether queue number ``queue_index`` of session ``session_id`` is interleaved.

    Deterministic in its inputs; over many queues a ``share`` (0–1) of them is interleaved, and the
    choice is independent of the queue's coin flips (:func:`draft_seed` hashes other inputs).

    Raises:
        ValueError: If ``share`` is outside [0, 1].
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be within [0, 1], got {share}")
    return _unit_hash("interleave", session_id, str(queue_index)) < share


def draft_seed(session_id: str, queue_index: int) -> int:
    """The seed of the coin flips of queue ``queue_index`` of ``session_id``: ``random.Random(seed)``."""
    digest = hashlib.blake2b(
        "\x1f".join(("draft", session_id, str(queue_index))).encode("utf-8"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")


def queue_outcomes(
    queues: Iterable[QueueRecord], events: Iterable[LogEvent]
) -> list[tuple[QueueRecord, InterleavingOutcome]]:
    """Credit each interleaved queue with the playback that followed it, until a later queue of its session.

    ``queues`` are the logged queues (interleaved ones and the plain queues that replaced them) and
    ``events`` the logged events, of any listeners and sessions. An interleaved queue's events are
    its session's playback events after the queue was made (``at_s`` strictly later: events of the
    same moment caused it) up to and including the moment the session's next logged queue was made
    (the skip or the mood that replaced it is logged at that moment, before the new queue). They are
    folded by :func:`pick_outcomes` and summed by :func:`credit`.

    Returns:
        One ``(queue, outcome)`` per interleaved queue, in time order (uninformative ones included).
    """
    by_session: dict[str, list[QueueRecord]] = {}
    for queue in queues:
        by_session.setdefault(queue.session_id, []).append(queue)
    playback: dict[str, list[LogEvent]] = {}
    for event in events:
        if event.session_id in by_session and event.kind in PLAYBACK_KINDS and event.track_id:
            playback.setdefault(event.session_id, []).append(event)
    results: list[tuple[QueueRecord, InterleavingOutcome]] = []
    for session_id, session_queues in by_session.items():
        ordered = sorted(session_queues, key=lambda q: (q.at_s, q.queue_index))
        session_events = sorted(playback.get(session_id, ()), key=lambda e: e.at_s)
        for i, queue in enumerate(ordered):
            if not queue.interleaved:
                continue
            end_s = ordered[i + 1].at_s if i + 1 < len(ordered) else math.inf
            window = (
                # Credit needs no track features: the event alone, without the replay's valence/energy.
                PlaybackEvent(_playback_kind(e.kind), e.track_id or "", float(e.position_s or 0.0), e.at_s)
                for e in session_events
                if queue.at_s < e.at_s <= end_s
            )
            results.append((queue, credit(pick_outcomes(queue.picks, window))))
    results.sort(key=lambda item: (item[0].at_s, item[0].session_id, item[0].queue_index))
    return results


def _playback_kind(kind: str) -> PlaybackKind:
    """``kind`` as a playback kind (the caller has checked it is one)."""
    for playback in PLAYBACK_KINDS:
        if playback == kind:
            return playback
    raise ValueError(f"not a playback kind: {kind!r}")
