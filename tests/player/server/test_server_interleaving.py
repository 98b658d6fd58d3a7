"""Interleaving end to end: simulated listeners drive a real server, then `cadence eval --live` reads its log.

The server runs the real engines on the demo catalog with every queue interleaved (share 1): team a is
the shipped ranker, team b the skip-aware heuristic (a fresh home has no retrained challenger).
Listeners are websocket clients that play each queue in order until they skip, as a player would:

- *major-near listeners* have a hidden rule and follow their mood: a track is played through when it
  is in a major key and one of the few nearest, on the valence/energy plane, to where the server
  says they are (the queue's ``target``): fewer than :data:`NEAR_RANK` unplayed catalog tracks
  nearer. Any other is skipped at 5 s. The ranker reads the listener's skips by musical property;
  the heuristic only by distance and timbre similarity, so the shipped ranker should win.
- *indifferent listeners* play a track through or skip it at 5 s by a coin that depends only on the
  listener and the track, never on which ranker chose it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from player.app import Engines
from player.cli import main
from player.core.track import Track
from player.server.log import InteractionLog
from tests.support.server import connect, serving, shared_engines

pytestmark = pytest.mark.integration

LISTENERS = 16
"""Simulated listeners per kind (one session each, concurrently)."""
NEAR_LISTENERS = 128
NEAR_QUEUES = 40
"""Major-near listeners and their queues: about 5,000 impressions. With 64 × 40 (2,500) the shipped
ranker's edge measured −0.079, −0.073, −0.100 and, in one CI run of 2026-12-08, −0.039 (p 0.052: the
test failed); the team draft's coin flips follow random session ids, and at that size one run in ten
or twenty fell short of p < 0.05. Twice the listeners halve the variance (z ≈ 5 at the mean edge).
With 16 × 25 it fell short about half the time.

History: this test used near-target listeners alone (no key rule), for whom the skip-aware heuristic
beat the schema-2 ranker (Δ ≈ +0.08) and the `sim-20261205` ranker (+0.064). The `sim-20261207`
ranker, trained on the fixed simulation driver, follows the target as closely: Δ +0.009 for the
heuristic (p 0.65), and the shipped ranker ahead when "near" means the two nearest (−0.042, p 0.04).
Measured once each for the new listeners (2026-12-07): major key only −0.042 (p 0.027), six-artist
loyalty +0.024 (p 0.24), major and near −0.079 (p 8.5e-5)."""
QUEUES_PER_LISTENER = 25
"""Queues each listener plays until a skip (or through, then asks for the `next`)."""
NEAR_RANK = 4
"""A near-target listener plays a track through if fewer than this many unplayed tracks are nearer."""
EVENING = "2026-05-04T19:30:00+02:00"

Decide = Callable[[str, dict[str, Any], dict[str, Any], set[str]], bool]
"""(listener id, track, queue, tracks this listener started) → plays it through?"""


@pytest.fixture(scope="module")
def engines(demo_home: Path) -> Engines:
    return shared_engines(demo_home)


def _major_near(tracks: Mapping[str, Track]) -> Decide:
    def decide(listener: str, track: dict[str, Any], queue: dict[str, Any], started: set[str]) -> bool:
        if tracks[track["id"]].mode != "major":
            return False
        target = queue["target"]

        def distance(valence: float, energy: float) -> float:
            return math.hypot(valence - target["valence"], energy - target["energy"])

        mine = distance(track["valence"], track["energy"])
        nearer = sum(
            1 for tid, t in tracks.items() if tid not in started and distance(t.valence, t.energy) < mine
        )
        return nearer < NEAR_RANK

    return decide


def _indifferent(listener: str, track: dict[str, Any], queue: dict[str, Any], started: set[str]) -> bool:
    digest = hashlib.blake2b(f"{listener}/{track['id']}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < 0.5


async def _listen(
    url: str, listener: str, decide: Decide, queues_wanted: int = QUEUES_PER_LISTENER
) -> tuple[str, list[dict[str, Any]]]:
    """One listener's session: play each queue in order until a skip; returns (session id, queues received)."""
    client = await connect(url)
    queue = await client.start_session(local_time=EVENING, listener_id=listener)
    queues = [queue]
    started: set[str] = set()
    for _ in range(queues_wanted - 1):
        following = None
        for track in queue["tracks"]:
            started.add(track["id"])
            await client.playback("started", track["id"], 0.0)
            await client.wait_for("ack")
            if decide(listener, track, queue, started):
                await client.playback("completed", track["id"], float(track["duration_s"]))
                await client.wait_for("ack")
            else:
                await client.playback("skipped", track["id"], 5.0)
                await client.wait_for("ack")
                following = await client.wait_for("queue")
                break
        if following is None:
            await client.next(len(queue["tracks"]))
            following = await client.wait_for("queue")
        queue = following
        queues.append(queue)
    await client.end_session()
    return client.session_id, queues


def _drive(
    engines: Engines,
    home: Path,
    kind: str,
    decide: Decide,
    listeners: int = LISTENERS,
    queues: int = QUEUES_PER_LISTENER,
) -> list[tuple[str, list[dict[str, Any]]]]:
    async def scenario() -> list[tuple[str, list[dict[str, Any]]]]:
        async with serving(engines, home, interleave_share=1.0, messages_per_s=1e6, message_burst=1e6) as (
            url,
            _,
        ):
            return list(
                await asyncio.gather(*(_listen(url, f"{kind}-{i}", decide, queues) for i in range(listeners)))
            )

    return asyncio.run(asyncio.wait_for(scenario(), timeout=720))


def _eval_live(home: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["eval", "--live", "--json", "--home", str(home), *extra]) == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def test_major_near_listeners_make_the_ranker_win_and_every_queue_is_logged(
    engines: Engines, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Listeners with a hidden key rule who follow their mood: `cadence eval --live` says the shipped
    ranker wins against the skip-aware heuristic.

    Also: every queue the clients received is logged with its picks in the order sent, half from
    each team, no track twice and no artist twice in a row.
    """
    sessions = _drive(
        engines, tmp_path, "near", _major_near(engines.deps.tracks), NEAR_LISTENERS, NEAR_QUEUES
    )
    with InteractionLog(tmp_path / "log.db") as log:
        logged = {(q.session_id, q.queue_index): q for q in log.queues()}
    artist = {tid: t.artist for tid, t in engines.deps.tracks.items()}
    for session_id, queues in sessions:
        for index, queue in enumerate(queues):
            record = logged[(session_id, index)]
            ids = [t["id"] for t in queue["tracks"]]
            assert record.challenger == "heuristic" and [p.track_id for p in record.picks] == ids
            assert len(set(ids)) == len(ids) == 10
            assert sorted(p.team for p in record.picks) == ["a"] * 5 + ["b"] * 5
            assert all(artist[x] != artist[y] for x, y in itertools.pairwise(ids))
    assert len(logged) == NEAR_LISTENERS * NEAR_QUEUES

    report = _eval_live(tmp_path, capsys)
    heuristic = report["challengers"]["heuristic"]
    with capsys.disabled():
        print("major-near listeners:", heuristic["message"])
    assert heuristic["queues"] == NEAR_LISTENERS * NEAR_QUEUES
    # Each session's last queue was never played: not an impression.
    assert heuristic["uninformative"] >= NEAR_LISTENERS
    assert heuristic["impressions"] >= report["min_impressions"] == 200
    assert heuristic["verdict"] == "challenger_loses", heuristic["message"]
    assert heuristic["ci_high"] < 0.0
    one = _eval_live(tmp_path, capsys, "--listener", "near-0")
    assert set(one["listeners"]) == {"near-0"}
    assert one["challengers"]["heuristic"]["queues"] == NEAR_QUEUES


def test_indifferent_listeners_give_no_significant_result(
    engines: Engines, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Listeners whose reactions ignore the ranker: no significant preference (p ≥ 0.001, a 0.1 % false alarm)."""
    _drive(engines, tmp_path, "indifferent", _indifferent)
    heuristic = _eval_live(tmp_path, capsys)["challengers"]["heuristic"]
    with capsys.disabled():
        print("indifferent listeners:", heuristic["message"])
    assert heuristic["impressions"] >= 200
    assert heuristic["p_value"] >= 0.001, heuristic["message"]
    assert heuristic["ci_low"] < heuristic["delta"] < heuristic["ci_high"]
