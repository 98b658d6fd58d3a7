"""The live library: the session engines follow library.db, one whole version at a time."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from models.simulate import synthetic_catalog
from player.app import REBUILD_SHARE, LiveLibrary
from player.core.mixes import MixBuilder
from player.core.ranking import OnnxRanker, Recommender, shipped_ranker_path
from player.core.session import SessionDeps
from player.core.track import Track
from player.errors import NoLibraryError
from player.library.store import LibraryStore
from tests.support.fakes import FakeMood


@pytest.fixture(scope="module")
def ranker() -> OnnxRanker:
    return OnnxRanker.load(shipped_ranker_path())


def _frozen() -> float:
    """A clock that never moves: every rebuild takes no time, so every change is picked up at once
    (the spacing of slow rebuilds has its own test)."""
    return 0.0


def _put(store: LibraryStore, track: Track) -> None:
    store.put_track(track, size=100, mtime_ns=1, content_hash="h", extractor_version=1)


def _library(path: Path, tracks: list[Track]) -> Path:
    with LibraryStore(path) as store:
        for track in tracks:
            _put(store, track)
    return path


def _ids(deps: SessionDeps) -> set[str]:
    return set(deps.tracks)


def _whole(deps: SessionDeps) -> bool:
    """Every engine of ``deps`` is over the same library: the track map's."""
    recommender, interleaving, mixes = deps.recommender, deps.interleaving, deps.mixes
    assert isinstance(recommender, Recommender) and isinstance(mixes, MixBuilder) and interleaving
    ids = set(deps.tracks)
    challenger = getattr(interleaving.challenger, "catalog", None)
    return (
        set(recommender.catalog.ids) == ids
        and {t.id for t in mixes.tracks} == ids
        and challenger is recommender.catalog
        and getattr(interleaving.explainer, "catalog", None) is recommender.catalog
    )


def test_the_same_engines_while_nothing_changes_and_new_ones_when_it_does(
    tmp_path: Path, ranker: OnnxRanker, caplog: pytest.LogCaptureFixture
) -> None:
    """current() is the same object until another connection stores or removes tracks; then it is a
    new, whole version with the new tracks (or without the removed ones), logged."""
    tracks = synthetic_catalog(40, seed=3)
    path = _library(tmp_path / "library.db", tracks[:30])
    live = LiveLibrary(path, FakeMood(), ranker=ranker, clock=_frozen)
    first = live.current()
    assert live.version == 1 and _ids(first) == {t.id for t in tracks[:30]} and _whole(first)
    assert live.current() is first and live.current() is first
    with LibraryStore(path, check=False) as scan, caplog.at_level(logging.INFO, logger="player.app"):
        for track in tracks[30:]:
            _put(scan, track)  # a burst of changes: one new version
        added = live.current()
        assert live.current() is added
        scan.remove_paths([tracks[0].path, tracks[35].path])
        removed = live.current()
    assert _ids(added) == {t.id for t in tracks} and _whole(added)
    assert _ids(removed) == {t.id for t in tracks} - {tracks[0].id, tracks[35].id} and _whole(removed)
    assert live.version == 3 and added.mood is first.mood
    assert "library version 2: 40 tracks (10 new, 0 gone" in caplog.text
    assert "library version 3: 38 tracks (0 new, 2 gone" in caplog.text
    live.close()
    with LibraryStore(path, check=False) as scan:
        _put(scan, tracks[0])
    assert live.current() is removed  # closed: no longer watching


def test_an_empty_library_is_refused_and_emptying_one_keeps_the_last_version(
    tmp_path: Path, ranker: OnnxRanker, caplog: pytest.LogCaptureFixture
) -> None:
    """No tracks at the start: NoLibraryError. All tracks removed later: the last version stays, with
    a warning; tracks stored again make a new version."""
    empty = tmp_path / "empty.db"
    LibraryStore(empty).close()
    with pytest.raises(NoLibraryError):
        LiveLibrary(empty, FakeMood(), ranker=ranker)
    tracks = synthetic_catalog(12, seed=3)
    path = _library(tmp_path / "library.db", tracks)
    live = LiveLibrary(path, FakeMood(), ranker=ranker, clock=_frozen)
    before = live.current()
    with LibraryStore(path, check=False) as scan:
        scan.remove_paths([t.path for t in tracks])
        with caplog.at_level(logging.WARNING, logger="player.app"):
            assert live.current() is before
        assert "has no tracks now; still serving the 12 tracks" in caplog.text
        _put(scan, tracks[0])
        assert _ids(live.current()) == {tracks[0].id}
    live.close()


def test_while_rebuilds_are_slow_changes_wait_for_their_share_of_the_time(
    tmp_path: Path, ranker: OnnxRanker
) -> None:
    """After a rebuild that took d seconds a new change is picked up only d / REBUILD_SHARE later."""

    class Clock:
        """Advances ``step`` seconds with every reading: a rebuild reads it twice, so it 'takes' one step."""

        def __init__(self) -> None:
            self.now_s, self.step = 0.0, 1.0

        def __call__(self) -> float:
            self.now_s += self.step
            return self.now_s

    tracks = synthetic_catalog(20, seed=3)
    path = _library(tmp_path / "library.db", tracks[:10])
    clock = Clock()
    live = LiveLibrary(path, FakeMood(), ranker=ranker, clock=clock)
    clock.step = 0.0
    with LibraryStore(path, check=False) as scan:
        _put(scan, tracks[10])
        first = live.current()
        assert first is live.deps and live.version == 1  # the 1 s rebuild at opening: not yet
        clock.now_s += 1.0 / REBUILD_SHARE
        assert live.version == 1 and tracks[10].id in _ids(live.current()) and live.version == 2
    live.close()


def test_readers_never_see_engines_of_two_versions(tmp_path: Path, ranker: OnnxRanker) -> None:
    """While a scan stores tracks one by one and a watcher thread swaps versions in, readers taking the
    current engines in other threads always get one whole version, and versions only grow."""
    tracks = synthetic_catalog(60, seed=3)
    path = _library(tmp_path / "library.db", tracks[:20])
    live = LiveLibrary(path, FakeMood(), ranker=ranker)
    served = [live.current()]  # what a server holds: one reference, swapped whole
    done = threading.Event()
    failures: list[str] = []

    def scan() -> None:
        with LibraryStore(path, check=False) as writer:
            for track in tracks[20:]:
                _put(writer, track)
                time.sleep(0.002)  # a scan stores a track every few milliseconds at most
        done.set()

    def watch() -> None:
        while not done.is_set() or len(served[0].tracks) < len(tracks):
            deps = live.current()
            if deps is not served[0]:
                served[0] = deps
            time.sleep(0.001)

    def read() -> None:
        sizes: list[int] = []
        while not done.is_set():
            deps = served[0]
            if not _whole(deps):
                failures.append(f"a mixed version of {len(deps.tracks)} tracks")
            sizes.append(len(deps.tracks))
            time.sleep(0.0005)
        if sizes != sorted(sizes):
            failures.append("a reader saw the library shrink")

    threads = [threading.Thread(target=f) for f in (scan, watch, read, read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures[:3]
    assert _ids(served[0]) == {t.id for t in tracks} and live.version >= 2
    live.close()
