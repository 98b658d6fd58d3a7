"""Several `cadence serve` processes sharing one interaction log in a real PostgreSQL server.

Two servers (A and B), each its own process with its own copy of the demo library, are started with
``--log postgresql://…`` on one database: a listener's history and speaker baseline written through A
are what a session on B starts from; `cadence forget` (a third process) closes the listener's
sessions on both and nothing of them is written back; `cadence train`'s reader, `cadence eval
--live`, `cadence listeners` and `cadence mixes` read the same log; and a server killed with
SIGKILL loses none of the events it acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from websockets.exceptions import ConnectionClosed

from player.client import CadenceClient, ServerError
from player.core.interleave import HEURISTIC_CHALLENGER
from player.server.launch import ServerProcess, launch_server_process
from player.server.logstore import open_log_at
from tests.support.postgres import PostgresCluster
from tests.support.server import MORNING, connect, copy_library, spoken, with_silence

pytestmark = pytest.mark.slow

_REPO = Path(__file__).resolve().parents[3]


@dataclass
class SharedLog:
    """Two running servers on one PostgreSQL log."""

    url: str
    a: ServerProcess
    b: ServerProcess
    demo_home: Path
    root: Path


def _launch(home: Path, url: str) -> ServerProcess:
    # Every queue interleaved (with the heuristic challenger), so the queues tables are written too.
    return launch_server_process(home, ["--log", url, "--max-sessions", "200", "--interleave-share", "1"])


@pytest.fixture(scope="module")
def shared(
    postgres_cluster: PostgresCluster, demo_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SharedLog]:
    """Servers A and B (started together) on one new PostgreSQL database, each with its own library copy."""
    root = tmp_path_factory.mktemp("shared-log")
    url = postgres_cluster.create_database("cadence_shared_log")
    homes = [root / "a", root / "b"]
    for home in homes:
        copy_library(demo_home, home)
    started: dict[Path, ServerProcess] = {}
    errors: list[BaseException] = []

    def start(home: Path) -> None:
        try:
            started[home] = _launch(home, url)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(home,)) for home in homes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        if errors:
            raise errors[0]
        yield SharedLog(url, started[homes[0]], started[homes[1]], demo_home, root)
    finally:
        for server in started.values():
            server.stop()
        postgres_cluster.drop_database("cadence_shared_log")


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=300))


def _cadence(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `cadence ARGS` in its own process (as an operator would), output captured."""
    return subprocess.run(
        [sys.executable, "-m", "player", *args], cwd=_REPO, capture_output=True, text=True, timeout=300
    )


def _rows_about(url: str, listener: str) -> dict[str, int]:
    """Rows about ``listener`` in each table of the shared log, read straight from PostgreSQL."""
    counts = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("listeners", "sessions", "events", "baselines", "queues", "interleavings"):
            (count,) = conn.execute(
                f"SELECT count(*) FROM {table} WHERE listener_id = %s", (listener,)
            ).fetchall()
            counts[table] = int(count[0])
    return counts


async def _say(client: CadenceClient, text: str) -> None:
    """Speak ``text`` and wait for its mood and queue; again while the server answers ``busy`` (a server
    that has just started may still be loading its voice models)."""
    samples, rate = spoken(text)
    for _ in range(120):
        await client.stream_audio(with_silence(samples, rate), rate, chunk_ms=40)
        try:
            await client.wait_for("mood", timeout=120)
        except ServerError as refused:
            if refused.code != "busy":
                raise
            await client.wait_for("ack", timeout=30)  # the audio.stop, so no answer of this try is left
            await asyncio.sleep(1.0)
            continue
        await client.wait_for("queue", timeout=60)
        return
    raise AssertionError("the server's voice models never got ready")


def test_history_and_baseline_written_through_one_server_are_seen_on_the_other(shared: SharedLog) -> None:
    """Completions and an utterance of a listener on server A: a session of theirs on server B gets
    On Repeat from those completions, and its utterance continues A's speaker baseline (2 utterances)."""

    async def scenario() -> tuple[list[str], dict[str, Any], list[int]]:
        on_a = await connect(shared.a.url)
        queue = await on_a.start_session(local_time=MORNING, listener_id="dora")
        played = [t["id"] for t in queue["tracks"][:6]]
        for track_id in played:
            await on_a.playback("started", track_id, 0.0)
            await on_a.wait_for("ack")
            await on_a.playback("completed", track_id, 20.0)
            await on_a.wait_for("ack")
        await _say(on_a, "I'm so tired today")
        await on_a.end_session()
        utterances = []
        with open_log_at(shared.url) as log:
            utterances.append(int(log.baseline("dora")["utterances"]))  # type: ignore[index]
        on_b = await connect(shared.b.url)
        await on_b.start_session(local_time=MORNING, listener_id="dora")
        await on_b.send({"type": "mixes.list", "id": "l"})
        listed = await on_b.wait_for("mixes")
        await _say(on_b, "I love this song")
        await on_b.end_session()
        with open_log_at(shared.url) as log:
            utterances.append(int(log.baseline("dora")["utterances"]))  # type: ignore[index]
        return played, listed, utterances

    played, listed, utterances = run(scenario())
    by_id = {m["id"]: m for m in listed["mixes"]}
    assert "on-repeat" in by_id and by_id["on-repeat"]["count"] == len(played)
    assert utterances == [1, 2]
    with open_log_at(shared.url) as log:
        sessions = {e.session_id for e in log.events("dora") if e.kind == "session_start"}
    assert len(sessions) == 2


def test_commands_read_the_shared_log(shared: SharedLog) -> None:
    """`cadence listeners`, `cadence mixes` and `cadence eval --live` with --log see what a server
    wrote, and `cadence train` reads the same events (its reader, models.commands._events_by_listener)."""
    from models.commands import _events_by_listener

    async def scenario() -> list[str]:
        client = await connect(shared.a.url)
        queue = await client.start_session(local_time=MORNING, listener_id="erin")
        played = [t["id"] for t in queue["tracks"][:5]]
        for track_id in played:
            await client.playback("completed", track_id, 30.0)
            await client.wait_for("ack")
        await client.end_session()
        return played

    played = run(scenario())
    home = str(shared.root / "a")
    listed = _cadence("listeners", "--home", home, "--log", shared.url, "--json")
    assert listed.returncode == 0, listed.stderr
    erin = next(row for row in json.loads(listed.stdout) if row["listener_id"] == "erin")
    assert erin["events"] == 2 + len(played)  # session start and end, the completions
    mixes = _cadence(
        "mixes", "--home", str(shared.root / "b"), "--log", shared.url, "--listener", "erin", "--json"
    )
    assert mixes.returncode == 0, mixes.stderr
    on_repeat = next(m for m in json.loads(mixes.stdout) if m["id"] == "on-repeat")
    assert set(on_repeat["tracks"]) == set(played)
    live = _cadence("eval", "--home", home, "--log", shared.url, "--live", "--listener", "erin", "--json")
    assert live.returncode == 0, live.stderr
    report = json.loads(live.stdout)
    assert report["log"] == shared.url and report["challengers"][HEURISTIC_CHALLENGER]["queues"] >= 1
    events = _events_by_listener(shared.url)
    assert [e.track_id for e in events["erin"] if e.kind == "completed"] == played


def test_cadence_forget_erases_the_listener_on_every_server(shared: SharedLog) -> None:
    """`cadence forget --log URL` in its own process while the listener has a talking session on A and
    an idle one on B: both are told `listener_erased` and closed, nothing of the listener is in the
    shared log afterwards, and a session they start later (on B) is stored as usual."""

    async def scenario() -> tuple[dict[str, int], dict[str, int], list[dict[str, Any]]]:
        talking, idle = await connect(shared.a.url), await connect(shared.b.url)
        queue = await talking.start_session(local_time=MORNING, listener_id="zoe", store_transcripts=True)
        await idle.start_session(local_time=MORNING, listener_id="zoe")
        track = queue["tracks"][0]
        await talking.playback("started", track["id"], 0.0)
        await talking.wait_for("ack")
        assert _rows_about(shared.url, "zoe")["events"] == 3  # two session starts, one play
        forgot = await asyncio.to_thread(
            _cadence, "forget", "--home", str(shared.root / "a"), "--log", shared.url, "--listener", "zoe"
        )
        assert forgot.returncode == 0 and "forgot listener zoe" in forgot.stdout, forgot.stderr
        # at once, before A's watcher notices: refused, never acked
        with contextlib.suppress(ConnectionClosed):
            await talking.playback("skipped", track["id"], 3.0)
        errors = []
        for client in (talking, idle):
            errors.append(await client.wait_for("error", timeout=30, raise_errors=False))
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                while True:
                    await client.receive(30)
        acks = [m for m in talking.history if m["type"] == "ack" and m.get("of") == "playback"]
        assert len(acks) == 1, acks
        erased = _rows_about(shared.url, "zoe")
        again = await connect(shared.b.url)
        await again.start_session(local_time=MORNING, listener_id="zoe")
        await again.end_session()
        return erased, _rows_about(shared.url, "zoe"), errors

    erased, later, errors = run(scenario())
    assert [e["code"] for e in errors] == ["listener_erased", "listener_erased"], errors
    assert erased == dict.fromkeys(erased, 0), erased
    assert later["events"] == 2 and later["sessions"] == 1, later


def test_kill_9_of_a_server_loses_no_acknowledged_event(shared: SharedLog, tmp_path: Path) -> None:
    """A third server C on the shared log, 10 sessions streaming playback events through it, SIGKILL
    once 200 are acknowledged: every acknowledged event is in the shared log exactly once, in its
    session, and server B goes on serving (and logging) the same listeners."""
    home = tmp_path / "c"
    copy_library(shared.demo_home, home)
    acked: list[tuple[str, str, str, float]] = []
    """(listener, kind, track, position) of each acknowledged event."""
    sessions: dict[str, str] = {}

    async def stream(server: ServerProcess, index: int, enough: asyncio.Event) -> None:
        listener = f"kill-{index}"
        rng = random.Random(index)
        client = await CadenceClient.connect(server.url, client="kill-test")
        sessions[listener] = client.session_id
        queue = (await client.start_session(local_time=MORNING, listener_id=listener))["tracks"]
        step = 0
        with contextlib.suppress(ConnectionClosed):
            while True:
                step += 1
                kind, track = rng.choice(("started", "completed", "liked")), rng.choice(queue)["id"]
                position_s = round(step * 0.01, 3)
                ref = await client.playback(kind, track, position_s)
                while True:
                    message = await client.receive(30)
                    if message["type"] == "ack" and message.get("ref") == ref:
                        acked.append((listener, kind, track, position_s))
                        break
                    assert message["type"] != "error", message
                if len(acked) >= 200:
                    enough.set()

    async def scenario(server: ServerProcess) -> None:
        enough = asyncio.Event()
        tasks = [asyncio.create_task(stream(server, i, enough)) for i in range(10)]
        await asyncio.wait_for(enough.wait(), timeout=120)
        server.kill()
        await asyncio.gather(*tasks)

    server = _launch(home, shared.url)
    with server:
        run(scenario(server))
        assert not server.alive()
    with open_log_at(shared.url) as log:
        stored: Counter[tuple[object, ...]] = Counter(
            (e.listener_id, e.kind, e.track_id, e.position_s, e.session_id)
            for e in log.events()
            if e.listener_id.startswith("kill-") and e.kind != "session_start"
        )
    missing = [a for a in acked if stored[(*a, sessions[a[0]])] != 1]
    assert len(acked) >= 200 and missing == []

    async def on_b_after_the_kill() -> None:
        client = await connect(shared.b.url)
        queue = await client.start_session(local_time=MORNING, listener_id="kill-0")
        await client.playback("completed", queue["tracks"][0]["id"], 1.5)
        await client.wait_for("ack")
        await client.end_session()

    run(on_b_after_the_kill())  # the other server goes on serving the same listeners
    with open_log_at(shared.url) as log:
        opened = [e.session_id for e in log.events("kill-0") if e.kind == "session_start"]
    assert len(opened) == 2 and opened[0] == sessions["kill-0"]
