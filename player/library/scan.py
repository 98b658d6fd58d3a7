"""`cadence scan`: walk folders, extract features in worker processes, store each track as it comes.

Incremental: a file whose size and mtime match the store (and whose features come from the current
:data:`~player.library.features.EXTRACTOR_VERSION`) is skipped; a file with the same size but another
mtime is hashed, and re-extracted only if its content changed; a stored file that has disappeared from
the scanned folders is dropped. Each extracted track is committed on its own, so a scan killed with
SIGKILL loses at most the tracks in flight and the next scan carries on from there.

Lyrics (:mod:`player.library.lyrics`) are read by the worker with the audio, and the track's valence is
blended with theirs. The store keeps a fingerprint of each file's lyrics sidecars (``song.lrc``,
``song.txt``); when the audio is unchanged but a sidecar appeared, changed or vanished, only the lyrics
are read again, in this process (tags and text, no decode), and the stored record is updated
(:attr:`ScanReport.lyrics_updated`). Changed embedded tags change the file's bytes, hence a re-extraction.

Extraction runs in a ``forkserver`` pool whose server process imports and warms the analysis once
(numba compiles librosa's kernels, or loads them from its cache); every worker forked from it starts
warm. Bad files never stop a scan: each becomes a :class:`~player.library.store.ScanProblem`.

Where the files are extracted is a :class:`JobRunner`: :class:`LocalRunner` (the pool above, the
default) or :class:`player.library.ray_scan.RayRunner` (tasks on a Ray cluster). Planning, the store
writes and the report are this module's alone, so both engines skip, store and report alike, and both
run :func:`extract_job`, the one extraction path.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing as mp
import multiprocessing.context
import os
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from player.core.track import Track, TrackId
from player.library import features as feature_module
from player.library.lyrics import SidecarState, apply_lyrics, read_lyrics, sidecar_state
from player.library.store import FileState, LibraryStore, ScanProblem, track_id_for

__all__ = [
    "AUDIO_EXTENSIONS",
    "WORKER_DIED_REASON",
    "JobRunner",
    "LocalRunner",
    "ScanJob",
    "ScanReport",
    "ScanResult",
    "ScanStats",
    "content_hash",
    "extract_job",
    "prepare_worker",
    "read_tags",
    "scan",
    "store_result",
    "worker_pool",
]

_log = logging.getLogger(__name__)

AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {
        ".aac", ".aif", ".aifc", ".aiff", ".au", ".caf", ".flac", ".m4a", ".mka", ".mp2", ".mp3", ".mp4",
        ".oga", ".ogg", ".opus", ".snd", ".w64", ".wav", ".wave", ".webm", ".wma", ".wv",
    }
)  # fmt: skip
"""File names the walk picks up; anything else (cover art, playlists, truth.json) is ignored."""

_PLAIN_PROGRESS_EVERY_S = 5.0

WORKER_DIED_REASON = "a worker process died analysing it (decoder crash?)"
"""The problem recorded for a file whose worker died on every attempt (a decoder crash, a lost node)."""


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What one scan did."""

    files: int
    """Audio files found under the scanned paths."""
    extracted: tuple[TrackId, ...]
    """Tracks analysed and stored by this scan."""
    unchanged: int
    """Files skipped because size and mtime matched."""
    rehashed: int
    """Files whose mtime changed but whose content hash did not (kept, not re-extracted)."""
    removed: int
    """Stored tracks dropped because their file is gone."""
    problems: tuple[ScanProblem, ...]
    """Files this scan could not use."""
    audio_s: float
    """Seconds of audio analysed (whole-file durations)."""
    wall_s: float
    worker_latencies_s: tuple[float, ...] = field(default=())
    """Per extracted file, wall seconds spent in the worker (decode + analysis + tags + hash)."""
    worker_cpu_s: tuple[float, ...] = field(default=())
    """Per extracted file, CPU seconds of the worker process (robust to a busy machine)."""
    warm_up_s: float = 0.0
    """Seconds the pool's server process spent warming the analysis (numba) before the first file."""
    lyrics_updated: int = 0
    """Files whose audio was unchanged (counted in ``unchanged`` or ``rehashed``) but whose lyrics
    sidecar appeared, changed or vanished: their lyrics were read again, their audio was not."""


@dataclass(frozen=True, slots=True)
class ScanJob:
    """One file to extract, as the plan saw it on disk (plain values: it travels to worker processes
    and Ray nodes)."""

    path: str
    size: int
    mtime_ns: int
    sidecar: SidecarState | None = None
    """The lyrics sidecars seen when the job was planned (before the worker reads them)."""


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What :func:`extract_job` made of one job: the track's record, or the reason it could not be used."""

    path: str
    size: int
    mtime_ns: int
    track: dict[str, Any] | None
    content_hash: str | None
    problem: str | None
    worker_s: float
    """Wall seconds spent in the worker (decode + analysis + tags + hash)."""
    worker_cpu_s: float
    """CPU seconds of the worker process for this file."""
    pid: int
    """The worker process's id (0: the file never finished in a worker)."""
    sidecar: SidecarState | None = None


# ------------------------------------------------------------------------------------------- helpers


def content_hash(path: Path, *, chunk_bytes: int = 1 << 20) -> str:
    """BLAKE2b-128 of the file's bytes, streamed (a 3-hour mix never sits in memory)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def read_tags(path: Path) -> tuple[str, str, str]:
    """(title, artist, album) from the file's tags (mutagen), falling back to the file name for the
    title, "Unknown artist", and the folder name for the album."""
    title = artist = album = ""
    try:
        import mutagen

        tagged = mutagen.File(str(path), easy=True)
        tags = getattr(tagged, "tags", None) if tagged is not None else None
        if tags:

            def first(name: str) -> str:
                try:
                    values = tags.get(name) or []
                except (KeyError, ValueError):
                    return ""
                return str(values[0]).strip() if values else ""

            title, artist, album = first("title"), first("artist") or first("albumartist"), first("album")
    except Exception as exc:  # mutagen raises many types on odd files; tags are optional
        _log.debug("no tags from %s: %s", path, exc)
    if not title:
        title = path.stem.replace("_", " ").strip() or path.name
    return title, artist or "Unknown artist", album or path.parent.name or "Unknown album"


def _lyrics_of(track: Track) -> Track:
    """``track`` with the lyrics of its file read and blended in; without lyrics if that fails."""
    try:
        return apply_lyrics(track, read_lyrics(Path(track.path)))
    except Exception as exc:  # lyrics are optional: a failure never costs the track
        _log.debug("lyrics of %s not read: %s", track.path, exc)
        return apply_lyrics(track, None)


def _walk(paths: Sequence[Path]) -> Iterator[Path]:
    for root in paths:
        if root.is_file():
            yield root
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith(".") and os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS:
                    yield Path(folder) / name


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


# -------------------------------------------------------------------------------------- worker side


def prepare_worker() -> None:
    """Make this process a scan worker: BLAS on one thread, the analysis warmed (numba) once."""
    feature_module.single_threaded_blas()
    # Workers forked from a warmed forkserver are warm already; this covers other start methods
    # (the lyrics' text model loads on first use, in milliseconds).
    if feature_module.warm_up_seconds() is None:
        feature_module.warm_up()


def extract_job(job: ScanJob) -> ScanResult:
    """Runs in a worker: decode, analyse, read tags and lyrics and hash one file. Never raises."""
    start = time.perf_counter()
    cpu_start = time.process_time()
    path = Path(job.path)
    track: dict[str, Any] | None = None
    problem: str | None = None
    digest: str | None = None
    try:
        audio_features = feature_module.extract_file(path)
        title, artist, album = read_tags(path)
        digest = content_hash(path)
        track = _lyrics_of(
            Track.from_features(
                audio_features, id=track_id_for(path), path=job.path, title=title, artist=artist, album=album
            )
        ).to_dict()
    except feature_module.DecodeError as exc:
        problem = str(exc)
    except MemoryError:
        problem = "out of memory while analysing"
    except Exception as exc:  # one bad file must not stop the scan; the reason is kept
        problem = f"analysis failed: {type(exc).__name__}: {str(exc)[:200]}"
    return ScanResult(
        job.path,
        job.size,
        job.mtime_ns,
        track,
        digest,
        problem,
        time.perf_counter() - start,
        time.process_time() - cpu_start,
        os.getpid(),
        job.sidecar,
    )


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` scan worker processes, forked warm from a ``forkserver`` that imported and
    warmed the analysis once (:mod:`player.library._warm`); used by :class:`LocalRunner` and by the
    first run's demo pipeline (:mod:`player.library.first_run`)."""
    ctx: multiprocessing.context.BaseContext
    if "forkserver" in mp.get_all_start_methods():
        forkserver = mp.get_context("forkserver")
        # The server process imports and warms the analysis once; workers fork from it warm.
        forkserver.set_forkserver_preload(["player.library._warm"])
        ctx = forkserver
    else:  # pragma: no cover - non-POSIX
        ctx = mp.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=prepare_worker)


# -------------------------------------------------------------------------------------- main side


class _Progress:
    """A rich progress bar on a terminal, else a plain log line every few seconds."""

    def __init__(self, total: int, enabled: bool | None) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._last_line = self.started
        interactive = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None
        if interactive and total:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("scanning"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=False,
                console=Console(stderr=True),
            )
            self._task = self._bar.add_task("scan", total=total)
            self._bar.start()

    def advance(self, path: str) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1)
            return
        now = time.monotonic()
        if now - self._last_line >= _PLAIN_PROGRESS_EVERY_S or self.done == self.total:
            self._last_line = now
            elapsed = now - self.started
            eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
            _log.info(
                "scan: %d/%d done, %.0f s elapsed, ETA %.0f s (%s)", self.done, self.total, elapsed, eta, path
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@dataclass
class _Plan:
    """What a scan found on disk and decided before extracting anything."""

    present: list[str]
    """The scanned roots that exist."""
    found: set[str] = field(default_factory=set)
    jobs: list[ScanJob] = field(default_factory=list)
    unchanged: int = 0
    rehashed: int = 0
    lyrics: list[tuple[FileState, SidecarState | None]] = field(default_factory=list)
    """Stored files whose audio is unchanged but whose lyrics sidecars differ from the stored ones."""
    problems: list[ScanProblem] = field(default_factory=list)


@dataclass
class ScanStats:
    """What the workers produced (filled by :func:`scan` as results are stored; ``warm_up_s`` by the
    runner)."""

    extracted: list[TrackId] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    audio_s: float = 0.0
    problems: list[ScanProblem] = field(default_factory=list)
    warm_up_s: float = 0.0


class JobRunner(Protocol):
    """Where a scan's files are extracted: runs :func:`extract_job` on every job somewhere and yields
    each result as it completes, in any order, exactly once per job (a job whose worker died for good
    yields a result with a ``problem``). Notes the engine's warm-up in ``stats.warm_up_s``. The caller
    stores each result as it is yielded, so what was yielded before an interrupt is kept."""

    def run(self, jobs: Sequence[ScanJob], stats: ScanStats) -> Iterator[ScanResult]: ...


@dataclass(frozen=True, slots=True)
class LocalRunner:
    """Extraction in a ``forkserver`` process pool on this machine (the default engine)."""

    workers: int = 1
    """Worker processes (at most one per job)."""

    def run(self, jobs: Sequence[ScanJob], stats: ScanStats) -> Iterator[ScanResult]:
        return _run_jobs(list(jobs), max(1, min(self.workers, len(jobs))), stats)


def scan(
    paths: Sequence[Path],
    store_path: Path,
    *,
    workers: int = 1,
    progress: bool | None = None,
    runner: JobRunner | None = None,
) -> ScanReport:
    """Scan ``paths`` (folders or files) into the library at ``store_path``.

    ``progress``: True forces the rich bar, False plain log lines, None picks the bar on a terminal.
    ``runner``: where to extract (default: :class:`LocalRunner` with ``workers`` processes).
    Every unreadable, truncated, non-audio, empty, silent or too-short file becomes a problem (kept in
    the store, listed by ``cadence library --errors``); stored tracks are never lost to a bad file.
    """
    started = time.monotonic()
    roots = [str(Path(p).expanduser().resolve()) for p in paths]
    version = feature_module.EXTRACTOR_VERSION
    with LibraryStore(store_path) as store:
        old_problems = store.problem_paths()
        stored = store.file_states()
        plan = _plan(roots, store, stored, old_problems, version)
        # Drop what vanished from the scanned (existing) folders; nothing outside them is touched.
        gone = [
            p
            for p in list(stored) + sorted(old_problems)
            if _under(p, plan.present) and p not in plan.found and p not in plan.present
        ]
        removed = store.remove_paths(gone) if gone else 0
        if removed:
            _log.info("scan: dropped %d tracks whose files are gone", removed)
        lyrics_updated = _update_lyrics(plan.lyrics, store)
        engine = LocalRunner(workers) if runner is None else runner
        done = _extract_all(plan.jobs, store, engine, progress=progress, version=version)
        store.set_extractor_version(version)
        store.checkpoint()
    report = ScanReport(
        files=len(plan.found),
        extracted=tuple(done.extracted),
        unchanged=plan.unchanged,
        rehashed=plan.rehashed,
        removed=removed,
        problems=tuple(plan.problems + done.problems),
        audio_s=done.audio_s,
        wall_s=time.monotonic() - started,
        worker_latencies_s=tuple(done.latencies_s),
        worker_cpu_s=tuple(done.cpu_s),
        warm_up_s=done.warm_up_s,
        lyrics_updated=lyrics_updated,
    )
    _log.info(
        "scan: %d files, %d extracted, %d unchanged, %d rehashed, %d lyrics updated, %d removed, "
        "%d problems in %.1f s",
        report.files,
        len(report.extracted),
        report.unchanged,
        report.rehashed,
        report.lyrics_updated,
        report.removed,
        len(report.problems),
        report.wall_s,
    )
    return report


def _plan(
    roots: list[str], store: LibraryStore, stored: dict[str, FileState], old_problems: set[str], version: int
) -> _Plan:
    """Walk the roots and sort every audio file into unchanged, touched-but-same, or to extract; an
    unchanged or touched-but-same file whose lyrics sidecars changed is also noted for a lyrics update."""
    now = time.time()
    # A missing root (an unmounted disk, a typo) is a problem, and its stored tracks are kept.
    plan = _Plan(present=[r for r in roots if os.path.exists(r)])
    for root in roots:
        if root not in plan.present:
            plan.problems.append(ScanProblem(root, "no such file or folder", now))
            store.record_problem(root, "no such file or folder", at_s=now)
        elif root in old_problems:
            store.remove_problem(root)
    for file_path in _walk([Path(r) for r in plan.present]):
        resolved = str(file_path.resolve())
        if resolved in plan.found:
            continue
        plan.found.add(resolved)
        try:
            st = os.stat(resolved)
        except OSError as exc:
            reason = f"unreadable: {exc.strerror or exc}"
            plan.problems.append(ScanProblem(resolved, reason, now))
            store.record_problem(resolved, reason, at_s=now)
            continue
        state = stored.get(resolved)
        sidecar = sidecar_state(Path(resolved))
        # Files with a recorded problem are always retried: they may have been repaired.
        if state is not None and state.extractor_version == version and resolved not in old_problems:
            if state.size == st.st_size and state.mtime_ns == st.st_mtime_ns:
                plan.unchanged += 1
                if sidecar != state.sidecar:
                    plan.lyrics.append((state, sidecar))
                continue
            if state.size == st.st_size and state.content_hash is not None:
                # Same size, new mtime: doubt. Only new content is worth a re-extraction.
                try:
                    digest: str | None = content_hash(Path(resolved))
                except OSError:
                    digest = None
                if digest == state.content_hash:
                    store.update_file_state(
                        resolved, size=st.st_size, mtime_ns=st.st_mtime_ns, content_hash=digest
                    )
                    plan.rehashed += 1
                    if sidecar != state.sidecar:
                        plan.lyrics.append((state, sidecar))
                    continue
        plan.jobs.append(ScanJob(resolved, st.st_size, st.st_mtime_ns, sidecar))
    return plan


def _update_lyrics(updates: list[tuple[FileState, SidecarState | None]], store: LibraryStore) -> int:
    """Read the lyrics of stored files again (their audio is unchanged) and store each record with its
    new valence blend and sidecar fingerprint; returns how many were updated. Runs in this process:
    reading tags and a text costs milliseconds, no decode."""
    updated = 0
    for state, sidecar in updates:
        track = store.track(state.track_id)
        if track is None:
            continue
        if store.update_lyrics(_lyrics_of(track), sidecar=sidecar):
            updated += 1
            _log.info("scan: lyrics of %s read again (its sidecars changed)", state.path)
    return updated


def _extract_all(
    jobs: list[ScanJob], store: LibraryStore, runner: JobRunner, *, progress: bool | None, version: int
) -> ScanStats:
    """Extract ``jobs`` with ``runner``, committing each track (or problem) as it arrives."""
    done = ScanStats()
    if not jobs:
        return done
    bar = _Progress(len(jobs), progress)
    try:
        for result in runner.run(jobs, done):
            at_s = time.time()
            if result.track is not None:
                track = store_result(store, result, extractor_version=version, at_s=at_s)
                done.extracted.append(track.id)
                done.latencies_s.append(result.worker_s)
                done.cpu_s.append(result.worker_cpu_s)
                done.audio_s += track.duration_s
            else:
                reason = result.problem or "unknown problem"
                store.record_problem(result.path, reason, at_s=at_s)
                done.problems.append(ScanProblem(result.path, reason, at_s))
                _log.warning("scan: %s: %s", result.path, reason)
            bar.advance(result.path)
    finally:
        bar.close()
    return done


def store_result(store: LibraryStore, result: ScanResult, *, extractor_version: int, at_s: float) -> Track:
    """Store the track a worker extracted (``result.track`` must be set) with its file state; returns it."""
    assert result.track is not None
    track = Track.from_dict(result.track)
    store.put_track(
        track,
        size=result.size,
        mtime_ns=result.mtime_ns,
        content_hash=result.content_hash,
        extractor_version=extractor_version,
        at_s=at_s,
        sidecar=result.sidecar,
    )
    return track


def _run_jobs(jobs: list[ScanJob], workers: int, stats: ScanStats) -> Iterator[ScanResult]:
    """Yields each job's result as it completes (after noting the pool's warm-up in ``stats``).

    If a worker process dies (a decoder crash), the files in flight are retried once in a fresh
    pool; a file that kills a worker twice becomes a problem.
    """
    pending = list(jobs)
    attempts: dict[str, int] = {}
    first = True
    while pending:
        broken: list[ScanJob] = []
        pool = worker_pool(workers)
        try:
            if first:
                first = False
                stats.warm_up_s = float(pool.submit(feature_module.warm_up_seconds).result() or 0.0)
            futures: dict[Future[ScanResult], ScanJob] = {
                pool.submit(extract_job, job): job for job in pending
            }
            for future in as_completed(futures):
                job = futures[future]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    broken.append(job)
                    continue
                yield result
        finally:
            # On an interrupt do not wait for the queued files, only for the ones in flight.
            pool.shutdown(wait=True, cancel_futures=True)
        pending = []
        for job in broken:
            attempts[job.path] = attempts.get(job.path, 0) + 1
            if attempts[job.path] > 1:
                yield ScanResult(
                    job.path,
                    job.size,
                    job.mtime_ns,
                    None,
                    None,
                    WORKER_DIED_REASON,
                    0.0,
                    0.0,
                    0,
                    job.sidecar,
                )
            else:
                pending.append(job)
