"""The shell's swap of library versions is atomic per message: a session handles each message with the
engines that were the server's when the message started, whatever is swapped in meanwhile."""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from player.core.listener import ListenerState
from player.core.protocol import PROTOCOL_VERSION, Queue
from player.core.ranking import Recommendation
from player.core.session import Effect, Send, Session, SessionDeps
from player.core.track import Track
from player.server.shell import _Connection
from tests.support.fakes import (
    FakeChallenger,
    FakeExplainer,
    FakeMood,
    FakeRecommender,
    fake_interleaving,
    limits,
    make_track,
)

T0 = 1_800_000_000.0
LOCAL = "2026-05-01T07:30:00+02:00"


class _Calls:
    """Which library version each engine call went to, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []


def _version(name: str, tracks: Sequence[Track], calls: _Calls, server: SimpleNamespace) -> SessionDeps:
    """Engines over ``tracks`` (every queue interleaved) that note each call under ``name``; the
    recommender of version "v1" swaps the server to ``server.next`` while it ranks, as the library
    watcher can at any moment."""

    class Recommender(FakeRecommender):
        def recommend(
            self, state: ListenerState, *, count: int, at_s: float, within: Sequence[str] | None = None
        ) -> Recommendation:
            calls.log.append((name, "recommender"))
            if name == "v1" and getattr(server, "next", None) is not None:
                server.deps = server.next  # swapped in mid-message
            return super().recommend(state, count=count, at_s=at_s, within=within)

    class Challenger(FakeChallenger):
        def recommend(
            self, state: ListenerState, *, count: int, at_s: float, within: Sequence[str] | None = None
        ) -> Recommendation:
            calls.log.append((name, "challenger"))
            return super().recommend(state, count=count, at_s=at_s, within=within)

    class Explainer(FakeExplainer):
        def explain(self, state: ListenerState, track_ids: Sequence[str], *, at_s: float) -> Recommendation:
            calls.log.append((name, "explainer"))
            return super().explain(state, track_ids, at_s=at_s)

    interleaving = fake_interleaving(tracks, default_share=1.0)
    return SessionDeps(
        mood=FakeMood(),
        recommender=Recommender(tracks),
        tracks={t.id: t for t in tracks},
        interleaving=type(interleaving)(
            Challenger(tracks), interleaving.name, Explainer(tracks), interleaving.default_share
        ),
    )


def _queue(effects: list[Effect]) -> Queue:
    (queue,) = [e.message for e in effects if isinstance(e, Send) and isinstance(e.message, Queue)]
    return queue


def msg(type_: str, **fields: Any) -> str:
    return json.dumps({"type": type_, **fields})


def test_a_swap_during_a_message_takes_effect_at_the_next_one() -> None:
    """The watcher swaps v2 in while v1's recommender ranks a queue: the rest of that queue (the
    challenger's ranking, the explainer, the tracks) is v1's; the next message is handled by v2 alone."""
    v1_tracks = [make_track(f"a{i:02d}", energy=i / 19) for i in range(20)]
    v2_tracks = [make_track(f"b{i:02d}", energy=i / 19) for i in range(20)]
    calls = _Calls()
    server = SimpleNamespace(deps=None, next=None)
    v1 = _version("v1", v1_tracks, calls, server)
    v2 = _version("v2", v2_tracks, calls, server)
    server.deps = v1
    connection = _Connection(server, None, Session("s1", v1, limits()), "127.0.0.1")  # type: ignore[arg-type]
    connection._handle_now(msg("hello", protocol=PROTOCOL_VERSION, client="t"))
    server.next = v2
    first = _queue(connection._handle_now(msg("session.start", local_time=LOCAL)))
    assert server.deps is v2  # swapped while the first queue was being made
    assert calls.log == [("v1", "recommender"), ("v1", "challenger"), ("v1", "explainer")]
    assert {t.id for t in first.tracks} <= {t.id for t in v1_tracks}
    calls.log.clear()
    second = _queue(connection._handle_now(msg("next", id="n1", count=5)))
    assert calls.log == [("v2", "recommender"), ("v2", "challenger"), ("v2", "explainer")]
    assert {t.id for t in second.tracks} <= {t.id for t in v2_tracks}
