"""The first run's order and its notion of a usable library: the first tasks cover the mood plane
cheaply, the rest go longest first, and a library is usable once it covers the plane."""

from __future__ import annotations

import numpy as np

from player.library.demo import design_catalog
from player.library.first_run import (
    COVERAGE_TRACKS,
    USABLE_PER_QUADRANT,
    USABLE_TRACKS,
    _cost,
    demo_order,
    usable,
)


def _spread(points: np.ndarray, over: np.ndarray) -> float:
    """The farthest any point of ``over`` is from its nearest point of ``points`` (the covering radius)."""
    return float(np.linalg.norm(over[:, None, :] - points[None, :, :], axis=2).min(axis=1).max())


def test_the_order_is_the_whole_catalog_coverage_first_then_longest_first() -> None:
    """Every design once; after the coverage set the tasks go by decreasing cost, so the run ends on
    the shortest and both workers finish together."""
    designs = design_catalog(120, 7)
    order = demo_order(designs)
    assert sorted(d.index for d in order) == list(range(120))
    rest = [_cost(d) for d in order[COVERAGE_TRACKS:]]
    assert rest == sorted(rest, reverse=True)
    assert order == demo_order(design_catalog(120, 7))  # pure


def test_the_first_tasks_cover_the_mood_plane_for_a_fraction_of_the_work() -> None:
    """The coverage set makes a usable library by its designed values, lies closer to every design
    than the longest-first order's first tasks do, and costs under a sixth of the catalog (longest
    first: over a third)."""
    designs = design_catalog(120, 7)
    order = demo_order(designs)
    first = order[:COVERAGE_TRACKS]
    longest = sorted(designs, key=_cost, reverse=True)[:COVERAGE_TRACKS]
    points = np.array([(d.valence, d.energy) for d in designs])

    def plane(chosen: list) -> np.ndarray:
        return np.array([(d.valence, d.energy) for d in chosen])

    assert usable((d.valence, d.energy) for d in first)
    assert _spread(plane(first), points) < _spread(plane(longest), points)
    total = sum(_cost(d) for d in designs)
    assert sum(_cost(d) for d in first) < total / 6 < total / 3 < sum(_cost(d) for d in longest)


def test_a_small_catalog_goes_longest_first() -> None:
    """A catalog no bigger than the coverage set has nothing to cover first: longest first."""
    designs = design_catalog(6, 11)
    assert demo_order(designs) == sorted(designs, key=_cost, reverse=True)


def test_usable_needs_enough_tracks_in_every_quadrant() -> None:
    """USABLE_TRACKS spread over the four quadrants is usable; one short, or a quadrant with too few
    (however many tracks elsewhere), is not."""
    corners = [(0.2, 0.2), (0.2, 0.8), (0.8, 0.2), (0.8, 0.8)]
    spread = [corners[i % 4] for i in range(USABLE_TRACKS)]
    assert usable(spread)
    assert not usable(spread[:-1])
    lopsided = [(0.8, 0.8)] * 100 + [c for c in corners[:3] for _ in range(USABLE_PER_QUADRANT)]
    assert usable(lopsided)
    assert not usable(lopsided[:-1])  # the last quadrant one short
    assert usable([(0.5, 0.5)] * 50 + [(0.49, 0.49), (0.49, 0.5), (0.5, 0.49)] * USABLE_PER_QUADRANT)
