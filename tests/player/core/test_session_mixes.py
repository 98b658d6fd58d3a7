"""`mixes.list` and `mix.play` in the session core, with the real mix builder over a synthetic library."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from models.simulate import synthetic_catalog
from player.core.mixes import Mix, MixBuilder
from player.core.protocol import PROTOCOL_VERSION, Error, Mixes, Queue
from player.core.records import LogEvent
from player.core.session import Effect, HistoryLoaded, LoadHistory, Send, Session, SessionDeps
from tests.support.fakes import FakeMood, FakeRecommender, limits

pytestmark = pytest.mark.unit

T0 = 1_800_000_000.0
LOCAL = "2026-05-01T07:30:00+02:00"
TRACKS = synthetic_catalog(200, seed=5)
BY_ID = {t.id: t for t in TRACKS}


class CountingBuilder:
    """The real builder, counting its builds and keeping the local time it was given."""

    def __init__(self) -> None:
        self.builder = MixBuilder(TRACKS)
        self.builds: list[datetime] = []

    def build(
        self, events: Sequence[LogEvent], *, listener_local: datetime, now_s: float, size: int = 30
    ) -> list[Mix]:
        self.builds.append(listener_local)
        return self.builder.build(events, listener_local=listener_local, now_s=now_s, size=size)


def msg(type_: str, **fields: Any) -> str:
    return json.dumps({"type": type_, **fields})


def sent(effects: list[Effect]) -> list[Any]:
    return [e.message for e in effects if isinstance(e, Send)]


def start(builder: CountingBuilder | None, history: Sequence[LogEvent] = ()) -> Session:
    deps = SessionDeps(mood=FakeMood(), recommender=FakeRecommender(TRACKS), tracks=BY_ID, mixes=builder)
    session = Session("s1", deps, limits())
    session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)
    effects = session.handle(msg("session.start", local_time=LOCAL, listener_id="ann"), now_s=T0)
    assert effects == [LoadHistory("ann")]
    assert isinstance(sent(session.handle(HistoryLoaded(tuple(history)), now_s=T0))[-1], Queue)
    return session


def mixes(session: Session, now_s: float = T0 + 1) -> Mixes:
    (answer,) = sent(session.handle(msg("mixes.list", id="l1"), now_s=now_s))
    assert isinstance(answer, Mixes) and answer.ref == "l1"
    return answer


def only_queue(effects: list[Effect]) -> Queue:
    queues = [m for m in sent(effects) if isinstance(m, Queue)]
    assert len(queues) == 1, sent(effects)
    return queues[0]


def completions(track_ids: Sequence[str], at_s: float) -> list[LogEvent]:
    return [
        LogEvent(kind=kind, listener_id="ann", session_id="old", at_s=at_s + i, track_id=tid, position_s=p)
        for i, tid in enumerate(track_ids)
        for kind, p in (("started", 0.0), ("completed", 180.0))
    ]


def test_a_new_listener_gets_the_mixes_that_need_no_history() -> None:
    answer = mixes(start(CountingBuilder()))
    ids = [m.id for m in answer.mixes]
    assert "daylist" in ids and "discover" in ids and "workout" in ids
    assert "on-repeat" not in ids and not any(i.startswith("daily-") for i in ids)
    assert len(set(ids)) == len(ids)
    for m in answer.mixes:
        assert m.count >= 1 and m.title and m.refresh in ("daily", "weekly", "daypart")
        assert m.art_track_id in BY_ID
    wire = answer.to_dict()
    assert wire["type"] == "mixes" and {"id", "kind", "title", "count", "refresh"} <= set(wire["mixes"][0])


def test_mixes_are_built_at_the_listeners_local_time() -> None:
    builder = CountingBuilder()
    session = start(builder)
    mixes(session, now_s=T0 + 3600)
    local = builder.builds[-1]
    assert local.utcoffset() == timedelta(hours=2)
    assert local == datetime(2026, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=2)))
    daylist = next(m for m in mixes(session, now_s=T0 + 3600).mixes if m.id == "daylist")
    assert "Friday morning" in daylist.title


def test_a_build_is_reused_until_the_log_or_the_daypart_changes() -> None:
    builder = CountingBuilder()
    session = start(builder)
    first = mixes(session)
    assert mixes(session, now_s=T0 + 60) == first
    assert len(builder.builds) == 1
    track = TRACKS[0].id
    session.handle(msg("playback", event="started", track_id=track, position_s=0), now_s=T0 + 70)
    mixes(session, now_s=T0 + 80)
    assert len(builder.builds) == 2  # the log changed
    mixes(session, now_s=T0 + 5 * 3600)  # 12:30 local: the afternoon
    assert len(builder.builds) == 3


def test_history_and_this_sessions_plays_make_on_repeat() -> None:
    favourites = [t.id for t in TRACKS[:6]]
    session = start(CountingBuilder(), history=completions(favourites[:3], T0 - 86400))
    assert "on-repeat" not in [m.id for m in mixes(session).mixes]  # three tracks: too few for a mix
    now = T0 + 10
    for tid in favourites[3:]:
        session.handle(msg("playback", event="started", track_id=tid, position_s=0), now_s=now)
        session.handle(msg("playback", event="completed", track_id=tid, position_s=100), now_s=now + 100)
        now += 200
    on_repeat = next(m for m in mixes(session, now_s=now).mixes if m.id == "on-repeat")
    assert on_repeat.count == 6


def test_playing_a_mix_keeps_every_queue_within_it_until_it_is_left() -> None:
    session = start(CountingBuilder())
    summary = next(m for m in mixes(session).mixes if m.id == "workout")
    workout = next(m for m in session._current_mixes(T0 + 1) if m.id == "workout")
    queue = only_queue(session.handle(msg("mix.play", mix="workout", id="p1"), now_s=T0 + 2))
    assert queue.trigger == "mix" and queue.ref == "p1"
    assert queue.mix_id == "workout" and queue.mix_title == summary.title
    assert queue.to_dict()["mix"] == {"id": "workout", "title": summary.title}
    assert queue.tracks and {t.id for t in queue.tracks} <= set(workout.track_ids)
    # the live mood, a skip and `next` still steer, within the mix
    for effects in (
        session.handle(msg("text", text="I feel calm"), now_s=T0 + 3),
        session.handle(
            msg("playback", event="skipped", track_id=queue.tracks[0].id, position_s=3), now_s=T0 + 4
        ),
        session.handle(msg("next", count=5), now_s=T0 + 5),
    ):
        later = only_queue(effects)
        assert later.mix_id == "workout" and {t.id for t in later.tracks} <= set(workout.track_ids)
    back = only_queue(session.handle(msg("mix.play", mix=None), now_s=T0 + 6))
    assert back.trigger == "mix" and back.mix_id is None and "mix" not in back.to_dict()
    assert not {t.id for t in back.tracks} <= set(workout.track_ids)


def test_an_unknown_mix_is_refused_and_nothing_changes() -> None:
    session = start(CountingBuilder())
    (error,) = sent(session.handle(msg("mix.play", mix="daily-9", id=3), now_s=T0 + 1))
    assert isinstance(error, Error) and error.code == "unknown_mix" and error.ref == 3
    assert session.mix is None and session.within is None
    (error,) = sent(session.handle(msg("mix.play"), now_s=T0 + 2))
    assert isinstance(error, Error) and error.code == "missing_field"


def test_without_a_mix_source_the_list_is_empty() -> None:
    assert mixes(start(None)).mixes == ()


def test_mixes_need_a_started_session() -> None:
    deps = SessionDeps(
        mood=FakeMood(), recommender=FakeRecommender(TRACKS), tracks=BY_ID, mixes=CountingBuilder()
    )
    session = Session("s1", deps, limits())
    session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)
    (error,) = sent(session.handle(msg("mixes.list"), now_s=T0))
    assert isinstance(error, Error) and error.code == "not_started"
