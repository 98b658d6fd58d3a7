"""End to end: features of the scanned demo catalog against its ground truth, and real music nobody
here made (Debian's extremetuxracer-data)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from player.core.track import NUMERIC_FEATURES, Track
from player.library.scan import scan
from player.library.store import LibraryStore

ETR_MUSIC = Path("/usr/share/games/etr/music")


@pytest.fixture(scope="module")
def demo_pairs(demo_catalog: Path, demo_home: Path) -> list[tuple[dict[str, object], Track]]:
    """(truth entry, scanned track) for every track of the shared demo catalog."""
    truth = json.loads((demo_catalog / "truth.json").read_text())["tracks"]
    with LibraryStore(demo_home / "library.db") as store:
        by_file = {Path(t.path).name: t for t in store.tracks()}
    return [(entry, by_file[entry["file"]]) for entry in truth]


def _tempo_ok(estimated: float, designed: float) -> bool:
    return any(abs(estimated / designed - m) / m <= 0.04 for m in (0.5, 1.0, 2.0))


@pytest.mark.integration
def test_demo_home_holds_the_whole_catalog(demo_home: Path) -> None:
    """The shared fixture's library has all 120 tracks, a finite float32 matrix and no problems."""
    with LibraryStore(demo_home / "library.db") as store:
        matrix = store.feature_matrix()
        assert store.count() == 120 and matrix.values.shape == (120, len(NUMERIC_FEATURES))
        assert np.all(np.isfinite(matrix.values)) and store.problems() == []


@pytest.mark.integration
def test_tempo_within_4_percent_on_90_percent_of_drum_tracks(
    demo_pairs: list[tuple[dict[str, object], Track]],
) -> None:
    """Tempo is within 4 % of the designed tempo (or exactly double/half) on ≥ 90 % of tracks with drums."""
    drums = [(e, t) for e, t in demo_pairs if e["has_drums"]]
    hits = [_tempo_ok(t.tempo_bpm, float(e["tempo_bpm"])) for e, t in drums]  # type: ignore[arg-type]
    assert len(drums) == 96
    assert np.mean(hits) >= 0.90, f"tempo right on {np.mean(hits):.0%}"


@pytest.mark.integration
def test_mode_and_key_accuracy(demo_pairs: list[tuple[dict[str, object], Track]]) -> None:
    """Mode is right on ≥ 85 % of tracks and key (tonic and mode) on ≥ 70 %."""
    modes = [t.mode == e["mode"] for e, t in demo_pairs]
    keys = [t.key == e["key"] and t.mode == e["mode"] for e, t in demo_pairs]
    assert np.mean(modes) >= 0.85, f"mode right on {np.mean(modes):.0%}"
    assert np.mean(keys) >= 0.70, f"key right on {np.mean(keys):.0%}"


@pytest.mark.integration
def test_energy_rank_correlates_with_designed_energy(
    demo_pairs: list[tuple[dict[str, object], Track]],
) -> None:
    """Spearman's rank correlation of extracted energy with designed energy is ≥ 0.8."""
    rho = spearmanr([e["energy"] for e, _ in demo_pairs], [t.energy for _, t in demo_pairs])[0]
    assert rho >= 0.8, f"energy rho {rho:.2f}"


@pytest.mark.integration
def test_valence_follows_designed_mode(demo_pairs: list[tuple[dict[str, object], Track]]) -> None:
    """Major-mode tracks score a higher median valence than minor ones (valence leans on mode)."""
    major = [t.valence for e, t in demo_pairs if e["mode"] == "major"]
    minor = [t.valence for e, t in demo_pairs if e["mode"] == "minor"]
    assert np.median(major) > np.median(minor) + 0.15


@pytest.mark.integration
def test_ambient_pieces_are_more_acoustic_and_less_danceable(
    demo_pairs: list[tuple[dict[str, object], Track]],
) -> None:
    """Pieces without drums have a higher harmonic share and acousticness, and lower danceability."""

    def median(name: str, drums: bool) -> float:
        return float(np.median([getattr(t, name) for e, t in demo_pairs if e["has_drums"] is drums]))

    assert median("hp_ratio", False) > median("hp_ratio", True)
    assert median("acousticness", False) > median("acousticness", True)
    assert median("danceability", False) < median("danceability", True)


@pytest.mark.slow
def test_real_music_gets_plausible_values_and_its_tags(tmp_path: Path) -> None:
    """Every etr track: tempo 50–220, descriptors in 0–1, nothing NaN; tags where present, else the
    file name, come through."""
    files = sorted(ETR_MUSIC.glob("*.ogg"))
    assert len(files) >= 10
    report = scan([ETR_MUSIC], tmp_path / "library.db", workers=2, progress=False)
    assert not report.problems and len(report.extracted) == len(files)
    with LibraryStore(tmp_path / "library.db") as store:
        tracks = {Path(t.path).name: t for t in store.tracks()}
    assert set(tracks) == {f.name for f in files}
    for name, t in tracks.items():
        assert 50 <= t.tempo_bpm <= 220, (name, t.tempo_bpm)
        for d in ("energy", "danceability", "acousticness", "valence", "beat_strength", "hp_ratio"):
            assert 0 <= getattr(t, d) <= 1, (name, d)
        assert all(math.isfinite(v) for v in t.numeric()), name
        assert -40 < t.loudness_db < 0 and t.duration_s > 5
    assert (tracks["credits1-cp.ogg"].title, tracks["credits1-cp.ogg"].artist) == (
        "Credits Ballad",
        "Kristian Picon",
    )
    assert tracks["credits1-cp.ogg"].album == "Extreme Tux Racer"
    assert (tracks["freezingpoint.ogg"].title, tracks["freezingpoint.ogg"].artist) == (
        "Freezing Point",
        "Grady O'Connell",
    )
    assert tracks["calmrace-ks.ogg"].title == "calmrace-ks"
    assert tracks["calmrace-ks.ogg"].artist == "Unknown artist" and tracks["calmrace-ks.ogg"].album == "music"
