"""The library's CLI commands and ensure_library, run through `player.cli.main`."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from player.cli import main
from player.core.track import Track
from player.library.commands import ensure_library
from player.settings import Settings


@pytest.mark.integration
def test_demo_library_scan_and_listing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """demo-library writes the catalog, scan stores it, library prints a table and --json one object per
    line with the Track field names."""
    music = tmp_path / "music"
    assert (
        main(["demo-library", "--home", str(tmp_path), "--dir", str(music), "--count", "3", "--seed", "2"])
        == 0
    )
    assert (music / "truth.json").exists() and str(music) in capsys.readouterr().out
    truth = json.loads((music / "truth.json").read_text())

    assert main(["scan", str(music), "--home", str(tmp_path), "--workers", "1"]) == 0
    assert "3 extracted" in capsys.readouterr().out

    assert main(["library", "--home", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["title", "artist", "album"] and len(table) == 4
    assert all(any(line.startswith(e["title"]) for line in table[1:]) for e in truth["tracks"])

    assert main(["library", "--home", str(tmp_path), "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    names = [f.name for f in fields(Track)]
    for line in lines:
        data = json.loads(line)
        assert list(data) == names
        track = Track.from_dict(data)
        assert track.artist in {e["artist"] for e in truth["tracks"]}


def test_demo_library_defaults_to_home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --dir the catalog goes to HOME/demo-library."""
    assert main(["demo-library", "--home", str(tmp_path), "--count", "1"]) == 0
    assert (tmp_path / "demo-library" / "truth.json").exists()
    assert "demo-library" in capsys.readouterr().out


def test_library_on_an_empty_home_says_how_to_fill_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty library is not an error: the command explains `cadence scan`."""
    assert main(["library", "--home", str(tmp_path)]) == 0
    assert "cadence scan" in capsys.readouterr().err


@pytest.mark.integration
def test_ensure_library_builds_and_scans_the_demo_once(tmp_path: Path) -> None:
    """An empty home gets the demo catalog built and scanned; a non-empty one is returned as it is."""
    settings = Settings(home=tmp_path / "home", workers=1)
    with ensure_library(settings, demo_count=3) as store:
        assert store.count() == 3
        assert all(t.path.startswith(str((settings.home / "demo-library").resolve())) for t in store.tracks())
    truth = settings.home / "demo-library" / "truth.json"
    built_at = truth.stat().st_mtime_ns
    with ensure_library(settings, demo_count=3) as store:
        assert store.count() == 3
    assert truth.stat().st_mtime_ns == built_at
