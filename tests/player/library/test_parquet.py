"""`cadence export --parquet` / `cadence import --parquet`: a round trip serves the same tracks and
features, the dataset is partitioned and readable by pyarrow, and an incompatible one is refused."""

from __future__ import annotations

import json
import shutil
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow", reason='needs the [cluster] extra (pip install -e ".[cluster]")')
pq = pytest.importorskip("pyarrow.parquet")
ds = pytest.importorskip("pyarrow.dataset")

from player.cli import main  # noqa: E402
from player.core.track import MFCC_COUNT, NUMERIC_FEATURES, Track  # noqa: E402
from player.errors import LibraryError  # noqa: E402
from player.library import features  # noqa: E402
from player.library.demo import build_demo_library  # noqa: E402
from player.library.parquet import (  # noqa: E402
    METADATA_KEY,
    ParquetIncompatibleError,
    export_parquet,
    import_parquet,
    read_manifest,
    track_schema,
)
from player.library.scan import scan  # noqa: E402
from player.library.store import SCHEMA_VERSION, LibraryStore, track_id_for  # noqa: E402

N_TRACKS = 40


def _track(i: int, rng: np.random.Generator) -> Track:
    """A track with arbitrary (not extracted) values in every field; every third has lyrics."""
    path = f"/music/artist-{i % 5}/{i:03d}.flac"
    values: dict[str, object] = {}
    for f in fields(Track):
        if f.type == "float":
            values[f.name] = float(rng.normal(100.0, 50.0))
    lyrics = i % 3 == 0
    values.update(
        id=track_id_for(path),
        path=path,
        title=f"Song {i} – “quoted”",
        artist=f"Artist {i % 5}",
        album="Album",
        key=int(rng.integers(12)),
        mode="major" if i % 2 else "minor",
        mfcc_mean=tuple(rng.normal(size=MFCC_COUNT).tolist()),
        mfcc_std=tuple(rng.uniform(size=MFCC_COUNT).tolist()),
        audio_valence=float(rng.uniform()) if lyrics else None,
        lyrics_valence=float(rng.uniform()) if lyrics else None,
        lyrics_energy=float(rng.uniform()) if lyrics else None,
        lyrics_confidence=float(rng.uniform()) if lyrics else 0.0,
        lyrics_source="sidecar:lrc" if lyrics else None,
    )
    return Track(**values)  # type: ignore[arg-type]


@pytest.fixture
def library(tmp_path: Path, rng: np.random.Generator) -> Path:
    """A library.db of synthetic tracks with varied file states (hashes, lyrics sidecars, scan times)."""
    db = tmp_path / "source" / "library.db"
    with LibraryStore(db) as store:
        for i in range(N_TRACKS):
            track = _track(i, rng)
            store.put_track(
                track,
                size=1000 + i,
                mtime_ns=1_700_000_000_000_000_000 + i,
                content_hash=None if i == 7 else f"{i:032x}",
                extractor_version=features.EXTRACTOR_VERSION,
                at_s=1_750_000_000.25 + i,
                sidecar=((f"{i:03d}.lrc", 120 + i, 1_700_000_000_000_000_001),) if track.has_lyrics else None,
            )
        store.set_extractor_version(features.EXTRACTOR_VERSION)
    return db


def _snapshot(db: Path) -> tuple[object, ...]:
    """Everything a server and a rescan read from a library."""
    with LibraryStore(db) as store:
        matrix = store.feature_matrix()
        return (
            [t.to_dict() for t in store.tracks()],
            matrix.ids,
            matrix.values.tobytes(),
            store.file_states(),
            store.scanned_at(),
            store.extractor_version(),
        )


def test_round_trip_serves_the_same_tracks_and_features(library: Path, tmp_path: Path) -> None:
    """export → import into an empty library gives the same records, feature matrix, file states and
    scan times."""
    report = export_parquet(library, tmp_path / "export")
    assert report.tracks == N_TRACKS
    imported = import_parquet(tmp_path / "export", tmp_path / "target" / "library.db")
    assert imported.tracks == N_TRACKS
    assert _snapshot(tmp_path / "target" / "library.db") == _snapshot(library)


def test_the_export_is_a_partitioned_dataset_other_tools_read(library: Path, tmp_path: Path) -> None:
    """pyarrow reads the folder as one hive-partitioned dataset: one row per track, its numeric
    features equal to the store's matrix, each file carrying the versions in its metadata."""
    out = tmp_path / "export"
    report = export_parquet(library, out, now_s=1234.5)
    shards = sorted(p.parent.name for p in out.rglob("*.parquet"))
    assert report.files == len(shards) > 1
    assert all(name.startswith("shard=") for name in shards)
    assert (out / "_common_metadata").exists()
    dataset = ds.dataset(out, format="parquet", partitioning="hive")
    table = dataset.to_table().sort_by("id")
    assert table.num_rows == N_TRACKS
    assert [i[0] for i in table.column("id").to_pylist()] == [
        str(s) for s in table.column("shard").to_pylist()
    ]
    with LibraryStore(library) as store:
        matrix = store.feature_matrix()
    assert table.column("id").to_pylist() == list(matrix.ids)
    for j, name in enumerate(NUMERIC_FEATURES):
        if name == "mode_major":
            column = np.array([m == "major" for m in table.column("mode").to_pylist()], dtype=np.float32)
        elif name.startswith("mfcc_"):
            kind, k = name.rsplit("_", 1)
            column = np.array([v[int(k)] for v in table.column(kind).to_pylist()], dtype=np.float32)
        else:
            column = table.column(name).to_numpy().astype(np.float32)
        assert np.array_equal(column, matrix.values[:, j]), name
    for path in out.rglob("*.parquet"):
        meta = json.loads(pq.read_schema(path).metadata[METADATA_KEY])
        assert meta["library_schema"] == SCHEMA_VERSION
        assert meta["extractor_version"] == features.EXTRACTOR_VERSION
        assert meta["numeric_features"] == list(NUMERIC_FEATURES)
        assert meta["exported_at_s"] == 1234.5
        assert read_manifest(path).format_version == meta["format_version"]


def _rewrite_metadata(path: Path, **changes: object) -> None:
    """Rewrite the Parquet file at ``path`` with its Cadence metadata changed."""
    table = pq.read_table(path, partitioning=None)
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    meta.update(changes)
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()}), path)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"format_version": 99}, "export format 99"),
        ({"library_schema": SCHEMA_VERSION + 1}, f"library schema {SCHEMA_VERSION + 1}"),
        ({"extractor_version": features.EXTRACTOR_VERSION + 1}, "extractor version"),
        ({"numeric_features": ["tempo_bpm"]}, "numeric features"),
    ],
)
def test_an_incompatible_export_is_refused_before_anything_is_written(
    library: Path, tmp_path: Path, changes: dict[str, object], says: str
) -> None:
    """One file of another format, schema, extractor or feature list: a coded error that says which,
    and the target library gets no track (not even from the compatible files)."""
    out = tmp_path / "export"
    export_parquet(library, out)
    _rewrite_metadata(sorted(out.rglob("*.parquet"))[-1], **changes)
    target = tmp_path / "target" / "library.db"
    with pytest.raises(ParquetIncompatibleError, match=says) as caught:
        import_parquet(out, target)
    assert caught.value.code == "parquet_incompatible"
    with LibraryStore(target) as store:
        assert store.count() == 0


def test_parquet_from_elsewhere_and_empty_folders_are_refused(tmp_path: Path) -> None:
    """A Parquet file without Cadence metadata, a folder without Parquet, and a missing folder."""
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    pq.write_table(pa.table({"id": ["a"], "tempo_bpm": [120.0]}), foreign / "x.parquet")
    with pytest.raises(ParquetIncompatibleError, match="no Cadence metadata"):
        import_parquet(foreign, tmp_path / "library.db")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParquetIncompatibleError, match="no Parquet files"):
        import_parquet(tmp_path / "empty", tmp_path / "library.db")
    with pytest.raises(ParquetIncompatibleError, match="no Parquet files"):
        import_parquet(tmp_path / "missing", tmp_path / "library.db")


def test_export_never_mixes_into_an_existing_export(library: Path, tmp_path: Path) -> None:
    """Exporting into a folder that has files is refused and leaves it alone; an empty one is used."""
    out = tmp_path / "export"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(LibraryError, match="not an empty folder"):
        export_parquet(library, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    (out / "keep.txt").unlink()
    assert export_parquet(library, out).tracks == N_TRACKS
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export.")]  # no staging left


def test_every_track_field_has_a_column() -> None:
    """The export's schema has a column for every Track field, plus the store's file state."""
    names = set(track_schema().names)
    assert {f.name for f in fields(Track)} <= names
    assert {"size", "mtime_ns", "content_hash", "extractor_version", "scanned_at_s", "sidecar"} <= names


def test_cli_export_and_import(library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`cadence export --parquet` and `cadence import --parquet` move the library between homes; an
    incompatible export is an `error [parquet_incompatible]` with exit status 2."""
    source_home = library.parent
    assert main(["export", "--parquet", str(tmp_path / "export"), "--home", str(source_home)]) == 0
    assert f"{N_TRACKS} tracks exported" in capsys.readouterr().out
    assert main(["import", "--parquet", str(tmp_path / "export"), "--home", str(tmp_path / "home")]) == 0
    assert f"{N_TRACKS} tracks imported" in capsys.readouterr().out
    assert _snapshot(tmp_path / "home" / "library.db") == _snapshot(library)

    _rewrite_metadata(sorted((tmp_path / "export").rglob("*.parquet"))[0], extractor_version=0)
    assert main(["import", "--parquet", str(tmp_path / "export"), "--home", str(tmp_path / "other")]) == 2
    assert "error [parquet_incompatible]" in capsys.readouterr().err


@pytest.mark.integration
def test_a_scanned_library_round_trips_and_a_rescan_skips_it(tmp_path: Path) -> None:
    """A real scan (with a lyrics sidecar) exported and imported into another home: the same tracks
    and features, and a rescan of the same files there extracts nothing."""
    music = build_demo_library(tmp_path / "music", count=6, seed=5)
    first = sorted(music.glob("*.flac"))[0]
    first.with_suffix(".lrc").write_text("[00:01.00]I am so happy, what a wonderful sunny day\n")
    source = tmp_path / "a" / "library.db"
    assert len(scan([music], source, workers=2, progress=False).extracted) == 6
    export_parquet(source, tmp_path / "export")
    target = tmp_path / "b" / "library.db"
    import_parquet(tmp_path / "export", target)
    assert _snapshot(target) == _snapshot(source)
    with LibraryStore(target) as store:
        assert store.track(track_id_for(first)) is not None
        assert store.track(track_id_for(first)).has_lyrics  # type: ignore[union-attr]
    rescan = scan([music], target, workers=1, progress=False)
    assert rescan.extracted == () and rescan.unchanged == 6 and rescan.lyrics_updated == 0
    shutil.rmtree(tmp_path / "export")
