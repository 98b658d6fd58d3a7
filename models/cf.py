"""Training the collaborative-filtering factors (``HOME/cf.npz``) from the interaction log.

Implicit-feedback ALS (Hu, Koren & Volinsky, ICDM 2008) with ``implicit``'s CPU solver
(``implicit.cpu.als.AlternatingLeastSquares``, exact Cholesky solves, one thread, a fixed random
state: the same log gives the same factors). What each playback event says about a (listener,
track) pair and how that becomes a confidence is defined once, in :mod:`player.cf`
(:func:`~player.cf.event_weight`, :func:`~player.cf.confidence`), and used by training and by the
serving fold-in alike.

Who and what is in it
---------------------
- **Private listeners** (``InteractionLog.private_listeners``, `cadence listeners --private ID`) are
  left out before anything is counted: their events change no factor (a test trains with and
  without them and compares the factors exactly). Serving still folds them in for their own scores.
- **Tracks** enter only when at least :data:`MIN_ITEM_LISTENERS` (2) non-private listeners have
  positive evidence for them: a track only one listener played would carry that listener's taste
  alone (and its factor would be noise). Tracks outside the model score neutral when served.
- **Listeners** enter with their pairs on those tracks (positive and negative); one without any is
  left out.

It stays out of the way (no model, and ``cadence train`` removes a stale ``cf.npz``) unless at least
:data:`MIN_LISTENERS` (3) non-private listeners have at least :data:`MIN_POSITIVE_TRACKS` (5) tracks
with positive net evidence each and some track is shared (positive evidence from 2 of them).

Hyper-parameters: :data:`FACTORS` 32, :data:`REGULARIZATION` 0.1, :data:`ITERATIONS` 15,
:data:`~player.cf.ALPHA` 10, :data:`RANDOM_STATE` 0 — chosen before the household evaluation
(:mod:`models.cf_eval`) and not tuned on it.

:func:`retrain_cf` is the one place that writes or removes ``cf.npz``: `cadence train`, `cadence
forget` and `cadence listeners --private` call it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from player.cf import ALPHA, CfModel, cf_path, confidence, track_evidence
from player.core.records import LogEvent
from player.settings import Settings

__all__ = [
    "FACTORS",
    "ITERATIONS",
    "MIN_ITEM_LISTENERS",
    "MIN_LISTENERS",
    "MIN_POSITIVE_TRACKS",
    "RANDOM_STATE",
    "REGULARIZATION",
    "CfMatrix",
    "CfTraining",
    "CfUpdate",
    "build_matrix",
    "evidence_by_listener",
    "fit_als",
    "retrain_cf",
    "train_cf",
]

logger = logging.getLogger(__name__)

FACTORS = 32
"""Latent factors per track and listener."""
REGULARIZATION = 20.0
"""λ of every least-squares solve (training and the serving fold-in)."""
ITERATIONS = 15
"""ALS sweeps (each solves every listener, then every track)."""
RANDOM_STATE = 0
"""Seed of the factors' random start."""
MIN_LISTENERS = 3
"""Non-private listeners with enough positive tracks a model needs …"""
MIN_POSITIVE_TRACKS = 5
"""… where enough is this many tracks with positive net evidence."""
MIN_ITEM_LISTENERS = 2
"""Non-private listeners with positive evidence a track needs to be in the model."""


def evidence_by_listener(
    events: Iterable[LogEvent], *, private: Collection[str] = frozenset()
) -> dict[str, dict[str, float]]:
    """Net evidence per track (:func:`player.cf.track_evidence`) of every listener not in ``private``."""
    grouped: dict[str, list[LogEvent]] = {}
    for event in events:
        if event.listener_id not in private and event.track_id is not None:
            grouped.setdefault(event.listener_id, []).append(event)
    out = {listener: track_evidence(evs) for listener, evs in grouped.items()}
    return {listener: ev for listener, ev in out.items() if ev}


@dataclass(frozen=True, eq=False)
class CfMatrix:
    """The signed confidences ALS is fitted to: rows ``listener_ids``, columns ``item_ids``."""

    listener_ids: tuple[str, ...]
    item_ids: tuple[str, ...]
    confidences: sp.csr_matrix
    """float32 [listeners, items]: +C (preference 1) or −C (preference 0), :func:`player.cf.confidence`."""


def _insufficient(evidence: Mapping[str, Mapping[str, float]]) -> str | None:
    """Why ``evidence`` is too little for a model (None: enough)."""
    qualified = sum(1 for ev in evidence.values() if sum(w > 0 for w in ev.values()) >= MIN_POSITIVE_TRACKS)
    if qualified < MIN_LISTENERS:
        return (
            f"{qualified} listener(s) with at least {MIN_POSITIVE_TRACKS} completed or liked tracks "
            f"(needs {MIN_LISTENERS}, private listeners not counted)"
        )
    return None


def build_matrix(evidence: Mapping[str, Mapping[str, float]], *, alpha: float = ALPHA) -> CfMatrix | str:
    """The matrix of ``evidence`` (listener → track → net evidence, private listeners already out), or
    why there is too little data for one (module docstring)."""
    why = _insufficient(evidence)
    if why is not None:
        return why
    support: dict[str, int] = {}
    for ev in evidence.values():
        for track, w in ev.items():
            if w > 0:
                support[track] = support.get(track, 0) + 1
    items = tuple(sorted(t for t, n in support.items() if n >= MIN_ITEM_LISTENERS))
    if not items:
        return f"no track has positive evidence from {MIN_ITEM_LISTENERS} listeners"
    column = {t: j for j, t in enumerate(items)}
    listeners: list[str] = []
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    for listener in sorted(evidence):
        pairs = sorted(
            (column[t], confidence(w, alpha)) for t, w in evidence[listener].items() if t in column
        )
        if not pairs:
            continue
        rows.extend([len(listeners)] * len(pairs))
        cols.extend(j for j, _ in pairs)
        data.extend(c for _, c in pairs)
        listeners.append(listener)
    matrix = sp.csr_matrix(
        (np.array(data, np.float32), (np.array(rows, np.int64), np.array(cols, np.int64))),
        shape=(len(listeners), len(items)),
        dtype=np.float32,
    )
    return CfMatrix(tuple(listeners), items, matrix)


def fit_als(
    confidences: sp.csr_matrix,
    *,
    factors: int = FACTORS,
    regularization: float = REGULARIZATION,
    iterations: int = ITERATIONS,
    random_state: int = RANDOM_STATE,
) -> tuple[np.ndarray, np.ndarray]:
    """Implicit ALS on signed ``confidences`` [listeners, items]: (listener factors, item factors),
    float32. One thread and exact solves, so the same matrix always gives the same factors."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    # After the import (which loads BLAS libraries), so every BLAS in the process is limited.
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(
            factors=factors,
            regularization=regularization,
            alpha=1.0,  # the confidences already carry player.cf's alpha
            iterations=iterations,
            use_cg=False,
            num_threads=1,
            random_state=random_state,
        )
        als.fit(confidences.astype(np.float32), show_progress=False)
    return np.asarray(als.user_factors, np.float32), np.asarray(als.item_factors, np.float32)


@dataclass(frozen=True, eq=False)
class CfTraining:
    """The outcome of :func:`train_cf`: a model, or None and why."""

    model: CfModel | None
    reason: str
    """What was trained, or why nothing was."""
    listeners: int
    """Listeners in the model (0 without one)."""
    items: int
    """Tracks in the model (0 without one)."""
    private: int
    """Private listeners left out."""


def train_cf(
    events: Iterable[LogEvent],
    *,
    private: Collection[str] = frozenset(),
    factors: int = FACTORS,
    regularization: float = REGULARIZATION,
    iterations: int = ITERATIONS,
    alpha: float = ALPHA,
    random_state: int = RANDOM_STATE,
) -> CfTraining:
    """Train the factors from logged ``events`` (every listener's), leaving out ``private`` listeners."""
    events = list(events)
    left_out = {e.listener_id for e in events} & set(private)
    matrix = build_matrix(evidence_by_listener(events, private=set(private)), alpha=alpha)
    if isinstance(matrix, str):
        return CfTraining(None, f"too little data: {matrix}", 0, 0, len(left_out))
    users, items = fit_als(
        matrix.confidences,
        factors=factors,
        regularization=regularization,
        iterations=iterations,
        random_state=random_state,
    )
    model = CfModel(
        item_ids=matrix.item_ids,
        item_factors=items,
        user_ids=matrix.listener_ids,
        user_factors=users,
        factors=factors,
        regularization=regularization,
        alpha=alpha,
        iterations=iterations,
        random_state=random_state,
    )
    reason = f"{len(matrix.listener_ids)} listeners, {len(matrix.item_ids)} tracks"
    return CfTraining(model, reason, len(matrix.listener_ids), len(matrix.item_ids), len(left_out))


@dataclass(frozen=True)
class CfUpdate:
    """What :func:`retrain_cf` did to ``cf.npz``."""

    action: Literal["trained", "removed", "none"]
    """``trained``: written anew; ``removed``: too little data, a stale file deleted; ``none``: too
    little data and no file."""
    message: str
    path: str
    listeners: int
    items: int
    private: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "message": self.message,
            "path": self.path,
            "listeners": self.listeners,
            "items": self.items,
            "private_listeners_left_out": self.private,
            "seconds": self.seconds,
        }


def retrain_cf(settings: Settings) -> CfUpdate:
    """Retrain ``HOME/cf.npz`` from the whole log (private listeners left out), or remove it when the
    log has too little data for collaborative filtering (it then stays out of the way)."""
    from player.server.logstore import log_present, open_log_at

    t0 = time.perf_counter()
    path = cf_path(settings)
    events: list[LogEvent] = []
    private: set[str] = set()
    if log_present(settings.log_location):
        with open_log_at(settings.log_location) as log:
            events = log.events()
            private = log.private_listeners()
    result = train_cf(events, private=private)
    seconds = round(time.perf_counter() - t0, 2)
    if result.model is not None:
        result.model.save(path)
        message = f"trained {path} from {result.listeners} listeners and {result.items} tracks" + (
            f" ({result.private} private listener(s) left out)" if result.private else ""
        )
        logger.info("collaborative filtering: %s", message)
        return CfUpdate(
            "trained", message, str(path), result.listeners, result.items, result.private, seconds
        )
    if path.exists():
        path.unlink()
        message = f"{result.reason}; removed {path}: collaborative filtering stays out of the way"
        action: Literal["removed", "none"] = "removed"
    else:
        message = f"{result.reason}: collaborative filtering stays out of the way (no {path.name})"
        action = "none"
    logger.info("collaborative filtering: %s", message)
    return CfUpdate(action, message, str(path), 0, 0, result.private, seconds)
