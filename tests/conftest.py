"""The test tiers, and session-scoped fixtures every test area shares.

Tiers (markers registered in pyproject.toml): ``unit`` is the default, given here to every test that
carries neither ``integration`` (a real server, real engines, a scanned library) nor ``slow`` (real
Whisper weights, real music, load). A unit test that asks for a fixture which scans the library or
loads Whisper is a usage error, raised at collection so the tier stays fast.

``demo_catalog``: the default demo catalog (120 synthesized tracks with truth.json), built once per run.
``demo_home``: a Cadence home directory whose library.db holds that catalog, scanned once per run.
``postgres_cluster``: a real PostgreSQL server (Debian's binaries, initdb into a temporary directory,
run as an unprivileged user under root), started once per run when a test first asks for it;
``postgres_url`` a fresh database on it for one test; ``log_backend`` runs a test once on each of the
interaction log's stores (SQLite and PostgreSQL, :class:`tests.support.postgres.LogBackend`).
These are real: real files written by :mod:`player.library.demo`, scanned by the real extractor in
worker processes. Treat them as read-only (copy ``demo_home`` if a test must write to the library).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.postgres import LogBackend, PostgresCluster, PostgresUnavailable

DEMO_COUNT = 120
DEMO_SEED = 7

TIERS = ("unit", "integration", "slow")
"""The markers that name a test's tier; a test without ``integration`` or ``slow`` is ``unit``."""

NOT_UNIT_FIXTURES = frozenset(
    {
        "demo_catalog",
        "demo_home",
        "mood_analyzer",
        "postgres_cluster",
        "postgres_url",
        "ray_catalog",
        "ray_local_reference",
    }
)
"""Fixtures a unit test may not use, directly or through another fixture: they synthesize and scan
the demo library (tens of seconds), load the real Whisper weights or start a PostgreSQL server."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test without ``integration`` or ``slow`` as ``unit``, before ``-m`` selects.

    Runs first so that ``-m unit`` sees the marker it adds.

    Raises:
        pytest.UsageError: If a unit test uses a fixture in :data:`NOT_UNIT_FIXTURES`.
    """
    misplaced: list[str] = []
    for item in items:
        if item.get_closest_marker("integration") is None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.unit)
            heavy = NOT_UNIT_FIXTURES.intersection(getattr(item, "fixturenames", ()))
            if heavy:
                misplaced.append(f"{item.nodeid} uses {', '.join(sorted(heavy))}")
    if misplaced:
        raise pytest.UsageError(
            "unit tests may not scan the demo library or load Whisper; mark them "
            "@pytest.mark.integration or @pytest.mark.slow:\n  " + "\n  ".join(misplaced)
        )


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


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A running PostgreSQL server on a free loopback port, stopped and removed after the run."""
    try:
        cluster = PostgresCluster.start()
    except PostgresUnavailable as exc:
        pytest.fail(f"the PostgreSQL tests need a PostgreSQL server: {exc}", pytrace=False)
    yield cluster
    cluster.stop()


_DATABASES = itertools.count()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """The URL of an empty database of this test's own (dropped afterwards)."""
    name = f"cadence_test_{os.getpid()}_{next(_DATABASES)}"
    url = postgres_cluster.create_database(name)
    yield url
    postgres_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def log_backend(request: pytest.FixtureRequest, tmp_path: Path) -> LogBackend:
    """The interaction log on SQLite (HOME/log.db) and, in a second run of the test, on PostgreSQL
    (that run is in the integration tier: a real server)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    return LogBackend(request.param, tmp_path, url)
