"""Tests of the listener simulator: it imports no serving code, its families differ in functional form,
it judges by designed truth, and its listeners talk, request and react as documented."""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from models.simulate import (
    EARLY_SKIP_S,
    FAMILIES,
    GAIN,
    HELDOUT_FAMILY,
    REQUEST_PHRASES,
    TRAIN_FAMILIES,
    MoodPoint,
    TrackTruth,
    TruthCatalog,
    Utterance,
    draw_listeners,
    expected_after_request,
    mood_sentence,
    request_goal,
    run_listener,
    simulate_log,
    synthetic_catalog,
    truth_from_demo,
    truth_from_tracks,
)
from player.core import listener

SIMULATOR = Path(__file__).resolve().parents[2] / "models" / "simulate.py"
ALLOWED_PROJECT_IMPORTS = {"mood.types", "player.core.track", "player.core.records"}


def _grid_catalog() -> TruthCatalog:
    """Designed tracks spread over every property the families judge by (four artists)."""
    rng = np.random.default_rng(0)
    truths = []
    for i in range(600):
        truths.append(
            TrackTruth(
                track_id=f"t{i}",
                artist="ABCD"[i % 4],
                duration_s=40.0,
                valence=float(rng.uniform(0, 1)),
                energy=float(rng.uniform(0, 1)),
                tempo_bpm=float(rng.uniform(60, 180)),
                major=bool(rng.random() < 0.5),
                brightness=float(rng.uniform(0, 1)),
                density=float(rng.uniform(0, 1)),
                has_drums=bool(rng.random() < 0.8),
            )
        )
    return TruthCatalog(truths, source="test grid")


def test_simulator_imports_no_serving_code() -> None:
    """models/simulate.py imports, of the project, only the records (mood.types, track, records)."""
    tree = ast.parse(SIMULATOR.read_text(encoding="utf-8"))
    project = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        project |= {n for n in names if n.split(".")[0] in ("player", "mood", "models")}
    assert project <= ALLOWED_PROJECT_IMPORTS, project - ALLOWED_PROJECT_IMPORTS
    assert "player.core.listener" not in project and "player.core.ranking" not in project


def test_early_skip_threshold_agrees_with_the_player() -> None:
    """The simulator's early-skip threshold (not imported) is the same number as the listener state's."""
    assert EARLY_SKIP_S == listener.EARLY_SKIP_S


def test_heldout_family_is_not_a_training_family() -> None:
    """Training families are every family but the held-out one."""
    assert HELDOUT_FAMILY in FAMILIES and HELDOUT_FAMILY not in TRAIN_FAMILIES
    assert set(TRAIN_FAMILIES) | {HELDOUT_FAMILY} == set(FAMILIES) and len(FAMILIES) >= 5


def test_families_differ_in_functional_form() -> None:
    """Listeners of different families, wanting the same point, judge the same tracks by different
    shapes: rules by steps whatever the distance, bands flat inside a box, the spoken family by a smooth
    kernel of distance alone, the timbre family by distance and timbre (tracks at the same distance
    differ); families that judge by different things rank the tracks differently."""
    cat = _grid_catalog()
    point = MoodPoint(0.5, 0.5)
    skip: dict[str, np.ndarray] = {}
    listeners = {}
    for family in FAMILIES:
        listener_ = draw_listeners(family, 1, seed=3, cat=cat)[0]
        listener_.mood = point
        listeners[family] = listener_
        skip[family] = listener_.reactions(cat).skip
    ranks = {f: np.argsort(np.argsort(s)) for f, s in skip.items()}
    for a, b in (("rules", "band"), ("rules", "spoken"), ("timbre", "rules")):
        assert abs(np.corrcoef(ranks[a], ranks[b])[0, 1]) < 0.8, (a, b)
    dist = cat.distance(point)
    # timbre: at (nearly) the same distance, timbre taste and artist still move the skip probability
    ring = (dist > 0.1) & (dist < 0.12)
    assert np.ptp(skip["timbre"][ring]) > 0.3 > 3 * np.ptp(skip["spoken"][ring])
    # artist listeners: see test_artist_listeners_judge_by_artist
    # rules: breaking a rule decides, whatever the distance
    rules = listeners["rules"]
    bad = rules.breaks(cat)  # type: ignore[attr-defined]
    assert bad.any() and (~bad).any()
    assert skip["rules"][bad & (dist < 0.15)].min() > skip["rules"][~bad & (dist < 0.15)].max()
    # band: flat inside the band
    band = listeners["band"]
    inside = (np.abs(cat.valence - 0.5) <= band.half_width_valence) & (  # type: ignore[attr-defined]
        np.abs(cat.energy - 0.5) <= band.half_width_energy  # type: ignore[attr-defined]
    )
    assert inside.sum() > 5 and np.ptp(skip["band"][inside]) < 1e-9
    assert skip["band"][~inside].mean() > skip["band"][inside].mean() + 0.3
    # spoken: a function of distance alone, varying inside the band where the band family is flat
    sp = listeners["spoken"]
    scaled = np.hypot(
        (cat.valence - 0.5) / sp.sigma_valence,  # type: ignore[attr-defined]
        (cat.energy - 0.5) / sp.sigma_energy,  # type: ignore[attr-defined]
    )
    order = np.argsort(scaled)
    assert np.all(np.diff(skip["spoken"][order]) >= -1e-12)
    assert np.ptp(skip["spoken"][inside]) > 0.02
    # timbre and spoken: distance matters, smoothly
    for family in ("timbre", "spoken"):
        assert np.corrcoef(dist, skip[family])[0, 1] > 0.4, family


def test_artist_listeners_judge_by_artist() -> None:
    """A loyal listener skips other artists far more than the favourite; a novelty seeker skips the
    artist just heard and anything heard before."""
    cat = _grid_catalog()
    loyal, novelty = None, None
    for listener_ in draw_listeners("artist", 20, seed=5, cat=cat):
        if listener_.loyal and len(listener_.favourites) == 1 and loyal is None:  # type: ignore[attr-defined]
            loyal = listener_
        if not listener_.loyal and novelty is None:  # type: ignore[attr-defined]
            novelty = listener_
    assert loyal is not None and novelty is not None
    loyal.mood = novelty.mood = MoodPoint(0.5, 0.5)
    fav = np.isin(cat.artist, loyal.favourites)  # type: ignore[attr-defined]
    s = loyal.reactions(cat).skip
    assert s[~fav].mean() > s[fav].mean() + 0.3
    novelty.played = [0]
    s = novelty.reactions(cat).skip
    same_artist = cat.artist == cat.artist[0]
    assert s[0] > 0.8 and s[same_artist].mean() > s[~same_artist].mean() + 0.3


def test_reaction_probabilities_are_probabilities() -> None:
    """Every family's early, late and like probabilities lie in [0, 1] and early + late ≤ 1."""
    cat = _grid_catalog()
    for family in FAMILIES:
        for listener_ in draw_listeners(family, 5, seed=1, cat=cat):
            r = listener_.reactions(cat)
            for p in (r.early, r.late, r.like):
                assert np.all(p >= -1e-12) and np.all(p <= 1 + 1e-12)
            assert np.all(r.early + r.late <= 1 + 1e-9)
            gains = r.expected_gain()
            assert np.all(gains >= 0) and np.all(gains <= 3)


def test_expected_gains_are_the_mean_of_drawn_reactions() -> None:
    """A candidate's expected gain (the training label) is what drawn reactions give on average,
    for any worth of the four reactions."""
    cat = _grid_catalog()
    rows = np.arange(len(cat.ids))
    for family in FAMILIES:
        r = draw_listeners(family, 1, seed=2, cat=cat)[0].reactions(cat)
        worth = (GAIN["early"], GAIN["late"], GAIN["completed"], GAIN["liked"])
        assert r.expected_gains(rows, worth) == pytest.approx(r.expected_gain())
        rng = np.random.default_rng(0)
        drawn = np.mean([r.sample_gains(rows, rng) for _ in range(4000)], axis=0)
        assert np.abs(drawn - r.expected_gains(rows, worth)).max() < 0.15
        weighted = r.expected_gains(rows, (0.0, 1.0, 3.0, 7.0))
        assert weighted == pytest.approx(r.late + (1 - r.skip) * (3.0 + 4.0 * r.like))


def test_request_expectation_closes_half_the_gap_each_track() -> None:
    """After a request the listener wants each track half-way from where the walk stands to the goal."""
    anchor, goal = MoodPoint(0.5, 0.8), request_goal("calmer", 1.0, MoodPoint(0.5, 0.8))
    assert goal.energy == pytest.approx(0.45) and goal.valence == 0.5
    steps = [expected_after_request(anchor, goal, k).energy for k in range(4)]
    assert steps == pytest.approx([0.625, 0.5375, 0.49375, 0.471875])
    assert request_goal("energize", 0.0, MoodPoint(0.5, 0.9)).energy == 0.97


def test_sentences_say_the_ends_of_the_axes() -> None:
    """Tired listeners say tired things, happy ones happy things, middling ones something neutral."""
    rng = np.random.default_rng(1)
    assert "and" in mood_sentence(MoodPoint(0.9, 0.9), rng)
    tired = mood_sentence(MoodPoint(0.5, 0.1), rng)
    assert any(w in tired for w in ("exhausted", "worn out", "tired", "empty"))
    assert mood_sentence(MoodPoint(0.5, 0.5), rng) in (
        "just an ordinary day",
        "I'm fine, nothing special",
        "a regular afternoon really",
    )
    assert set(REQUEST_PHRASES) == {"calmer", "energize", "focus", "workout", "sleep", "party", "cheer_up"}


def test_spoken_listeners_leave_the_reading_to_the_real_reader() -> None:
    """A spoken listener's utterance has no simulated reading; other families' do, with its request."""
    cat = _grid_catalog()
    spoken = draw_listeners("spoken", 1, seed=2, cat=cat)[0]
    utterance = spoken.speak(np.random.default_rng(0), 12.0, force=True)
    assert utterance is not None and utterance.heard is None and utterance.text
    timbre = draw_listeners("timbre", 1, seed=2, cat=cat)[0]
    timbre.request_rate = 1.0
    heard = timbre.speak(np.random.default_rng(0), 12.0, force=True)
    assert heard is not None and heard.heard is not None and heard.request is not None
    assert [i.kind for i in heard.heard.intents] == [heard.request]
    assert timbre.request is not None  # the listener now expects the walk


def test_truth_is_joined_by_file_name() -> None:
    """truth_from_demo reads each scanned track's designed properties from truth.json by its file."""
    tracks = synthetic_catalog(3, seed=1)
    truth = {
        "tracks": [
            {
                "file": Path(t.path).name,
                "artist": "X",
                "duration_s": 40.0 + i,
                "valence": 0.1 * i,
                "energy": 0.2 * i,
                "tempo_bpm": 100.0,
                "mode": "minor",
                "brightness": 0.3,
                "density": 0.4,
                "has_drums": True,
            }
            for i, t in enumerate(tracks)
        ]
    }
    cat = truth_from_demo(truth, tracks)
    assert cat.ids == tuple(t.id for t in tracks)
    assert cat.energy.tolist() == pytest.approx([0.0, 0.2, 0.4]) and not cat.major.any()
    with pytest.raises(ValueError, match=r"not in truth\.json"):
        truth_from_demo({"tracks": truth["tracks"][:1]}, tracks)


class _ListPlayer:
    """A player that queues the catalog in a fixed order and records what it was told."""

    def __init__(self, cat: TruthCatalog) -> None:
        self.cat = cat
        self.said: list[Utterance] = []
        self.events: list[tuple[str, str, float]] = []
        self.next_row = 0

    def _queue(self) -> list[str]:
        rows = [(self.next_row + k) % self.cat.n for k in range(10)]
        return [self.cat.ids[r] for r in rows]

    def start(self, listener_id: str, session_id: str, local_time: datetime, at_s: float) -> list[str]:
        return self._queue()

    def say(self, utterance: Utterance, at_s: float) -> list[str]:
        self.said.append(utterance)
        return self._queue()

    def playback(self, kind: str, track_id: str, position_s: float, at_s: float) -> list[str] | None:
        self.events.append((kind, track_id, position_s))
        if kind == "started":
            self.next_row = self.cat.row[track_id] + 1
        return self._queue() if kind == "skipped" else None

    def next(self, at_s: float) -> list[str]:
        return self._queue()

    def end(self, at_s: float) -> None:
        pass


def test_run_listener_plays_the_queue_and_is_reproducible() -> None:
    """Sessions play each queue's first track, report skips with positions in their window, and the
    same listener, seed and player give the same plays."""
    cat = _grid_catalog()

    def plays() -> tuple[list[tuple[int, str]], _ListPlayer]:
        player = _ListPlayer(cat)
        listener_ = draw_listeners("spoken", 1, seed=8, cat=cat)[0]
        out = [(p.row, p.outcome) for p in run_listener(listener_, cat, player, seed=2, sessions=2)]
        return out, player

    first, player = plays()
    assert first == plays()[0] and len(first) == 40
    assert len(player.said) >= 2  # a spoken listener talks at the start of every session
    for kind, _, position in player.events:
        if kind == "skipped":
            assert 3.0 <= position < 40.0
    early = [p for k, _, p in player.events if k == "skipped" and p < EARLY_SKIP_S]
    assert all(p >= 3.0 for p in early)


def test_simulate_log_writes_server_like_events() -> None:
    """simulate_log's events start and end sessions, carry local times with offsets and skip positions."""
    tracks = synthetic_catalog(300, seed=6)
    events = simulate_log(tracks, listeners=2, seed=3, sessions=1, tracks_per_session=6)
    kinds = [e.kind for e in events]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    assert events[0].local_time is not None and events[0].local_time[-6] in "+-"
    assert kinds.count("started") == 12
    assert all(e.position_s is not None and e.position_s > 0 for e in events if e.kind == "skipped")


def test_proxy_truth_reads_the_features() -> None:
    """truth_from_tracks keeps valence, energy, tempo and mode and ranks brightness by centroid."""
    tracks = synthetic_catalog(200, seed=4)
    cat = truth_from_tracks(tracks)
    assert cat.source == "proxy"
    assert cat.energy.tolist() == pytest.approx([t.energy for t in tracks])
    centroid = np.array([t.spectral_centroid_hz for t in tracks])
    assert np.corrcoef(np.argsort(np.argsort(centroid)), cat.brightness)[0, 1] > 0.99
