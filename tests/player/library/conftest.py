"""The catalog both Ray scan modules read, built and scanned locally once per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.ray_cluster import BAD_FILES, build_ray_catalog


@pytest.fixture(scope="session")
def ray_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`tests.support.ray_cluster.build_ray_catalog` (read-only: track ids are their paths)."""
    return build_ray_catalog(tmp_path_factory.mktemp("ray-catalog"))


@pytest.fixture(scope="session")
def ray_local_reference(ray_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The catalog scanned by the local engine: the features every Ray scan must reproduce."""
    from player.library.scan import scan

    db = tmp_path_factory.mktemp("local-ref") / "library.db"
    report = scan([ray_catalog], db, workers=2, progress=False)
    assert {Path(p.path).name for p in report.problems} == set(BAD_FILES)
    return db
