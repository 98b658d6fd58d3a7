"""The first run's library: the demo catalog synthesised and scanned in one pass, served while it grows.

On a first `cadence serve` the library is empty and the demo catalog (:mod:`player.library.demo`) is
made for it. Done one after the other, synthesis (rendering, then FLAC and Ogg Vorbis encoding) and
scanning each cost tens of seconds on two cores; here they overlap: every track is one task in the scan's
worker pool (:func:`player.library.scan.worker_pool`, workers forked warm from its forkserver) that
writes the track's file and then extracts it *from the file on disk* with the scan's own extraction
(:func:`player.library.scan.extract_job`: decode, analyse, tags, lyrics, hash), so the features come from
the real extractor on the real file, exactly as `cadence scan` would compute them.

Order (:func:`demo_order`): the library is usable long before it is complete, so the first tasks are
a *coverage set* of :data:`COVERAGE_TRACKS` designs spread over the designed valence/energy plane
(farthest-point sampling that takes, among the designs at least half as far from those chosen as the
farthest one, the cheapest), and :func:`usable` is met after about an eighth of the work instead of a
third; the rest follow longest first (long Ogg Vorbis tracks: the encoder is the slowest part of
synthesis), so the run ends on the shortest tasks and both workers stay busy to the end.

The main process stores each track as its result arrives, as a scan does. ``truth.json`` is written once
every file is; then an ordinary :func:`~player.library.scan.scan` of the folder finds every file stored
and unchanged (it extracts any the pipeline did not store, e.g. after a worker crash, and records
problems), so the library ends exactly as `cadence demo-library` followed by `cadence scan` leaves it.
A first run that was interrupted (stopped, killed, crashed) leaves a demo folder without ``truth.json``
and a consistent library (each track is its own transaction); the next run carries on from there
(tracks already stored with unchanged files are not made again).

:class:`FirstRun` runs the same pipeline in a background thread, so that a server can open its socket
once the library is :func:`usable` and pick up each batch as it is stored (:class:`player.app.LiveLibrary`);
it can be stopped at any moment (the tracks in flight are stored first).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from player.core.track import Track
from player.library.demo import DemoTrackDesign, design_catalog, write_track, write_truth
from player.library.features import EXTRACTOR_VERSION
from player.library.lyrics import sidecar_state
from player.library.scan import (
    ScanJob,
    ScanReport,
    ScanResult,
    extract_job,
    scan,
    store_result,
    worker_pool,
)
from player.library.store import LibraryStore
from player.startup import ProgressStep

__all__ = [
    "COVERAGE_TRACKS",
    "USABLE_PER_QUADRANT",
    "USABLE_TRACKS",
    "FirstRun",
    "build_and_scan_demo",
    "demo_order",
    "demo_pending",
    "usable",
]

_log = logging.getLogger(__name__)

_VORBIS_COST = 2.5
"""Relative cost of a second of Ogg Vorbis track (encode + extract) to a second of FLAC (extract):
libvorbis encodes ~160× real time per core, the extractor runs ~250×, FLAC encodes at ~2000×."""

USABLE_TRACKS = 24
"""A library still being made is usable with at least this many tracks (two queues of ten without a
repeat, and more than a queue's worth left to steer with)…"""
USABLE_PER_QUADRANT = 3
"""… of which at least this many in each quadrant of the valence/energy plane (split at 0.5, the
neutral point), so "I'm exhausted" and "let's party" both find tracks near them."""
COVERAGE_TRACKS = 24
"""The demo tasks handed out first, spread over the designed valence/energy plane (:func:`demo_order`)."""
_COVERAGE_SLACK = 0.5
"""Coverage picks the cheapest design at least this share as far from those chosen as the farthest."""


def _cost(design: DemoTrackDesign) -> float:
    """A track's estimated work, for handing out the longest first."""
    return design.duration_s * (_VORBIS_COST if design.file.endswith(".ogg") else 1.0)


def _quadrant(valence: float, energy: float) -> int:
    """The quadrant of the valence/energy plane a track is in (0–3; split at 0.5 on both axes)."""
    return 2 * (valence >= 0.5) + (energy >= 0.5)


def _usable_counts(quadrants: Sequence[int]) -> bool:
    return sum(quadrants) >= USABLE_TRACKS and min(quadrants) >= USABLE_PER_QUADRANT


def usable(points: Iterable[tuple[float, float]]) -> bool:
    """Whether a library whose tracks have these (valence, energy) can be served before it is complete:
    at least :data:`USABLE_TRACKS` tracks and :data:`USABLE_PER_QUADRANT` in each quadrant."""
    quadrants = [0, 0, 0, 0]
    for valence, energy in points:
        quadrants[_quadrant(valence, energy)] += 1
    return _usable_counts(quadrants)


def demo_order(designs: Sequence[DemoTrackDesign]) -> list[DemoTrackDesign]:
    """The order the demo tasks are handed out in: first :data:`COVERAGE_TRACKS` designs that cover the
    designed (valence, energy) plane, cheap ones where that costs little coverage, then the rest
    longest first (pure: same designs, same order).

    Coverage is farthest-point sampling from the design nearest the catalog's centre: each next pick
    is, among the designs at least :data:`_COVERAGE_SLACK` as far from the chosen ones as the farthest
    design, the cheapest. On the default catalog the first 24 cost 12 % of the work (longest first:
    38 %) and every design lies within 0.13 of one of them in the plane (longest first: 0.14).
    """
    if len(designs) <= COVERAGE_TRACKS:
        return sorted(designs, key=_cost, reverse=True)
    points = np.array([(d.valence, d.energy) for d in designs], dtype=np.float64)
    costs = np.array([_cost(d) for d in designs])
    chosen = [int(np.argmin(np.linalg.norm(points - points.mean(axis=0), axis=1)))]
    nearest = np.linalg.norm(points - points[chosen[0]], axis=1)
    while len(chosen) < COVERAGE_TRACKS:
        far_enough = np.flatnonzero(nearest >= _COVERAGE_SLACK * nearest.max())
        pick = int(far_enough[np.argmin(costs[far_enough])])
        chosen.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(points - points[pick], axis=1))
    picked = set(chosen)
    rest = [d for i, d in enumerate(designs) if i not in picked]
    return [designs[i] for i in chosen] + sorted(rest, key=_cost, reverse=True)


def demo_pending(store_path: Path, out_dir: Path) -> bool:
    """Whether the library at ``store_path`` still needs the demo catalog in ``out_dir``: it is empty,
    or a demo folder without ``truth.json`` is there (a first run that was interrupted; carried on even
    though the library already holds some of its tracks).

    Raises:
        DatabaseCorruptError: If library.db is damaged (it is left as it is).
    """
    if out_dir.is_dir() and not (out_dir / "truth.json").exists():
        return True
    with LibraryStore(store_path) as store:
        return store.count() == 0


def _make_and_extract(out_dir: str, design: DemoTrackDesign, seed: int, write: bool = True) -> ScanResult:
    """Runs in a scan worker: write the track's file (unless ``write`` is False and it is there), then
    extract it from disk like any scanned file."""
    # Ctrl-C is the server's to handle: it stops the first run, and the tracks in flight are finished
    # and stored instead of the workers dying mid-track (the pool's workers serve only this pipeline).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    path = (Path(out_dir) / design.file).resolve()
    if write or not path.is_file():
        path = write_track(Path(out_dir), design, seed).resolve()
    st = path.stat()
    return extract_job(ScanJob(str(path), st.st_size, st.st_mtime_ns, sidecar_state(path)))


def _store(store: LibraryStore, result: ScanResult) -> Track | None:
    """Store a worker's track as a scan would; None if it has none (the final scan deals with it)."""
    if result.track is None:
        _log.warning("demo catalog: %s: %s (the scan will retry it)", result.path, result.problem)
        return None
    return store_result(store, result, extractor_version=EXTRACTOR_VERSION, at_s=time.time())


def _still_to_make(
    designs: Sequence[DemoTrackDesign], out_dir: Path, store: LibraryStore
) -> list[DemoTrackDesign]:
    """The designs whose file is not already stored, unchanged, by the current extractor."""
    states = store.file_states()
    todo: list[DemoTrackDesign] = []
    for design in designs:
        path = (out_dir / design.file).resolve()
        state = states.get(str(path))
        try:
            st = path.stat()
        except OSError:
            todo.append(design)
            continue
        if (
            state is None
            or state.extractor_version != EXTRACTOR_VERSION
            or (state.size, state.mtime_ns) != (st.st_size, st.st_mtime_ns)
        ):
            todo.append(design)
    return todo


def _written_catalog(out_dir: Path) -> tuple[int, int] | None:
    """(count, seed) of the complete catalog in ``out_dir`` (its ``truth.json``), None if there is none."""
    try:
        truth = json.loads((out_dir / "truth.json").read_text(encoding="utf-8"))
        return int(truth["count"]), int(truth["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _build(
    out_dir: Path,
    store_path: Path,
    *,
    count: int,
    seed: int,
    workers: int,
    step: ProgressStep | None,
    stop: threading.Event | None = None,
    stored: Callable[[Track | None], None] | None = None,
) -> ScanReport | None:
    """The pipeline of :func:`build_and_scan_demo`; None if ``stop`` was set before the catalog was
    complete (the tracks in flight are stored; truth.json and the closing scan are left to the next
    run). ``stored`` is told every track in the library when it starts, then each track as it is
    stored (None for a task that could not make one)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = _written_catalog(out_dir)
    if written is not None:
        # A complete catalog whose library is gone: its files are trusted (as a scan of them would be).
        count, seed = written
    designs = design_catalog(count, seed)
    with LibraryStore(store_path) as store:
        if stored is not None:
            for track in store.tracks():
                stored(track)
        todo = _still_to_make(demo_order(designs), out_dir, store)
        if step is not None and len(todo) < len(designs):
            step.advance(len(designs) - len(todo))
        made: set[str] = set()
        if todo and not (stop is not None and stop.is_set()):
            pool = worker_pool(max(1, min(workers, len(todo))))
            try:
                futures: dict[Future[ScanResult], DemoTrackDesign] = {
                    pool.submit(_make_and_extract, str(out_dir), design, seed, written is None): design
                    for design in todo
                }
                stopping = False
                for future in as_completed(futures):
                    if stop is not None and stop.is_set() and not stopping:
                        stopping = True  # the tasks not started are dropped; those in flight are stored
                        for pending in futures:
                            pending.cancel()
                    if future.cancelled():
                        continue
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        if not (stop is not None and stop.is_set()):  # else Ctrl-C reached the workers too
                            _log.warning("demo catalog: a worker died; the rest is made here and scanned")
                        break
                    made.add(futures[future].file)
                    made_track = _store(store, result)
                    if stored is not None:
                        stored(made_track)
                    if step is not None:
                        step.advance()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        if stop is not None and stop.is_set():
            return None
        # A dead worker may have left files unwritten or half written: make them again, here.
        for design in todo:
            if design.file not in made:
                if stop is not None and stop.is_set():
                    return None
                write_track(out_dir, design, seed)
                if step is not None:
                    step.advance()
    write_truth(out_dir, designs, seed)
    # Every stored file is found unchanged; anything the pipeline did not store is extracted now.
    return scan([out_dir], store_path, workers=workers, progress=False)


def build_and_scan_demo(
    out_dir: Path,
    store_path: Path,
    *,
    count: int = 120,
    seed: int = 7,
    workers: int = 2,
    step: ProgressStep | None = None,
) -> ScanReport:
    """Synthesise the demo catalog (``count`` tracks, ``seed``) into ``out_dir`` with its ``truth.json``
    and store every track's features in the library at ``store_path``; ``workers`` processes do both at
    once. ``step`` is advanced once per track (it should count ``count``). Returns the closing scan's
    report (its ``extracted`` lists only what the pipeline had left to it).

    The files and ``truth.json`` are those :func:`player.library.demo.build_demo_library` writes for the
    same ``count`` and ``seed``. To serve the library while it is made, see :class:`FirstRun`.

    Raises:
        OSError: If a file cannot be written.
        DatabaseCorruptError: If library.db is damaged.
    """
    report = _build(out_dir, store_path, count=count, seed=seed, workers=workers, step=step)
    assert report is not None  # only a stop leaves the catalog incomplete
    return report


class FirstRun:
    """The demo catalog made for an empty library in a background thread (the pipeline of
    :func:`build_and_scan_demo`, in :func:`demo_order`), so that a server can answer from it once it
    is :func:`usable` while the rest is made.

    ``out_dir`` with a complete catalog (its ``truth.json``) whose library is gone is scanned, not made
    again. :meth:`stop` ends it early at any moment: the tracks in flight are stored, and the next
    first run carries on from there.
    """

    def __init__(
        self,
        out_dir: Path,
        store_path: Path,
        *,
        count: int = 120,
        seed: int = 7,
        workers: int = 2,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.store_path = Path(store_path)
        written = _written_catalog(self.out_dir)
        self.count, self.seed = written if written is not None else (count, seed)
        self.writes = written is None
        """The catalog's files are to be written (False: a complete catalog is there, only scanned)."""
        self.workers = workers
        self.report: ScanReport | None = None
        """The closing scan's report once the catalog is complete (None before, or if stopped)."""
        self.error: BaseException | None = None
        """What ended the build early (an OSError, a damaged library.db), logged; None otherwise."""
        self.stored = 0
        """Tracks in the library so far (those already there when it started included)."""
        self._quadrant_of: dict[str, int] = {}
        self._quadrants = [0, 0, 0, 0]
        self._usable = threading.Event()
        self._done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_s = 0.0

    @property
    def complete(self) -> bool:
        """Every track of the catalog is stored and ``truth.json`` written."""
        return self.report is not None

    @property
    def done(self) -> bool:
        """The build ended: complete, stopped or failed."""
        return self._done.is_set()

    def start(self, step: ProgressStep | None = None) -> FirstRun:
        """Start the build in a background thread; ``step`` counts its tracks (:attr:`count`)."""
        self._started_s = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(step,), name="first-run", daemon=True)
        self._thread.start()
        return self

    def wait_usable(self, timeout: float | None = None) -> bool:
        """Wait until the library is :func:`usable` (or complete), or the build ended; True if usable.

        Raises:
            BaseException: The build's error, if it ended with one before the library was usable.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._usable.is_set() and not self._done.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            self._usable.wait(0.1 if left is None else min(0.1, left))
        if not self._usable.is_set() and self.error is not None:
            raise self.error
        return self._usable.is_set()

    def stop(self) -> None:
        """Ask the build to end now (it stores the tracks in flight, then ends); see :meth:`join`."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the build to end (complete, stopped or failed)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _stored(self, track: Track | None) -> None:
        if track is not None:
            before = self._quadrant_of.get(track.id)
            if before is not None:  # made again (its file had changed): counted once
                self._quadrants[before] -= 1
            quadrant = self._quadrant_of[track.id] = _quadrant(track.valence, track.energy)
            self._quadrants[quadrant] += 1
            self.stored = len(self._quadrant_of)
        if not self._usable.is_set() and _usable_counts(self._quadrants):
            self._usable.set()
            _log.info(
                "the library is usable: %d tracks over the mood plane (%.1f s); the demo catalog goes on",
                self.stored,
                time.monotonic() - self._started_s,
            )

    def _run(self, step: ProgressStep | None) -> None:
        try:
            self.report = _build(
                self.out_dir,
                self.store_path,
                count=self.count,
                seed=self.seed,
                workers=self.workers,
                step=step,
                stop=self._stop,
                stored=self._stored,
            )
            if self.report is not None:
                with LibraryStore(self.store_path, check=False) as store:
                    self.stored = store.count()
                if step is not None:
                    step.finish()
                _log.info(
                    "demo catalog complete: %d tracks in the library (%.1f s)",
                    self.stored,
                    time.monotonic() - self._started_s,
                )
            else:
                _log.info(
                    "demo catalog stopped at %d of %d tracks; the next start carries on",
                    self.stored,
                    self.count,
                )
        except BaseException as exc:  # the thread's end: kept for wait_usable, logged for a running server
            self.error = exc
            _log.error(
                "the demo catalog could not be finished (%s); the next start tries again",
                exc,
                exc_info=not isinstance(exc, OSError),
            )
        finally:
            if self.report is not None:
                self._usable.set()
            self._done.set()
