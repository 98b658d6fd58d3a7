"""Benchmark the mixes: time to build every mix for one listener, at 10k and 100k tracks.

For each library size (synthetic tracks, ``models.simulate.synthetic_catalog``) one listener's log of
``--events`` playback events over 90 days (70 % on 400 favourites, the rest spread over the library;
45 % starts, 35 % completions, 12 % skips — a third of them early — 6 % likes, 2 % dislikes) and an
``added_at`` per track over 60 days. Measured, wall time, median of ``--repeats``:

- ``first_build_s``: :func:`player.core.mixes.build_mixes`, everything from the track list (what
  `cadence mixes` pays once: the library's matrices, then the listener's mixes);
- ``server_build_s``: :meth:`player.core.mixes.MixBuilder.build` on a builder made once (what a
  server pays for ``mixes.list`` / ``mix.play``: the library's matrices, clustering space and
  activity fits are made at start);
- ``builder_init_s``: making that builder (once per server start).

Targets (issue 13): all mixes for one listener with 100k logged events in ≤ 1 s at 10k tracks and
≤ 5 s at 100k. Prints one JSON object (``--out FILE`` also writes it).

Usage: ``python bench/mixes.py [--sizes 10000 100000] [--events 100000] [--repeats 3] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.simulate import synthetic_catalog
from player.core.mixes import MixBuilder, build_mixes
from player.core.records import LogEvent
from player.core.track import Track

NOW_S = 1_780_000_000.0
DAY_S = 86400.0


def listener_log(tracks: list[Track], count: int, seed: int) -> list[LogEvent]:
    """``count`` playback events of one listener (module docstring)."""
    rng = np.random.default_rng(seed)
    favourites = rng.choice(len(tracks), 400, replace=False)
    kinds = ("started", "completed", "skipped", "liked", "disliked")
    chosen = rng.choice(len(kinds), count, p=[0.45, 0.35, 0.12, 0.06, 0.02])
    fav = rng.random(count) < 0.7
    rows = np.where(fav, favourites[rng.integers(0, 400, count)], rng.integers(0, len(tracks), count))
    ages = rng.uniform(0.0, 90 * DAY_S, count)
    early = rng.random(count) < 1 / 3
    events = []
    for i in range(count):
        kind = kinds[int(chosen[i])]
        position = (5.0 if early[i] else 90.0) if kind == "skipped" else (0.0 if kind == "started" else 150.0)
        events.append(
            LogEvent(
                kind=kind,
                listener_id="bench",
                session_id=f"s{i // 40}",
                at_s=NOW_S - float(ages[i]),
                track_id=tracks[int(rows[i])].id,
                position_s=position,
            )
        )
    return events


def timed(fn: object, repeats: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    local = datetime.fromtimestamp(NOW_S, UTC).astimezone()
    report: dict[str, object] = {"events": args.events, "repeats": args.repeats, "sizes": {}}
    for size in args.sizes:
        tracks = synthetic_catalog(size, seed=11)
        events = listener_log(tracks, args.events, seed=size)
        rng = np.random.default_rng(5)
        added_at = {t.id: NOW_S - float(rng.uniform(0, 60 * DAY_S)) for t in tracks}
        first_s, mixes = timed(
            lambda: build_mixes(tracks, events, listener_local=local, now_s=NOW_S, added_at=added_at),  # noqa: B023
            args.repeats,
        )
        init_s, builder = timed(lambda: MixBuilder(tracks, added_at=added_at), 1)  # noqa: B023
        assert isinstance(builder, MixBuilder)
        server_s, again = timed(
            lambda: builder.build(events, listener_local=local, now_s=NOW_S),  # noqa: B023
            args.repeats,
        )
        assert again == mixes, "the server's builder and build_mixes disagree"
        report["sizes"][str(size)] = {  # type: ignore[index]
            "first_build_s": round(first_s, 3),
            "server_build_s": round(server_s, 3),
            "builder_init_s": round(init_s, 3),
            "mixes": len(mixes),  # type: ignore[arg-type]
            "mix_ids": [m.id for m in mixes],  # type: ignore[union-attr]
        }
        print(
            f"{size} tracks: first {first_s:.2f} s, server {server_s:.2f} s, init {init_s:.2f} s",
            file=sys.stderr,
        )
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
