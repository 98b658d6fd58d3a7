"""The demo catalog: deterministic designs and audio, tags, truth.json, the design ranges."""

from __future__ import annotations

import json
from pathlib import Path

import mutagen
import numpy as np
import soundfile as sf

from player.library.demo import DEMO_SAMPLE_RATE_HZ, build_demo_library, design_catalog, render


def test_designs_cover_the_promised_ranges() -> None:
    """120 designs span 60–180 BPM, both modes, sparse→dense, soft→loud, dark→bright, ~1 in 5 without drums,
    30–60 s, a handful of artists and albums."""
    designs = design_catalog(120, 7)
    tempi = [d.tempo_bpm for d in designs]
    assert 60 <= min(tempi) < 70 and 170 < max(tempi) <= 180
    assert {d.mode for d in designs} == {"major", "minor"}
    assert sum(not d.has_drums for d in designs) == 24
    for name in ("density", "level", "brightness"):
        values = [getattr(d, name) for d in designs]
        assert min(values) < 0.1 and max(values) > 0.9
    assert all(30 <= d.duration_s <= 60 for d in designs)
    assert 3 <= len({d.artist for d in designs}) <= 8 and len({d.album for d in designs}) >= 6
    assert all(0 <= d.energy <= 1 and 0 <= d.valence <= 1 for d in designs)
    assert len({d.file for d in designs}) == 120


def test_same_seed_same_catalog_other_seed_other_catalog() -> None:
    """Designs and rendered samples are a pure function of (count, seed)."""
    assert design_catalog(10, 7) == design_catalog(10, 7)
    assert design_catalog(10, 7) != design_catalog(10, 8)
    design = design_catalog(3, 7)[1]
    np.testing.assert_array_equal(render(design, 7), render(design, 7))


def test_build_writes_tagged_audio_and_truth(tmp_path: Path) -> None:
    """A build writes FLAC and Ogg files with title/artist/album tags and a truth.json describing each,
    and two builds with the same seed give the same truth and the same FLAC samples."""
    first = build_demo_library(tmp_path / "a", count=4, seed=5)
    second = build_demo_library(tmp_path / "b", count=4, seed=5)
    truth = json.loads((first / "truth.json").read_text())
    assert truth == json.loads((second / "truth.json").read_text())
    assert truth["count"] == 4 and truth["seed"] == 5 and len(truth["tracks"]) == 4
    suffixes = set()
    for entry in truth["tracks"]:
        path = first / entry["file"]
        suffixes.add(path.suffix)
        tags = mutagen.File(path, easy=True)
        assert tags["title"] == [entry["title"]] and tags["artist"] == [entry["artist"]]
        assert tags["album"] == [entry["album"]]
        info = sf.info(path)
        assert info.samplerate == DEMO_SAMPLE_RATE_HZ
        assert abs(info.duration - entry["duration_s"]) < 0.01
        for key in ("tempo_bpm", "key", "mode", "has_drums", "energy", "valence"):
            assert key in entry
        if path.suffix == ".flac":
            a, _ = sf.read(path)
            b, _ = sf.read(second / entry["file"])
            np.testing.assert_array_equal(a, b)
    assert suffixes == {".flac", ".ogg"}


def test_rendered_levels_follow_the_design() -> None:
    """A loud design renders louder than a soft one, and nothing clips past full scale."""
    designs = sorted(design_catalog(30, 7), key=lambda d: d.level)
    soft, loud = render(designs[0], 7), render(designs[-1], 7)
    rms = [float(np.sqrt(np.mean(y.astype(np.float64) ** 2))) for y in (soft, loud)]
    assert rms[1] > 4 * rms[0]
    assert np.max(np.abs(loud)) <= 1.0 and soft.dtype == np.float32
