"""Session-scoped fixtures every test area shares.

``demo_catalog``: the default demo catalog (120 synthesized tracks with truth.json), built once per run.
``demo_home``: a Cadence home directory whose library.db holds that catalog, scanned once per run.
Both are real: real files written by :mod:`player.library.demo`, scanned by the real extractor in
worker processes. Treat them as read-only (copy ``demo_home`` if a test must write to the library).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DEMO_COUNT = 120
DEMO_SEED = 7


@pytest.fixture(scope="session")
def demo_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built demo catalog directory (audio files + truth.json)."""
    from player.library.demo import build_demo_library

    return build_demo_library(tmp_path_factory.mktemp("demo-catalog"), count=DEMO_COUNT, seed=DEMO_SEED)


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory, demo_catalog: Path) -> Path:
    """A home directory whose library.db holds the demo catalog, scanned."""
    from player.library.scan import scan

    home = tmp_path_factory.mktemp("demo-home")
    report = scan([demo_catalog], home / "library.db", workers=2, progress=False)
    assert len(report.extracted) == DEMO_COUNT, report.problems
    return home


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator (fresh per test, same sequence every run)."""
    return np.random.default_rng(12345)
