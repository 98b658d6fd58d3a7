"""Benchmark of the desktop player's playback path: CPU per second of music played.

Decodes real Ogg Vorbis tracks (extremetuxracer-data) through the player's own path
(:class:`player.desktop.playback.FileSource` → :class:`player.desktop.deck.Deck`, 50 ms blocks,
fades) as fast as it goes, for an output at the file's rate (44.1 kHz: no resampling) and at
48 kHz (streaming soxr HQ resampling), side by side in one run. Prints JSON: median CPU seconds per second of audio
(the fraction of one core playback costs) for each, and their ratio.

    .venv/bin/python bench/desktop.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from player.desktop.deck import Deck
from player.desktop.playback import FileSource

MUSIC = Path("/usr/share/games/etr/music")
TRACKS = ("race1-jt.ogg", "calmrace-ks.ogg")


def _play_through(path: Path, rate_hz: int) -> tuple[float, float]:
    """(CPU seconds, audio seconds) to hand out every block of ``path`` at ``rate_hz`` stereo."""
    deck = Deck(rate_hz, 2, block_frames=round(0.05 * rate_hz))
    cpu_start = time.process_time()
    deck.load(path.name, FileSource(path, rate_hz, 2))
    frames = 0
    while deck.loaded:
        block, _ = deck.next_block()
        if block is not None:
            frames += len(block)
    return time.process_time() - cpu_start, frames / rate_hz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    paths = [MUSIC / name for name in TRACKS if (MUSIC / name).exists()]
    if not paths:
        raise SystemExit(f"no tracks found in {MUSIC} (apt install extremetuxracer-data)")
    per_rate: dict[int, list[float]] = {44100: [], 48000: []}
    audio_s = 0.0
    for _ in range(args.repeats):
        for rate in per_rate:  # interleaved, so both see the same machine load
            cpu_s = played_s = 0.0
            for path in paths:
                c, a = _play_through(path, rate)
                cpu_s += c
                played_s += a
            per_rate[rate].append(cpu_s / played_s)
            audio_s = played_s
    same = statistics.median(per_rate[44100])
    resampled = statistics.median(per_rate[48000])
    print(
        json.dumps(
            {
                "benchmark": "desktop playback path (decode + resample + deck)",
                "tracks": [p.name for p in paths],
                "audio_s_per_run": round(audio_s, 2),
                "repeats": args.repeats,
                "cpu_s_per_audio_s_44100_no_resample_median": round(same, 5),
                "cpu_s_per_audio_s_48000_soxr_hq_median": round(resampled, 5),
                "resample_cost_ratio": round(resampled / same, 2),
                "note": "one shared, noisy 2-core machine; CPU time of this process only",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
