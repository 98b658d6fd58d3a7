"""Fixtures of the ranker's tests: the shared demo catalog as a library with designed truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.catalogs import TruthLibrary
from models.simulate import truth_from_demo


@pytest.fixture(scope="session")
def demo_lib(demo_home: Path, demo_catalog: Path) -> TruthLibrary:
    """The scanned default demo catalog (tests/conftest.py) joined to its truth.json, rows in matrix order."""
    from player.library.store import LibraryStore

    with LibraryStore(demo_home / "library.db") as store:
        tracks, matrix = store.tracks(), store.feature_matrix()
    by_id = {str(t.id): t for t in tracks}
    truth = truth_from_demo(
        json.loads((demo_catalog / "truth.json").read_text(encoding="utf-8")), [by_id[i] for i in matrix.ids]
    )
    return TruthLibrary(tracks, matrix, truth, "demo-s7-n120")
