"""Load and crash tests against a real `cadence serve` subprocess (real library, ranker, analyzer).

Every session is checked on its own, and every acknowledged playback event is looked up in log.db
by its identity: a session that was refused, cut off, starved of acks or answered with an error
fails the test by name, and so does each acknowledged event the log does not hold exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from mood.errors import CadenceError
from player.client import CadenceClient
from player.core.records import PLAYBACK_KINDS
from player.server.launch import ServerProcess, launch_server_process
from player.server.log import InteractionLog
from tests.support.server import MORNING, copy_library

pytestmark = pytest.mark.slow

PHRASES = (
    "ugh, I'm exhausted",
    "let's go, I'm pumped",
    "something calmer please",
    "I feel fine",
    "love this",
)
REPORTED_KINDS = ("started", "completed", "skipped", "liked")
"""The playback events the simulated players report."""


@pytest.fixture
def served(demo_home: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    """`cadence serve` in its own process, on a free loopback port, with a copy of the demo library."""
    home = tmp_path / "home"
    copy_library(demo_home, home)
    with launch_server_process(home, ["--max-sessions", "200"]) as server:
        yield server


EventKey = tuple[str, str, float]
"""(kind, track_id, position_s) of a playback event; the position makes it unique in its session."""


@dataclass
class Listener:
    """One simulated listener's session, as its client saw it."""

    listener_id: str
    refused: str = ""
    """Why the connection or ``session.start`` failed, if it did."""
    session_id: str | None = None
    first_queue: int = 0
    """Tracks in the queue that answered ``session.start``."""
    queue: list[dict[str, Any]] = field(default_factory=list)
    sent: dict[str, EventKey] = field(default_factory=dict)
    """Playback events sent, by message id."""
    sent_at: dict[str, float] = field(default_factory=dict)
    """Monotonic send time of each playback event and text, by message id."""
    acked: dict[str, float] = field(default_factory=dict)
    """Seconds from send to ``ack`` of each acknowledged playback event, by message id, in the order
    the acks arrived."""
    texts: set[str] = field(default_factory=set)
    """Message ids of the typed texts sent."""
    moods: set[str] = field(default_factory=set)
    """Message ids answered with a ``mood``."""
    queued: set[str] = field(default_factory=set)
    """Message ids answered with a ``queue``."""
    errors: list[dict[str, Any]] = field(default_factory=list)
    strays: list[dict[str, Any]] = field(default_factory=list)
    """Acks that answer no message this client sent."""
    ended: bool = False
    """``session.end`` was acknowledged."""
    closed_at: float | None = None
    """Monotonic time the connection was found closed (on receive or send), None if it never was."""
    closed_how: str = ""


async def _read(client: CadenceClient, listener: Listener, end_ref: asyncio.Future[str]) -> None:
    """Own ``recv()``: file every message under the message it answers, until ``session.end``'s ack.

    A closed connection is recorded in ``listener`` (the test decides whether it was expected).
    """
    try:
        while True:
            message = await client.receive()
            ref = message.get("ref")
            now = time.monotonic()
            if message["type"] == "ack" and message["of"] == "playback":
                if ref in listener.sent and ref not in listener.acked:
                    listener.acked[ref] = now - listener.sent_at[ref]
                else:
                    listener.strays.append(message)
            elif message["type"] == "ack" and message["of"] == "session.end":
                if end_ref.done() and ref == end_ref.result():
                    listener.ended = True
                    return
                listener.strays.append(message)
            elif message["type"] == "error":
                listener.errors.append(message)
            elif message["type"] == "mood" and ref is not None:
                listener.moods.add(ref)
            elif message["type"] == "queue":
                if ref is not None:
                    listener.queued.add(ref)
                if message["tracks"]:
                    listener.queue = message["tracks"]
    except ConnectionClosed as closed:
        listener.closed_at = time.monotonic()
        listener.closed_how = f"on receive: {closed!r}"


async def _listen(url: str, listener: Listener, until: float, rng: random.Random, pause_s: float) -> None:
    """One session: start, then a playback event (one text in eight) every ``pause_s`` ±50 % until
    ``until``, then ``session.end`` and wait for its ack. Everything seen is recorded in ``listener``;
    a refused start or a connection closed under it ends the session early, recorded, not raised."""
    try:
        client = await CadenceClient.connect(url, client="load-test")
    except (CadenceError, OSError, TimeoutError) as refused:
        listener.refused = repr(refused)
        return
    listener.session_id = client.session_id
    try:
        first = await client.start_session(local_time=MORNING, listener_id=listener.listener_id)
    except (CadenceError, ConnectionClosed, TimeoutError) as refused:
        listener.refused = repr(refused)
        await client.close()
        return
    listener.first_queue = len(first["tracks"])
    listener.queue = first["tracks"]
    end_ref: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    reader = asyncio.create_task(_read(client, listener, end_ref))
    step = 0
    try:
        while time.monotonic() < until and listener.closed_at is None:
            step += 1
            ref = f"{listener.listener_id}-{step}"
            if step % 8 == 0:
                listener.texts.add(ref)
                listener.sent_at[ref] = time.monotonic()
                await client.send({"type": "text", "text": rng.choice(PHRASES), "id": ref})
            else:
                track = rng.choice(listener.queue)
                kind = rng.choice(REPORTED_KINDS)
                # unique per event, and within the track (a position past its end is clamped to it)
                position_s = round(step * 0.01 + rng.uniform(0.0, 0.009), 3)
                assert position_s < track["duration_s"], (position_s, track["duration_s"])
                listener.sent[ref] = (kind, track["id"], position_s)
                listener.sent_at[ref] = time.monotonic()
                await client.send(
                    {
                        "type": "playback",
                        "event": kind,
                        "track_id": track["id"],
                        "position_s": position_s,
                        "id": ref,
                    }
                )
            await asyncio.sleep(pause_s * rng.uniform(0.5, 1.5))
        if listener.closed_at is None:
            end_ref.set_result(f"{listener.listener_id}-end")
            await client.send({"type": "session.end", "id": end_ref.result()})
            # A reader still waiting after 60 s leaves `ended` false, which the test reports.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader, timeout=60)
    except ConnectionClosed as closed:
        if listener.closed_at is None:
            listener.closed_at = time.monotonic()
            listener.closed_how = f"on send: {closed!r}"
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await client.close()


@dataclass(frozen=True)
class Stored:
    """A playback event as log.db holds it."""

    session_id: str
    count: int
    """How many rows hold this (listener, kind, track, position)."""


def _stored_playback(home: Path) -> dict[tuple[str, EventKey], Stored]:
    """Every playback event in ``home``'s log.db, by (listener, (kind, track, position))."""
    with sqlite3.connect(home / "log.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows: Counter[tuple[str, EventKey]] = Counter()
    sessions: dict[tuple[str, EventKey], str] = {}
    with InteractionLog(home / "log.db") as log:
        for event in log.events():
            if event.kind in PLAYBACK_KINDS and event.track_id is not None and event.position_s is not None:
                key = (event.listener_id, (event.kind, event.track_id, event.position_s))
                rows[key] += 1
                sessions[key] = event.session_id
    return {key: Stored(sessions[key], n) for key, n in rows.items()}


def _acked_problems(listener: Listener, stored: dict[tuple[str, EventKey], Stored]) -> list[str]:
    """Each acknowledged event of ``listener`` that log.db does not hold exactly once, in its session."""
    problems = []
    for ref in listener.acked:
        found = stored.get((listener.listener_id, listener.sent[ref]))
        if found is None:
            problems.append(f"acked {ref} {listener.sent[ref]} is not in log.db")
        elif found.count != 1 or found.session_id != listener.session_id:
            problems.append(f"acked {ref} is in log.db {found.count}× under session {found.session_id}")
    return problems


def test_100_sessions_for_30_s_lose_nothing(served: ServerProcess) -> None:
    """100 concurrent sessions of text and playback for 30 s: each is served to its end with no error,
    each playback event is acked, in the order sent, each text gets its mood and queue, each ack is
    in log.db."""
    listeners = [Listener(f"load-{i:03d}") for i in range(100)]

    async def scenario() -> None:
        until = time.monotonic() + 30.0
        await asyncio.gather(
            *(
                _listen(served.url, lst, until, random.Random(i), pause_s=0.4)
                for i, lst in enumerate(listeners)
            )
        )

    asyncio.run(scenario())
    assert served.alive(), "".join(served.output)
    stored = _stored_playback(served.home)
    failures: dict[str, list[str]] = {}
    for lst in listeners:
        problems = [f"refused: {lst.refused}"] if lst.refused else []
        if lst.first_queue == 0:
            problems.append("the first queue was empty")
        if lst.closed_at is not None:
            problems.append(f"connection closed {lst.closed_how}")
        if not lst.ended:
            problems.append("session.end was not acknowledged")
        if lst.errors or lst.strays:
            problems.append(f"errors {lst.errors}, stray acks {lst.strays}")
        unacked = sorted(set(lst.sent) - set(lst.acked))
        if unacked:
            problems.append(f"{len(unacked)} of {len(lst.sent)} playback events never acked: {unacked[:5]}")
        # Acks come in the order the events were sent (a connection is served one message at a
        # time). No bound on how late: the offered load (~90 rankings/s from texts and skips on
        # two cores shared with these clients) is more than the machine serves, so the lag grows
        # through the run and its size says how busy the machine was (median 0.5 s, largest 8 s
        # and 10.1 s on two runs); bench/serve.py measures latency.
        in_sent_order = sorted(lst.acked, key=lambda ref: lst.sent_at[ref])
        if list(lst.acked) != in_sent_order:
            problems.append(f"acks out of the order sent: {list(lst.acked)[:8]}")
        unanswered = sorted(lst.texts - (lst.moods & lst.queued))
        if unanswered:
            problems.append(f"texts without their mood and queue: {unanswered}")
        if len(lst.sent) < 10 or not lst.texts:
            problems.append(f"only {len(lst.sent)} playback events and {len(lst.texts)} texts were sent")
        problems += _acked_problems(lst, stored)
        if problems:
            failures[lst.listener_id] = problems
    assert failures == {}


def test_kill_9_under_load_loses_no_acknowledged_event(served: ServerProcess) -> None:
    """SIGKILL of the server while 20 sessions stream playback events: each session had acks and was cut
    only by the kill, and every acknowledged event is in log.db exactly once, in its session."""
    listeners = [Listener(f"kill-{i:02d}") for i in range(20)]
    killed_at: list[float] = []

    async def scenario() -> None:
        until = time.monotonic() + 60.0
        # ~12 messages/s per session: under the server's rate limit, so every event is acked or cut.
        tasks = [
            asyncio.create_task(_listen(served.url, lst, until, random.Random(i), pause_s=0.08))
            for i, lst in enumerate(listeners)
        ]
        while sum(len(lst.acked) for lst in listeners) < 400 or not all(lst.acked for lst in listeners):
            if time.monotonic() > until or any(lst.refused or lst.closed_at for lst in listeners):
                break  # the checks below say which session failed
            await asyncio.sleep(0.05)
        killed_at.append(time.monotonic())
        served.kill()  # SIGKILL, mid-stream
        await asyncio.gather(*tasks)

    asyncio.run(asyncio.wait_for(scenario(), timeout=120))
    assert not served.alive()
    stored = _stored_playback(served.home)
    failures: dict[str, list[str]] = {}
    for lst in listeners:
        problems = [f"refused: {lst.refused}"] if lst.refused else []
        if lst.closed_at is None or lst.closed_at < killed_at[0]:
            problems.append(f"the connection was not cut by the kill: {lst.closed_how or 'still open'}")
        if lst.ended:
            problems.append("the session ended before the kill")
        if lst.errors or lst.strays:
            problems.append(f"errors {lst.errors}, stray acks {lst.strays}")
        if not lst.acked:
            problems.append("no event was acknowledged")
        problems += _acked_problems(lst, stored)
        if problems:
            failures[lst.listener_id] = problems
    assert failures == {}
    assert sum(len(lst.acked) for lst in listeners) >= 400
