"""A session whose library changes while it runs (Session.use): the new version from the next message
on, whole; tracks gone from the library drop out, new ones are playable, the mixes are built again."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from player.core.mixes import Mix
from player.core.protocol import PROTOCOL_VERSION, Ack, Error, Mixes, Queue
from player.core.records import LogEvent
from player.core.session import Effect, Send, Session, SessionDeps
from player.core.track import Track
from tests.support.fakes import FakeMood, FakeRecommender, fake_tracks, limits, make_track

T0 = 1_800_000_000.0
LOCAL = "2026-05-01T07:30:00+02:00"


class CountingMixes:
    """A mix source over one library version that counts its builds (one mix of all its tracks)."""

    def __init__(self, tracks: Sequence[Track]) -> None:
        self.ids = tuple(t.id for t in tracks)
        self.builds = 0

    def build(
        self, events: Sequence[LogEvent], *, listener_local: datetime, now_s: float, size: int = 30
    ) -> list[Mix]:
        self.builds += 1
        return [Mix("chill", "activity", "Chill", "every track", self.ids[:size], "daily")]


def deps_over(tracks: Sequence[Track]) -> SessionDeps:
    return SessionDeps(
        mood=FakeMood(),
        recommender=FakeRecommender(tracks),
        tracks={t.id: t for t in tracks},
        mixes=CountingMixes(tracks),
    )


def msg(type_: str, **fields: Any) -> str:
    return json.dumps({"type": type_, **fields})


def sent(effects: list[Effect]) -> list[Any]:
    return [e.message for e in effects if isinstance(e, Send)]


def start(deps: SessionDeps, **start: Any) -> Session:
    session = Session("s1", deps, limits())
    session.handle(msg("hello", protocol=PROTOCOL_VERSION, client="t"), now_s=T0)
    assert isinstance(
        sent(session.handle(msg("session.start", local_time=LOCAL, **start), now_s=T0))[-1], Queue
    )
    return session


def test_the_next_message_uses_the_new_library() -> None:
    """After use(): a track the new library dropped leaves the session's own queue and is refused when
    played; a track it added is played and acknowledged."""
    old = fake_tracks(20)
    added = make_track("n01", energy=0.5)
    new = [t for t in old if t.id != "t02"] + [added]
    session = start(deps_over(old), queue=["t01", "t02", "t03"])
    session.use(deps_over(new))
    (queue,) = sent(session.handle(msg("next", id="n1", count=3), now_s=T0 + 1))
    assert isinstance(queue, Queue) and {t.id for t in queue.tracks} == {"t01", "t03"}
    (ack,) = sent(
        session.handle(msg("playback", event="started", track_id="n01", position_s=0.0), now_s=T0 + 2)
    )
    assert isinstance(ack, Ack)
    (error,) = sent(
        session.handle(msg("playback", event="completed", track_id="t02", position_s=9.0), now_s=T0 + 3)
    )
    assert isinstance(error, Error) and error.code == "unknown_track"


def test_a_removed_track_in_the_history_is_passed_over() -> None:
    """A played track that the new library no longer holds stays in the history and is ignored by the
    next queue (no error; it cannot come back)."""
    old = fake_tracks(20)
    session = start(deps_over(old))
    session.handle(msg("playback", event="completed", track_id="t10", position_s=180.0), now_s=T0 + 1)
    session.use(deps_over([t for t in old if t.id != "t10"]))
    (queue,) = sent(session.handle(msg("next", id="n1", count=19), now_s=T0 + 2))
    assert isinstance(queue, Queue) and len(queue.tracks) == 19 and "t10" not in {t.id for t in queue.tracks}


def test_the_mixes_are_built_again_over_the_new_library() -> None:
    """The mixes built over the old library are not reused after use(); the same engines again change
    nothing."""
    old, new = deps_over(fake_tracks(20)), deps_over(fake_tracks(25))
    session = start(old)
    for _ in range(2):
        (answer,) = sent(session.handle(msg("mixes.list", id="l1"), now_s=T0 + 1))
        assert isinstance(answer, Mixes) and answer.mixes[0].count == 20
    session.use(new)
    session.use(new)
    for _ in range(2):
        (answer,) = sent(session.handle(msg("mixes.list", id="l2"), now_s=T0 + 1))
        assert isinstance(answer, Mixes) and answer.mixes[0].count == 25
    assert isinstance(old.mixes, CountingMixes) and isinstance(new.mixes, CountingMixes)
    assert (old.mixes.builds, new.mixes.builds) == (1, 1)
