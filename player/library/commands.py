"""The library's subcommands (`cadence scan`, `cadence library`, `cadence demo-library`, `cadence export`,
`cadence import`) and :func:`ensure_library`, which the server calls to get a non-empty library.

Ray (`scan --engine ray`) and pyarrow (`export`/`import --parquet`) are optional: their modules are
imported only by the handlers that need them, so a local scan never loads Ray."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from player.core.track import Track
from player.errors import LibraryError
from player.library.demo import build_demo_library
from player.library.first_run import build_and_scan_demo, demo_pending
from player.library.scan import ScanReport, scan
from player.library.store import LibraryStore
from player.settings import Settings
from player.startup import StartupProgress

__all__ = [
    "cmd_demo_library",
    "cmd_export",
    "cmd_import",
    "cmd_library",
    "cmd_scan",
    "demo_dir",
    "ensure_library",
]

_log = logging.getLogger(__name__)


def demo_dir(settings: Settings) -> Path:
    """Where the demo catalog goes by default: HOME/demo-library."""
    return settings.home / "demo-library"


def ensure_library(
    settings: Settings, *, demo_count: int = 120, progress: StartupProgress | None = None
) -> LibraryStore:
    """The library at ``settings.library_db``, opened. An empty library first gets the demo catalog
    (``demo_count`` tracks) in HOME/demo-library, so a first run has music: synthesised and scanned in
    one pass (:func:`~player.library.first_run.build_and_scan_demo`), or only scanned if a complete
    catalog (with its ``truth.json``) is there already. A demo folder without ``truth.json`` is a first
    run that was interrupted: it is carried on even though the library already holds some of its tracks.
    ``progress`` shows the step and its n/N.

    Raises:
        DatabaseCorruptError: If library.db is damaged (it is left as it is; see :class:`LibraryStore`).
    """
    target = demo_dir(settings)
    if not demo_pending(settings.library_db, target):
        # demo_pending has just opened (and checked) it: no second quick_check
        return LibraryStore(settings.library_db, check=False)
    if not (target / "truth.json").exists():
        _log.info("library is empty: making the demo catalog in %s and scanning it", target)
        step = progress.step("synthesising and scanning the demo catalog", demo_count) if progress else None
        report = build_and_scan_demo(
            target, settings.library_db, count=demo_count, workers=settings.workers, step=step
        )
    else:
        step = progress.step("scanning the demo catalog") if progress else None
        report = scan([target], settings.library_db, workers=settings.workers, progress=False)
    if step is not None:
        step.finish()
    _log.info("demo catalog scanned: %d tracks", len(report.extracted) + report.unchanged + report.rehashed)
    # scan() has just opened (and checked) the file and written it: no second quick_check.
    return LibraryStore(settings.library_db, check=False)


def _print_report(report: ScanReport) -> None:
    print(
        f"{report.files} audio files: {len(report.extracted)} extracted, {report.unchanged} unchanged, "
        f"{report.rehashed} touched but unchanged, {report.lyrics_updated} lyrics updated (audio unchanged), "
        f"{report.removed} removed, {len(report.problems)} problems "
        f"({report.audio_s:.0f} s of audio in {report.wall_s:.1f} s)"
    )
    if report.problems:
        print("problems:", file=sys.stderr)
        for problem in report.problems:
            print(f"  {problem.path}: {problem.reason}", file=sys.stderr)


def cmd_scan(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence scan PATH... [--workers N | --engine ray [--address ADDR]]`.

    Raises:
        LibraryError: If ``--address`` is given without ``--engine ray``.
        EngineError: If ``--engine ray`` is asked for and Ray is not installed.
    """
    engine = getattr(args, "engine", None) or "local"
    address = getattr(args, "address", None)
    if engine == "ray":
        from player.library.ray_scan import DEFAULT_ADDRESS, scan_on_ray

        report = scan_on_ray(list(args.paths), settings.library_db, address=address or DEFAULT_ADDRESS)
    else:
        if address:
            raise LibraryError("--address names a Ray cluster: use it with --engine ray", code="usage")
        report = scan(list(args.paths), settings.library_db, workers=settings.workers, progress=None)
    _print_report(report)
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence export --parquet DIR`: the feature table as a partitioned Parquet dataset."""
    from player.library.parquet import export_parquet

    report = export_parquet(settings.library_db, Path(args.parquet))
    print(
        f"{report.tracks} tracks exported to {report.directory} ({report.files} Parquet files, "
        f"{report.bytes / 1e6:.1f} MB; library schema {report.library_schema}, "
        f"extractor {report.extractor_version})"
    )
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence import --parquet DIR`: load an export into this home's library (tracks with the same
    id are replaced, others kept)."""
    from player.library.parquet import import_parquet

    report = import_parquet(Path(args.parquet), settings.library_db)
    print(f"{report.tracks} tracks imported from {report.directory} into {settings.library_db}")
    return 0


def _lyrics_cell(track: Track) -> str:
    """The lyrics' valence with its confidence in parentheses, or "—" for a track without lyrics."""
    if not track.has_lyrics or track.lyrics_valence is None:
        return "—"
    return f"{track.lyrics_valence:.2f} ({track.lyrics_confidence:.2f})"


def _table(tracks: list[Track]) -> str:
    """One line per track; ``valence`` is the blended value the ranker sees, ``audio`` the extractor's and
    ``lyrics`` the words' (with their confidence)."""
    header = ("title", "artist", "album", "time", "bpm", "key", "energy", "valence", "audio", "lyrics (conf)")
    rows = [header]
    from player.library.demo import KEY_NAMES

    for t in tracks:
        minutes, seconds = divmod(round(t.duration_s), 60)
        rows.append(
            (
                t.title[:32],
                t.artist[:24],
                t.album[:24],
                f"{minutes}:{seconds:02d}",
                f"{t.tempo_bpm:.0f}",
                f"{KEY_NAMES[t.key % 12]} {t.mode[:3]}",
                f"{t.energy:.2f}",
                f"{t.valence:.2f}",
                f"{t.audio_valence if t.audio_valence is not None else t.valence:.2f}",
                _lyrics_cell(t),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def cmd_library(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence library [--json] [--errors]`."""
    try:
        return _list_library(settings, args)
    except BrokenPipeError:
        # `cadence library | head`: the reader left; stop quietly (Python docs, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _list_library(settings: Settings, args: argparse.Namespace) -> int:
    with LibraryStore(settings.library_db) as store:
        if args.errors:
            problems = store.problems()
            for problem in problems:
                when = datetime.fromtimestamp(problem.at_s, tz=UTC).isoformat(timespec="seconds")
                if args.json:
                    print(json.dumps({"path": problem.path, "reason": problem.reason, "at": when}))
                else:
                    print(f"{problem.path}\t{problem.reason}\t{when}")
            if not problems and not args.json:
                print("no problems recorded", file=sys.stderr)
            return 0
        tracks = sorted(store.tracks(), key=lambda t: (t.artist.lower(), t.album.lower(), t.path))
    if args.json:
        for track in tracks:
            print(json.dumps(track.to_dict(), ensure_ascii=False))
        return 0
    if not tracks:
        print(
            f"the library at {settings.library_db} is empty: run `cadence scan PATH` "
            "(or `cadence demo-library` and scan that)",
            file=sys.stderr,
        )
        return 0
    print(_table(tracks))
    print(f"{len(tracks)} tracks", file=sys.stderr)
    return 0


def cmd_demo_library(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence demo-library [--dir DIR] [--count N] [--seed S]`."""
    target = Path(args.dir) if args.dir else demo_dir(settings)
    build_demo_library(target, count=int(args.count), seed=int(args.seed), workers=settings.workers)
    print(f"{args.count} demo tracks and truth.json in {target}")
    print(f"next: cadence scan {target}" + (f" --home {settings.home}" if args.home else ""))
    return 0
