"""Fakes for the unit tier of the server area only (tests of player.core.session and player.core.protocol).

The real-server and end-to-end tests use the real library, ranker and mood analyzer instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mood.types import Intent, MoodEstimate
from player.core.session import SessionDeps
from player.core.track import MFCC_COUNT, Track, TrackId


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
    """Keyword reader: 'exhausted' is tired, 'pumped' is excited, intents by their words."""

    def analyze_text(self, text: str) -> MoodEstimate:
        lowered = text.lower()
        energy = 0.5
        if "exhausted" in lowered or "tired" in lowered:
            energy = 0.15
        if "pumped" in lowered:
            energy = 0.9
        intents = tuple(
            Intent(kind=kind, phrase=word)  # type: ignore[arg-type]
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
            label="neutral",
            transcript=text,
            intents=intents,
            evidence={
                "text": {"vader_compound": 0.1, "matched_words": ["secret-word"]},
                "weights": [0.5, 0.5],
            },
        )


@dataclass
class FakePlaybackEvent:
    kind: str
    track_id: str
    position_s: float
    at_s: float


@dataclass
class FakeTarget:
    valence: float
    energy: float


@dataclass
class FakeListener:
    """Remembers what it was told; its target energy is the last mood's energy."""

    listener_id: str
    local_time: datetime
    at_s: float
    device: str | None
    energy: float = 0.5
    playbacks: list[FakePlaybackEvent] = field(default_factory=list)
    moods: list[MoodEstimate] = field(default_factory=list)

    def start_session(self, local_time: datetime, *, at_s: float, device: str | None = None) -> None:
        self.local_time = local_time
        self.at_s = at_s
        self.device = device

    def observe_mood(self, estimate: MoodEstimate, *, at_s: float) -> None:
        self.moods.append(estimate)
        self.energy = estimate.energy

    def observe_playback(self, event: Any) -> None:
        self.playbacks.append(event)


@dataclass
class FakePick:
    track: Track
    score: float
    reason: str


@dataclass
class FakeRecommendation:
    picks: tuple[FakePick, ...]
    target: FakeTarget


class FakeRecommender:
    """Closest energy first, never a skipped track."""

    def __init__(self, tracks: Sequence[Track]) -> None:
        self.tracks = list(tracks)

    def recommend(
        self, state: Any, *, count: int, at_s: float, within: Sequence[str] | None = None
    ) -> FakeRecommendation:
        skipped = {e.track_id for e in state.playbacks if e.kind == "skipped"}
        pool = [t for t in self.tracks if t.id not in skipped and (within is None or t.id in within)]
        pool.sort(key=lambda t: abs(t.energy - state.energy))
        picks = tuple(
            FakePick(t, 1.0 - abs(t.energy - state.energy), "fake: closest energy") for t in pool[:count]
        )
        return FakeRecommendation(picks=picks, target=FakeTarget(valence=0.5, energy=state.energy))


def fake_deps(n_tracks: int = 20) -> SessionDeps:
    """Session dependencies over ``n_tracks`` tracks with energies spread over 0–1."""
    tracks = [make_track(f"t{i:02d}", energy=i / max(1, n_tracks - 1)) for i in range(n_tracks)]
    return SessionDeps(
        mood=FakeMood(),
        recommender=FakeRecommender(tracks),
        tracks={t.id: t for t in tracks},
        new_listener=lambda lid, local_time, at_s, device: FakeListener(lid, local_time, at_s, device),
        playback_event=lambda kind, track_id, position_s, at_s: FakePlaybackEvent(
            kind, track_id, position_s, at_s
        ),
    )
