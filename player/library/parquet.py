"""`cadence export --parquet DIR` / `cadence import --parquet DIR`: the library's tracks as Arrow/Parquet.

A catalog scanned on a cluster (or anywhere) moves to any server, and into any tool that reads Parquet
(pyarrow, pandas, DuckDB, Spark), as one dataset::

    DIR/_common_metadata                  the Arrow schema with Cadence's metadata (no rows)
    DIR/shard=0/part-0.parquet … DIR/shard=f/part-0.parquet
                                          hive-partitioned by the first hex digit of the track id
                                          (16 even shards, each sorted by id), zstd-compressed

One row per track, one typed column per :class:`~player.core.track.Track` field (the numeric features as
float64, exactly the values the store keeps; the MFCC vectors as lists) and the store's file state
(``size``, ``mtime_ns``, ``content_hash``, ``extractor_version``, ``scanned_at_s``, the lyrics
``sidecar`` fingerprint), so an import rebuilds a store that serves the same tracks and features, and a
later rescan on a machine that sees the same files skips them.

Versioned: every file's schema carries ``cadence`` metadata (JSON: this format's version, the library
schema, the extractor version and the numeric feature names). Import refuses a dataset whose metadata is
missing or differs from this Cadence's with :class:`ParquetIncompatibleError` before it writes anything.
pyarrow comes with the ``[cluster]`` extra and is imported only here.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any

from player.core.track import NUMERIC_FEATURES, Track
from player.errors import EngineError, LibraryError
from player.library import features as feature_module
from player.library.store import SCHEMA_VERSION, FileState, LibraryStore, SidecarFingerprint

__all__ = [
    "METADATA_KEY",
    "PARQUET_FORMAT_VERSION",
    "ExportReport",
    "ImportReport",
    "ParquetIncompatibleError",
    "export_parquet",
    "import_parquet",
    "read_manifest",
    "track_schema",
]

_log = logging.getLogger(__name__)

PARQUET_FORMAT_VERSION = 1
"""Bump when the columns or their meaning change: an import refuses any other version."""

METADATA_KEY = b"cadence"
"""The schema metadata key holding the export's :class:`Manifest` as JSON."""

_SHARD_DIGITS = "0123456789abcdef"
_PART = "part-0.parquet"


class ParquetIncompatibleError(LibraryError):
    """The folder is not a Cadence Parquet export this Cadence can load: no Parquet files, no Cadence
    metadata, or another format, library schema, extractor version or feature list (the message says
    which and what to do)."""

    code = "parquet_incompatible"


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an export says of itself (the ``cadence`` metadata of each file)."""

    format_version: int
    library_schema: int
    """:data:`player.library.store.SCHEMA_VERSION` of the exporting Cadence."""
    extractor_version: int
    """:data:`player.library.features.EXTRACTOR_VERSION` of the exporting Cadence."""
    numeric_features: tuple[str, ...]
    exported_at_s: float
    """Unix time of the export."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": self.format_version,
                "library_schema": self.library_schema,
                "extractor_version": self.extractor_version,
                "numeric_features": list(self.numeric_features),
                "exported_at_s": self.exported_at_s,
            }
        )


@dataclass(frozen=True, slots=True)
class ExportReport:
    directory: Path
    tracks: int
    files: int
    """Parquet files written (one per non-empty shard)."""
    bytes: int
    library_schema: int
    extractor_version: int


@dataclass(frozen=True, slots=True)
class ImportReport:
    directory: Path
    tracks: int
    files: int
    manifest: Manifest


def _pyarrow() -> tuple[ModuleType, ModuleType]:
    """(pyarrow, pyarrow.parquet).

    Raises:
        EngineError: If pyarrow is not installed (the message names the extra).
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise EngineError(
            'Parquet export/import needs pyarrow, which is not installed: pip install -e ".[cluster]"'
        ) from exc
    return pa, pq


# The store's file state, after the track's own fields.
_FILE_COLUMNS = ("size", "mtime_ns", "content_hash", "extractor_version", "scanned_at_s", "sidecar")


def track_schema() -> Any:
    """The Arrow schema of an export's rows (without the ``shard`` partition column or metadata).

    Raises:
        EngineError: If pyarrow is missing.
        LibraryError: If :class:`Track` has a field this format has no column type for (a new field
            needs a column here and a :data:`PARQUET_FORMAT_VERSION` bump).
    """
    pa, _ = _pyarrow()
    types: dict[str, Any] = {
        "id": pa.string(),
        "path": pa.string(),
        "title": pa.string(),
        "artist": pa.string(),
        "album": pa.string(),
        "key": pa.int32(),
        "mode": pa.string(),
        "mfcc_mean": pa.list_(pa.float64()),
        "mfcc_std": pa.list_(pa.float64()),
        "lyrics_source": pa.string(),
    }
    nullable = {"audio_valence", "lyrics_valence", "lyrics_energy", "lyrics_source"}
    columns = []
    for f in fields(Track):
        kind = types.get(f.name)
        if kind is None:
            if f.type not in ("float", "float | None"):
                raise LibraryError(f"Track.{f.name} ({f.type}) has no Parquet column type")
            kind = pa.float64()
        columns.append(pa.field(f.name, kind, nullable=f.name in nullable))
    sidecar = pa.list_(
        pa.struct(
            [pa.field("name", pa.string()), pa.field("size", pa.int64()), pa.field("mtime_ns", pa.int64())]
        )
    )
    columns += [
        pa.field("size", pa.int64(), nullable=False),
        pa.field("mtime_ns", pa.int64(), nullable=False),
        pa.field("content_hash", pa.string()),
        pa.field("extractor_version", pa.int32(), nullable=False),
        pa.field("scanned_at_s", pa.float64(), nullable=False),
        pa.field("sidecar", sidecar),
    ]
    return pa.schema(columns)


def _row(track: Track, state: FileState, scanned_at_s: float) -> dict[str, Any]:
    row = track.to_dict()
    row.update(
        size=state.size,
        mtime_ns=state.mtime_ns,
        content_hash=state.content_hash,
        extractor_version=state.extractor_version,
        scanned_at_s=scanned_at_s,
        sidecar=[{"name": n, "size": s, "mtime_ns": m} for n, s, m in state.sidecar]
        if state.sidecar
        else None,
    )
    return row


def export_parquet(store_path: Path, out_dir: Path, *, now_s: float | None = None) -> ExportReport:
    """Write every track of the library at ``store_path`` into ``out_dir`` (new or empty), whole or not
    at all: the dataset is written beside it and moved into place at the end.

    ``now_s``: the export time recorded in the metadata (default: now).

    Raises:
        EngineError: If pyarrow is missing.
        LibraryError: If ``out_dir`` exists and is not an empty folder.
    """
    pa, pq = _pyarrow()
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise LibraryError(f"{out_dir} exists and is not an empty folder: export into a new one")
    manifest = Manifest(
        PARQUET_FORMAT_VERSION,
        SCHEMA_VERSION,
        feature_module.EXTRACTOR_VERSION,
        NUMERIC_FEATURES,
        time.time() if now_s is None else now_s,
    )
    schema = track_schema().with_metadata({METADATA_KEY: manifest.to_json().encode("utf-8")})
    with LibraryStore(store_path) as store:
        # Three reads, keyed by id; a track written between them by a concurrent scan is left out
        # (export after the scan finishes for a complete copy).
        tracks = store.tracks()
        states = {state.track_id: state for state in store.file_states().values()}
        scanned = store.scanned_at()
    shards: dict[str, list[dict[str, Any]]] = {}
    skipped = 0
    for track in tracks:  # ordered by id, so each shard is too
        state, scanned_at_s = states.get(track.id), scanned.get(track.id)
        if state is None or scanned_at_s is None:
            skipped += 1
            continue
        shards.setdefault(track.id[0], []).append(_row(track, state, scanned_at_s))
    if skipped:
        _log.warning("export: %d tracks changed while exporting were left out", skipped)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        pq.write_metadata(schema, staging / "_common_metadata")
        written = 0
        for digit, rows in sorted(shards.items()):
            shard_dir = staging / f"shard={digit}"
            shard_dir.mkdir()
            pq.write_table(
                pa.Table.from_pylist(rows, schema=schema),
                shard_dir / _PART,
                compression="zstd",
                row_group_size=65536,
            )
            written += 1
        size = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    count = sum(len(rows) for rows in shards.values())
    _log.info("export: %d tracks in %d files to %s", count, written, out_dir)
    return ExportReport(out_dir, count, written, size, SCHEMA_VERSION, feature_module.EXTRACTOR_VERSION)


def read_manifest(path: Path) -> Manifest:
    """The :class:`Manifest` in the metadata of the Parquet file at ``path``.

    Raises:
        ParquetIncompatibleError: If the file is not readable Parquet or carries no Cadence metadata.
    """
    _, pq = _pyarrow()
    try:
        metadata = pq.read_schema(path).metadata or {}
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError …
        raise ParquetIncompatibleError(f"{path} is not a readable Parquet file: {exc}") from exc
    raw = metadata.get(METADATA_KEY)
    if raw is None:
        raise ParquetIncompatibleError(
            f"{path} has no Cadence metadata: not written by `cadence export` (or rewritten by a tool "
            "that dropped the schema metadata)"
        )
    try:
        data = json.loads(raw)
        return Manifest(
            int(data["format_version"]),
            int(data["library_schema"]),
            int(data["extractor_version"]),
            tuple(str(name) for name in data["numeric_features"]),
            float(data.get("exported_at_s", 0.0)),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ParquetIncompatibleError(f"{path}: unreadable Cadence metadata ({exc})") from exc


def _check(manifest: Manifest, path: Path) -> None:
    """Refuse a manifest this Cadence cannot load.

    Raises:
        ParquetIncompatibleError: If the format, library schema, extractor version or feature list
            differs from this Cadence's.
    """
    wrong: list[str] = []
    if manifest.format_version != PARQUET_FORMAT_VERSION:
        wrong.append(f"export format {manifest.format_version} (this Cadence reads {PARQUET_FORMAT_VERSION})")
    if manifest.library_schema != SCHEMA_VERSION:
        wrong.append(f"library schema {manifest.library_schema} (this Cadence's is {SCHEMA_VERSION})")
    if manifest.extractor_version != feature_module.EXTRACTOR_VERSION:
        wrong.append(
            f"extractor version {manifest.extractor_version} (this Cadence's is "
            f"{feature_module.EXTRACTOR_VERSION}: its features would differ from what it extracts)"
        )
    if manifest.numeric_features != NUMERIC_FEATURES:
        wrong.append("another list of numeric features")
    if wrong:
        raise ParquetIncompatibleError(
            f"{path} cannot be imported: " + "; ".join(wrong) + ". Export it again with this Cadence's "
            "version, or rescan the music (`cadence scan`)"
        )


def _sidecar(value: Iterable[dict[str, Any]] | None) -> SidecarFingerprint | None:
    if not value:
        return None
    return tuple((str(e["name"]), int(e["size"]), int(e["mtime_ns"])) for e in value)


def import_parquet(in_dir: Path, store_path: Path) -> ImportReport:
    """Load the export in ``in_dir`` into the library at ``store_path``: each track is stored with its
    file state and scan time (a track with the same id is replaced; other tracks stay).

    Every file's metadata and columns are checked before any row is written.

    Raises:
        EngineError: If pyarrow is missing.
        ParquetIncompatibleError: If ``in_dir`` holds no Parquet files, or any file is not a
            compatible Cadence export.
    """
    _, pq = _pyarrow()
    in_dir = Path(in_dir).expanduser().resolve()
    files = sorted(p for p in in_dir.rglob("*.parquet") if p.is_file()) if in_dir.is_dir() else []
    if not files:
        raise ParquetIncompatibleError(
            f"no Parquet files in {in_dir}: not a `cadence export --parquet` folder"
        )
    wanted = track_schema()
    manifest: Manifest | None = None
    for path in files:
        manifest = read_manifest(path)
        _check(manifest, path)
        schema = pq.read_schema(path)
        for column in wanted:
            if schema.get_field_index(column.name) < 0 or not schema.field(column.name).type.equals(
                column.type
            ):
                raise ParquetIncompatibleError(
                    f"{path}: column {column.name!r} is missing or not {column.type}: not this export format"
                )
    assert manifest is not None
    count = 0
    with LibraryStore(store_path) as store:
        for path in files:
            table = pq.read_table(path, columns=wanted.names)
            for row in table.to_pylist():
                track = Track.from_dict(row)
                store.put_track(
                    track,
                    size=int(row["size"]),
                    mtime_ns=int(row["mtime_ns"]),
                    content_hash=row["content_hash"],
                    extractor_version=int(row["extractor_version"]),
                    at_s=float(row["scanned_at_s"]),
                    sidecar=_sidecar(row["sidecar"]),
                )
                count += 1
        store.set_extractor_version(manifest.extractor_version)
        store.checkpoint()
    _log.info("import: %d tracks from %d files in %s", count, len(files), in_dir)
    return ImportReport(in_dir, count, len(files), manifest)
