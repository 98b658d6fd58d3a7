"""The first run's library: the demo catalog synthesised and scanned in one pass.

On a first `cadence serve` the library is empty and the demo catalog (:mod:`player.library.demo`) is
made for it. Done one after the other, synthesis (rendering, then FLAC and Ogg Vorbis encoding) and
scanning each cost tens of seconds on two cores; here they overlap: every track is one task in the scan's
worker pool (:func:`player.library.scan.worker_pool`, workers forked warm from its forkserver) that
writes the track's file and then extracts it *from the file on disk* with the scan's own extraction
(:func:`player.library.scan.extract_job`: decode, analyse, tags, lyrics, hash), so the features come from
the real extractor on the real file, exactly as `cadence scan` would compute them. The longest tasks
(long Ogg Vorbis tracks: the encoder is the slowest part of synthesis) are handed out first, so both
workers stay busy to the end.

The main process stores each track as its result arrives, as a scan does. ``truth.json`` is written once
every file is; then an ordinary :func:`~player.library.scan.scan` of the folder finds every file stored
and unchanged (it extracts any the pipeline did not store, e.g. after a worker crash, and records
problems), so the library ends exactly as `cadence demo-library` followed by `cadence scan` leaves it.
A first run that was interrupted leaves a demo folder without ``truth.json``; the next run carries on
from there (tracks already stored with unchanged files are not made again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from player.core.track import Track
from player.library.demo import DemoTrackDesign, design_catalog, write_track, write_truth
from player.library.features import EXTRACTOR_VERSION
from player.library.lyrics import sidecar_state
from player.library.scan import ScanJob, ScanReport, ScanResult, extract_job, scan, worker_pool
from player.library.store import LibraryStore
from player.startup import ProgressStep

__all__ = ["build_and_scan_demo"]

_log = logging.getLogger(__name__)

_VORBIS_COST = 2.5
"""Relative cost of a second of Ogg Vorbis track (encode + extract) to a second of FLAC (extract):
libvorbis encodes ~160× real time per core, the extractor runs ~250×, FLAC encodes at ~2000×."""


def _cost(design: DemoTrackDesign) -> float:
    """A track's estimated work, for handing out the longest first."""
    return design.duration_s * (_VORBIS_COST if design.file.endswith(".ogg") else 1.0)


def _make_and_extract(out_dir: str, design: DemoTrackDesign, seed: int) -> ScanResult:
    """Runs in a scan worker: write the track's file, then extract it from disk like any scanned file."""
    path = write_track(Path(out_dir), design, seed).resolve()
    st = path.stat()
    return extract_job(ScanJob(str(path), st.st_size, st.st_mtime_ns, sidecar_state(path)))


def _store(store: LibraryStore, result: ScanResult) -> bool:
    """Store a worker's track as a scan would; False if it has none (the final scan deals with it)."""
    if result.track is None:
        _log.warning("demo catalog: %s: %s (the scan will retry it)", result.path, result.problem)
        return False
    store.put_track(
        Track.from_dict(result.track),
        size=result.size,
        mtime_ns=result.mtime_ns,
        content_hash=result.content_hash,
        extractor_version=EXTRACTOR_VERSION,
        at_s=time.time(),
        sidecar=result.sidecar,
    )
    return True


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
    same ``count`` and ``seed``.

    Raises:
        OSError: If a file cannot be written.
        DatabaseCorruptError: If library.db is damaged.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    designs = design_catalog(count, seed)
    with LibraryStore(store_path) as store:
        todo = _still_to_make(designs, out_dir, store)
        if step is not None and len(todo) < len(designs):
            step.advance(len(designs) - len(todo))
        made: set[str] = set()
        if todo:
            pool = worker_pool(max(1, min(workers, len(todo))))
            try:
                futures: dict[Future[ScanResult], DemoTrackDesign] = {
                    pool.submit(_make_and_extract, str(out_dir), design, seed): design
                    for design in sorted(todo, key=_cost, reverse=True)
                }
                for future in as_completed(futures):
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        _log.warning("demo catalog: a worker died; the rest is made here and scanned")
                        break
                    made.add(futures[future].file)
                    _store(store, result)
                    if step is not None:
                        step.advance()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        # A dead worker may have left files unwritten or half written: make them again, here.
        for design in todo:
            if design.file not in made:
                write_track(out_dir, design, seed)
                if step is not None:
                    step.advance()
    write_truth(out_dir, designs, seed)
    # Every stored file is found unchanged; anything the pipeline did not store is extracted now.
    return scan([out_dir], store_path, workers=workers, progress=False)
