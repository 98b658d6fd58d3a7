"""Benchmark `cadence serve`'s start-up (issue 14): install-to-ready and restart-to-ready. Prints JSON.

- install: a fresh numba cache (an empty ``NUMBA_CACHE_DIR``, as on a machine that never compiled
  librosa's kernels) warmed by ``python -m player.library.warm``, the last step of scripts/install.sh
  (its time is reported as ``install_warm``); with ``--keep-cache`` the environment's cache is used
  as it is (the warm step then only loads it).
- install-to-ready: a fresh HOME (empty library: the server synthesises and scans the 120-track demo
  catalog, and answers once the library is usable, while the rest is made), `cadence serve` started
  on a free loopback port; ``ready_s`` is the time from starting the process to the server accepting a
  connection and answering ``text`` with a ``queue`` (hello, session.start, text → queue): the first
  queue. From the server's log: ``usable_s`` (the library usable: 24 tracks over the mood plane),
  ``tracks_at_ready`` (the tracks of the library version it first served), ``library_complete_s``
  (every demo track stored and truth.json written), ``library_served_s`` (the server serving that
  complete library: its live library's version with all of them), ``voice_ready_s`` (voice models
  warm; audio is answered ``busy`` until then).
- restart-to-ready: the same HOME, the server started again (the library is there).

Each run measures both; medians over ``--runs`` runs. ``cpu_s`` is the CPU time of the server's whole
process tree (server, forkserver, scan workers) up to ready, ``cpu_s_complete`` up to the library
complete, read from /proc: on a machine shared with other jobs the wall time stretches, the CPU time
much less, so ``cpu_s / cores`` is what the same work takes on idle cores. Targets: install-to-ready
≤ 20 s (the first queue), restart-to-ready ≤ 5 s on 2 cores.

Usage: ``python -m bench.startup [--runs 3] [--keep-cache]`` (or ``python bench/startup.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from player.client import CadenceClient  # noqa: E402

TARGETS_S = {"install_to_ready_s": 20.0, "restart_to_ready_s": 5.0}
_TICK_S = os.sysconf("SC_CLK_TCK")
_VERSION_LINE = re.compile(r"library version (\d+): (\d+) tracks")
_DEMO_COUNT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _tree_cpu_s(root_pid: int) -> float:
    """CPU seconds (user + system) of ``root_pid`` and every live descendant, with the children each
    has reaped (scan workers are reaped by the forkserver)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(v) for v in fields[11:15]) / _TICK_S
    total, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


async def _answers_text(url: str) -> bool:
    """hello, session.start, text → queue; False if nothing listens yet."""
    try:
        client = await CadenceClient.connect(url)
    except OSError:
        return False
    try:
        await client.start_session(local_time=datetime.now().astimezone())
        await client.send_text("I'm exhausted")
        await client.wait_for("queue", timeout=60)
    finally:
        await client.close()
    return True


def _start(home: Path, env: dict[str, str]) -> dict[str, Any]:
    """Start `cadence serve` on ``home``; time it to a text answered; stop it. Returns the figures."""
    port = _free_port()
    url = f"ws://127.0.0.1:{port}"
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, "-m", "player", "serve", "--home", str(home), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    marks: dict[str, float] = {}
    first_run = not (home / "library.db").exists()

    def read_log() -> None:
        assert server.stderr is not None
        for line in server.stderr:
            now = time.monotonic() - started
            version = _VERSION_LINE.search(line)
            if "voice ready" in line:
                marks.setdefault("voice_ready_s", now)
            elif "ready on " in line:
                marks.setdefault("listening_s", now)
            elif "the library is usable" in line:
                marks.setdefault("usable_s", now)
            elif "demo catalog complete" in line:
                marks.setdefault("library_complete_s", now)
                marks.setdefault("cpu_s_complete", _tree_cpu_s(server.pid))
            elif version is not None:
                marks.setdefault("tracks_at_ready", int(version.group(2)))
                if int(version.group(2)) >= _DEMO_COUNT:
                    marks.setdefault("library_served_s", now)

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    try:
        while not asyncio.run(_answers_text(url)):
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with {server.returncode} before it was ready")
            time.sleep(0.05)
        ready_s = time.monotonic() - started
        cpu_s = _tree_cpu_s(server.pid)
        awaited = ["voice_ready_s"] + (["library_served_s"] if first_run else [])
        deadline = time.monotonic() + 300
        while (
            any(key not in marks for key in awaited) and time.monotonic() < deadline and server.poll() is None
        ):
            time.sleep(0.1)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        reader.join(timeout=5)
    return {
        "ready_s": round(ready_s, 2),
        "cpu_s": round(cpu_s, 1),
        **{k: round(v, 2) if isinstance(v, float) else v for k, v in marks.items()},
    }


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return round(statistics.median(values), 2) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--keep-cache", action="store_true", help="use the environment's numba cache as it is"
    )
    args = parser.parse_args()

    out: dict[str, Any] = {"cpu_count": os.cpu_count(), "load_avg_start": _load()}
    with tempfile.TemporaryDirectory(prefix="cadence-startup-") as tmp:
        env = dict(os.environ)
        if not args.keep_cache:
            env["NUMBA_CACHE_DIR"] = str(Path(tmp) / "numba")
        t = time.monotonic()
        warm = subprocess.run(
            [sys.executable, "-m", "player.library.warm", "--json"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        report = json.loads(warm.stdout)
        out["install_warm"] = {
            "seconds": round(time.monotonic() - t, 1),
            "fresh_process_warm_up_s": report["fresh_process_s"],
            "cache": "fresh NUMBA_CACHE_DIR" if not args.keep_cache else report["cache_dir"],
        }
        installs: list[dict[str, Any]] = []
        restarts: list[dict[str, Any]] = []
        for run in range(args.runs):
            home = Path(tmp) / f"home-{run}"
            installs.append({**_start(home, env), "load_avg": _load()})
            restarts.append({**_start(home, env), "load_avg": _load()})
            print(f"run {run + 1}: install {installs[-1]}, restart {restarts[-1]}", file=sys.stderr)
    for name, runs in (("install_to_ready", installs), ("restart_to_ready", restarts)):
        keys = ("ready_s", "cpu_s", "voice_ready_s", "usable_s", "tracks_at_ready")
        if name == "install_to_ready":
            keys += ("library_complete_s", "library_served_s", "cpu_s_complete")
        out[name] = {**{key: _median(runs, key) for key in keys}, "runs": runs}
    out["targets_s"] = TARGETS_S
    out["met"] = {
        key: out[key.removesuffix("_s")]["ready_s"] is not None
        and out[key.removesuffix("_s")]["ready_s"] <= target
        for key, target in TARGETS_S.items()
    }
    out["load_avg_end"] = _load()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
