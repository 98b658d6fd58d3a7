"""Fakes for the unit tier of the server area only (tests of player.core.session and player.core.protocol).

Each fake implements exactly one of the session core's Protocols (``TextMoodReader``,
``RecommenderLike``, ``QueueExplainerLike``; tests/player/core/test_session.py and
test_session_interleaving.py check their signatures); the listener state is the real, pure
``ListenerState``. The real-server and end-to-end tests use the real library,
ranker and mood analyzer instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from mood.types import Intent, MoodEstimate
from player.core.listener import ListenerState
from player.core.ranking import Pick, Recommendation
from player.core.session import Interleaving, SessionDeps, SessionLimits
from player.core.track import MFCC_COUNT, Track, TrackId
from player.settings import Settings


def make_track(track_id: str, *, energy: float, valence: float = 0.5, duration_s: float = 180.0) -> Track:
    """A track with the given energy and valence and plausible other features."""
    return Track(
        id=TrackId(track_id),
        path=f"/music/{track_id}.ogg",
        title=f"Title {track_id}",
        artist=f"Artist {track_id}",
        album="Album",
        duration_s=duration_s,
        tempo_bpm=80.0 + 100.0 * energy,
        beat_strength=0.5,
        onset_rate=2.0,
        loudness_db=-14.0,
        dynamic_range_db=8.0,
        spectral_centroid_hz=2000.0,
        spectral_rolloff_hz=4000.0,
        spectral_flatness=0.1,
        spectral_contrast_db=20.0,
        zero_crossing_rate=0.05,
        key=0,
        mode="major",
        hp_ratio=0.5,
        energy=energy,
        danceability=0.5,
        acousticness=0.5,
        valence=valence,
        mfcc_mean=tuple(0.0 for _ in range(MFCC_COUNT)),
        mfcc_std=tuple(1.0 for _ in range(MFCC_COUNT)),
    )


class FakeMood:
    """Keyword reader (a ``TextMoodReader``): 'exhausted' is tired, 'pumped' is excited, intents by their words."""

    def analyze_text(self, text: str) -> MoodEstimate:
        lowered = text.lower()
        energy = 0.5
        if "exhausted" in lowered or "tired" in lowered:
            energy = 0.15
        if "pumped" in lowered:
            energy = 0.9
        intents = tuple(
            Intent(kind=kind, strength=0.5 if "a bit" in lowered else 1.0, phrase=word)  # type: ignore[arg-type]
            for word, kind in (
                ("calmer", "calmer"),
                ("skip", "skip"),
                ("love this", "like"),
                ("stop", "stop"),
            )
            if word in lowered
        )
        return MoodEstimate(
            valence=0.5,
            energy=energy,
            confidence=0.8,
            # Words give energy evidence only: valence stays put, as the real reader's would.
            valence_confidence=0.0,
            energy_confidence=0.9 if energy != 0.5 else 0.0,
            label="neutral",
            transcript=text,
            intents=intents,
            evidence={
                "text": {"vader_compound": 0.1, "matched_words": ["secret-word"]},
                "weights": [0.5, 0.5],
            },
        )


class FakeRecommender:
    """Closest energy to the listener's target first, never a skipped track (a ``RecommenderLike``)."""

    def __init__(self, tracks: Sequence[Track]) -> None:
        self.tracks = list(tracks)

    def recommend(
        self, state: ListenerState, *, count: int, at_s: float, within: Sequence[str] | None = None
    ) -> Recommendation:
        target = state.target(at_s=at_s)
        skipped = {entry.track_id for entry in state.history if entry.kind == "skipped"}
        pool = [t for t in self.tracks if t.id not in skipped and (within is None or t.id in within)]
        pool.sort(key=lambda t: abs(t.energy - target.energy))
        picks = tuple(
            Pick(t, 1.0 - abs(t.energy - target.energy), "fake: closest energy") for t in pool[:count]
        )
        return Recommendation(picks=picks, target=target, targets=(target,) * len(picks))


class FakeChallenger:
    """Highest energy first, never a skipped or recently started track (a ``RecommenderLike``): a
    ranking unlike :class:`FakeRecommender`'s, so an interleaved queue mixes the two."""

    def __init__(self, tracks: Sequence[Track]) -> None:
        self.tracks = list(tracks)

    def recommend(
        self, state: ListenerState, *, count: int, at_s: float, within: Sequence[str] | None = None
    ) -> Recommendation:
        target = state.target(at_s=at_s)
        played = {entry.track_id for entry in state.history}
        pool = [t for t in self.tracks if t.id not in played and (within is None or t.id in within)]
        pool.sort(key=lambda t: -t.energy)
        picks = tuple(Pick(t, t.energy, "fake: loudest") for t in pool[:count])
        return Recommendation(picks=picks, target=target, targets=(target,) * len(picks))


class FakeExplainer:
    """Scores and reasons for a queue in a given order (a ``QueueExplainerLike``): the score counts
    down from the first pick, the reason names the position."""

    def __init__(self, tracks: Sequence[Track]) -> None:
        self.by_id: dict[str, Track] = {t.id: t for t in tracks}

    def explain(self, state: ListenerState, track_ids: Sequence[str], *, at_s: float) -> Recommendation:
        target = state.target(at_s=at_s)
        known = [self.by_id[t] for t in track_ids if t in self.by_id]
        picks = tuple(Pick(t, float(len(known) - k), f"fake: explained at {k}") for k, t in enumerate(known))
        return Recommendation(picks=picks, target=target, targets=(target,) * len(picks))


def fake_interleaving(
    tracks: Sequence[Track], *, name: str = "heuristic", default_share: float = 0.0
) -> Interleaving:
    """A challenger (:class:`FakeChallenger`) with :class:`FakeExplainer` over ``tracks``."""
    return Interleaving(
        challenger=FakeChallenger(tracks),
        name=name,
        explainer=FakeExplainer(tracks),
        default_share=default_share,
    )


def fake_tracks(n_tracks: int = 20) -> list[Track]:
    """``n_tracks`` tracks ``t00``, ``t01``, … with energies spread evenly over 0–1."""
    return [make_track(f"t{i:02d}", energy=i / max(1, n_tracks - 1)) for i in range(n_tracks)]


def fake_deps(n_tracks: int = 20) -> SessionDeps:
    """Session dependencies over :func:`fake_tracks`: the fake mood reader and recommender."""
    tracks = fake_tracks(n_tracks)
    return SessionDeps(mood=FakeMood(), recommender=FakeRecommender(tracks), tracks={t.id: t for t in tracks})


def limits(**overrides: Any) -> SessionLimits:
    """The default :class:`Settings`' session limits, with ``overrides`` (field names of SessionLimits)."""
    return replace(SessionLimits.from_settings(Settings(home=Path("/nonexistent"))), **overrides)
