"""Benchmark the audio the server streams over HTTP, and what it costs the websocket. Prints JSON.

The server runs as its own `cadence serve` process on a free loopback port (``player.server.launch``)
with the demo library plus AIFF copies of some of its tracks (a format browsers can't play, so the
server transcodes them to Ogg Opus with ffmpeg). The clients run here, in one asyncio loop, on the
same 2 cores: read the figures as "on this machine, with the clients on it too".

- ``streams``: 1 and 20 concurrent clients, each fetching whole tracks one after another as fast as
  it reads (as a browser filling its buffer does) for ``--seconds``; native (FLAC as it is, sendfile)
  and transcoded (AIFF → Ogg Opus). Time to first byte is request sent → first body byte; throughput
  is body bytes (and, transcoded, seconds of audio) per wall second over all clients.
- ``websocket``: the playback-ack p99 of 10 sessions (bench/serve.py's traffic loop) alone, then
  while 20 native streams run, then while 20 transcoded streams run, side by side in one run
  (target: ≤ 50 ms with 20 streams).

Usage: ``python bench/audio_http.py [--home DIR] [--seconds 10] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serve import LOCAL, bench_home, traffic  # noqa: E402
from player.client import CadenceClient  # noqa: E402
from player.library.commands import ensure_library  # noqa: E402
from player.library.scan import scan  # noqa: E402
from player.library.store import LibraryStore  # noqa: E402
from player.server.launch import launch_server_process  # noqa: E402
from player.settings import Settings  # noqa: E402

AIFF_TRACKS = 20


def prepare(home: Path) -> None:
    """The demo library (as a first `cadence serve` builds it), plus AIFF copies of some tracks, scanned."""
    settings = Settings(home=home)
    ensure_library(settings).close()
    aiff_dir = home / "aiff"
    if aiff_dir.exists():
        return
    aiff_dir.mkdir()
    with LibraryStore(settings.library_db) as store:
        tracks = store.tracks()[:AIFF_TRACKS]
    for track in tracks:
        samples, rate = soundfile.read(track.path, dtype="float32")
        soundfile.write(aiff_dir / (Path(track.path).stem + ".aiff"), samples, rate, format="AIFF")
    scan([aiff_dir], settings.library_db, workers=settings.workers, progress=False)


async def _urls(url: str, home: Path) -> dict[str, list[tuple[str, float]]]:
    """(audio_url, duration_s) of the native and the transcoded tracks, as a queue gives them."""
    with LibraryStore(home / "library.db") as store:
        tracks = store.tracks()
    kinds = {
        "native": [t.id for t in tracks if t.path.endswith(".flac")][:AIFF_TRACKS],
        "transcoded": [t.id for t in tracks if t.path.endswith(".aiff")],
    }
    out: dict[str, list[tuple[str, float]]] = {}
    for kind, ids in kinds.items():
        client = await CadenceClient.connect(url, client="bench-http")
        await client.send({"type": "session.start", "local_time": LOCAL, "queue": ids})
        queue = await client.wait_for("queue")
        await client.send({"type": "next", "count": len(ids)})
        queue = await client.wait_for("queue")
        await client.close()
        out[kind] = [(t["audio_url"], float(t["duration_s"])) for t in queue["tracks"]]
    return out


async def _fetch(url: str, target: str) -> tuple[float, int]:
    """GET ``target``; (seconds to the first body byte, body bytes)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    sent = time.perf_counter()
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    first = await reader.read(65536)
    ttfb = time.perf_counter() - sent
    size = len(first)
    while chunk := await reader.read(1 << 20):
        size += len(chunk)
    writer.close()
    if status != 200:
        raise RuntimeError(f"{target}: HTTP {status}")
    return ttfb, size


async def streams(url: str, tracks: list[tuple[str, float]], clients: int, seconds: float) -> dict[str, Any]:
    ttfb: list[float] = []
    totals = {"bytes": 0, "audio_s": 0.0, "tracks": 0, "refused": 0}
    until = time.monotonic() + seconds

    async def client(index: int) -> None:
        step = index
        while time.monotonic() < until:
            target, duration = tracks[step % len(tracks)]
            step += clients
            try:
                first, size = await _fetch(url, target)
            except RuntimeError:
                totals["refused"] += 1
                await asyncio.sleep(0.5)
                continue
            ttfb.append(first * 1000)
            totals["bytes"] += size
            totals["audio_s"] += duration
            totals["tracks"] += 1

    began = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    wall = time.monotonic() - began
    return {
        "clients": clients,
        "tracks_fetched": totals["tracks"],
        "refused_503": totals["refused"],
        "ttfb_ms": {
            "p50": round(float(np.percentile(ttfb, 50)), 1) if ttfb else None,
            "p90": round(float(np.percentile(ttfb, 90)), 1) if ttfb else None,
        },
        "throughput_mb_s": round(totals["bytes"] / wall / 1e6, 1),
        "audio_x_realtime": round(totals["audio_s"] / wall, 1),
    }


async def _background_streams(
    url: str, tracks: list[tuple[str, float]], clients: int, stop: asyncio.Event
) -> None:
    async def client(index: int) -> None:
        step = index
        while not stop.is_set():
            target, _ = tracks[step % len(tracks)]
            step += clients
            try:
                await _fetch(url, target)
            except RuntimeError:
                await asyncio.sleep(0.5)

    await asyncio.gather(*(client(i) for i in range(clients)))


async def websocket_under_load(
    url: str, urls: dict[str, list[tuple[str, float]]], seconds: float
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for label, kind in (
        ("alone", None),
        ("with_20_native_streams", "native"),
        ("with_20_transcoded_streams", "transcoded"),
    ):
        stop = asyncio.Event()
        background = (
            asyncio.create_task(_background_streams(url, urls[kind], 20, stop)) if kind is not None else None
        )
        measured = await traffic(url, 10, seconds, 0.2)
        stop.set()
        if background is not None:
            await background
        result[label] = measured["playback"]["p99_ms"]
    return result


async def run(args: argparse.Namespace, url: str, home: Path) -> dict[str, Any]:
    urls = await _urls(url, home)
    result: dict[str, Any] = {"streams": {}, "websocket_playback_p99_ms": []}
    for kind in ("native", "transcoded"):
        for clients in (1, 20):
            runs = [await streams(url, urls[kind], clients, args.seconds) for _ in range(args.repeat)]
            runs.sort(key=lambda r: r["throughput_mb_s"])
            result["streams"][f"{kind}_{clients}"] = {
                **runs[len(runs) // 2],
                "throughput_mb_s_each_run": [r["throughput_mb_s"] for r in runs],
            }
    for _ in range(args.repeat):
        result["websocket_playback_p99_ms"].append(await websocket_under_load(url, urls, args.seconds))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with bench_home(args.home, "cadence-bench-http-") as home:
        prepare(home)
        with launch_server_process(home) as server:
            result = asyncio.run(run(args, server.url, home))
    runs = result["websocket_playback_p99_ms"]
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    result["websocket_playback_p99_ms_median"] = medians
    result["targets"] = {
        "playback_p99_ms_with_20_streams": {
            "target": 50,
            "measured_native": medians["with_20_native_streams"],
            "measured_transcoded": medians["with_20_transcoded_streams"],
            "met": medians["with_20_native_streams"] <= 50 and medians["with_20_transcoded_streams"] <= 50,
        }
    }
    result = {
        "machine": {"cpus": os.cpu_count(), "note": "shared, noisy machine; clients run on it too"},
        **result,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
