"""`python -m player.library.warm` (the last step of scripts/install.sh): librosa's kernels compiled once
and cached where a fresh process finds them, the beat tracker's ``cache=False`` kernel included, and
the features a cached kernel computes are the ones a freshly compiled one computes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from player.library.demo import design_catalog, write_track
from player.library.features import extract_file

REPO = Path(__file__).resolve().parents[3]


def _python(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=REPO, check=True, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_warm_caches_every_kernel_a_fresh_process_needs(tmp_path: Path) -> None:
    """With an empty NUMBA_CACHE_DIR the command compiles and writes the kernels there (the beat
    tracker's local score among them) and reports where; a fresh process then loads every kernel it
    needs from there (numba saves nothing new) and extracts a real file's features exactly as this
    process, which compiled its own kernels, does."""
    cache = tmp_path / "numba"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    report = json.loads(_python(["-m", "player.library.warm", "--json"], env).stdout)
    assert Path(report["cache_dir"]).is_relative_to(cache)
    assert isinstance(report["fresh_process_s"], float) and report["warm_up_s"] > 0
    cached = {p.name for p in cache.rglob("*.nbi")}
    assert any("__beat_local_score" in name for name in cached)
    assert any("__beat_track_dp" in name for name in cached)

    track = write_track(tmp_path, design_catalog(3, 7)[1], 7)
    script = (
        "import dataclasses, json, sys\n"
        "from player.library.warm import import_beat_tracker\n"
        "import_beat_tracker()\n"
        "from player.library.features import extract_file\n"
        "from pathlib import Path\n"
        "print(json.dumps(dataclasses.asdict(extract_file(Path(sys.argv[1])))))\n"
    )
    fresh = _python(["-c", script, str(track)], {**env, "NUMBA_DEBUG_CACHE": "1"})
    assert "[cache] data loaded from" in fresh.stdout
    assert "[cache] data saved to" not in fresh.stdout and "[cache] index saved to" not in fresh.stdout
    theirs = json.loads(fresh.stdout.strip().splitlines()[-1])
    mine = json.loads(json.dumps(asdict(extract_file(track))))
    assert theirs == mine
