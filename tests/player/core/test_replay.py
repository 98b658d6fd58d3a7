"""Serving and training rebuild a listener the same way: one log, two paths, identical ranker inputs.

The serving path is a :class:`~player.core.session.Session` that receives the listener's logged
history (:class:`~player.core.session.HistoryLoaded`) and then plays a session of its own; the
training path is ``models.train.log_queries`` over the same history plus the events that session
logged. At every decision the ranker's inputs (``build_context`` → ``assemble_features``) must be
identical, bit for bit.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from models.simulate import catalog_matrix, synthetic_catalog
from models.train import log_queries
from player.core.listener import ListenerState
from player.core.protocol import PROTOCOL_VERSION
from player.core.ranking import Catalog, assemble_features, build_context
from player.core.records import LogEvent
from player.core.replay import apply_logged_event
from player.core.session import HistoryLoaded, LoadHistory, Record, Session, SessionDeps
from player.core.track import Track
from tests.support.fakes import FakeMood, FakeRecommender, limits

LISTENER = "ann"
T1 = 1_800_000_000.0
"""Server time of the live session's start."""
NOW_LOCAL = "2026-05-04T18:30:00+02:00"


def _library() -> tuple[list[Track], Track]:
    """A synthetic library and one track that was played once but is no longer in it."""
    tracks = synthetic_catalog(60, seed=3)
    return tracks[:-1], tracks[-1]


def _history(library: list[Track], gone: Track) -> list[LogEvent]:
    """Two past sessions: moods with intents, plays, early and late skips, likes, a dislike, a removed track."""
    a, b, c, d, e = (library[i].id for i in (3, 11, 19, 27, 35))
    out: list[LogEvent] = []

    def log(kind: Any, at_s: float, session: str, **fields: Any) -> None:
        out.append(LogEvent(kind, LISTENER, session, at_s, **fields))

    t = T1 - 3 * 86400
    log("session_start", t, "old1", local_time="2026-05-01T21:00:00+02:00", device="phone")
    log("started", t + 10, "old1", track_id=a, position_s=0.0)
    log("mood", t + 20, "old1", valence=0.2, energy=0.15, confidence=0.9, intents=("calmer",))
    log("skipped", t + 22, "old1", track_id=a, position_s=12.0)
    log("started", t + 30, "old1", track_id=b, position_s=0.0)
    log("completed", t + 230, "old1", track_id=b, position_s=200.0)
    log("liked", t + 231, "old1", track_id=b, position_s=200.0)
    log("started", t + 240, "old1", track_id=gone.id, position_s=0.0)
    log("skipped", t + 245, "old1", track_id=gone.id, position_s=5.0)
    log("started", t + 250, "old1", track_id=c, position_s=0.0)
    log("disliked", t + 260, "old1", track_id=c, position_s=10.0)
    log("skipped", t + 261, "old1", track_id=c, position_s=11.0)
    log("session_end", t + 300, "old1")
    t = T1 - 86400
    log("session_start", t, "old2", local_time="2026-05-03T08:00:00+02:00")
    log("mood", t + 5, "old2", valence=0.8, energy=0.9, confidence=0.6, intents=("energize", "skip"))
    log("started", t + 10, "old2", track_id=d, position_s=0.0)
    log("completed", t + 190, "old2", track_id=d, position_s=180.0)
    log("started", t + 200, "old2", track_id=e, position_s=0.0)
    log("skipped", t + 300, "old2", track_id=e, position_s=100.0)
    log("session_end", t + 400, "old2")
    return out


def _features(state: ListenerState, catalog: Catalog, at_s: float, rows: np.ndarray) -> np.ndarray:
    """The ranker's inputs for ``rows`` at ``at_s``, as serving computes them for the first queue slot."""
    ctx = build_context(state, catalog, at_s=at_s)
    return assemble_features(catalog, ctx, rows, ctx.targets[0])


def test_serving_and_training_build_identical_ranker_inputs() -> None:
    """A Session fed the logged history, then playing live, and log_queries over the same log (plus what
    that session logged) give bit-identical feature rows at every play: the one replay is shared."""
    library, gone = _library()
    catalog = Catalog(library, catalog_matrix(library))
    history = _history(library, gone)
    deps = SessionDeps(
        mood=FakeMood(), recommender=FakeRecommender(library), tracks={t.id: t for t in library}
    )
    session = Session("live", deps, limits())
    logged: list[LogEvent] = []

    def handle(incoming: Any, at_s: float) -> list[Any]:
        effects = session.handle(incoming, now_s=at_s)
        logged.extend(e.event for e in effects if isinstance(e, Record))
        return effects

    handle(json.dumps({"type": "hello", "protocol": PROTOCOL_VERSION, "client": "t"}), T1)
    start = {"type": "session.start", "local_time": NOW_LOCAL, "listener_id": LISTENER, "device": "laptop"}
    assert handle(json.dumps(start), T1) == [LoadHistory(LISTENER)]
    handle(HistoryLoaded(history), T1)
    assert session.state is not None and [e.kind for e in logged] == ["session_start"]

    # Serving at the session's start vs the training loop's replay of the same log: every track's inputs.
    trained: ListenerState | None = None
    for event in [*history, *logged]:
        trained = apply_logged_event(trained, LISTENER, event, tracks=deps.tracks)
    assert trained is not None
    every_row = np.arange(catalog.n)
    assert np.array_equal(
        _features(session.state, catalog, T1 + 1, every_row), _features(trained, catalog, T1 + 1, every_row)
    )

    # The live session: each play's inputs as serving computes them just before the play starts.
    f, g, h = (library[i].id for i in (5, 13, 21))
    live: list[tuple[float, dict[str, Any]]] = [
        (T1 + 5, {"type": "playback", "event": "started", "track_id": f, "position_s": 0.0}),
        (T1 + 9, {"type": "playback", "event": "skipped", "track_id": f, "position_s": 4.0}),
        (T1 + 20, {"type": "text", "text": "ugh, I'm exhausted, something a bit calmer"}),
        (T1 + 30, {"type": "playback", "event": "started", "track_id": g, "position_s": 0.0}),
        (T1 + 230, {"type": "playback", "event": "completed", "track_id": g, "position_s": 200.0}),
        (T1 + 240, {"type": "playback", "event": "started", "track_id": h, "position_s": 0.0}),
        (T1 + 300, {"type": "playback", "event": "liked", "track_id": h, "position_s": 60.0}),
        (T1 + 420, {"type": "playback", "event": "completed", "track_id": h, "position_s": 180.0}),
    ]
    serving_rows = []
    for at_s, message in live:
        if message.get("event") == "started":
            row = np.array([catalog.row[message["track_id"]]])
            serving_rows.append(_features(session.state, catalog, at_s, row))
        handle(json.dumps(message), at_s)

    training = log_queries({LISTENER: [*history, *logged]}, library, catalog_matrix(library))
    # early skip, completed, liked (their gains): the live session
    assert training.labels[-1].tolist() == [0.0, 3.0, 7.0]
    assert np.array_equal(training.features[-1], np.concatenate(serving_rows))
