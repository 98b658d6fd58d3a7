"""A real server on a free loopback port, real websocket clients, the real library, ranker and mood analyzer.

Every message the clients receive is validated against the schemas in docs/protocol.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mood.errors import CadenceError
from player.app import Engines
from player.client import ServerError
from player.server.log import InteractionLog
from player.server.shell import CORE_THREADS
from tests.support.server import MORNING, connect, mean_energy, serving, shared_engines

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engines(demo_home: Path) -> Engines:
    return shared_engines(demo_home)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=300))


async def _queue_after_text(client: Any, text: str) -> dict[str, Any]:
    await client.send_text(text)
    await client.wait_for("mood")
    return await client.wait_for("queue")


def test_tired_then_pumped_moves_queue_energy_down_then_up(engines: Engines, tmp_path: Path) -> None:
    """Morning script as text: 'exhausted' lowers the queue's mean energy, 'pumped for my run' raises it."""

    async def scenario() -> tuple[float, float, float]:
        async with serving(engines, tmp_path) as (url, _):
            client = await connect(url)
            first = await client.start_session(local_time=MORNING, listener_id="morning")
            tired = await _queue_after_text(client, "ugh, I'm exhausted")
            pumped = await _queue_after_text(client, "let's go, I'm pumped for my run")
            await client.end_session()
            return mean_energy(first), mean_energy(tired), mean_energy(pumped)

    start, tired, pumped = run(scenario())
    assert tired < start - 0.02, (start, tired)
    assert pumped > tired + 0.05, (tired, pumped)


def test_three_early_skips_of_calm_tracks_move_the_queue_away(engines: Engines, tmp_path: Path) -> None:
    """Skipping three calm tracks early pushes the queue's energy up and drops those tracks."""

    async def scenario() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        async with serving(engines, tmp_path) as (url, _):
            client = await connect(url)
            await client.start_session(local_time="2026-05-04T22:30:00+02:00")
            before = await _queue_after_text(client, "I'm tired")
            calm = sorted(before["tracks"], key=lambda t: t["energy"])[:3]
            queue = before
            for track in calm:
                await client.playback("started", track["id"], 0.0)
                await client.wait_for("ack")
                await client.playback("skipped", track["id"], 4.0)
                await client.wait_for("ack")
                queue = await client.wait_for("queue")
                assert queue["trigger"] == "skip"
            await client.end_session()
            return calm, before, queue

    calm, before, after = run(scenario())
    skipped = {t["id"] for t in calm}
    assert not skipped & {t["id"] for t in after["tracks"]}
    assert mean_energy(after) > mean_energy(before), (mean_energy(before), mean_energy(after))


def test_something_calmer_walks_the_queue_energy_down(engines: Engines, tmp_path: Path) -> None:
    """'something calmer please' walks the energy of the tracks played next down, step by step (iso principle)."""

    async def scenario() -> tuple[float, list[float], list[float], list[float]]:
        async with serving(engines, tmp_path) as (url, _):
            client = await connect(url)
            await client.start_session(local_time="2026-05-04T17:00:00+02:00")
            pumped = await _queue_after_text(client, "let's go, I'm pumped")
            queue = await _queue_after_text(client, "something calmer please")
            targets, played, means = [], [], []
            for _ in range(5):
                targets.append(queue["target"]["energy"])
                means.append(mean_energy(queue))
                track = queue["tracks"][0]
                played.append(track["energy"])
                await client.playback("started", track["id"], 0.0)
                await client.wait_for("ack")
                await client.playback("completed", track["id"], track["duration_s"])
                await client.wait_for("ack")
                await client.next(10)
                queue = await client.wait_for("queue")
            await client.end_session()
            return mean_energy(pumped), targets, played, means

    pumped, targets, played, means = run(scenario())
    assert all(b <= a + 1e-6 for a, b in itertools.pairwise(targets)), targets
    assert targets[-1] < targets[0] - 0.1, targets
    assert sum(played[:2]) / 2 > sum(played[-2:]) / 2, played
    assert max(means) < pumped, (pumped, means)


def test_every_protocol_error_has_its_code_and_the_connection_stays_usable(
    engines: Engines, tmp_path: Path
) -> None:
    """Each malformed input gets its documented code, and `next` still gets a queue afterwards."""
    cases: list[tuple[str, Any]] = [
        ("invalid_json", "{nope"),
        ("unknown_type", json.dumps({"type": "dance"})),
        ("missing_field", json.dumps({"type": "playback", "event": "liked", "position_s": 1})),
        ("bad_field", json.dumps({"type": "next", "count": "ten"})),
        ("binary_outside_audio", b"\x00\x01" * 100),
        (
            "unsupported_audio_format",
            json.dumps({"type": "audio.start", "sample_rate": 16000, "channels": 1, "format": "mp3"}),
        ),
        (
            "unknown_track",
            json.dumps({"type": "playback", "event": "liked", "track_id": "no-such", "position_s": 1}),
        ),
        ("already_started", json.dumps({"type": "session.start", "local_time": MORNING})),
        ("not_started", json.dumps({"type": "audio.stop"})),
        ("frame_too_large", json.dumps({"type": "text", "text": "x" * 70_000})),
    ]

    async def scenario() -> list[tuple[str, str]]:
        async with serving(engines, tmp_path) as (url, _):
            client = await connect(url)
            await client.start_session(local_time=MORNING)
            seen = []
            for expected, frame in cases:
                await client.ws.send(frame)
                error = await client.wait_for("error", timeout=30)
                seen.append((expected, error["code"]))
                await client.next(3)
                queue = await client.wait_for("queue")
                assert len(queue["tracks"]) == 3
            # A binary frame over the limit inside audio.
            await client.ws.send(
                json.dumps({"type": "audio.start", "sample_rate": 16000, "channels": 1, "format": "s16le"})
            )
            await client.ws.send(b"\x00" * 300_000)
            seen.append(("frame_too_large", (await client.wait_for("error"))["code"]))
            await client.ws.send(json.dumps({"type": "audio.stop"}))
            await client.wait_for("ack")
            await client.end_session()
            return seen

    seen = run(scenario())
    assert [s[1] for s in seen] == [s[0] for s in seen], seen


def test_rate_limit_then_recovery(engines: Engines, tmp_path: Path) -> None:
    """A burst beyond the bucket gets `rate_limited`; the connection then works again."""

    async def scenario() -> tuple[int, int]:
        async with serving(engines, tmp_path, messages_per_s=5.0, message_burst=5.0) as (url, _):
            client = await connect(url)
            await client.start_session(local_time=MORNING)
            for _ in range(20):
                await client.send({"type": "next", "count": 1})
            codes: list[str] = []
            queues = 0
            while queues + len(codes) < 20:
                message = await client.receive(10)
                if message["type"] == "error":
                    codes.append(message["code"])
                elif message["type"] == "queue":
                    queues += 1
            assert set(codes) == {"rate_limited"}
            await asyncio.sleep(1.0)
            await client.next(2)
            assert len((await client.wait_for("queue"))["tracks"]) == 2
            await client.end_session()
            return queues, len(codes)

    served, limited = run(scenario())
    assert 1 <= served < 20 and limited > 0


def test_token_is_required_and_checked(engines: Engines, tmp_path: Path) -> None:
    """Beyond loopback the server refuses to start without a token; with one, hello must carry it."""
    with pytest.raises(CadenceError) as exc:
        run(serving(engines, tmp_path, host="0.0.0.0").__aenter__())
    assert exc.value.code == "token_required"

    async def scenario() -> None:
        async with serving(engines, tmp_path, token="sesame") as (url, _):
            with pytest.raises(ServerError) as refused:
                await connect(url, token="wrong")
            assert refused.value.code == "unauthorized"
            with pytest.raises(ServerError):
                await connect(url)
            client = await connect(url, token="sesame")
            await client.start_session(local_time=MORNING)
            await client.end_session()

    run(scenario())


def test_origin_allowlist_refuses_foreign_browsers(engines: Engines, tmp_path: Path) -> None:
    """A browser Origin outside the allowlist is refused at the handshake (403); listed or absent is fine."""

    async def scenario() -> None:
        async with serving(engines, tmp_path, allowed_origins=("https://player.example",)) as (url, _):
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, origin="https://evil.example")
            assert refused.value.response.status_code == 403
            for origin in ("https://player.example", None):
                client = await connect(url, origin=origin)
                await client.close()

    run(scenario())


def test_session_cap_and_idle_timeout(engines: Engines, tmp_path: Path) -> None:
    """Past max_sessions a connection gets `too_many_sessions`; an idle one is closed with 1001."""

    async def scenario() -> None:
        async with serving(engines, tmp_path, max_sessions=2, idle_timeout_s=1.0) as (url, _):
            a, b = await connect(url), await connect(url)
            with pytest.raises(ServerError) as full:
                await connect(url)
            assert full.value.code == "too_many_sessions"
            with pytest.raises(ConnectionClosed) as closed:
                await a.receive(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
            await b.close()
            await asyncio.sleep(0.2)
            c = await connect(url)  # a slot is free again
            await c.close()

    run(scenario())


def test_sessions_are_isolated_and_transcripts_need_consent(engines: Engines, tmp_path: Path) -> None:
    """Two sessions never see each other's messages; only the consenting one's words reach the log."""

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with serving(engines, tmp_path) as (url, _):
            a, b = await connect(url), await connect(url)
            await a.start_session(local_time=MORNING, listener_id="alice")
            await b.start_session(local_time=MORNING, listener_id="bob", store_transcripts=True)
            await a.send_text("alice-private-words I'm exhausted")
            await a.wait_for("queue")
            await b.send_text("bob-shared-words I'm pumped")
            await b.wait_for("queue")
            await a.end_session()
            await b.end_session()
            return a.history, b.history

    alice_seen, bob_seen = run(scenario())
    assert "alice-private" not in json.dumps(bob_seen) and "bob-shared" not in json.dumps(alice_seen)
    with InteractionLog(tmp_path / "log.db") as log:
        assert {e.listener_id for e in log.events()} == {"alice", "bob"}
        [alice_mood] = [e for e in log.events("alice") if e.kind == "mood"]
        [bob_mood] = [e for e in log.events("bob") if e.kind == "mood"]
        assert alice_mood.transcript is None and bob_mood.transcript == "bob-shared-words I'm pumped"
        log.forget("nobody")  # checkpoint the WAL into the main file before reading its bytes
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("log.db*"))
    assert b"alice-private-words" not in on_disk and b"bob-shared-words" in on_disk


def test_listener_history_carries_across_sessions(engines: Engines, tmp_path: Path) -> None:
    """A returning listener_id gets its past skips replayed: early-skipped tracks stay out of the queue."""

    async def scenario() -> tuple[set[str], dict[str, Any]]:
        async with serving(engines, tmp_path) as (url, _):
            first = await connect(url)
            queue = await first.start_session(local_time=MORNING, listener_id="carol")
            skipped = {t["id"] for t in queue["tracks"][:3]}
            for track_id in skipped:
                await first.playback("started", track_id, 0.0)
                await first.playback("skipped", track_id, 3.0)
            await first.end_session()
            second = await connect(url)
            again = await second.start_session(local_time=MORNING, listener_id="carol")
            await second.end_session()
            return skipped, again

    skipped, again = run(scenario())
    assert not skipped & {t["id"] for t in again["tracks"][:3]}


def test_mixes_are_listed_and_played_over_the_wire(engines: Engines, tmp_path: Path) -> None:
    """A returning listener's mixes come from the log (their completions make On Repeat), each with
    its documented shape; `mix.play` queues only that mix's tracks, and `mix: null` leaves it."""

    async def scenario() -> tuple[dict[str, Any], list[str], dict[str, Any], dict[str, Any], dict[str, Any]]:
        async with serving(engines, tmp_path) as (url, _):
            first = await connect(url)
            queue = await first.start_session(local_time=MORNING, listener_id="dora")
            played = [t["id"] for t in queue["tracks"][:6]]
            for track_id in played:
                await first.playback("started", track_id, 0.0)
                await first.playback("completed", track_id, 20.0)
            await first.end_session()
            client = await connect(url)
            await client.start_session(local_time=MORNING, listener_id="dora")
            await client.send({"type": "mixes.list", "id": "l"})
            listed = await client.wait_for("mixes")
            await client.send({"type": "mix.play", "mix": "on-repeat", "id": "p"})
            in_mix = await client.wait_for("queue")
            await client.send({"type": "mix.play", "mix": "nope", "id": "x"})
            refused = await client.wait_for("error")
            await client.send({"type": "mix.play", "mix": None})
            left = await client.wait_for("queue")
            await client.end_session()
            return listed, played, in_mix, refused, left

    listed, played, in_mix, refused, left = run(scenario())
    by_id = {m["id"]: m for m in listed["mixes"]}
    assert listed["ref"] == "l" and {"on-repeat", "daylist", "discover"} <= set(by_id)
    assert by_id["on-repeat"]["count"] == len(played)
    assert in_mix["trigger"] == "mix" and in_mix["mix"]["id"] == "on-repeat"
    assert {t["id"] for t in in_mix["tracks"]} <= set(played)
    assert refused["code"] == "unknown_mix" and refused["ref"] == "x"
    assert left["trigger"] == "mix" and "mix" not in left


class _GatedReader:
    """The real text mood reader behind a gate: each call waits until the gate opens (the stand-in for
    typed text that takes long to read and rank), and counts the calls waiting."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.gate = threading.Event()
        self.waiting = threading.Semaphore(0)

    def analyze_text(self, text: str) -> Any:
        self.waiting.release()
        self.gate.wait(timeout=120)
        return self.reader.analyze_text(text)


def test_playback_is_acknowledged_while_every_core_thread_is_busy(engines: Engines, tmp_path: Path) -> None:
    """Typed text from as many listeners as there are core threads occupies them all; one more listener's playback report is
    still acknowledged before either text is answered (light input does not queue behind ranking)."""
    reader = _GatedReader(engines.deps.mood)
    gated = dataclasses.replace(engines, deps=dataclasses.replace(engines.deps, mood=reader))

    async def scenario() -> tuple[bool, list[str]]:
        async with serving(gated, tmp_path) as (url, _):
            typists = [await connect(url) for _ in range(CORE_THREADS)]
            player = await connect(url)
            for i, client in enumerate(typists):
                await client.start_session(local_time=MORNING, listener_id=f"typist-{i}")
            queue = await player.start_session(local_time=MORNING, listener_id="player")
            for client in typists:
                await client.send_text("I feel fine")
            loop = asyncio.get_running_loop()
            for _ in typists:  # both core threads are now inside the gated reader
                assert await loop.run_in_executor(None, reader.waiting.acquire, True, 60)
            ref = await player.playback("started", queue["tracks"][0]["id"], 0.0)
            try:
                ack = await player.wait_for("ack", timeout=60)
                acked_while_busy = ack["ref"] == ref and not reader.gate.is_set()
            finally:
                reader.gate.set()
            moods = [(await client.wait_for("mood"))["label"] for client in typists]
            for client in (*typists, player):
                await client.end_session()
            return acked_while_busy, moods

    acked_while_busy, moods = run(scenario())
    assert acked_while_busy
    assert len(moods) == CORE_THREADS
