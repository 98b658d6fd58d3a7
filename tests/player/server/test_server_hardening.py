"""The server under bad input, faults and attacks: each probe of issue 11 as a regression test.

A real server on a free loopback port, real websocket clients (the project's client, or raw
``websockets`` connections where the client must misbehave).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from player.app import Engines
from player.core.protocol import PROTOCOL_VERSION
from player.server.log import InteractionLog
from player.server.shell import pick_eviction
from tests.support.server import MORNING, connect, serving, shared_engines

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def engines(demo_home: Path) -> Engines:
    return shared_engines(demo_home)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=300))


async def _reply(ws: ClientConnection, timeout: float = 30) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return reply


async def _hello(ws: ClientConnection, token: str | None = None) -> dict[str, Any]:
    await ws.send(
        json.dumps({"type": "hello", "protocol": PROTOCOL_VERSION, "client": "probe", "token": token})
    )
    return await _reply(ws)


async def _closed_code(ws: ClientConnection, timeout: float = 30) -> int | None:
    """Read until the server closes; the close code it sent (None: the connection was dropped)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None


def test_lone_surrogates_are_bad_field_everywhere_and_nothing_breaks(
    engines: Engines, tmp_path: Path
) -> None:
    """A lone surrogate in `text`, an `id`, `listener_id`, `device` or a consented transcript gets
    `bad_field`; the connection stays open, a session can still start, and `text` and `next` work."""

    async def scenario() -> list[str]:
        codes: list[str] = []
        async with serving(engines, tmp_path) as (url, _), ws_connect(url) as ws:
            assert (await _hello(ws))["type"] == "welcome"
            for start in (
                {"listener_id": "ann\ud800"},
                {"listener_id": "ann", "device": "car\udfff"},
            ):
                await ws.send(json.dumps({"type": "session.start", "local_time": MORNING, **start}))
                codes.append((await _reply(ws))["code"])
            # not stuck in a loading phase: a clean start works on the same connection
            await ws.send(
                json.dumps(
                    {
                        "type": "session.start",
                        "local_time": MORNING,
                        "listener_id": "ann",
                        "store_transcripts": True,
                    }
                )
            )
            assert (await _reply(ws))["type"] == "queue"
            for frame in (
                {"type": "text", "text": "I feel \ud800 great"},
                {"type": "next", "id": "\udc00"},
                {"type": "text", "text": "fine", "id": "x\ud83d"},
            ):
                await ws.send(json.dumps(frame))
                codes.append((await _reply(ws))["code"])
            await ws.send(json.dumps({"type": "text", "text": "I feel great", "id": "ok"}))
            kinds = [(await _reply(ws))["type"] for _ in range(2)]
            assert kinds == ["mood", "queue"], kinds
            await ws.send(json.dumps({"type": "session.end"}))
            assert await _closed_code(ws) == 1000
        with InteractionLog(tmp_path / "log.db") as log:
            events = log.events("ann")
        assert [e.transcript for e in events if e.kind == "mood"] == ["I feel great"]
        return codes

    assert run(scenario()) == ["bad_field"] * 5


def test_an_extreme_local_time_is_refused_and_the_session_works(engines: Engines, tmp_path: Path) -> None:
    """`9999-12-31T23:59:59+23:59` is `bad_field` at start; a real time then gives working text/next."""

    async def scenario() -> None:
        async with serving(engines, tmp_path) as (url, _), ws_connect(url) as ws:
            await _hello(ws)
            for local_time in ("9999-12-31T23:59:59+23:59", "9999-12-31T23:59:59+00:00"):
                await ws.send(json.dumps({"type": "session.start", "local_time": local_time}))
                assert (await _reply(ws))["code"] == "bad_field"
            await ws.send(json.dumps({"type": "session.start", "local_time": "2199-12-31T23:59:59+14:00"}))
            assert (await _reply(ws))["type"] == "queue"
            await ws.send(json.dumps({"type": "text", "text": "so tired"}))
            assert [(await _reply(ws))["type"] for _ in range(2)] == ["mood", "queue"]
            await ws.send(json.dumps({"type": "next", "count": 2}))
            assert len((await _reply(ws))["tracks"]) == 2

    run(scenario())


def test_a_client_that_stops_reading_is_dropped_and_its_slot_freed(engines: Engines, tmp_path: Path) -> None:
    """A client that keeps asking for queues but never reads fills the server's send buffer; the
    server drops it within the send deadline, and its one session slot takes a new client."""

    async def scenario() -> tuple[int, bool]:
        async with serving(
            engines, tmp_path, max_sessions=1, send_timeout_s=1.0, messages_per_s=500.0, message_burst=500.0
        ) as (url, _):
            host, port = url.removeprefix("ws://").split(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, int(port)))
            sock.setblocking(False)
            # max_queue=1: the client library stops reading the socket once one message waits
            ws = await ws_connect(url, sock=sock, max_queue=1, ping_interval=None)
            await _hello(ws)
            await ws.send(json.dumps({"type": "session.start", "local_time": MORNING}))
            sent = 0
            dropped = False
            try:
                async with asyncio.timeout(60):
                    while True:
                        await ws.send(json.dumps({"type": "next", "count": 50}))
                        sent += 1
                        await asyncio.sleep(0.01)
            except (ConnectionClosed, OSError):
                dropped = True
            except TimeoutError:
                dropped = False
            finally:
                ws.transport.abort()
            # the slot is free: a well-behaved client gets a session
            client = await connect(url)
            await client.start_session(local_time=MORNING)
            await client.end_session()
            return sent, dropped

    sent, dropped = run(scenario())
    assert dropped, f"still connected after {sent} unread requests"


def test_silent_connections_get_a_hello_deadline_and_never_take_a_session_slot(
    engines: Engines, tmp_path: Path
) -> None:
    """Connections that never say hello never lock a client with the right token out of the (single)
    session slot: over the cap on waiting connections the longest-waiting one is closed to make room,
    and the rest are closed (1008) after the hello deadline however much junk they send."""

    async def scenario() -> None:
        async with serving(
            engines,
            tmp_path,
            token="sesame",
            max_sessions=1,
            hello_timeout_s=3.0,
            max_unauthenticated=3,
        ) as (url, _):
            silent = [await ws_connect(url, ping_interval=None) for _ in range(3)]
            # a client with the token: the longest-waiting silent one makes room
            async with ws_connect(url) as client:
                evicted = await _reply(silent[0])
                assert evicted["code"] == "too_many_sessions", evicted
                assert await _closed_code(silent[0]) == 1013
                assert (await _hello(client, token="sesame"))["type"] == "welcome"
                await client.send(json.dumps({"type": "session.start", "local_time": MORNING}))
                assert (await _reply(client))["type"] == "queue"
                # junk keeps nobody past the deadline: the other silent connections are closed with 1008
                await silent[1].send("junk")
                codes = await asyncio.gather(*(_closed_code(ws, timeout=20) for ws in silent[1:]))
                assert codes == [1008, 1008], codes
            # so are connections from elsewhere
            async with ws_connect(url, local_addr=("127.0.0.2", 0)) as other:
                assert await _closed_code(other, timeout=20) == 1008


def test_wrong_tokens_back_off_per_address_and_are_logged(
    engines: Engines, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each wrong token is logged at WARNING with the address; from the second in a row the answer
    waits, doubling; the right token still gets in (and resets the count)."""

    async def scenario() -> list[float]:
        waits = []
        async with serving(engines, tmp_path, token="sesame", auth_backoff_s=0.4, auth_backoff_max_s=0.8) as (
            url,
            _,
        ):
            for _ in range(4):
                async with ws_connect(url) as ws:
                    began = time.monotonic()
                    assert (await _hello(ws, token="guess"))["code"] == "unauthorized"
                    waits.append(time.monotonic() - began)
                    assert await _closed_code(ws) == 1008
            client = await connect(url, token="sesame")
            await client.close()
            async with ws_connect(url) as ws:
                assert (await _hello(ws, token="guess"))["code"] == "unauthorized"
        return waits

    with caplog.at_level(logging.WARNING, logger="player.server.shell"):
        waits = run(scenario())
    failures = [
        r.getMessage() for r in caplog.records if "wrong or missing token from 127.0.0.1" in r.getMessage()
    ]
    assert [m.split("(failure ")[1].split(" ")[0] for m in failures] == ["1", "2", "3", "4", "1"], failures
    assert "answered after 0.0 s" in failures[0] and "answered after 0.4 s" in failures[1]
    assert "answered after 0.8 s" in failures[2] and "answered after 0.8 s" in failures[3]
    # the deliberate delays are lower bounds (sleeps), not performance figures
    assert waits[1] >= 0.4 and waits[2] >= 0.8, waits


def _forget(home: Path, listener: str) -> str:
    """`cadence forget` in its own process, as a listener would run it beside a running server."""
    done = subprocess.run(
        [sys.executable, "-m", "player", "forget", "--home", str(home), "--listener", listener],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def _rows_about(db: Path, listener: str) -> dict[str, int]:
    con = sqlite3.connect(db)
    try:
        return {
            table: con.execute(f"SELECT count(*) FROM {table} WHERE listener_id = ?", (listener,)).fetchone()[
                0
            ]
            for table in ("listeners", "sessions", "events", "baselines", "queues", "interleavings")
        }
    finally:
        con.close()


def test_forget_during_a_live_session_closes_it_and_nothing_is_written_back(
    engines: Engines, tmp_path: Path
) -> None:
    """`cadence forget` while the listener's sessions are open: one that keeps talking and one that
    is idle are both told `listener_erased` and closed (1000); nothing of the listener is in the log
    afterwards; a session they start later is stored as usual."""

    async def scenario() -> tuple[dict[str, int], dict[str, int]]:
        async with serving(engines, tmp_path) as (url, _):
            talking, idle = await connect(url), await connect(url)
            queue = await talking.start_session(local_time=MORNING, listener_id="zoe", store_transcripts=True)
            await idle.start_session(local_time=MORNING, listener_id="zoe")
            await talking.send_text("I'm so happy today")
            await talking.wait_for("queue")
            track = queue["tracks"][0]
            await talking.playback("started", track["id"], 0.0)
            await talking.wait_for("ack")
            out = await asyncio.to_thread(_forget, tmp_path, "zoe")
            assert "forgot listener zoe" in out
            # at once, before the server's watcher notices: these writes are refused, not acked
            with contextlib.suppress(ConnectionClosed):
                await talking.playback("skipped", track["id"], 3.0)
                await talking.send_text("still here")
            for client in (talking, idle):
                error = await client.wait_for("error", timeout=30, raise_errors=False)
                assert error["code"] == "listener_erased", error
                assert await _closed_code(client.ws) == 1000
            assert not [m for m in talking.history if m["type"] == "ack" and m.get("of") == "playback"][1:]
            erased = _rows_about(tmp_path / "log.db", "zoe")
            again = await connect(url)
            await again.start_session(local_time=MORNING, listener_id="zoe")
            await again.end_session()
            return erased, _rows_about(tmp_path / "log.db", "zoe")

    erased, later = run(scenario())
    assert erased == dict.fromkeys(erased, 0), erased
    assert later["events"] == 2 and later["sessions"] == 1, later


def test_a_history_that_cannot_be_read_ends_the_session_with_a_reference(
    engines: Engines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A database error while loading a returning listener's history ends that session (internal,
    close 1011) instead of leaving it waiting; the client sees a reference, never the exception's
    text, and the server's log has both."""

    real_events = InteractionLog.events

    def damaged(self: InteractionLog, listener_id: str | None = None, **kwargs: Any) -> Any:
        if listener_id == "unlucky":
            raise sqlite3.DatabaseError("database disk image is malformed (secret detail)")
        return real_events(self, listener_id, **kwargs)

    monkeypatch.setattr(InteractionLog, "events", damaged)

    async def scenario() -> dict[str, Any]:
        async with serving(engines, tmp_path) as (url, _):
            async with ws_connect(url) as ws:
                await _hello(ws)
                await ws.send(
                    json.dumps({"type": "session.start", "local_time": MORNING, "listener_id": "unlucky"})
                )
                error = await _reply(ws)
                assert await _closed_code(ws) == 1011
            client = await connect(url)  # the server is fine for everyone else
            await client.start_session(local_time=MORNING, listener_id="lucky")
            await client.end_session()
            return error

    with caplog.at_level(logging.ERROR, logger="player.server.shell"):
        error = run(scenario())
    assert error["code"] == "internal" and "secret" not in error["message"], error
    reference = error["message"].split("reference ")[1].split(";")[0]
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and logged[0].exc_info is not None and "secret detail" in str(logged[0].exc_info[1])


def test_a_failed_log_write_says_internal_with_a_reference_only(
    engines: Engines, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the log cannot commit, the client gets `internal` with a reference id and no exception
    text, no `ack`, and the connection stays usable."""

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with serving(engines, tmp_path) as (url, _):
            client = await connect(url)
            queue = await client.start_session(local_time=MORNING)

            def full(self: InteractionLog, items: Any) -> set[str]:
                raise sqlite3.OperationalError("disk I/O error at /secret/path")

            monkeypatch.setattr(InteractionLog, "record_many", full)
            await client.playback("started", queue["tracks"][0]["id"], 0.0)
            error = await client.wait_for("error", raise_errors=False)
            monkeypatch.undo()
            await client.next(2)
            after = await client.wait_for("queue")
            await client.end_session()
            return error, after

    error, after = run(scenario())
    assert (
        error["code"] == "internal" and "secret" not in error["message"] and "reference" in error["message"]
    )
    assert len(after["tracks"]) == 2


def test_a_position_past_the_end_is_acked_and_logged_clamped(engines: Engines, tmp_path: Path) -> None:
    """`completed` at a position beyond the track's length is acknowledged and stored at its length."""

    async def scenario() -> tuple[float, float | None]:
        async with serving(engines, tmp_path) as (url, _):
            client = await connect(url)
            queue = await client.start_session(local_time=MORNING, listener_id="clock")
            track = queue["tracks"][0]
            await client.playback("started", track["id"], 0.0)
            await client.wait_for("ack")
            await client.playback("completed", track["id"], track["duration_s"] + 500.0)
            await client.wait_for("ack")
            await client.end_session()
        with InteractionLog(tmp_path / "log.db") as log:
            done = [e for e in log.events("clock") if e.kind == "completed"]
        return float(track["duration_s"]), done[0].position_s

    duration, logged = run(scenario())
    assert logged == pytest.approx(duration, abs=1e-3)


def test_audio_start_out_of_range_follows_one_rule_on_the_wire(engines: Engines, tmp_path: Path) -> None:
    """Through a real server: wrong types are `bad_field`, unsupported values `unsupported_audio_format`."""
    cases = [
        ({"sample_rate": 0}, "unsupported_audio_format"),
        ({"sample_rate": 2_000_000}, "unsupported_audio_format"),
        ({"channels": 3}, "unsupported_audio_format"),
        ({"channels": 100}, "unsupported_audio_format"),
        ({"sample_rate": "16000"}, "bad_field"),
    ]

    async def scenario() -> list[str]:
        async with serving(engines, tmp_path) as (url, _):
            client = await connect(url)
            await client.start_session(local_time=MORNING)
            codes = []
            for fields, _code in cases:
                frame = {
                    "type": "audio.start",
                    "sample_rate": 16000,
                    "channels": 1,
                    "format": "s16le",
                    **fields,
                }
                await client.ws.send(json.dumps(frame))
                codes.append((await client.wait_for("error", raise_errors=False))["code"])
            await client.end_session()
            return codes

    assert run(scenario()) == [code for _, code in cases]


def test_a_text_frame_that_is_not_utf8_is_closed_with_1007(engines: Engines, tmp_path: Path) -> None:
    """As docs/protocol.md says: invalid UTF-8 in a text frame is closed by the websockets library (1007)."""

    async def scenario() -> int | None:
        async with serving(engines, tmp_path) as (url, _), ws_connect(url) as ws:
            await _hello(ws)
            await ws.send(b'{"type": "text", "text": "\xff\xfe"}', text=True)
            return await _closed_code(ws)

    assert run(scenario()) == 1007


def test_which_waiting_connection_makes_room() -> None:
    """Per address beyond its cap (not for loopback), in all beyond the total; longest-waiting first."""
    waiting = [("a1", "203.0.113.5"), ("b1", "198.51.100.7"), ("a2", "203.0.113.5"), ("l1", "127.0.0.1")]
    assert pick_eviction(waiting, "203.0.113.5", per_address=2, total=10) == "a1"
    assert pick_eviction(waiting, "198.51.100.7", per_address=2, total=10) is None
    assert pick_eviction(waiting, "192.0.2.1", per_address=2, total=4) == "a1"
    loopback = [(f"l{i}", "127.0.0.1") for i in range(5)]
    assert pick_eviction(loopback, "127.0.0.1", per_address=2, total=10) is None
    assert pick_eviction(loopback, "::1", per_address=2, total=5) == "l0"
