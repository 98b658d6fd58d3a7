"""A listener simulator, to train and evaluate the ranker without real logs.

Everything here is an assumption, stated so it can be argued with:

**Catalog** (:func:`synthetic_catalog`). Tracks come in artist clusters: each artist has a style
(energy, valence, acousticness, tempo, a 12-dimensional timbre direction) and its tracks scatter
around it. Descriptors are correlated as in real catalogs: loudness, tempo, onset rate, spectral
centroid and danceability rise with energy; acousticness falls with it; valence goes with major mode
and danceability; MFCC 0 follows loudness, the other MFCC means follow the artist's timbre.

**Listeners** (:class:`SimListener`, drawn from :class:`Population` ranges):

- *Taste in timbre*: a random direction in z-scored timbre space (MFCC means 1–6) and a strength;
  the affinity of a track is the projection of its timbre on that direction.
- *Taste in tempo*: a preferred tempo and a tolerance in octaves (half and double time count as
  matches, as a listener taps along either way).
- *Favourite artists*: a random per-artist bias (most near zero, a few strongly liked or disliked).
- *Energy curve over the day*: their mood's energy drifts toward ``base + amplitude·cos(2π(h -
  peak)/24)``, valence toward a personal base, with random-walk noise.
- *Matchers and lifters*: matchers want music that sits at their mood; lifters want it higher in
  valence (and a little in energy) than they feel.
- *Requests*: now and then they speak; the player hears their mood with noise and a confidence, and
  sometimes an intent ("calmer", "energize", ...). After a request they want the iso walk: each track
  a quarter of the way from where they were to the goal.
- *Music moves mood*: a completed track pulls the mood 10 % toward its own valence and energy.

**Skip model** (:meth:`SimListener.utility`, :meth:`SimListener.outcome`). A track's utility is
``-mood_weight · distance(track, wanted) + taste_strength · affinity + artist bias - tempo cost -
repeat penalty``; the listener's reaction is ``utility + patience + logistic noise``: below
``EARLY_T`` an early skip (3–30 s), below ``LATE_T`` a late skip, else completed; above ``LIKE_T``
liked with probability 0.6; far below, disliked with probability 0.5. So mismatch makes early skips
likely, and a track like one that was skipped is likely skipped too.

Held-out evaluation draws listeners from :data:`HELDOUT_POPULATION` (shifted ranges: more lifters,
stronger tastes, other peak hours, less patience) with other seeds, on another catalog.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

import numpy as np

from mood.types import Intent, MoodEstimate
from player.core.listener import ISO_STEPS, ListenerState, PlaybackEvent, Target, intent_goal
from player.core.records import LogEvent
from player.core.track import MFCC_COUNT, NUMERIC_FEATURES, Track, TrackId

__all__ = [
    "EARLY_T",
    "HELDOUT_POPULATION",
    "LATE_T",
    "LIKE_T",
    "TRAIN_POPULATION",
    "CatalogMatrix",
    "Decision",
    "Outcome",
    "Population",
    "SimListener",
    "catalog_matrix",
    "draw_listeners",
    "run_listener",
    "simulate_log",
    "synthetic_catalog",
]

logger = logging.getLogger(__name__)

EARLY_T = -1.0
"""Reaction below which the listener skips within 30 s."""
LATE_T = -0.3
"""Reaction below which the listener skips later."""
LIKE_T = 0.9
"""Reaction above which the listener may press like."""
NOISE_SCALE = 0.45
"""Scale of the logistic noise on the reaction."""
GAIN = {"early": 0.0, "late": 1.0, "completed": 2.0, "liked": 3.0}
"""Graded relevance of each outcome (also the LambdaRank labels)."""

_WORDS = [
    "amber",
    "blue",
    "cedar",
    "dawn",
    "ember",
    "fern",
    "glass",
    "harbor",
    "iris",
    "juniper",
    "kite",
    "lantern",
    "meadow",
    "north",
    "opal",
    "pine",
    "quartz",
    "river",
    "salt",
    "tide",
    "umber",
    "velvet",
    "willow",
    "yarrow",
    "zephyr",
    "ash",
    "birch",
    "coral",
    "dune",
    "echo",
    "frost",
    "grove",
    "haze",
]


# ---------------------------------------------------------------------------------------- catalog
@dataclass(frozen=True)
class CatalogMatrix:
    """A feature matrix of a synthetic catalog, shaped like ``player.library.store.FeatureMatrix``."""

    ids: tuple[str, ...]
    columns: tuple[str, ...]
    values: np.ndarray
    """float32 [n_tracks, len(columns)]."""

    def row(self, track_id: str) -> int:
        return self.ids.index(track_id)


def catalog_matrix(tracks: list[Track]) -> CatalogMatrix:
    """The float32 matrix of ``tracks`` in ``NUMERIC_FEATURES`` order."""
    values = np.array([t.numeric() for t in tracks], dtype=np.float32).reshape(
        len(tracks), len(NUMERIC_FEATURES)
    )
    return CatalogMatrix(ids=tuple(t.id for t in tracks), columns=NUMERIC_FEATURES, values=values)


def synthetic_catalog(count: int, *, seed: int = 7, tracks_per_artist: int = 12) -> list[Track]:
    """``count`` plausible tracks in artist clusters with correlated descriptors (see module docstring)."""
    rng = np.random.default_rng(seed)
    n_artists = max(3, count // tracks_per_artist)
    a_energy = rng.beta(2.0, 2.0, n_artists)
    a_valence = rng.beta(2.0, 2.0, n_artists)
    a_acoustic = np.clip(1.0 - a_energy + rng.normal(0, 0.2, n_artists), 0.02, 0.98)
    a_tempo = 70.0 + 90.0 * a_energy + rng.normal(0, 12.0, n_artists)
    a_timbre = rng.normal(0, 1.0, (n_artists, MFCC_COUNT - 1))
    a_major = rng.uniform(0.2, 0.9, n_artists)
    names = [
        f"{_WORDS[i % len(_WORDS)].title()} {_WORDS[(i * 7 + 3) % len(_WORDS)].title()}"
        + ("" if i < len(_WORDS) else f" {i // len(_WORDS)}")
        for i in range(n_artists)
    ]
    artist = rng.integers(0, n_artists, count)
    artist[: min(count, n_artists)] = np.arange(min(count, n_artists))
    e = np.clip(a_energy[artist] + rng.normal(0, 0.12, count), 0.02, 0.98)
    major = rng.random(count) < a_major[artist]
    dance = np.clip(0.3 + 0.5 * e + rng.normal(0, 0.12, count), 0.02, 0.98)
    v = np.clip(
        a_valence[artist] + 0.08 * (major - 0.5) + 0.1 * (dance - 0.5) + rng.normal(0, 0.1, count), 0.02, 0.98
    )
    acoustic = np.clip(
        a_acoustic[artist] - 0.3 * (e - a_energy[artist]) + rng.normal(0, 0.08, count), 0.01, 0.99
    )
    tempo = np.clip(a_tempo[artist] * np.exp(rng.normal(0, 0.08, count)), 55.0, 200.0)
    loud = -26.0 + 18.0 * e + rng.normal(0, 1.5, count)
    centroid = 900.0 + 2600.0 * e * (1.2 - 0.6 * acoustic) + rng.normal(0, 200.0, count)
    timbre = a_timbre[artist] + rng.normal(0, 0.45, (count, MFCC_COUNT - 1))
    tracks: list[Track] = []
    for i in range(count):
        mfcc_mean = (
            float(-320.0 + 14.0 * (loud[i] + 26.0)),
            *tuple(float(25.0 * timbre[i, j] / math.sqrt(j + 1)) for j in range(MFCC_COUNT - 1)),
        )
        mfcc_std = tuple(float(abs(rng.normal(18.0 / math.sqrt(j + 1), 2.0))) for j in range(MFCC_COUNT))
        a = int(artist[i])
        tracks.append(
            Track(
                id=TrackId(f"syn{seed}-{i:06d}"),
                path=f"synthetic/{seed}/{i:06d}.flac",
                title=f"{_WORDS[(i * 5 + seed) % len(_WORDS)].title()} {_WORDS[(i * 11 + 1) % len(_WORDS)]} {i}",
                artist=names[a],
                album=f"{names[a]} {1 + i % 3}",
                duration_s=float(np.clip(rng.normal(225.0, 50.0), 90.0, 600.0)),
                tempo_bpm=float(tempo[i]),
                beat_strength=float(np.clip(0.3 + 0.5 * dance[i] + rng.normal(0, 0.08), 0.0, 1.0)),
                onset_rate=float(np.clip(1.0 + 5.0 * e[i] + rng.normal(0, 0.6), 0.2, 10.0)),
                loudness_db=float(loud[i]),
                dynamic_range_db=float(np.clip(14.0 - 8.0 * e[i] + rng.normal(0, 2.0), 2.0, 30.0)),
                spectral_centroid_hz=float(max(300.0, centroid[i])),
                spectral_rolloff_hz=float(max(800.0, 2.1 * centroid[i] + rng.normal(0, 300.0))),
                spectral_flatness=float(
                    np.clip(0.02 + 0.2 * e[i] * (1 - acoustic[i]) + rng.normal(0, 0.02), 0.001, 0.9)
                ),
                spectral_contrast_db=float(18.0 + 6.0 * acoustic[i] + rng.normal(0, 1.5)),
                zero_crossing_rate=float(np.clip(0.03 + 0.1 * e[i] + rng.normal(0, 0.015), 0.005, 0.5)),
                key=int(rng.integers(0, 12)),
                mode="major" if major[i] else "minor",
                hp_ratio=float(np.clip(0.35 + 0.5 * acoustic[i] + rng.normal(0, 0.08), 0.02, 0.98)),
                energy=float(e[i]),
                danceability=float(dance[i]),
                acousticness=float(acoustic[i]),
                valence=float(v[i]),
                mfcc_mean=mfcc_mean,
                mfcc_std=mfcc_std,
            )
        )
    return tracks


# ---------------------------------------------------------------------------------------- listeners
@dataclass(frozen=True)
class Population:
    """Ranges the simulated listeners are drawn from (uniform within each pair)."""

    taste_strength: tuple[float, float] = (0.5, 1.2)
    tempo_weight: tuple[float, float] = (0.2, 0.6)
    tempo_tolerance_oct: tuple[float, float] = (0.3, 0.6)
    artist_bias_sd: tuple[float, float] = (0.2, 0.5)
    mood_weight: tuple[float, float] = (3.0, 5.0)
    lifter_share: float = 0.35
    lift: tuple[float, float] = (0.1, 0.2)
    base_energy: tuple[float, float] = (0.4, 0.6)
    energy_amplitude: tuple[float, float] = (0.08, 0.2)
    peak_hour: tuple[float, float] = (12.0, 18.0)
    base_valence: tuple[float, float] = (0.4, 0.65)
    patience: tuple[float, float] = (-0.2, 0.3)
    talk_rate: float = 0.25
    intent_rate: float = 0.35
    estimate_noise: float = 0.08
    confidence: tuple[float, float] = (0.4, 0.9)


TRAIN_POPULATION = Population()
HELDOUT_POPULATION = Population(
    taste_strength=(0.7, 1.5),
    tempo_weight=(0.3, 0.8),
    tempo_tolerance_oct=(0.25, 0.5),
    artist_bias_sd=(0.3, 0.6),
    mood_weight=(2.5, 5.5),
    lifter_share=0.5,
    lift=(0.15, 0.25),
    energy_amplitude=(0.12, 0.25),
    peak_hour=(10.0, 20.0),
    base_valence=(0.35, 0.6),
    patience=(-0.35, 0.2),
    estimate_noise=0.1,
    confidence=(0.3, 0.8),
)
"""Shifted ranges for evaluation, so a good score is not the training population memorised."""


class SimCatalog:
    """The arrays of a catalog the simulator's listeners judge tracks by."""

    def __init__(self, tracks: list[Track]) -> None:
        self.tracks = tracks
        self.ids: tuple[str, ...] = tuple(str(t.id) for t in tracks)
        self.row: dict[str, int] = {t: i for i, t in enumerate(self.ids)}
        self.valence = np.array([t.valence for t in tracks], np.float64)
        self.energy = np.array([t.energy for t in tracks], np.float64)
        self.tempo = np.array([t.tempo_bpm for t in tracks], np.float64)
        self.duration = np.array([t.duration_s for t in tracks], np.float64)
        self.acoustic = np.array([t.acousticness for t in tracks], np.float64)
        names: dict[str, int] = {}
        self.artist = np.array([names.setdefault(t.artist, len(names)) for t in tracks], np.int64)
        self.n_artists = len(names)
        timbre = np.array([t.mfcc_mean[1:7] for t in tracks], np.float64)
        self.timbre = (timbre - timbre.mean(0)) / np.maximum(timbre.std(0), 1e-6)
        self.n = len(tracks)


Outcome = Literal["early", "late", "completed", "liked"]


@dataclass
class SimListener:
    """One simulated listener's hidden tastes and current mood (see the module docstring)."""

    listener_id: str
    taste_dir: np.ndarray
    taste_strength: float
    tempo_pref_bpm: float
    tempo_weight: float
    tempo_tol_oct: float
    artist_bias: np.ndarray
    mood_weight: float
    lifter: bool
    lift: float
    base_energy: float
    energy_amplitude: float
    peak_hour: float
    base_valence: float
    patience: float
    habit_hours: tuple[float, ...]
    tz_hours: int
    population: Population
    mood: Target = field(default_factory=lambda: Target(0.5, 0.5))
    walk: tuple[Target, Target, int] | None = None
    """(anchor, goal, tracks since the request) while the listener follows a request."""

    def natural_mood(self, hour: float) -> Target:
        e = self.base_energy + self.energy_amplitude * math.cos(2 * math.pi * (hour - self.peak_hour) / 24.0)
        return Target(self.base_valence, float(np.clip(e, 0.05, 0.95)))

    def wanted(self) -> Target:
        """Where the listener wants the next track to sit on the valence/energy plane."""
        if self.walk is not None:
            anchor, goal, done = self.walk
            f = min(1.0, (done + 1) / ISO_STEPS)
            return Target(
                anchor.valence + (goal.valence - anchor.valence) * f,
                anchor.energy + (goal.energy - anchor.energy) * f,
            )
        if self.lifter:
            return Target(
                min(0.97, self.mood.valence + self.lift), min(0.97, self.mood.energy + self.lift / 2)
            )
        return self.mood

    def utility(self, cat: SimCatalog, wanted: Target, recent: np.ndarray | None = None) -> np.ndarray:
        """Utility of every catalog track now [n] (higher: more likely completed and liked)."""
        dist = np.hypot(cat.valence - wanted.valence, cat.energy - wanted.energy)
        affinity = cat.timbre @ self.taste_dir
        r = np.log2(cat.tempo / self.tempo_pref_bpm)
        fold = np.minimum(np.abs(r), np.minimum(np.abs(r - 1.0), np.abs(r + 1.0)))
        u = (
            -self.mood_weight * dist
            + self.taste_strength * affinity
            + self.artist_bias[cat.artist]
            - self.tempo_weight * fold / self.tempo_tol_oct
        )
        if recent is not None:
            u = u - 1.5 * recent
        return np.asarray(u)

    def reaction_probabilities(self, utility: np.ndarray) -> dict[str, np.ndarray]:
        """P(early skip), P(late skip), P(completed not liked), P(liked) for each utility."""

        def below(t: float) -> np.ndarray:
            return np.asarray(1.0 / (1.0 + np.exp(-(t - (utility + self.patience)) / NOISE_SCALE)))

        p_early = below(EARLY_T)
        p_late = below(LATE_T) - p_early
        p_like = 0.6 * (1.0 - below(LIKE_T))
        p_done = 1.0 - p_early - p_late - p_like
        return {"early": p_early, "late": p_late, "completed": p_done, "liked": p_like}

    def expected_gain(self, utility: np.ndarray) -> np.ndarray:
        """Expected graded relevance (``GAIN``) of each track: the simulator's ground truth."""
        p = self.reaction_probabilities(utility)
        return sum(GAIN[k] * p[k] for k in p)  # type: ignore[return-value]

    def outcome(self, utility: float, rng: np.random.Generator) -> tuple[Outcome, bool]:
        """Draw the reaction to one track: (outcome, disliked)."""
        noise = rng.logistic(0.0, NOISE_SCALE)
        z = utility + self.patience + noise
        if z < EARLY_T:
            return "early", bool(z < EARLY_T - 1.2 and rng.random() < 0.5)
        if z < LATE_T:
            return "late", False
        if z > LIKE_T and rng.random() < 0.6:
            return "liked", False
        return "completed", False


def draw_listeners(count: int, *, seed: int, cat: SimCatalog, population: Population) -> list[SimListener]:
    """``count`` listeners with tastes drawn from ``population`` (reproducible from ``seed``)."""
    rng = np.random.default_rng(seed)
    p = population
    out = []
    for i in range(count):

        def u(lo_hi: tuple[float, float]) -> float:
            return float(rng.uniform(*lo_hi))

        d = rng.normal(0, 1, cat.timbre.shape[1])
        d /= np.linalg.norm(d)
        bias_sd = u(p.artist_bias_sd)
        out.append(
            SimListener(
                listener_id=f"sim-{seed}-{i}",
                taste_dir=d,
                taste_strength=u(p.taste_strength),
                tempo_pref_bpm=float(rng.uniform(80.0, 150.0)),
                tempo_weight=u(p.tempo_weight),
                tempo_tol_oct=u(p.tempo_tolerance_oct),
                artist_bias=rng.normal(0, bias_sd, cat.n_artists),
                mood_weight=u(p.mood_weight),
                lifter=bool(rng.random() < p.lifter_share),
                lift=u(p.lift),
                base_energy=u(p.base_energy),
                energy_amplitude=u(p.energy_amplitude),
                peak_hour=u(p.peak_hour),
                base_valence=u(p.base_valence),
                patience=u(p.patience),
                habit_hours=tuple(
                    float(h) for h in rng.choice([7.5, 9.0, 13.0, 17.5, 20.0, 22.5], 2, replace=False)
                ),
                tz_hours=int(rng.choice([-5, 0, 1, 9])),
                population=p,
            )
        )
    return out


# ---------------------------------------------------------------------------------------- sessions
@dataclass
class Decision:
    """One point where the player chose the next track (handed to the ``on_decision`` hook)."""

    listener: SimListener
    state: ListenerState
    at_s: float
    wanted: Target
    utility: np.ndarray
    """Utility of every catalog track at this moment [n]."""
    recent: np.ndarray
    """1.0 for tracks played recently (penalised by the listener) [n]."""


Policy = Callable[[ListenerState, float, int], list[int]]
"""(state, at_s, count) -> catalog rows, best first."""

_EPOCH = datetime(2026, 3, 2, tzinfo=UTC).timestamp()  # a Monday


def _speak(
    listener: SimListener, rng: np.random.Generator, hour: float
) -> tuple[MoodEstimate, Intent | None]:
    p = listener.population
    noise = p.estimate_noise
    m = listener.mood
    intent: Intent | None = None
    if rng.random() < p.intent_rate:
        options = ["calmer", "focus"] if m.energy > 0.5 else ["energize", "workout"]
        if m.valence < 0.5:
            options.append("cheer_up")
        if hour >= 21 or hour < 5:
            options.append("sleep")
        if 18 <= hour < 24:
            options.append("party")
        kind = str(rng.choice(options))
        intent = Intent(kind=kind, strength=float(rng.uniform(0.3, 1.0)), phrase=kind.replace("_", " "))  # type: ignore[arg-type]
    estimate = MoodEstimate(
        valence=float(np.clip(m.valence + rng.normal(0, noise), 0, 1)),
        energy=float(np.clip(m.energy + rng.normal(0, noise), 0, 1)),
        confidence=float(rng.uniform(*p.confidence)),
        label="neutral",
        intents=(intent,) if intent else (),
    )
    return estimate, intent


def run_listener(
    listener: SimListener,
    cat: SimCatalog,
    policy: Policy,
    *,
    seed: int,
    sessions: int = 3,
    tracks_per_session: int = 20,
    on_decision: Callable[[Decision], None] | None = None,
    on_event: Callable[[LogEvent], None] | None = None,
    force_outcome: Callable[[Decision, int], Outcome | None] | None = None,
    state: ListenerState | None = None,
) -> Iterator[tuple[Decision, int, Outcome]]:
    """Simulate ``sessions`` listening sessions of ``listener`` with ``policy`` choosing the tracks.

    Yields ``(decision, played_row, outcome)`` for every track played. ``on_event`` receives the
    events a server would log; ``force_outcome`` may override the listener's reaction (for the
    skip-reaction experiment).
    """
    rng = np.random.default_rng(seed)
    tz = timezone(timedelta(hours=listener.tz_hours))
    for s in range(sessions):
        day = 3 * s + int(rng.integers(0, 3))
        hour = float(listener.habit_hours[s % len(listener.habit_hours)] + rng.normal(0, 0.7)) % 24.0
        at_s = _EPOCH + day * 86400.0 + hour * 3600.0 - listener.tz_hours * 3600.0
        local = datetime.fromtimestamp(at_s, tz)
        listener.mood = listener.natural_mood(hour)
        listener.walk = None
        session_id = f"{listener.listener_id}-s{s}"
        if state is None:
            state = ListenerState(listener.listener_id, local_time=local, at_s=at_s, device="sim")
        else:
            state.start_session(local, at_s=at_s, device="sim")
        if on_event:
            on_event(
                LogEvent(
                    "session_start",
                    listener.listener_id,
                    session_id,
                    at_s,
                    local_time=local.isoformat(),
                    device="sim",
                )
            )
        recent_rows: list[int] = []
        for _ in range(tracks_per_session):
            local = datetime.fromtimestamp(at_s, tz)
            hour = local.hour + local.minute / 60.0
            natural = listener.natural_mood(hour)
            m = listener.mood
            listener.mood = Target(
                float(
                    np.clip(
                        m.valence + 0.15 * (natural.valence - m.valence) + rng.normal(0, 0.03), 0.02, 0.98
                    )
                ),
                float(
                    np.clip(m.energy + 0.15 * (natural.energy - m.energy) + rng.normal(0, 0.03), 0.02, 0.98)
                ),
            )
            if rng.random() < listener.population.talk_rate:
                estimate, intent = _speak(listener, rng, hour)
                if intent is not None:
                    listener.walk = (
                        listener.wanted(),
                        intent_goal(intent.kind, intent.strength, listener.mood),
                        0,
                    )
                state.observe_mood(estimate, at_s=at_s)
                if on_event:
                    on_event(
                        LogEvent(
                            "mood",
                            listener.listener_id,
                            session_id,
                            at_s,
                            valence=estimate.valence,
                            energy=estimate.energy,
                            confidence=estimate.confidence,
                            intents=tuple(i.kind for i in estimate.intents),
                        )
                    )
                at_s += 4.0
            recent = np.zeros(cat.n)
            if recent_rows:
                recent[np.array(recent_rows[-40:])] = 1.0
            wanted = listener.wanted()
            utility = listener.utility(cat, wanted, recent)
            decision = Decision(listener, state, at_s, wanted, utility, recent)
            if on_decision:
                on_decision(decision)
            rows = policy(state, at_s, 10)
            if not rows:
                break
            row = int(rows[0])
            forced = force_outcome(decision, row) if force_outcome else None
            outcome, disliked = (forced, False) if forced else listener.outcome(float(utility[row]), rng)
            track_id = cat.ids[row]
            duration = float(cat.duration[row])
            position = {
                "early": float(rng.uniform(3.0, 29.0)),
                "late": float(rng.uniform(30.0, max(31.0, 0.85 * duration))),
            }.get(outcome, duration)
            events = [PlaybackEvent("started", track_id, 0.0, at_s)]
            if outcome in ("early", "late"):
                events.append(PlaybackEvent("skipped", track_id, position, at_s + position))
                if disliked:
                    events.append(PlaybackEvent("disliked", track_id, position, at_s + position))
            else:
                if outcome == "liked":
                    events.append(PlaybackEvent("liked", track_id, 0.6 * duration, at_s + 0.6 * duration))
                events.append(PlaybackEvent("completed", track_id, duration, at_s + duration))
            for ev in events:
                state.observe_playback(ev)
                if on_event:
                    on_event(
                        LogEvent(
                            ev.kind,
                            listener.listener_id,
                            session_id,
                            ev.at_s,
                            track_id=ev.track_id,
                            position_s=ev.position_s,
                        )
                    )
            if outcome in ("completed", "liked"):
                t = Target(float(cat.valence[row]), float(cat.energy[row]))
                m = listener.mood
                listener.mood = Target(
                    m.valence + 0.1 * (t.valence - m.valence), m.energy + 0.1 * (t.energy - m.energy)
                )
            if listener.walk is not None:
                anchor, goal, done = listener.walk
                listener.walk = (anchor, goal, done + 1) if done + 1 < 3 * ISO_STEPS else None
            recent_rows.append(row)
            at_s = events[-1].at_s + 2.0
            yield decision, row, outcome
        if on_event:
            on_event(LogEvent("session_end", listener.listener_id, session_id, at_s))


def with_population(listener: SimListener, population: Population) -> SimListener:
    """A copy of ``listener`` speaking and noticing like ``population``."""
    return replace(listener, population=population)


def simulate_log(
    tracks: list[Track],
    *,
    listeners: int,
    seed: int,
    population: Population = TRAIN_POPULATION,
    sessions: int = 2,
    tracks_per_session: int = 15,
) -> list[LogEvent]:
    """Events a server would have logged for simulated listeners whose player picked a random track
    among the 30 nearest to its target (for exercising `cadence train` without real users)."""
    cat = SimCatalog(tracks)
    rng = np.random.default_rng(seed)
    events: list[LogEvent] = []

    def policy(state: ListenerState, at_s: float, count: int) -> list[int]:
        t = state.target(at_s=at_s)
        d = np.hypot(cat.valence - t.valence, cat.energy - t.energy)
        recent = [cat.row[i] for i in state.recently_played(at_s=at_s) if i in cat.row]
        d[recent] = np.inf
        near = np.argsort(d)[:30]
        return [int(r) for r in rng.permutation(near)[:count]]

    for i, listener in enumerate(draw_listeners(listeners, seed=seed, cat=cat, population=population)):
        for _ in run_listener(
            listener,
            cat,
            policy,
            seed=seed * 7 + i,
            sessions=sessions,
            tracks_per_session=tracks_per_session,
            on_event=events.append,
        ):
            pass
    return events
