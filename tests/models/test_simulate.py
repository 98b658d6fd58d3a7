"""Tests of the listener simulator's stated assumptions: catalog correlations, artist clusters, and a
skip model in which mismatch makes early skips likely."""

from __future__ import annotations

import numpy as np

from models.simulate import (
    HELDOUT_POPULATION,
    TRAIN_POPULATION,
    SimCatalog,
    catalog_matrix,
    draw_listeners,
    run_listener,
    simulate_log,
    synthetic_catalog,
)
from player.core.listener import Target
from player.core.track import NUMERIC_FEATURES


def test_synthetic_catalog_is_plausible() -> None:
    """Descriptors correlate as documented and tracks cluster by artist."""
    tracks = synthetic_catalog(1200, seed=3)
    e = np.array([t.energy for t in tracks])
    loud = np.array([t.loudness_db for t in tracks])
    acoustic = np.array([t.acousticness for t in tracks])
    tempo = np.array([t.tempo_bpm for t in tracks])
    assert np.corrcoef(e, loud)[0, 1] > 0.8
    assert np.corrcoef(e, acoustic)[0, 1] < -0.3
    assert np.corrcoef(e, tempo)[0, 1] > 0.3
    assert len({t.id for t in tracks}) == 1200
    artists = [t.artist for t in tracks]
    assert 50 <= len(set(artists)) <= 150
    # tracks of one artist are closer in energy than random pairs
    by_artist: dict[str, list[float]] = {}
    for t in tracks:
        by_artist.setdefault(t.artist, []).append(t.energy)
    within = np.mean([np.std(v) for v in by_artist.values() if len(v) > 3])
    assert within < 0.7 * np.std(e)
    m = catalog_matrix(tracks)
    assert m.values.shape == (1200, len(NUMERIC_FEATURES)) and m.values.dtype == np.float32
    assert synthetic_catalog(50, seed=3)[0] == synthetic_catalog(50, seed=3)[0]


def test_mismatch_makes_early_skips_likely() -> None:
    """The farther a track from what the listener wants, the likelier an early skip."""
    tracks = synthetic_catalog(600, seed=4)
    cat = SimCatalog(tracks)
    listener = draw_listeners(1, seed=1, cat=cat, population=TRAIN_POPULATION)[0]
    wanted = Target(0.5, 0.5)
    u = listener.utility(cat, wanted)
    p = listener.reaction_probabilities(u)
    for k in p.values():
        assert np.all(k >= -1e-9)
    assert np.allclose(sum(p.values()), 1.0)
    dist = np.hypot(cat.valence - 0.5, cat.energy - 0.5)
    assert np.corrcoef(dist, p["early"])[0, 1] > 0.3
    order = np.argsort(u)
    assert p["early"][order[0]] > 0.8 > 0.2 > p["early"][order[-1]]


def test_heldout_population_is_shifted() -> None:
    """Held-out listeners come from other ranges (more lifters, less patience)."""
    assert HELDOUT_POPULATION.lifter_share > TRAIN_POPULATION.lifter_share
    assert HELDOUT_POPULATION.patience[0] < TRAIN_POPULATION.patience[0]


def test_sessions_produce_server_like_events() -> None:
    """A simulated session logs session_start with an offset local time, then plays with positions."""
    tracks = synthetic_catalog(300, seed=6)
    events = simulate_log(tracks, listeners=2, seed=3, sessions=1, tracks_per_session=6)
    kinds = [e.kind for e in events]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    assert events[0].local_time is not None and events[0].local_time[-6] in "+-"
    assert kinds.count("started") == 12
    skips = [e for e in events if e.kind == "skipped"]
    assert all(e.position_s is not None and e.position_s > 0 for e in skips)
    times = [e.at_s for e in events if e.listener_id == events[0].listener_id]
    assert times == sorted(times)


def test_run_listener_is_reproducible() -> None:
    """The same listener, seed and policy give the same plays."""
    tracks = synthetic_catalog(300, seed=6)
    cat = SimCatalog(tracks)

    def first_rows(state: object, at_s: float, count: int) -> list[int]:
        return list(range(int(at_s) % 200, int(at_s) % 200 + count))

    def plays() -> list[tuple[int, str]]:
        listener = draw_listeners(1, seed=8, cat=cat, population=TRAIN_POPULATION)[0]
        return [
            (row, out)
            for _, row, out in run_listener(
                listener, cat, first_rows, seed=2, sessions=1, tracks_per_session=8
            )
        ]

    assert plays() == plays()
