"""`cadence scan --engine ray`: the scan's extraction as Ray tasks on a cluster.

Everything but the extraction stays :func:`player.library.scan.scan`'s: the walk, the skip of files the
store holds at the same size/mtime or content hash and extractor version, the store writes, progress
and the :class:`~player.library.scan.ScanReport`. This module is only a
:class:`~player.library.scan.JobRunner`: one Ray task per file runs :func:`~player.library.scan.
extract_job`, the function the local pool runs, so a track's features are the same whichever engine
scanned it (the task returns the record as Python floats, pickled: bit for bit).

Why tasks and not a Ray Data pipeline (docs/scale.md): the input is a list of paths and the output a
few kB per file, while each file costs about a CPU-second; what matters is that every result reaches
the driver as soon as it exists (it is committed there, so a killed driver loses only the files in
flight), that a file on a lost node is retried elsewhere, and that a file's failure stays that file's.
``ray.wait`` over a bounded window of tasks gives exactly that; Ray Data's block streaming, operator
fusion and actor pools add nothing here, and its retries are hidden inside the pipeline.

The driver (this process) holds at most :attr:`RayRunner.in_flight_per_cpu` tasks per cluster CPU, so
the object store stays small, and collects finished tasks in batches (about one per cluster CPU, at
most :attr:`RayRunner.batch_files`, or what finished within :attr:`RayRunner.batch_wait_s`); each result is
committed to library.db as it is taken from the batch. A task whose worker process or node dies is
retried by Ray up to :data:`MAX_RETRIES` times on any node; after that the file becomes a problem, as a
file that kills the local pool twice does.

Every node must see the music at the same absolute path (a shared mount) and run the same Cadence: a
task checks both and says which node is wrong. Ray is imported only here and only when this engine is
used; without it, :func:`require_ray` names the extra to install.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from player.errors import EngineError, LibraryError
from player.library import features as feature_module
from player.library.scan import (
    WORKER_DIED_REASON,
    ScanJob,
    ScanReport,
    ScanResult,
    ScanStats,
    extract_job,
    prepare_worker,
    scan,
)

__all__ = [
    "CLUSTER_EXTRA",
    "DEFAULT_ADDRESS",
    "MAX_RETRIES",
    "ClusterUnavailableError",
    "ExtractorMismatchError",
    "RayRunner",
    "require_ray",
    "scan_on_ray",
]

_log = logging.getLogger(__name__)

CLUSTER_EXTRA = 'pip install -e ".[cluster]"'
"""What installs Ray (and pyarrow) for `--engine ray` and the Parquet export."""

DEFAULT_ADDRESS = "auto"
"""The cluster a scan joins without ``--address``: the one running on this machine (``ray start``)."""

MAX_RETRIES = 2
"""Ray retries of a file's task whose worker process or node died (a lost node, a decoder crash)."""

_NO_CPU_GIVE_UP_S = 120.0
"""How long a scan waits for a cluster without any CPU (every worker node gone) before it stops."""


class ClusterUnavailableError(LibraryError):
    """The Ray cluster cannot be reached, has no CPU left, or a node cannot run Cadence's extractor."""

    code = "cluster_unavailable"


class ExtractorMismatchError(LibraryError):
    """A Ray node runs another extractor version than this driver: its features would not be this
    Cadence's, so the scan stops before storing any of them."""

    code = "extractor_mismatch"


def require_ray() -> ModuleType:
    """The ``ray`` module.

    Raises:
        EngineError: If Ray is not installed (the message names the extra).
    """
    try:
        import ray
    except ImportError as exc:
        raise EngineError(
            f"--engine ray needs Ray, which is not installed: {CLUSTER_EXTRA} (the [cluster] extra)"
        ) from exc
    return ray


@dataclass(frozen=True, slots=True)
class _NodeAnswer:
    """What one task sends back: the result, or why the node could not produce one."""

    result: ScanResult | None
    node_id: str
    node_ip: str
    extractor_version: int
    warm_up_s: float
    """Seconds this task spent warming its worker process (0 when the process was warm already)."""


def _extract_on_node(job: ScanJob, extractor_version: int) -> _NodeAnswer:
    """The Ray task: :func:`extract_job` on one file, in a worker process prepared once like a local
    pool worker. Extracts nothing when this node's extractor version is not the driver's."""
    import ray

    context = ray.get_runtime_context()
    node_id = context.get_node_id()
    node_ip = ray.util.get_node_ip_address()
    if extractor_version != feature_module.EXTRACTOR_VERSION:
        return _NodeAnswer(None, node_id, node_ip, feature_module.EXTRACTOR_VERSION, 0.0)
    warm_up_s = 0.0
    if feature_module.warm_up_seconds() is None:
        started = time.perf_counter()
        prepare_worker()
        warm_up_s = time.perf_counter() - started
    if not os.path.exists(job.path):
        # The local scan would say "unreadable"; on a cluster the likely cause is a missing mount.
        missing = ScanResult(
            job.path,
            job.size,
            job.mtime_ns,
            None,
            None,
            f"not found on Ray node {node_ip}: every node must see the music at the same path",
            0.0,
            0.0,
            os.getpid(),
            job.sidecar,
        )
        return _NodeAnswer(missing, node_id, node_ip, extractor_version, warm_up_s)
    return _NodeAnswer(extract_job(job), node_id, node_ip, extractor_version, warm_up_s)


@dataclass
class RayRunner:
    """Extraction as Ray tasks on the cluster at ``address`` (a :class:`~player.library.scan.JobRunner`).

    Joins the cluster only when there is something to extract, and leaves it when done (or
    interrupted: Ray then ends this driver's tasks).
    """

    address: str = DEFAULT_ADDRESS
    """``auto`` (the cluster started on this machine), ``HOST:PORT`` of the head's GCS from a cluster
    node, or ``ray://HOST:PORT`` (Ray Client, from anywhere that reaches the head)."""
    in_flight_per_cpu: int = 2
    """Tasks submitted per cluster CPU before waiting (enough to keep every CPU busy between batches)."""
    batch_files: int = 32
    """Finished tasks collected at most per batch."""
    batch_wait_s: float = 1.0
    """Longest wait for a batch to fill before storing what has finished."""
    files_per_node: Counter[str] = field(default_factory=Counter)
    """After :meth:`run`: files extracted per node address (for logs and tests)."""

    def run(self, jobs: Sequence[ScanJob], stats: ScanStats) -> Iterator[ScanResult]:
        """Submit a task per job, yield each result as its batch comes back.

        Raises:
            EngineError: If Ray is not installed.
            ClusterUnavailableError: If the cluster cannot be joined, has no CPU for
                :data:`_NO_CPU_GIVE_UP_S`, or a node cannot import Cadence.
            ExtractorMismatchError: If a node runs another extractor version.
        """
        ray = require_ray()
        _connect(ray, self.address)
        try:
            yield from self._run(ray, jobs, stats)
        finally:
            ray.shutdown()
            if self.files_per_node:
                _log.info(
                    "ray: files per node: %s",
                    ", ".join(f"{node} {n}" for node, n in sorted(self.files_per_node.items())),
                )

    def _run(self, ray: ModuleType, jobs: Sequence[ScanJob], stats: ScanStats) -> Iterator[ScanResult]:
        version = feature_module.EXTRACTOR_VERSION
        # SPREAD: files go to every node evenly (the default packs the driver's node first).
        task = ray.remote(
            num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False, scheduling_strategy="SPREAD"
        )(_extract_on_node)
        pending: deque[ScanJob] = deque(jobs)
        in_flight: dict[Any, ScanJob] = {}
        cpus = _Cpus(ray)
        while pending or in_flight:
            limit = max(1, self.in_flight_per_cpu * cpus.count())
            while pending and len(in_flight) < limit:
                job = pending.popleft()
                in_flight[task.remote(job, version)] = job
            # Back as soon as about one task per CPU has finished (so the queue is refilled before the
            # CPUs run dry), at most batch_files, or after batch_wait_s with whatever has finished.
            wanted = min(self.batch_files, max(1, len(in_flight) // max(1, self.in_flight_per_cpu)))
            ready, _ = ray.wait(list(in_flight), num_returns=wanted, timeout=self.batch_wait_s)
            for ref in ready:
                job = in_flight.pop(ref)
                result = self._collect(ray, ref, job, version, stats)
                yield result

    def _collect(self, ray: ModuleType, ref: Any, job: ScanJob, version: int, stats: ScanStats) -> ScanResult:
        """One finished task's result; a task that died on every attempt becomes a problem."""
        try:
            answer: _NodeAnswer = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, ImportError):
                raise ClusterUnavailableError(
                    f"a Ray node cannot run Cadence's extractor ({type(cause).__name__}: {cause}); install "
                    f"the same Cadence on every node ({CLUSTER_EXTRA}, docs/scale.md)"
                ) from exc
            # extract_job never raises; anything else is a fault of the task's frame, kept per file.
            return _problem(job, f"analysis failed: {type(cause).__name__}: {str(cause)[:200]}")
        except ray.exceptions.RayError as exc:
            # The worker process or its node died on every attempt (WorkerCrashedError, NodeDiedError,
            # ObjectLostError …): as in the local pool, the file becomes a problem.
            _log.warning("ray: %s: gave up after %d retries (%s)", job.path, MAX_RETRIES, type(exc).__name__)
            return _problem(job, WORKER_DIED_REASON)
        if answer.extractor_version != version:
            raise ExtractorMismatchError(
                f"Ray node {answer.node_ip} runs extractor version {answer.extractor_version}, this "
                f"driver {version}: install the same Cadence on every node (docs/scale.md)"
            )
        stats.warm_up_s = max(stats.warm_up_s, answer.warm_up_s)
        self.files_per_node[answer.node_ip + "/" + answer.node_id[:8]] += 1
        assert answer.result is not None  # only a version mismatch comes back without one
        return answer.result


def _problem(job: ScanJob, reason: str) -> ScanResult:
    return ScanResult(job.path, job.size, job.mtime_ns, None, None, reason, 0.0, 0.0, 0, job.sidecar)


class _Cpus:
    """The cluster's CPU count, asked of the GCS at most every few seconds (nodes come and go)."""

    _REFRESH_S = 5.0

    def __init__(self, ray: ModuleType) -> None:
        self._ray = ray
        self._count = 0
        self._asked_at = float("-inf")
        self._none_since: float | None = None

    def count(self) -> int:
        """CPUs in the cluster now.

        Raises:
            ClusterUnavailableError: If the cluster has had no CPU for :data:`_NO_CPU_GIVE_UP_S`.
        """
        now = time.monotonic()
        if now - self._asked_at >= self._REFRESH_S:
            self._asked_at = now
            self._count = int(self._ray.cluster_resources().get("CPU", 0))
            if self._count > 0:
                self._none_since = None
            elif self._none_since is None:
                self._none_since = now
                _log.warning("ray: the cluster has no CPU now; waiting for a node to join")
            elif now - self._none_since > _NO_CPU_GIVE_UP_S:
                raise ClusterUnavailableError(
                    f"the Ray cluster has had no CPU for {_NO_CPU_GIVE_UP_S:.0f} s; start worker nodes "
                    "(`ray start --address HEAD:PORT`) and scan again: what was stored is kept"
                )
        return self._count


CONNECT_ATTEMPTS = 3
"""Tries to join through Ray Client when its server dies while starting (below)."""
CONNECT_RETRY_S = 1.0
"""Pause before the next try."""


def _connect(ray: ModuleType, address: str, *, attempts: int = CONNECT_ATTEMPTS) -> None:
    """Join the cluster at ``address`` as a driver, quietly (per-file problems are the scan's to report).

    Through Ray Client the proxier forks a server for each driver, and that server intermittently dies
    while it starts (ray-project/ray#63202, open: a gRPC race at fork, ~7 % of joins there; seen once in
    this project's suite): ``ConnectionAbortedError: Initialization failure from server``. That one
    failure is tried again, up to ``attempts`` times in all; any other is answered at once.

    Raises:
        ClusterUnavailableError: If it cannot be joined.
    """
    for attempt in range(1, attempts + 1):
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
            break
        except ConnectionAbortedError as exc:
            if attempt == attempts:
                raise _unavailable(address, exc) from exc
            _log.warning("ray: the cluster's client server failed to start (%s); trying again", exc.args[:1])
            with contextlib.suppress(Exception):
                ray.shutdown()
            time.sleep(CONNECT_RETRY_S)
        except Exception as exc:  # ConnectionError, version mismatches, grpc errors: one answer for all
            raise _unavailable(address, exc) from exc
    resources = ray.cluster_resources()
    _log.info(
        "ray: joined %s: %d nodes, %.0f CPUs",
        address,
        sum(1 for node in ray.nodes() if node.get("Alive")),
        float(resources.get("CPU", 0.0)),
    )


def _unavailable(address: str, exc: BaseException) -> ClusterUnavailableError:
    text = str(exc)
    if len(text) > 600:  # a server-side traceback: its start and its end (where the cause is)
        text = f"{text[:300]} … {text[-300:]}"
    return ClusterUnavailableError(
        f"cannot join the Ray cluster at {address!r}: {type(exc).__name__}: {text}. Start one "
        "(`ray start --head`, docs/scale.md) or pass --address ray://HEAD:10001"
    )


def scan_on_ray(
    paths: Sequence[Path],
    store_path: Path,
    *,
    address: str = DEFAULT_ADDRESS,
    progress: bool | None = None,
    runner: RayRunner | None = None,
) -> ScanReport:
    """:func:`player.library.scan.scan` with extraction on the Ray cluster at ``address`` (or ``runner``).

    Raises:
        EngineError: If Ray is not installed (checked before anything is scanned).
        ClusterUnavailableError, ExtractorMismatchError: See :meth:`RayRunner.run`; what was stored
            before stays stored.
    """
    require_ray()
    return scan(
        paths, store_path, progress=progress, runner=runner if runner is not None else RayRunner(address)
    )
