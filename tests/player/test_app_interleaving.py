"""The wiring of interleaving: which challenger a server interleaves, and on what share by default."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from models.simulate import catalog_matrix, synthetic_catalog
from player.app import build_interleaving, challenger_path
from player.core.interleave import HEURISTIC_CHALLENGER, retrained_name
from player.core.ranking import OnnxRanker, Recommender, shipped_ranker_path
from player.core.ranking.heuristic import SkipAwareRecommender
from player.settings import HEURISTIC_INTERLEAVE_SHARE, RETRAINED_INTERLEAVE_SHARE, Settings


@pytest.fixture(scope="module")
def library() -> tuple[list, object, Recommender]:
    tracks = synthetic_catalog(200, seed=3)
    matrix = catalog_matrix(tracks)
    return tracks, matrix, Recommender(tracks, matrix, OnnxRanker.load(shipped_ranker_path()))


def test_without_a_retrained_model_the_heuristic_is_the_challenger(tmp_path: Path, library: tuple) -> None:
    """No challenger.onnx: the skip-aware heuristic on the recommender's catalog, interleaved on no queue by default."""
    tracks, matrix, recommender = library
    interleaving = build_interleaving(Settings(home=tmp_path), tracks, matrix, recommender)
    assert interleaving.name == HEURISTIC_CHALLENGER
    assert isinstance(interleaving.challenger, SkipAwareRecommender)
    assert interleaving.challenger.catalog is recommender.catalog
    assert interleaving.default_share == HEURISTIC_INTERLEAVE_SHARE == 0.0


def test_a_retrained_model_is_the_challenger_named_by_its_file(tmp_path: Path, library: tuple) -> None:
    """HOME/models/challenger.onnx is loaded as a Recommender, named by its bytes, on half of the queues by default."""
    tracks, matrix, recommender = library
    settings = Settings(home=tmp_path)
    path = challenger_path(settings)
    path.parent.mkdir(parents=True)
    shutil.copyfile(shipped_ranker_path(), path)
    interleaving = build_interleaving(settings, tracks, matrix, recommender)
    assert interleaving.name == retrained_name(path.read_bytes())
    assert isinstance(interleaving.challenger, Recommender)
    assert interleaving.default_share == RETRAINED_INTERLEAVE_SHARE == 0.5


def test_an_unusable_challenger_file_falls_back_to_the_heuristic(
    tmp_path: Path, library: tuple, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt challenger.onnx is ignored with a warning; the heuristic is the challenger."""
    tracks, matrix, recommender = library
    settings = Settings(home=tmp_path)
    challenger_path(settings).parent.mkdir(parents=True)
    challenger_path(settings).write_bytes(b"not onnx")
    with caplog.at_level(logging.WARNING, logger="player.app"):
        interleaving = build_interleaving(settings, tracks, matrix, recommender)
    assert interleaving.name == HEURISTIC_CHALLENGER
    assert "ignoring the challenger" in caplog.text
