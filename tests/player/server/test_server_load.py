"""Load and crash tests against a real `cadence serve` subprocess (real library, ranker, analyzer)."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from player.client import CadenceClient
from player.server.log import InteractionLog
from tests.support.server import MORNING, copy_library

ROOT = Path(__file__).resolve().parents[3]
PHRASES = (
    "ugh, I'm exhausted",
    "let's go, I'm pumped",
    "something calmer please",
    "I feel fine",
    "love this",
)


@dataclass
class Served:
    url: str
    home: Path
    process: subprocess.Popen[str]


@pytest.fixture
def served(demo_home: Path, tmp_path: Path) -> Iterator[Served]:
    """`cadence serve` in its own process, on a free loopback port, with a copy of the demo library."""
    home = tmp_path / "home"
    copy_library(demo_home, home)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "player",
            "serve",
            "--home",
            str(home),
            "--port",
            str(port),
            "--max-sessions",
            "200",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "cadence: ready on" in line:
            break
    else:
        raise AssertionError("cadence serve exited before it was ready:\n" + "".join(lines))
    # Keep draining the output so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True).start()
    try:
        yield Served(f"ws://127.0.0.1:{port}", home, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Listener:
    """One simulated listener's bookkeeping."""

    listener_id: str
    sent: dict[str, tuple[str, str, float]] = field(default_factory=dict)
    acked: list[tuple[str, str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    queue: list[dict[str, Any]] = field(default_factory=list)


async def _reader(client: CadenceClient, listener: Listener) -> None:
    try:
        while True:
            message = await client.receive()
            if message["type"] == "ack" and message["of"] == "session.end":
                return
            if message["type"] == "ack" and message["of"] == "playback":
                listener.acked.append(listener.sent[message["ref"]])
            elif message["type"] == "error":
                listener.errors.append(message["code"])
            elif message["type"] == "queue" and message["tracks"]:
                listener.queue = message["tracks"]
    except (ConnectionClosed, asyncio.CancelledError):
        return


async def _listen(url: str, listener: Listener, until: float, rng: random.Random, pause_s: float) -> None:
    client = await CadenceClient.connect(url, client="load-test")
    listener.queue = (await client.start_session(local_time=MORNING, listener_id=listener.listener_id))[
        "tracks"
    ]
    reader = asyncio.create_task(_reader(client, listener))
    step = 0
    try:
        while time.monotonic() < until:
            step += 1
            if step % 8 == 0:
                await client.send_text(rng.choice(PHRASES))
            else:
                track = rng.choice(listener.queue)
                kind = rng.choice(("started", "completed", "skipped", "liked"))
                position_s = round(rng.uniform(0.0, 30.0), 3) + step * 1000.0  # unique per event
                ref = f"{listener.listener_id}-{step}"
                listener.sent[ref] = (kind, track["id"], position_s)
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
        # The reader owns recv(): it returns at the ack of session.end, after every earlier ack.
        await client.send({"type": "session.end"})
        await asyncio.wait_for(reader, timeout=60)
    except ConnectionClosed:
        pass
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await client.close()


def _stored(home: Path) -> dict[str, set[tuple[str, str, float]]]:
    out: dict[str, set[tuple[str, str, float]]] = {}
    with InteractionLog(home / "log.db") as log:
        for event in log.events():
            if event.track_id is not None and event.position_s is not None:
                out.setdefault(event.listener_id, set()).add((event.kind, event.track_id, event.position_s))
    return out


@pytest.mark.slow
def test_100_sessions_for_30_s_lose_nothing(served: Served) -> None:
    """100 concurrent sessions of text and playback for 30 s: no error but rate limits, every ack in the DB."""
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
    stored = _stored(served.home)
    acked = sum(len(lst.acked) for lst in listeners)
    assert acked > 100 * 30, acked  # every session was served all along
    for lst in listeners:
        assert set(lst.errors) <= {"rate_limited"}, (lst.listener_id, lst.errors)
        assert set(lst.acked) <= stored.get(lst.listener_id, set()), lst.listener_id
    assert served.process.poll() is None


@pytest.mark.slow
def test_kill_9_under_load_loses_no_acknowledged_event(served: Served) -> None:
    """SIGKILL of the server while 20 sessions stream playback events: every acked event is in the log."""
    listeners = [Listener(f"kill-{i:02d}") for i in range(20)]

    async def scenario() -> None:
        until = time.monotonic() + 60.0
        tasks = [
            asyncio.create_task(_listen(served.url, lst, until, random.Random(i), pause_s=0.02))
            for i, lst in enumerate(listeners)
        ]
        while sum(len(lst.acked) for lst in listeners) < 400:
            await asyncio.sleep(0.05)
        served.process.kill()  # SIGKILL, mid-stream
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), timeout=120))
    served.process.wait()
    stored = _stored(served.home)
    acked = [(lst.listener_id, ev) for lst in listeners for ev in lst.acked]
    assert len(acked) >= 400
    missing = [(lid, ev) for lid, ev in acked if ev not in stored.get(lid, set())]
    assert missing == []
