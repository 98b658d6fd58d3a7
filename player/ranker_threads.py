"""The served ranker: :class:`~player.core.ranking.OnnxRanker` scoring a large batch on two threads.

The core's ranker scores on the calling thread (``player.core`` does no threading). At 100k tracks a
decision scores ~700 candidates, ~2 ms of its ~6.5 ms; split over two threads by rows it takes about
half that. Splitting by rows, not with onnxruntime's own intra-op threads: its tree ensemble splits
a large batch's *trees* over threads and sums their parts in another order, so a row's score would
change in its last bits with the batch's size (the two-stage/exhaustive comparisons and the tie rules
need a row's score to be the same however it is batched). Here every part runs the session with one
intra-op thread, so every row goes through the same single-threaded sum: its score is the same bit
for bit however it is batched or split. A part the helper has not started when the caller is done
with its own (a busy machine) is scored by the caller: never slower than one thread by more than the
hand-off (~50 µs).
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from player.core.ranking import OnnxRanker

__all__ = ["SPLIT_ROWS", "ParallelRanker", "load_served_ranker"]

SPLIT_ROWS = 256
"""Batches of at least this many rows are split (smaller ones are not worth the hand-off)."""


class ParallelRanker(OnnxRanker):
    """An :class:`OnnxRanker` whose :meth:`score` splits batches of :data:`SPLIT_ROWS` rows or more over
    ``threads`` threads (the caller's and ``threads - 1`` helpers, started on first use)."""

    def __init__(
        self, session: Any, metadata: dict[str, str], path: Path | None = None, *, threads: int = 2
    ) -> None:
        super().__init__(session, metadata, path)
        self.threads = max(1, int(threads))
        self._helpers: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def score(self, features: np.ndarray) -> np.ndarray:
        rows = np.ascontiguousarray(features, dtype=np.float32)
        score = super().score  # one thread's scores
        if self.threads == 1 or len(rows) < SPLIT_ROWS:
            return score(rows)
        helpers = self._helper_pool()
        bounds = np.linspace(0, len(rows), self.threads + 1).astype(int)
        parts = [rows[a:b] for a, b in itertools.pairwise(bounds)]
        futures = [helpers.submit(score, part) for part in parts[1:]]
        out = [score(parts[0])]
        for future, part in zip(futures, parts[1:], strict=True):
            out.append(score(part) if future.cancel() else future.result())
        return np.concatenate(out)

    def _helper_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._helpers is None:
                self._helpers = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="ranker")
            return self._helpers


def load_served_ranker(path: Path, *, threads: int | None = None) -> ParallelRanker:
    """The ranker at ``path`` as served: :class:`ParallelRanker` on ``threads`` threads (default 2, or 1
    on a one-CPU machine, where it scores as the core's does).

    Raises:
        RankerError: as :meth:`OnnxRanker.load`.
    """
    ranker = ParallelRanker.load(path)
    ranker.threads = min(2, os.cpu_count() or 1) if threads is None else max(1, int(threads))
    return ranker
