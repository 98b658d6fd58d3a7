"""The served ranker splits a large batch over threads and gives every row the score one thread gives it
alone, bit for bit, also when its helper is busy."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import pytest

from models.simulate import catalog_matrix, synthetic_catalog
from player.core.listener import ListenerState, PlaybackEvent
from player.core.ranking import OnnxRanker, Recommender, assemble_features, build_context, shipped_ranker_path
from player.ranker_threads import SPLIT_ROWS, ParallelRanker, load_served_ranker


@pytest.fixture(scope="module")
def features() -> np.ndarray:
    tracks = synthetic_catalog(3000, seed=31)
    rec = Recommender(tracks, catalog_matrix(tracks), OnnxRanker.load(shipped_ranker_path()))
    state = ListenerState("l", local_time=datetime(2026, 3, 2, 19, 0, tzinfo=UTC), at_s=1_000.0)
    for i, kind in enumerate(["completed", "skipped", "liked", "completed"]):
        tid = tracks[i * 17].id
        state.observe_playback(PlaybackEvent("started", tid, 0.0, 1_000.0 + i * 300))
        state.observe_playback(
            PlaybackEvent(kind, tid, 5.0 if kind == "skipped" else 200.0, 1_005.0 + i * 300)
        )
    ctx = build_context(state, rec.catalog, at_s=3_000.0, count=10)
    return assemble_features(rec.catalog, ctx, np.arange(0, 3000, 3), ctx.targets[0])


def test_split_scores_equal_one_thread_scoring_each_row(features: np.ndarray) -> None:
    single = OnnxRanker.load(shipped_ranker_path())
    whole = single.score(features)
    alone = np.concatenate([single.score(features[i : i + 1]) for i in range(0, len(features), 97)])
    assert np.array_equal(whole[::97], alone)  # one thread: a row's score does not depend on its batch
    for threads in (2, 3):
        split = load_served_ranker(shipped_ranker_path(), threads=threads)
        assert isinstance(split, ParallelRanker) and split.threads == threads
        assert np.array_equal(split.score(features), whole)
        assert np.array_equal(split.score(features[: SPLIT_ROWS - 1]), whole[: SPLIT_ROWS - 1])  # not split
        assert split.score(features[:0]).shape == (0,)


def test_a_busy_helper_leaves_its_part_to_the_caller(features: np.ndarray) -> None:
    split = load_served_ranker(shipped_ranker_path(), threads=2)
    assert isinstance(split, ParallelRanker)
    whole = OnnxRanker.load(shipped_ranker_path()).score(features)
    release = threading.Event()
    busy = split._helper_pool().submit(release.wait)
    result: list[np.ndarray] = []
    caller = threading.Thread(target=lambda: result.append(split.score(features)), daemon=True)
    caller.start()
    caller.join(timeout=30)
    release.set()
    assert result, "the caller waited for the busy helper instead of scoring its part"
    assert np.array_equal(result[0], whole)
    assert busy.result(timeout=10)
    assert np.array_equal(split.score(features), whole)  # and the helper takes parts again after
