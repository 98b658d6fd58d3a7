"""Catalogs with designed truth for training and evaluating the ranker, built once and cached.

An evaluation catalog is the demo catalog (:mod:`player.library.demo`) synthesized with its own seed,
scanned by the real extractor (:func:`player.library.scan.scan`), and joined to its ``truth.json``:
the ranker sees the extracted features, the simulated listeners judge by the designed truth. Building
one takes about a minute for 300 tracks on two cores; the result (``library.db`` and ``truth.json``;
the audio is deleted once scanned) is cached in ``CACHE/demo-s{seed}-n{count}/``.

Seeds: :data:`EVAL_SEED` for the reported evaluation, :data:`TRAIN_SEED` for training; neither is the
default demo catalog's seed (7, what a fresh `cadence serve` plays).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from models.simulate import (
    TruthCatalog,
    catalog_matrix,
    synthetic_catalog,
    truth_from_demo,
    truth_from_tracks,
)
from player.core.ranking import MatrixLike
from player.core.track import Track

__all__ = [
    "EVAL_COUNT",
    "EVAL_SEED",
    "TRAIN_COUNT",
    "TRAIN_SEED",
    "TruthLibrary",
    "demo_truth_library",
    "synthetic_truth_library",
]

logger = logging.getLogger(__name__)

EVAL_SEED = 2026
EVAL_COUNT = 300
TRAIN_SEED = 11
TRAIN_COUNT = 300
_DONE = "complete.json"


@dataclass(frozen=True)
class TruthLibrary:
    """Tracks with extracted features (what the ranker sees) and their designed truth (what listeners judge)."""

    tracks: list[Track]
    matrix: MatrixLike
    truth: TruthCatalog
    name: str
    """e.g. "demo-s2026-n300" or "synthetic-s12-n1500"."""


def demo_truth_library(cache_dir: Path, *, seed: int, count: int, workers: int = 2) -> TruthLibrary:
    """The scanned demo catalog of ``seed`` and ``count`` with its truth, built into ``cache_dir`` once."""
    from player.library.store import LibraryStore

    name = f"demo-s{seed}-n{count}"
    folder = Path(cache_dir) / name
    db = folder / "library.db"
    if not (folder / _DONE).is_file():
        _build(folder, seed=seed, count=count, workers=workers)
    with LibraryStore(db) as store:
        tracks = store.tracks()
        matrix = store.feature_matrix()
    truth = truth_from_demo(json.loads((folder / "truth.json").read_text(encoding="utf-8")), tracks)
    # the truth catalog's rows follow the matrix's order, so a row means the same track everywhere
    by_id = {t.track_id: t for t in truth.truths}
    truth = TruthCatalog([by_id[i] for i in matrix.ids], source=truth.source)
    return TruthLibrary(tracks, matrix, truth, name)


def _build(folder: Path, *, seed: int, count: int, workers: int) -> None:
    """Build into a private folder and rename it into place, so concurrent builders cannot clobber
    each other (the loser's copy is discarded)."""
    from player.library.demo import build_demo_library
    from player.library.scan import scan

    work = folder.with_name(f"{folder.name}.building-{os.getpid()}")
    if work.exists():
        shutil.rmtree(work)
    audio = work / "audio"
    logger.info("building the %d-track demo catalog (seed %d) in %s", count, seed, folder)
    try:
        build_demo_library(audio, count=count, seed=seed)
        report = scan([audio], work / "library.db", workers=workers, progress=False)
        if len(report.extracted) != count:
            raise RuntimeError(f"scanned {len(report.extracted)} of {count} demo tracks: {report.problems}")
        (audio / "truth.json").replace(work / "truth.json")
        shutil.rmtree(audio)
        (work / _DONE).write_text(
            json.dumps({"seed": seed, "count": count, "audio_s": round(report.audio_s, 1)}), encoding="utf-8"
        )
        if (folder / _DONE).is_file():  # another process finished first
            return
        if folder.exists():
            shutil.rmtree(folder)
        work.replace(folder)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def synthetic_truth_library(*, seed: int, count: int) -> TruthLibrary:
    """A synthetic catalog (no audio) judged by its own features (:func:`truth_from_tracks`): training
    volume only, never a reported evaluation."""
    tracks = synthetic_catalog(count, seed=seed)
    return TruthLibrary(
        tracks, catalog_matrix(tracks), truth_from_tracks(tracks), f"synthetic-s{seed}-n{count}"
    )
